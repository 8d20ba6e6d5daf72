"""Bit widths as a design axis in the cost model and the sweep (issue 19): weight width packs into bytes, buffers
hold more narrow weights, scalar == vectorised with the new field, each (heads, numerics) evaluated once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, assert_one_line_error
from hwsim.accel.batch import TOTAL_KEYS, cost_many
from hwsim.accel.config import PRESETS, with_overrides
from hwsim.accel.cost import model_cost
from hwsim.accel.mapping import best_mapping
from hwsim.spec import load_spec
from hwsim.workload import build_workload, decode_step

PAPER = load_spec(ROOT / "models" / "shim-wt103-16l.toml")
SMALL = load_spec(ROOT / "models" / "ptb-small.toml")


def test_weight_bytes_at_4_bits_are_half_those_at_8():
    """The paper model: parameter bytes and the weights' DRAM bytes per decode step (every weight read once)."""
    costs = {}
    for bits in (8, 4):
        accel = with_overrides(PRESETS["gemmini-like"], {"weight_bits": bits})
        costs[bits] = model_cost(build_workload(PAPER, None, 1, decode_step(287)), accel).total
    assert costs[4].param_bytes * 2 == costs[8].param_bytes == 54_566_912
    assert costs[4].dram_weight_bytes * 2 == costs[8].dram_weight_bytes
    assert costs[4].dram_persistent_bytes * 2 == costs[8].dram_persistent_bytes == 33_554_432
    assert costs[4].energy_pj < costs[8].energy_pj


def test_a_4_bit_design_holds_twice_the_weights_in_the_same_buffer():
    accel = PRESETS["gemmini-like"]
    eight, four = best_mapping(64, 4096, 4096, accel, b_bits=8), best_mapping(64, 4096, 4096, accel, b_bits=4)
    half_filter = accel.filter_sram_bytes // 2
    assert eight.tile_k * eight.tile_n == half_filter  # 8-bit words: the half buffer full
    assert four.tile_k * four.tile_n == 2 * half_filter  # the same bytes hold twice the 4-bit words
    # across tokens: ptb-small's kept weights stay on chip on gemmini-like up to 5 heads at 8 bits, 10 at 4 bits
    for bits, heads, kept in ((8, (2, 2, 1, 1), False), (4, (2, 2, 1, 1), True), (4, (3, 3, 3, 2), False)):
        accel = with_overrides(PRESETS["gemmini-like"], {"weight_bits": bits})
        assert model_cost(build_workload(SMALL, heads, 1, decode_step(10)), accel).kept.weights is kept


def test_scalar_equals_vectorised_with_weight_bits():
    heads = np.random.default_rng(6).integers(0, 9, size=(40, 4))
    for preset in PRESETS:
        accel = with_overrides(PRESETS[preset], {"weight_bits": 4})
        for step in (None, decode_step(50)):
            many = cost_many(SMALL, heads, accel, 2, step=step)
            for i in range(0, 40, 7):
                one = model_cost(build_workload(SMALL, tuple(heads[i]), 2, step), accel).to_json_dict()["total"]
                assert all(one[key] == many[key][i] for key in TOTAL_KEYS)


def test_design_weight_width_defaults_to_the_model_and_presets_are_unchanged():
    accel = PRESETS["gemmini-like"]
    assert accel.weight_bits is None and "weight_bits" not in accel.to_dict()  # sweeps hash as before
    assert accel.for_model(SMALL).weight_bits == SMALL.weight_bits == 8
    eight = with_overrides(accel, {"weight_bits": 8})
    base = model_cost(build_workload(SMALL), accel).total
    assert model_cost(build_workload(SMALL), eight).total == base  # 8-bit weights: today's numbers
    four = model_cost(build_workload(SMALL), with_overrides(accel, {"weight_bits": 4})).total
    assert four.area_mm2 < base.area_mm2  # a 4 x 8 multiplier is smaller than an 8 x 8 one


def test_sweep_over_weight_bits_gives_four_perplexities_each_evaluated_once(cli, tmp_path, monkeypatch):
    """The issue's command: 2 heads vectors x weight_bits 4, 8 -> 4 points, 4 distinct perplexities; each (heads,
    numerics) evaluated once even though two accelerators share each numerics; resume evaluates nothing."""
    import hwsim.sweep.evaluate as evaluate

    calls = []
    original = evaluate.evaluate_configs

    def counted(job, ids, heads):
        calls.extend((int(i), job.numerics_label) for i in ids)
        return original(job, ids, heads)

    monkeypatch.setattr(evaluate, "evaluate_configs", counted)
    monkeypatch.setattr("hwsim.sweep.engine.evaluate_configs", counted)
    out = tmp_path / "res"
    args = ("sweep", "--heads-per-layer", "8,8,8,8", "--heads-per-layer", "4,4,2,2", "--accel", "gemmini-like",
            "--accel", "edge-soc-32x32", "--grid", "weight_bits=4,8", "--max-tokens", "2000", "--workers", "1",
            "--no-progress", "--out", out)  # fmt: skip
    result = cli(*args)
    assert result.code == 0, result.err
    frame = pd.read_parquet(out / "results.parquet")
    assert len(frame) == 8 and set(frame["numerics"]) == {"W4A8", "W8A8"}
    assert frame.groupby(["heads_per_layer", "numerics"])["perplexity"].nunique().eq(1).all()
    assert frame.drop_duplicates(["heads_per_layer", "numerics"])["perplexity"].nunique() == 4
    # each (heads, numerics) pair once, and the float32 model once per heads vector as the reference
    assert sorted(calls) == sorted({(c, n) for c in (0, 1) for n in ("W4A8", "W8A8", "float")})
    assert frame["perplexity_float"].notna().all()
    html = (tmp_path / "res.html").read_text()
    assert "What bits cost in perplexity" in html and "W4A8 / float" in html
    calls.clear()
    assert cli(*args, "--resume").code == 0 and calls == []


@pytest.mark.parametrize("grid,fragment", [
    ("weight_bits=3", "weight_bits"), ("input_bits=32", "act_bits"), ("acc_bits=16", "overflows"),
])  # fmt: skip
def test_bad_numerics_in_a_sweep_are_refused_before_evaluation(cli, tmp_path, grid, fragment):
    result = cli("sweep", "--heads-per-layer", "8,8,8,8", "--accel", "gemmini-like", "--grid", grid, "--max-tokens",
                 "500", "--no-progress", "--out", tmp_path / "o")  # fmt: skip
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "o").exists()


def test_unknown_scheme_is_refused(cli, tmp_path):
    assert_one_line_error(cli("sweep", "--heads-per-layer", "8,8,8,8", "--scheme", "gptq", "--out", tmp_path / "o"),
                          "scheme")
