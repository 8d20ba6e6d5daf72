"""Budget queries against a naive row-by-row filter, percent parsing, the knee of a front."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.errors import SweepError
from hwsim.sweep.pareto import FRONTS, objective_matrix, pareto_mask
from hwsim.sweep.queries import BEST_OF, Budget, best_under, knee_row, parse_percent

COLUMNS = [c for c, _ in BEST_OF]


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    # Small integers: many ties, so the tie-break rule is exercised; a few NaN perplexities.
    frame = pd.DataFrame({c: rng.integers(1, 6, n).astype(float) for c in COLUMNS})
    frame.loc[rng.random(n) < 0.1, "perplexity"] = np.nan
    frame["is_baseline"] = False
    frame.loc[0, "is_baseline"] = True
    frame.loc[0, "perplexity"] = 2.0
    frame.index = rng.permutation(np.arange(100, 100 + n))  # row labels are not positions
    return frame


def _naive(frame: pd.DataFrame, budget: Budget) -> dict[str, int | None]:
    base = frame.loc[frame["is_baseline"], "perplexity"].min()
    caps = {"perplexity": [budget.max_perplexity,
                           None if budget.max_perplexity_increase is None
                           else base * (1 + budget.max_perplexity_increase)],
            "latency_s": [budget.max_latency_s], "area_mm2": [budget.max_area_mm2], "energy_pj": [budget.max_energy_pj],
            "latency_per_token_s": [budget.max_latency_per_token_s],
            "energy_per_token_pj": [budget.max_energy_per_token_pj]}
    rows = []
    for pos, (label, r) in enumerate(frame.iterrows()):
        ok = all(cap is None or (not math.isnan(r[c]) and r[c] <= cap) for c, cs in caps.items() for cap in cs)
        if ok:
            rows.append((pos, label, r))
    out = {}
    for col in COLUMNS:
        others = [c for c in COLUMNS if c != col]
        best = None
        for pos, label, r in rows:
            if math.isnan(r[col]):
                continue
            key = (r[col], *(math.inf if math.isnan(r[c]) else r[c] for c in others), pos)
            if best is None or key < best[0]:
                best = (key, label)
        out[col] = None if best is None else int(best[1])
    return out


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 40), ppl=st.none() | st.sampled_from([1.0, 2.0, 3.5, 5.0]),
       inc=st.none() | st.sampled_from([0.0, 0.05, 0.5, 1.0]), lat=st.none() | st.integers(0, 6),
       area=st.none() | st.integers(0, 6), energy=st.none() | st.integers(0, 6),
       token_lat=st.none() | st.integers(0, 6), token_energy=st.none() | st.integers(0, 6))
def test_best_under_matches_a_naive_filter(seed, n, ppl, inc, lat, area, energy, token_lat, token_energy):
    frame = _frame(np.random.default_rng(seed), n)
    budget = Budget(max_perplexity=ppl, max_perplexity_increase=inc, max_latency_s=lat, max_area_mm2=area,
                    max_energy_pj=energy, max_latency_per_token_s=token_lat, max_energy_per_token_pj=token_energy)
    assert best_under(frame, budget) == _naive(frame, budget)


def test_five_percent_example_by_hand():
    frame = pd.DataFrame({
        "perplexity": [100.0, 104.0, 106.0, 103.0, 200.0],
        "latency_s": [10.0, 6.0, 2.0, 7.0, 1.0],
        "area_mm2": [4.0, 4.0, 4.0, 3.0, 1.0],
        "energy_pj": [9.0, 5.0, 3.0, 6.0, 1.0],
        "is_baseline": [True, False, False, False, False],
    })
    best = best_under(frame, Budget(max_perplexity_increase=parse_percent("5%")))  # perplexity <= 105
    assert best == {"perplexity": 0, "latency_s": 1, "area_mm2": 3, "energy_pj": 1}
    assert best_under(frame, Budget(max_perplexity=50.0))["latency_s"] is None


def test_parse_percent_and_bad_budgets():
    assert parse_percent("5%") == pytest.approx(0.05) and parse_percent(" 2.5 ") == pytest.approx(0.025)
    with pytest.raises(SweepError, match="percentage"):
        parse_percent("five")
    with pytest.raises(SweepError, match=">= 0"):
        parse_percent("-3%")
    with pytest.raises(SweepError, match="max_latency_s"):
        Budget(max_latency_s=-1.0)
    frame = pd.DataFrame({c: [1.0] for c in COLUMNS} | {"is_baseline": [False]})
    with pytest.raises(SweepError, match="baseline"):
        best_under(frame, Budget(max_perplexity_increase=0.05))


def test_knee_is_the_front_point_nearest_utopia():
    # Front (perplexity, latency): e^0..e^2 on a log axis -> 0..1 after scaling; latency 10..0 -> 1..0.
    frame = pd.DataFrame({"perplexity": np.exp([0.0, 0.5, 2.0, 2.0]), "latency_s": [10.0, 4.0, 0.0, 5.0]})
    front = next(f for f in FRONTS if f.column == "pareto_latency")
    frame["pareto_latency"] = pareto_mask(objective_matrix(frame, front.objectives))
    # Scaled: (0, 1), (0.25, 0.4), (1, 0): distances 1, 0.47, 1 -> the middle point (row 1).
    assert knee_row(frame, front) == 1
    frame["pareto_latency"] = False
    assert knee_row(frame, front) is None


def test_log_ticks_are_readable():
    from hwsim.report.figures import log_ticks

    assert log_ticks(140, 600) == [150, 200, 300, 400, 500, 600]  # 1-2-3-...: labelled steps within one decade
    assert log_ticks(1e-5, 1e-2) == pytest.approx([1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2])
    narrow = log_ticks(10134, 10300)  # no 1-2-5 value inside: spread values instead of none
    assert len(narrow) >= 2 and all(10_000 <= t <= 10_400 for t in narrow)


def test_knee_ignores_front_points_beyond_the_useful_perplexity_range():
    """Baseline perplexity 100 -> useful up to 400. Front (perplexity, latency): (100, 10), (150, 6), (300, 5) and a
    collapsed model (20,000, 0). Without the outlier the scaled front (log perplexity) is (0, 1), (0.37, 0.2), (1, 0):
    distances 1, 0.42, 1 -> row 1. Counting it, (0, 1), (0.08, 0.6), (0.21, 0.5), (1, 0): distances 1, 0.61, 0.54, 1
    -> row 2, which is what happens without a baseline to define the range."""
    frame = pd.DataFrame({"perplexity": [100.0, 150.0, 300.0, 20_000.0], "latency_s": [10.0, 6.0, 5.0, 0.0],
                          "is_baseline": [True, False, False, False]})  # fmt: skip
    front = next(f for f in FRONTS if f.column == "pareto_latency")
    frame["pareto_latency"] = pareto_mask(objective_matrix(frame, front.objectives))
    assert frame["pareto_latency"].all()
    assert knee_row(frame, front) == 1
    assert knee_row(frame.drop(columns="is_baseline"), front) == 2  # no baseline: the whole front counts
