"""The physical-mode mapper against a brute-force enumeration of issue 8's rule, lower bounds and worked values."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.accel.config import PRESETS, AccelConfig, with_overrides
from hwsim.accel.gemm import gemm_cost
from hwsim.accel.mapping import ORDERS, best_mapping
from hwsim.errors import AccelConfigError


def _accel(half_a: int, half_b: int, half_c: int, rows: int = 2, cols: int = 2, df: str = "ws") -> AccelConfig:
    """int8 operands, int32 accumulator; buffers sized so that their halves hold exactly these many words."""
    return AccelConfig(name="bf", rows=rows, cols=cols, dataflow=df, ifmap_sram_bytes=2 * half_a,
                       filter_sram_bytes=2 * half_b, ofmap_sram_bytes=8 * half_c, dram_bandwidth_bytes_per_s=8e9,
                       clock_hz=1e9)  # fmt: skip


def rule_refetch(order: str, trips: dict[str, int]) -> dict[str, int]:
    """mapping.md's rule, written out: an operand is fetched trips(loop it ignores) times iff a loop inside that
    loop, on which it depends, has more than one trip."""
    refetch = {}
    for operand, deps in (("a", "mk"), ("b", "kn"), ("c", "mn")):
        ignored = next(loop for loop in "mnk" if loop not in deps)
        inside = order[order.index(ignored) + 1 :]
        moves = any(trips[loop] > 1 for loop in inside if loop in deps)
        refetch[operand] = trips[ignored] if moves else 1
    return refetch


def rule_bytes(m: int, n: int, k: int, refetch: dict[str, int], on=(False, False, False)) -> int:
    """int8 operands and outputs, int32 partial sums written out and read back on every restart of a C tile."""
    words_a = 0 if on[0] else m * k * refetch["a"]
    words_b = 0 if on[1] else k * n * refetch["b"]
    final_c = 0 if on[2] else m * n
    return words_a + words_b + final_c + 2 * m * n * (refetch["c"] - 1) * 4


def brute_force_bytes(m: int, n: int, k: int, half_a: int, half_b: int, half_c: int, on=(False, False, False)) -> int:
    """Every tile size 1..D of every dimension and every loop order, the rule as shared/reference/mapping.md states it."""
    best = None
    for tm, tn, tk in itertools.product(range(1, m + 1), range(1, n + 1), range(1, k + 1)):
        if tm * tk > half_a or tk * tn > half_b or tm * tn > half_c:
            continue
        trips = {"m": math.ceil(m / tm), "n": math.ceil(n / tn), "k": math.ceil(k / tk)}
        best = min([rule_bytes(m, n, k, rule_refetch(order, trips), on) for order in ORDERS] + [best or math.inf])
    return best


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 9), n=st.integers(1, 9), k=st.integers(1, 9), half_a=st.integers(1, 30),
    half_b=st.integers(1, 30), half_c=st.integers(1, 30), df=st.sampled_from(["os", "ws", "is"]),
    on=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)  # fmt: skip
def test_mapper_equals_brute_force(m, n, k, half_a, half_b, half_c, df, on):
    accel = _accel(half_a, half_b, half_c, df=df)
    mp = best_mapping(m, n, k, accel, on)
    assert mp.dram_bytes == brute_force_bytes(m, n, k, half_a, half_b, half_c, on)
    # the chosen schedule is legal and its refetch factors follow the rule
    assert mp.tile_m * mp.tile_k <= half_a and mp.tile_k * mp.tile_n <= half_b and mp.tile_m * mp.tile_n <= half_c
    assert (mp.trips_m, mp.trips_n, mp.trips_k) == (-(-m // mp.tile_m), -(-n // mp.tile_n), -(-k // mp.tile_k))
    assert mp.dram_bytes == mp.dram_a_words + mp.dram_b_words + mp.dram_c_words + 8 * mp.psum_spill_words


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 300), n=st.integers(1, 300), k=st.integers(1, 300), half_a=st.integers(1, 4000),
    half_b=st.integers(1, 4000), half_c=st.integers(1, 1000), grow=st.sampled_from(["a", "b", "c"]),
    factor=st.integers(2, 5), df=st.sampled_from(["os", "ws", "is"]),
)  # fmt: skip
def test_bounds_and_larger_buffers_never_add_traffic(m, n, k, half_a, half_b, half_c, grow, factor, df):
    accel = _accel(half_a, half_b, half_c, df=df)
    mp = best_mapping(m, n, k, accel)
    assert mp.dram_bytes >= m * k + k * n + m * n  # compulsory: every operand once, outputs once at int8
    # Smith et al. 2019 (arXiv 1702.02017), Thm: words moved >= 2MNK/sqrt(S) - 2S, S = every on-chip word
    s = 2 * (half_a + half_b + half_c)
    words = mp.dram_a_words + mp.dram_b_words + mp.dram_c_words + 2 * mp.psum_spill_words
    assert words >= 2 * m * n * k / math.sqrt(s) - 2 * s
    bigger = dict(half_a=half_a, half_b=half_b, half_c=half_c)
    bigger[f"half_{grow}"] *= factor
    assert best_mapping(m, n, k, _accel(**bigger, df=df)).dram_bytes <= mp.dram_bytes


# Issue 8 / mapping.md worked values on gemmini-like (int8, int32 partial sums, 128/128/64 KiB buffers).
WORKED = [((384, 512, 512), 1_179_648), ((1024, 1024, 1024), 18_874_368), ((4096, 256, 512), 5_373_952),
          ((192, 64, 2048), 634_880), ((128, 128, 128), 49_152)]  # fmt: skip


@pytest.mark.parametrize("shape,optimum", WORKED, ids=[str(s) for s, _ in WORKED])
def test_worked_examples_on_gemmini(shape, optimum):
    accel = PRESETS["gemmini-like"]
    cost = gemm_cost(*shape, accel)
    assert cost.dram_bytes == optimum
    m, n, k = shape
    s = (accel.ifmap_sram_bytes + accel.filter_sram_bytes) + accel.ofmap_sram_bytes // 4  # words
    assert cost.dram_bytes >= 2 * m * n * k / math.sqrt(s)  # Hong & Kung 1981 order bound, S = every on-chip word
    assert cost.dram_bytes == cost.dram_ifmap_bytes + cost.dram_filter_bytes + cost.dram_ofmap_bytes


def test_partial_sum_spill_is_counted_at_acc_width():
    """(192, 64, 2048): the optimum restarts each output tile once: 192*64 int32 words out and back (98,304 B)."""
    mp = best_mapping(192, 64, 2048, PRESETS["gemmini-like"])
    assert mp.refetch_c == 2 and mp.psum_spill_words == 192 * 64
    assert mp.dram_bytes == 192 * 2048 + 2048 * 64 + 192 * 64 + 2 * 192 * 64 * 4


def test_too_small_buffers_are_an_error():
    accel = with_overrides(PRESETS["gemmini-like"], {"ofmap_sram_bytes": 4})
    with pytest.raises(AccelConfigError, match="at least 2 words"):
        gemm_cost(8, 8, 8, accel)


def brute_force_latency(m: int, n: int, k: int, accel: AccelConfig) -> int:
    """The fewest total cycles over every tile size 1..D and loop order, from first principles: each actual tile
    (edge tiles included) runs ceil(Sr/R) ceil(Sc/C) folds of max(T, R) cycles, plus 2R + C - 3 once; DRAM cycles
    are the rule's bytes over the bandwidth; the prologue is the first fold's operand bytes; total =
    max(compute, DRAM) + prologue (the double-buffered model of hwsim.accel.gemm)."""
    rows, cols, bpc = accel.rows, accel.cols, accel.dram_bytes_per_cycle
    half_a, half_b, half_c = accel.ifmap_sram_bytes // 2, accel.filter_sram_bytes // 2, accel.ofmap_sram_bytes // 8
    best = None
    for tm, tn, tk in itertools.product(range(1, m + 1), range(1, n + 1), range(1, k + 1)):
        if tm * tk > half_a or tk * tn > half_b or tm * tn > half_c:
            continue
        compute = 2 * rows + cols - 3
        for i, j, l in itertools.product(range(0, m, tm), range(0, n, tn), range(0, k, tk)):
            sm, sn, sk = min(tm, m - i), min(tn, n - j), min(tk, k - l)
            sr, sc, t = {"os": (sm, sn, sk), "ws": (sk, sn, sm), "is": (sk, sm, sn)}[accel.dataflow.value]
            compute += math.ceil(sr / rows) * math.ceil(sc / cols) * max(t, rows)
        first = {"os": min(tm, rows) * tk + tk * min(tn, cols), "ws": tm * min(tk, rows) + min(tk, rows) * min(tn, cols),
                 "is": min(tk, rows) * min(tm, cols) + min(tk, rows) * tn}[accel.dataflow.value]  # fmt: skip
        trips = {"m": math.ceil(m / tm), "n": math.ceil(n / tn), "k": math.ceil(k / tk)}
        for order in ORDERS:
            dram = rule_bytes(m, n, k, rule_refetch(order, trips))
            total = max(compute, math.ceil(dram / bpc)) + math.ceil(first / bpc)
            best = total if best is None else min(best, total)
    return best


def latency_first(m, n, k, half_a, half_b, half_c, df, side, bandwidth):
    """(accel, cost) with mapping_objective = latency, checked against the dram objective on the same design: never
    slower (its candidates include the dram objective's mapping), never fewer bytes (that mapping's bytes are the
    rule's optimum)."""
    accel = with_overrides(_accel(half_a, half_b, half_c, rows=side, cols=side, df=df),
                           {"dram_bandwidth_bytes_per_s": bandwidth, "mapping_objective": "latency"})  # fmt: skip
    fast = gemm_cost(m, n, k, accel)
    lean = gemm_cost(m, n, k, with_overrides(accel, {"mapping_objective": "dram"}))
    assert fast.total_cycles <= lean.total_cycles and fast.dram_bytes >= lean.dram_bytes
    return accel, fast


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 12), n=st.integers(1, 12), k=st.integers(1, 12), half_a=st.integers(4, 60),
    half_b=st.integers(4, 60), half_c=st.integers(4, 60), df=st.sampled_from(["os", "ws", "is"]),
    side=st.sampled_from([2, 3, 4]), bandwidth=st.sampled_from([0.5e9, 4e9, 1e12]),
)  # fmt: skip
def test_latency_objective_against_brute_force(m, n, k, half_a, half_b, half_c, df, side, bandwidth):
    """mapping_objective = latency on small GEMMs (every tile tried): the brute force's fewest total cycles; never
    slower than the dram objective's mapping, whose bytes are a floor."""
    accel, fast = latency_first(m, n, k, half_a, half_b, half_c, df, side, bandwidth)
    assert fast.total_cycles == brute_force_latency(m, n, k, accel)


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 600), n=st.integers(1, 600), k=st.integers(1, 600), half_a=st.integers(64, 8000),
    half_b=st.integers(64, 8000), half_c=st.integers(16, 2000), df=st.sampled_from(["os", "ws", "is"]),
    side=st.sampled_from([4, 8, 16]), bandwidth=st.sampled_from([1e9, 16e9, 1e13]),
)  # fmt: skip
def test_latency_objective_on_large_gemms(m, n, k, half_a, half_b, half_c, df, side, bandwidth):
    """Beyond the exhaustive size the candidates are balanced tiles, balanced whole multiples of the array side and
    the largest tile that fits: never slower than the dram objective, never fewer bytes, never below the bounds."""
    accel, fast = latency_first(m, n, k, half_a, half_b, half_c, df, side, bandwidth)
    assert fast.compute_cycles >= math.ceil(m * n * k / side**2)  # every MAC on some PE
    mp = best_mapping(m, n, k, accel)
    assert mp.tile_m * mp.tile_k <= half_a and mp.tile_k * mp.tile_n <= half_b and mp.tile_m * mp.tile_n <= half_c


def test_latency_objective_keeps_the_array_full():
    """Issue 17's 8 x 8 array (16 KiB accumulator): the bytes-first tile of 512 x 768 x 3072 is 1 column wide (8x
    the cycles); latency first keeps every column busy for 6 % more bytes (hand: 512 * 768 * 3072 / 64 MACs per
    cycle = 18,874,368 cycles at full use)."""
    from hwsim.accel.validation import GEMMINI_8X8

    lean = with_overrides(GEMMINI_8X8, {"schedule": "search"})
    fast = with_overrides(lean, {"mapping_objective": "latency"})
    assert best_mapping(512, 768, 3072, lean).tile_n == 1
    full = 512 * 768 * 3072 // 64
    assert gemm_cost(512, 768, 3072, lean).compute_cycles > 7.9 * full
    assert gemm_cost(512, 768, 3072, fast).compute_cycles < 1.001 * full
    assert gemm_cost(512, 768, 3072, fast).dram_bytes < 1.07 * gemm_cost(512, 768, 3072, lean).dram_bytes
    with pytest.raises(AccelConfigError, match="mapping_objective applies to hwsim's mapping search"):
        with_overrides(GEMMINI_8X8, {"mapping_objective": "latency"})
    with pytest.raises(AccelConfigError, match="unknown mapping_objective"):
        with_overrides(lean, {"mapping_objective": "speed"})
