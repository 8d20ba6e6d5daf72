"""Pareto masks against a naive O(n^2) reference on named edge cases, random data and hypothesis examples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hwsim.errors import SweepError
from hwsim.sweep.pareto import (
    AREA,
    LATENCY,
    PARAMS_KEPT,
    PERPLEXITY,
    fronts_for,
    objective_matrix,
    pareto_mask,
    pareto_mask_naive,
)

_RNG = np.random.default_rng(2021)

# name -> (costs, expected mask worked out by hand; None where only the naive reference is compared)
CASES: dict[str, tuple[np.ndarray, list[bool] | None]] = {
    "empty": (np.zeros((0, 2)), []),
    "single": (np.array([[3.0, 4.0]]), [True]),
    "duplicates": (np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]]), [True, True, False]),
    "all_duplicates": (np.ones((4, 3)), [True, True, True, True]),
    "ties_in_x": (np.array([[1.0, 5.0], [1.0, 3.0], [2.0, 1.0]]), [False, True, True]),
    "ties_in_y": (np.array([[1.0, 2.0], [3.0, 2.0], [0.0, 9.0]]), [True, False, True]),
    "all_nondominated": (np.array([[1.0, 4.0], [2.0, 3.0], [3.0, 2.0], [4.0, 1.0]]), [True] * 4),
    "all_dominated_by_one": (np.array([[5.0, 5.0], [0.0, 0.0], [1.0, 9.0], [9.0, 1.0]]), [False, True, False, False]),
    "chain": (np.array([[3.0, 3.0, 3.0], [2.0, 2.0, 2.0], [1.0, 1.0, 1.0]]), [False, False, True]),
    "3d_tradeoff": (
        np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [2.0, 2.0, 2.0], [3.0, 3.0, 3.0]]),
        [True, True, True, False],
    ),
    "nan_row": (np.array([[np.nan, 0.0], [1.0, 1.0], [2.0, 0.5]]), [False, True, True]),
    "negative_and_inf": (np.array([[-1.0, np.inf], [0.0, 0.0], [np.inf, -5.0]]), [True, True, True]),
    "one_objective": (np.array([[2.0], [1.0], [1.0]]), [False, True, True]),
    "random_2d": (_RNG.normal(size=(300, 2)), None),
    "random_3d": (_RNG.normal(size=(300, 3)), None),
    "random_3d_integer_ties": (_RNG.integers(0, 4, size=(300, 3)).astype(float), None),
    "random_4d": (_RNG.random(size=(200, 4)), None),
    # Runs of equal first objective longer than the 3-D sweep's block (256), and ties inside them.
    "3d_long_equal_runs": (
        np.c_[_RNG.integers(0, 2, 900), _RNG.integers(0, 30, 900), _RNG.integers(0, 30, 900)].astype(float),
        None,
    ),
    "3d_all_on_front": (np.c_[np.arange(600.0), -np.arange(600.0), np.zeros(600)], [True] * 600),
    "3d_duplicated_rows": (np.repeat(_RNG.integers(0, 3, size=(120, 3)).astype(float), 3, axis=0), None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_named_case(name):
    costs, expected = CASES[name]
    fast, naive = pareto_mask(costs), pareto_mask_naive(costs)
    assert fast.dtype == bool and fast.shape == (costs.shape[0],)
    assert fast.tolist() == naive.tolist()
    if expected is not None:
        assert fast.tolist() == expected


def test_random_fronts_have_the_defining_property():
    """Independent of the naive loop: no front point is dominated, every other point is dominated by a front point."""
    costs = _RNG.integers(0, 10, size=(400, 3)).astype(float)
    mask = pareto_mask(costs)
    front = costs[mask]
    dom = lambda a, b: np.all(a <= b) and np.any(a < b)  # noqa: E731
    assert not any(dom(f, g) for f in front for g in front)
    assert all(any(dom(f, p) for f in front) for p in costs[~mask])


finite = st.floats(min_value=-5, max_value=5, allow_nan=False).map(lambda x: round(x, 1))  # rounding makes ties


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4).flatmap(
    lambda k: arrays(np.float64, st.tuples(st.integers(0, 40), st.just(k)), elements=finite)
))
def test_hypothesis_matches_naive(costs):
    assert pareto_mask(costs).tolist() == pareto_mask_naive(costs).tolist()


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 30), st.just(3)), elements=finite), st.randoms())
def test_permutation_invariant(costs, rnd):
    perm = list(range(costs.shape[0]))
    rnd.shuffle(perm)
    assert pareto_mask(costs)[perm].tolist() == pareto_mask(costs[perm]).tolist()


def test_maximised_objective_is_negated():
    columns = {"params": np.array([10.0, 20.0, 30.0]), "latency_s": np.array([1.0, 3.0, 2.0])}
    costs = objective_matrix(columns, (PARAMS_KEPT, LATENCY))
    # More params is better: (30, 2) dominates (20, 3); (10, 1) is cheapest.
    assert pareto_mask(costs).tolist() == [True, False, True]


def test_cost_only_fronts_use_params():
    assert fronts_for(True)[0].objectives == (PERPLEXITY, LATENCY)
    assert all(PERPLEXITY not in f.objectives for f in fronts_for(False))
    assert fronts_for(False)[2].objectives == (PARAMS_KEPT, LATENCY, AREA)


def test_bad_shape_and_unknown_column():
    with pytest.raises(SweepError):
        pareto_mask(np.zeros((2, 2, 2)))
    with pytest.raises(SweepError, match="not a results column"):
        objective_matrix({"perplexity": [1.0]}, (LATENCY,))
