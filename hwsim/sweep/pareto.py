"""Non-dominated (Pareto) sets of a cost matrix, every objective minimised.

Algorithms: 2-D sort + running minimum, O(n log n); 3-D a sweep in the first objective with a staircase query per
block; more objectives a block filter against the growing front. All are checked against ``pareto_mask_naive``.

Conventions (as in pymoo and paretoset): the input is an ``(n_points, n_objectives)`` array, every column is
minimised (a column to maximise is negated at the boundary, see :class:`Objective`), and the functions return a
boolean mask, never a copy.

Point ``a`` dominates ``b`` when ``a <= b`` in every objective and ``a < b`` in at least one. The front is the set of
points no other point dominates. **Duplicates are all kept**: two identical points do not dominate each other, so if
one is on the front, so is its copy. A point with a NaN in any objective is never on the front and never dominates
another point (it has no defined cost).
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from hwsim.errors import SweepError


@dataclass(frozen=True, kw_only=True)
class Objective:
    """A results column used as a Pareto objective, and whether smaller is better."""

    column: str
    minimize: bool = True


PERPLEXITY = Objective(column="perplexity")
LATENCY = Objective(column="latency_s")
AREA = Objective(column="area_mm2")
ENERGY = Objective(column="energy_pj")
LATENCY_PER_TOKEN = Objective(column="latency_per_token_s")
ENERGY_PER_TOKEN = Objective(column="energy_per_token_pj")
# Cost-only sweeps (no checkpoint) have no perplexity; kept parameters stand in for model quality there, since
# in an All-Attention model every pruned head removes the same parameter count (paper.md §2, P_head).
PARAMS_KEPT = Objective(column="params", minimize=False)


@dataclass(frozen=True, kw_only=True)
class Front:
    """A named front: the results column it fills and the objectives it uses."""

    column: str
    objectives: tuple[Objective, ...]


# The fronts every sweep writes: perplexity against latency, area, both (3-D), and energy.
FRONTS: tuple[Front, ...] = (
    Front(column="pareto_latency", objectives=(PERPLEXITY, LATENCY)),
    Front(column="pareto_area", objectives=(PERPLEXITY, AREA)),
    Front(column="pareto_3d", objectives=(PERPLEXITY, LATENCY, AREA)),
    Front(column="pareto_energy", objectives=(PERPLEXITY, ENERGY)),
)


# With the decode phase: perplexity against per-token latency and energy of a decode step. tokens_per_s is
# batch / latency_per_token_s, so at the sweep's one batch size its front is the latency front.
DECODE_FRONTS: tuple[Front, ...] = (
    Front(column="pareto_decode_latency", objectives=(PERPLEXITY, LATENCY_PER_TOKEN)),
    Front(column="pareto_decode_energy", objectives=(PERPLEXITY, ENERGY_PER_TOKEN)),
)


def quality_objective(has_perplexity: bool) -> Objective:
    """Perplexity when the sweep measured it, kept parameters otherwise."""
    return PERPLEXITY if has_perplexity else PARAMS_KEPT


def fronts_for(has_perplexity: bool, decode: bool = False) -> tuple[Front, ...]:
    """``FRONTS`` (and ``DECODE_FRONTS`` with the decode phase) with the quality objective swapped for
    ``PARAMS_KEPT`` in a cost-only sweep."""
    quality = quality_objective(has_perplexity)
    return tuple(
        Front(column=f.column, objectives=tuple(quality if o == PERPLEXITY else o for o in f.objectives))
        for f in FRONTS + (DECODE_FRONTS if decode else ())
    )


def has_decode(frame) -> bool:
    """Whether a results table carries the decode phase's columns."""
    return LATENCY_PER_TOKEN.column in frame


def _as_costs(costs) -> np.ndarray:
    arr = np.asarray(costs, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise SweepError(f"pareto costs must be a 2-D (n_points, n_objectives) array, got shape {arr.shape}")
    if arr.shape[1] == 0 and arr.shape[0] > 0:
        raise SweepError("pareto costs need at least one objective")
    return arr


def pareto_mask_naive(costs) -> np.ndarray:
    """O(n^2) reference: a point is on the front unless some other point dominates it."""
    arr = _as_costs(costs)
    n = arr.shape[0]
    finite = ~np.isnan(arr).any(axis=1)
    mask = finite.copy()
    for i in range(n):
        if not finite[i]:
            continue
        for j in range(n):
            if i != j and finite[j] and np.all(arr[j] <= arr[i]) and np.any(arr[j] < arr[i]):
                mask[i] = False
                break
    return mask


def _mask_2d(arr: np.ndarray) -> np.ndarray:
    """Sort by (x, y); a point is on the front iff its y is below every y of a point with strictly smaller x,
    and it is not beaten by a point with the same x and a smaller y. O(n log n)."""
    n = arr.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((arr[:, 1], arr[:, 0]))  # primary x, then y
    x, y = arr[order, 0], arr[order, 1]
    # Smallest y among points with the same x (the first of each x-group after the sort).
    group_start = np.r_[True, x[1:] != x[:-1]]
    group_id = np.cumsum(group_start) - 1
    group_min_y = y[group_start][group_id]
    # Smallest y among all points with strictly smaller x: running min over previous groups.
    prefix_min = np.minimum.accumulate(y)
    first_index = np.flatnonzero(group_start)
    before_group = np.full(first_index.size, np.inf)
    before_group[1:] = prefix_min[first_index[1:] - 1]
    best_before = before_group[group_id]
    first_group = group_id == 0  # nothing has a smaller x (matters when y is +inf)
    keep_sorted = (y == group_min_y) & ((y < best_before) | first_group)
    mask = np.zeros(n, dtype=bool)
    mask[order] = keep_sorted
    return mask


def _dominated_by(cand: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """For each row of ``pts``: is some row of ``cand`` <= in every objective and < in one?"""
    if cand.shape[0] == 0:
        return np.zeros(pts.shape[0], dtype=bool)
    le = (cand[None, :, :] <= pts[:, None, :]).all(axis=2)
    lt = (cand[None, :, :] < pts[:, None, :]).any(axis=2)
    return (le & lt).any(axis=1)


def _mask_kd(arr: np.ndarray, block: int = 1024) -> np.ndarray:
    """Vectorised block filter. Points are sorted by the sum of their objectives (a dominator never has a larger
    sum, so it comes earlier or in the same block); each block is tested against the front found so far, then its
    few survivors against each other. Cost ~ n * front size, not n^2."""
    order = np.argsort(arr.sum(axis=1), kind="stable")
    pts = arr[order]
    keep = np.zeros(pts.shape[0], dtype=bool)
    front = pts[:0]
    for start in range(0, pts.shape[0], block):
        blk = pts[start : start + block]
        alive = np.flatnonzero(~_dominated_by(front, blk))
        survivors = blk[alive]
        alive = alive[~_dominated_by(survivors, survivors)]
        keep[start + alive] = True
        front = np.concatenate([front, blk[alive]])
    mask = np.zeros(pts.shape[0], dtype=bool)
    mask[order] = keep
    return mask


def _staircase_dominates(front_yz: np.ndarray, pts_yz: np.ndarray) -> np.ndarray:
    """For points whose x is strictly above every front point's x: is some front point <= in both y and z?"""
    if front_yz.shape[0] == 0:
        return np.zeros(pts_yz.shape[0], dtype=bool)
    order = np.argsort(front_yz[:, 0], kind="stable")
    ys = front_yz[order, 0]
    best_z = np.minimum.accumulate(front_yz[order, 1])  # smallest z among front points with y <= ys[i]
    idx = np.searchsorted(ys, pts_yz[:, 0], side="right") - 1
    return (idx >= 0) & (best_z[np.maximum(idx, 0)] <= pts_yz[:, 1])


def _mask_3d(arr: np.ndarray, block: int = 256) -> np.ndarray:
    """Sweep in x order. Blocks never split a run of equal x, so every earlier front point has a strictly smaller x
    and dominates a point iff it is <= in y and z: a staircase query (sort + prefix min + searchsorted). Survivors
    of a block are then compared with each other (a block of one x value reduces to the 2-D case). O(n log n) per
    block of front growth instead of O(n * front)."""
    order = np.lexsort((arr[:, 2], arr[:, 1], arr[:, 0]))
    pts = arr[order]
    x = pts[:, 0]
    n = pts.shape[0]
    keep = np.zeros(n, dtype=bool)
    front = pts[:0, 1:]
    start = 0
    while start < n:
        end = min(start + block, n)
        if end < n and x[end] == x[end - 1]:  # do not split a run of equal x
            end = int(np.searchsorted(x, x[end - 1], side="left"))
            if end == start:  # the run starting here is longer than a block: take it whole
                end = int(np.searchsorted(x, x[start], side="right"))
        blk = pts[start:end]
        alive = np.flatnonzero(~_staircase_dominates(front, blk[:, 1:]))
        if x[start] == x[end - 1]:
            alive = alive[_mask_2d(blk[alive, 1:])]
        else:
            alive = alive[~_dominated_by(blk[alive], blk[alive])]
        keep[start + alive] = True
        front = np.concatenate([front, blk[alive, 1:]])
        start = end
    mask = np.zeros(n, dtype=bool)
    mask[order] = keep
    return mask


def pareto_mask(costs) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``costs`` (n_points, n_objectives), all objectives minimised.

    >>> pareto_mask([[1, 3], [2, 2], [3, 1], [2, 3], [2, 2]]).tolist()
    [True, True, True, False, True]
    """
    arr = _as_costs(costs)
    n = arr.shape[0]
    mask = np.zeros(n, dtype=bool)
    finite = ~np.isnan(arr).any(axis=1)
    idx = np.flatnonzero(finite)
    if idx.size == 0:
        return mask
    sub = arr[idx]
    if sub.shape[1] == 1:
        mask[idx] = sub[:, 0] == sub[:, 0].min()
    elif sub.shape[1] == 2:
        mask[idx] = _mask_2d(sub)
    elif sub.shape[1] == 3:
        mask[idx] = _mask_3d(sub)
    else:
        mask[idx] = _mask_kd(sub)
    return mask


def objective_matrix(columns, objectives: tuple[Objective, ...]) -> np.ndarray:
    """Stack the named result columns (a mapping or DataFrame) into a cost matrix; maximised columns negated."""
    cols = []
    for obj in objectives:
        if obj.column not in columns:
            raise SweepError(f"objective {obj.column!r} is not a results column")
        col = np.asarray(columns[obj.column], dtype=np.float64)
        cols.append(col if obj.minimize else -col)
    return np.column_stack(cols)
