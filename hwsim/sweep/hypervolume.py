"""Hypervolume of a Pareto front: the volume it dominates up to a reference point (all objectives minimised).

The volume itself comes from moocore (``moocore.hypervolume``, the maintained C implementation pymoo's own
``Hypervolume`` indicator calls). Raw objectives mix units (perplexity, seconds, mm², pJ), so a front's volume is
measured in a normalised space: perplexity as its logarithm (bits per token are what a model loses linearly; the
same convention as the report's knee point), then every objective scaled to 0..1 between bounds (by default the
smallest and largest value over *all* points of the sweep, not just the front), reference point 1.1 in every
objective (a margin so that the extreme points of the front still add volume). The largest possible value is
therefore 1.1^k for k objectives. Two fronts are comparable only with the same bounds: ``bench/bench_search.py``
passes the exhaustive ground truth's bounds to every front it measures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hwsim.errors import SweepError
from hwsim.sweep.pareto import Front, fronts_for, has_decode, objective_matrix, pareto_mask

REFERENCE = 1.1  # reference point in normalised coordinates (1.0 = the worst value over all points)


def hypervolume(points, reference) -> float:
    """Volume dominated by ``points`` (n, k), minimised, up to ``reference`` (k,). Points not strictly better than
    the reference in every objective add nothing; NaN rows are ignored."""
    import moocore

    pts = np.asarray(points, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if pts.ndim != 2 or ref.shape != (pts.shape[1],):
        raise SweepError(f"hypervolume needs (n, k) points and a (k,) reference, got {pts.shape} and {ref.shape}")
    pts = pts[~np.isnan(pts).any(axis=1)]
    pts = pts[(pts < ref).all(axis=1)]
    if pts.shape[0] == 0:
        return 0.0
    return float(moocore.hypervolume(pts, ref=ref))


def front_costs(frame: pd.DataFrame, front: Front) -> np.ndarray:
    """The front's objective matrix with perplexity as log perplexity (minimised; maximised columns negated)."""
    costs = objective_matrix(frame, front.objectives)
    for j, obj in enumerate(front.objectives):
        if obj.column == "perplexity":
            costs[:, j] = np.log(costs[:, j])
    return costs


def bounds_of(frame: pd.DataFrame, front: Front) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) of each transformed objective over every finite point of ``frame``."""
    costs = front_costs(frame, front)
    costs = costs[np.isfinite(costs).all(axis=1)]
    if costs.shape[0] == 0:
        raise SweepError(f"front {front.column}: no point has finite objectives")
    return costs.min(axis=0), costs.max(axis=0)


def normalised_hypervolume(frame: pd.DataFrame, front: Front,
                           bounds: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Hypervolume of the non-dominated points of ``frame`` for ``front``, normalised (see the module docstring)."""
    low, high = bounds if bounds is not None else bounds_of(frame, front)
    span = np.where(high > low, high - low, 1.0)
    costs = front_costs(frame, front)
    costs = costs[np.isfinite(costs).all(axis=1)]
    scaled = (costs - low) / span
    return hypervolume(scaled[pareto_mask(scaled)], np.full(len(front.objectives), REFERENCE))


def front_hypervolumes(frame: pd.DataFrame, has_perplexity: bool) -> dict[str, dict[str, Any]]:
    """Per front column: its normalised hypervolume, the bounds used and its size (written to the manifest)."""
    out: dict[str, dict[str, Any]] = {}
    for front in fronts_for(has_perplexity, has_decode(frame)):
        try:
            low, high = bounds_of(frame, front)
        except SweepError:
            continue
        out[front.column] = {
            "hypervolume": normalised_hypervolume(frame, front, (low, high)),
            "max_possible": REFERENCE ** len(front.objectives),
            "objectives": [o.column for o in front.objectives],
            "log_perplexity": has_perplexity,
            "lower_bounds": low.tolist(),
            "upper_bounds": high.tolist(),
            "front_points": int(frame[front.column].sum()) if front.column in frame else None,
        }
    return out
