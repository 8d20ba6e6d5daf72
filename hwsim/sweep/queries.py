"""Answers to an architect's budget questions over a sweep's results, and the knee point of each front.

"What is the cheapest accelerator + pruning within 5% of the unpruned perplexity?" is :func:`best_under` with
``Budget(max_perplexity_increase=0.05)``: among the points that meet every limit of the budget, the best one for each
objective (perplexity, latency, area, energy). A point with NaN in a limited column never meets the limit.

The knee of a front is the front point nearest the utopia point once each objective is scaled to 0..1 over the
front (perplexity as log perplexity, i.e. bits per token, which a model loses linearly). Only front points in the
useful perplexity range count (at most :data:`USEFUL_PERPLEXITY_FACTOR` x the baseline's, the range the report's
perplexity axis shows): a front that runs out to perplexity 20,000 would otherwise pull the knee to a model that
has stopped being a language model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from hwsim.errors import SweepError
from hwsim.sweep.pareto import Front, fronts_for, has_decode, objective_matrix

# The objectives a budget answer reports a best design for: (column, what "best" is called).
BEST_OF = (("perplexity", "lowest perplexity"), ("latency_s", "lowest latency"), ("area_mm2", "smallest area"),
           ("energy_pj", "lowest energy"), ("latency_per_token_s", "lowest latency per token"),
           ("energy_per_token_pj", "lowest energy per token"))  # the last two: sweeps with the decode phase


@dataclass(frozen=True, kw_only=True)
class Budget:
    """Upper limits on a design; None: no limit. ``max_perplexity_increase`` is a fraction of the baseline's."""

    max_perplexity: float | None = None
    max_perplexity_increase: float | None = None  # 0.05: at most 5% above the unpruned model's perplexity
    max_latency_s: float | None = None
    max_area_mm2: float | None = None
    max_energy_pj: float | None = None
    max_latency_per_token_s: float | None = None  # decode phase: one decode step's latency
    max_energy_per_token_pj: float | None = None  # decode phase: energy per generated token

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is not None and not (np.isfinite(value) and value >= 0):
                raise SweepError(f"budget {name} must be a finite number >= 0, got {value}")

    @property
    def is_empty(self) -> bool:
        return all(v is None for v in asdict(self).values())

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def describe(self) -> str:
        parts = []
        if self.max_perplexity is not None:
            parts.append(f"perplexity <= {self.max_perplexity:g}")
        if self.max_perplexity_increase is not None:
            parts.append(f"perplexity <= baseline + {100 * self.max_perplexity_increase:g}%")
        if self.max_latency_s is not None:
            parts.append(f"latency <= {self.max_latency_s * 1e3:g} ms")
        if self.max_area_mm2 is not None:
            parts.append(f"area <= {self.max_area_mm2:g} mm²")
        if self.max_energy_pj is not None:
            parts.append(f"energy <= {self.max_energy_pj * 1e-6:g} µJ")
        if self.max_latency_per_token_s is not None:
            parts.append(f"latency per token <= {self.max_latency_per_token_s * 1e3:g} ms")
        if self.max_energy_per_token_pj is not None:
            parts.append(f"energy per token <= {self.max_energy_per_token_pj * 1e-6:g} µJ")
        return ", ".join(parts) or "no limit"


def parse_percent(text: str) -> float:
    """``"5%"`` or ``"5"`` -> 0.05 (the value is in percent, the sign optional)."""
    raw = str(text).strip().removesuffix("%").strip()
    try:
        value = float(raw)
    except ValueError:
        raise SweepError(f"--max-perplexity-increase {text!r} is not a percentage like 5% or 2.5") from None
    if not (np.isfinite(value) and value >= 0):
        raise SweepError(f"--max-perplexity-increase {text!r} must be a percentage >= 0")
    return value / 100.0


def baseline_perplexity(frame: pd.DataFrame) -> float:
    base = frame.loc[frame["is_baseline"].to_numpy(dtype=bool), "perplexity"]
    if base.empty or base.isna().all():
        raise SweepError("--max-perplexity-increase needs the unpruned baseline's perplexity, which these results "
                         "do not have (a cost-only sweep?)")
    return float(base.min())


def limits(frame: pd.DataFrame, budget: Budget) -> dict[str, float]:
    """Column -> upper limit, the perplexity increase turned into an absolute perplexity."""
    out = {}
    ppl = [v for v in (budget.max_perplexity,) if v is not None]
    if budget.max_perplexity_increase is not None:
        ppl.append(baseline_perplexity(frame) * (1.0 + budget.max_perplexity_increase))
    if ppl:
        out["perplexity"] = min(ppl)
    for column, value in (("latency_s", budget.max_latency_s), ("area_mm2", budget.max_area_mm2),
                          ("energy_pj", budget.max_energy_pj), ("latency_per_token_s", budget.max_latency_per_token_s),
                          ("energy_per_token_pj", budget.max_energy_per_token_pj)):  # fmt: skip
        if value is not None:
            if column not in frame:
                raise SweepError(f"the budget limits {column}, which these results do not have: sweep with "
                                 "phases = [\"segment\", \"decode\"] (--phases segment,decode)")
            out[column] = value
    return out


def within(frame: pd.DataFrame, budget: Budget) -> np.ndarray:
    """Bool mask of the points meeting every limit (NaN never does)."""
    mask = np.ones(len(frame), dtype=bool)
    for column, limit in limits(frame, budget).items():
        mask &= (frame[column].to_numpy(dtype=np.float64) <= limit)
    return mask


def best_under(frame: pd.DataFrame, budget: Budget) -> dict[str, int | None]:
    """Objective column -> row label (index) of the best point within the budget, None when no point is.

    Ties on the objective go to the point better in the others (in ``BEST_OF`` order), then to the first row."""
    ok = within(frame, budget)
    columns = [c for c, _ in BEST_OF if c in frame]
    values = {c: frame[c].to_numpy(dtype=np.float64) for c in columns}
    out: dict[str, int | None] = {}
    for column in columns:
        candidates = np.flatnonzero(ok & ~np.isnan(values[column]))
        if not candidates.size:
            out[column] = None
            continue
        keys = [values[c][candidates] for c in reversed(columns) if c != column] + [values[column][candidates]]
        out[column] = int(frame.index[candidates[np.lexsort(keys)[0]]])  # lexsort: last key is the primary one
    return out


# Useful range of perplexity: up to this many times the unpruned model's (log2(4) = 2 bits per token lost; beyond
# that a pruned model is no longer a useful design point). The report clips its perplexity axis here too.
USEFUL_PERPLEXITY_FACTOR = 4.0


def useful_perplexity_limit(frame: pd.DataFrame) -> float | None:
    """USEFUL_PERPLEXITY_FACTOR x the baseline's perplexity; None without a baseline or perplexities."""
    if "perplexity" not in frame or "is_baseline" not in frame or not frame["is_baseline"].any():
        return None
    limit = USEFUL_PERPLEXITY_FACTOR * float(frame.loc[frame["is_baseline"].to_numpy(dtype=bool), "perplexity"].min())
    return limit if np.isfinite(limit) else None


def knee_row(frame: pd.DataFrame, front: Front) -> int | None:
    """Row label of the knee of ``front`` (its column must be in ``frame``) among its points in the useful perplexity
    range (all its points when none is), None if the front is empty."""
    on = frame[front.column].to_numpy(dtype=bool)
    if not on.any():
        return None
    limit = useful_perplexity_limit(frame)
    if limit is not None and any(obj.column == "perplexity" for obj in front.objectives):
        useful = on & (frame["perplexity"].to_numpy(dtype=np.float64) <= limit)
        on = useful if useful.any() else on
    points = frame[on]
    costs = objective_matrix(points, front.objectives)
    for j, obj in enumerate(front.objectives):
        if obj.column == "perplexity":
            costs[:, j] = np.log(costs[:, j])
    span = costs.max(axis=0) - costs.min(axis=0)
    scaled = (costs - costs.min(axis=0)) / np.where(span > 0, span, 1.0)
    return int(points.index[int(np.argmin(np.linalg.norm(scaled, axis=1)))])


def knees(frame: pd.DataFrame, has_perplexity: bool) -> dict[str, int | None]:
    """Front column -> its knee's row label."""
    return {f.column: knee_row(frame, f) for f in fronts_for(has_perplexity, has_decode(frame)) if f.column in frame}
