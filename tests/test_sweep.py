"""Sweep space, spec files, results store (resume / force) and bad-input errors; cost-only sweeps (no torch work)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_one_line_error
from hwsim.errors import HeadsError, SweepError
from hwsim.numerics import Numerics
from hwsim.spec import load_spec
from hwsim.sweep.config import DEFAULT_SPEC_PATH, CliOverrides, apply_cli, load_sweep_spec, parse_sweep_spec
from hwsim.sweep.pareto import fronts_for, objective_matrix, pareto_mask_naive
from hwsim.sweep.space import (
    AccelGrid,
    PruningSpace,
    RandomSamples,
    RatioMode,
    expand_pruning,
    range_heads,
    ratio_heads,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "models" / "ptb-small.toml"  # 4 layers x 8 heads
PAPER = ROOT / "models" / "shim-wt103-16l.toml"


@pytest.fixture(scope="module")
def spec():
    return load_spec(SMALL)


# ---- space -------------------------------------------------------------------------------------------------------
def test_gate_ratio_removes_the_lowest_scores_globally(spec):
    scores = np.full((4, 8), 3.0)
    scores[1, [0, 5]] = -1.0  # two clearly unneeded heads in layer 1
    scores[3, 2] = -0.5
    scores[2, 7] = 0.1
    # 25% of 32 heads = 8 removed: the 4 low ones, then ties at 3.0 broken by (layer, head) order: layer 0 heads 0..3.
    assert ratio_heads(spec, 0.25, RatioMode.GATE, scores).tolist() == [4, 6, 7, 7]
    assert ratio_heads(spec, 0.0625, RatioMode.GATE, scores).tolist() == [8, 6, 8, 8]  # 2 removed
    assert ratio_heads(spec, 1.0, RatioMode.GATE, scores).tolist() == [0, 0, 0, 0]


def test_uniform_ratio_spreads_the_remainder(spec):
    assert ratio_heads(spec, 0.25, RatioMode.UNIFORM, None).tolist() == [6, 6, 6, 6]  # 8 removed, 2 per layer
    # 0.3 * 32 = 9.6 -> 10 removed: 2 per layer plus 2 more on the first and last layer.
    assert ratio_heads(spec, 0.3, RatioMode.UNIFORM, None).tolist() == [5, 6, 6, 5]
    assert ratio_heads(spec, 0.125, RatioMode.UNIFORM, None).sum() == 32 - 4


def test_ranges_and_random(spec):
    grid = range_heads(spec, ("8", "4:8:2", "2:3", "8"))
    assert grid.tolist() == [[8, h1, h2, 8] for h1 in (4, 6, 8) for h2 in (2, 3)]
    rnd = RandomSamples(samples=50, seed=7, min_heads=(1,), max_heads=(2, 8, 8, 3))
    a = expand_pruning(spec, PruningSpace(random=rnd)).heads
    b = expand_pruning(spec, PruningSpace(random=rnd)).heads
    assert np.array_equal(a, b)  # seeded
    body = a[1:]
    assert body.min() >= 1 and body[:, 0].max() <= 2 and body[:, 3].max() <= 3


def test_expand_deduplicates_and_puts_the_baseline_first(spec):
    space = PruningSpace(heads=("8", "6,6,6,6", "8,8,8,8"), ratios=(0.0, 0.25), ratio_modes=(RatioMode.UNIFORM,))
    configs = expand_pruning(spec, space)
    assert configs.heads.tolist() == [[8, 8, 8, 8], [6, 6, 6, 6]]
    assert configs.labels == ("baseline", "explicit")


def test_gate_ratios_need_scores_and_wrong_lengths_fail(spec):
    only_gate = PruningSpace(ratios=(0.5,), ratio_modes=(RatioMode.GATE,))
    with pytest.raises(SweepError, match="uniform"):
        expand_pruning(spec, only_gate)
    with pytest.raises(HeadsError, match="3 entries"):
        expand_pruning(spec, PruningSpace(heads=("8,6,4",)))
    with pytest.raises(SweepError, match="empty pruning space"):
        expand_pruning(spec, PruningSpace())
    with pytest.raises(SweepError, match="limit"):
        range_heads(load_spec(PAPER), ("0:8",))  # 9**16 configurations


def test_accel_grid_product_and_array_shorthand():
    grid = (("array", ("8x8", "16x32")), ("dataflow", ("os", "ws")))
    points = AccelGrid(presets=("gemmini-like", "tpu-v1-like"), grid=grid).points()
    assert len(points) == 8
    assert points[1].name == "gemmini-like[rows=8,cols=8,dataflow=ws]"
    assert dict(points[2].overrides) == {"rows": 16, "cols": 32, "dataflow": "os"}
    with pytest.raises(SweepError, match="empty accelerator space"):
        AccelGrid(presets=()).points()


# ---- spec files --------------------------------------------------------------------------------------------------
def test_default_spec_parses_and_resolves_paths():
    spec = load_sweep_spec(DEFAULT_SPEC_PATH)
    assert spec.checkpoint is not None and Path(spec.checkpoint).is_absolute()
    assert spec.pruning.ratios and spec.accel.presets and len(spec.accel.points()) == 16


def test_spec_file_errors_name_the_key(tmp_path):
    with pytest.raises(SweepError, match="unknown key.*ratio_mode"):
        parse_sweep_spec({"pruning": {"ratio_mode": ["gate"]}}, tmp_path, "x.toml")
    with pytest.raises(SweepError, match="ratio_modes"):
        parse_sweep_spec({"pruning": {"ratio_modes": ["best"]}}, tmp_path, "x.toml")
    with pytest.raises(SweepError, match="heads_per_layer entry"):
        parse_sweep_spec({"pruning": {"heads_per_layer": [1.5]}}, tmp_path, "x.toml")


def test_cli_options_replace_sections():
    base = load_sweep_spec(DEFAULT_SPEC_PATH)
    spec = apply_cli(base, CliOverrides(heads=("8,6,6,4",), model=str(SMALL), grid=("rows=16,32",)))
    assert spec.pruning.heads == ("8,6,6,4",) and not spec.pruning.ratios and not spec.pruning.random.samples
    assert spec.checkpoint is None and spec.model == str(SMALL)
    assert spec.accel.presets == base.accel.presets and spec.accel.grid == (("rows", (16, 32)),)


# ---- end to end (cost-only) ---------------------------------------------------------------------------------------
def _sweep(cli, out, *extra):
    return cli("sweep", "--model", SMALL, "--ratios", "0,0.25,0.5", "--heads-per-layer", "8,6,6,4",
               "--accel", "gemmini-like", "--grid", "dataflow=os,ws", "--out", out, "--no-progress", *extra)


def test_cost_only_sweep_writes_every_point_with_costs(cli, tmp_path):
    from hwsim.accel.config import load_accel, with_overrides
    from hwsim.accel.cost import model_cost
    from hwsim.workload import build_workload

    result = _sweep(cli, tmp_path / "res")
    assert result.code == 0, result.err
    assert f"results: {tmp_path / 'res' / 'results.parquet'}" in result.out
    assert f"report:  {tmp_path / 'res.html'}" in result.out
    frame = pd.read_parquet(tmp_path / "res" / "results.parquet")
    required = {"heads_per_layer", "accel", "perplexity", "params", "macs", "latency_s", "area_mm2", "energy_pj",
                "pareto_latency", "pareto_area", "pareto_3d"}
    assert required <= set(frame.columns)
    # baseline, 8,6,6,4, uniform 0.25 (6,6,6,6), uniform 0.5 (4,4,4,4); ratio 0 is the baseline -> 4 x 2 points.
    assert sorted(frame["heads_per_layer"].unique()) == ["4,4,4,4", "6,6,6,6", "8,6,6,4", "8,8,8,8"]
    assert len(frame) == 8 and not frame.duplicated(["heads_per_layer", "accel"]).any()
    assert frame["perplexity"].isna().all()
    # Each row against the scalar cost path (one workload, one model_cost call).
    spec = load_spec(SMALL)
    for _, row in frame.iterrows():
        accel = with_overrides(load_accel("gemmini-like"), {"dataflow": row["accel"].split("=")[1].rstrip("]")})
        cost = model_cost(build_workload(spec, tuple(int(h) for h in row["heads_per_layer"].split(",")), 1), accel)
        assert row["latency_s"] == pytest.approx(cost.total.latency_s, rel=1e-12)
        assert row["energy_pj"] == pytest.approx(cost.total.energy_pj, rel=1e-12)
        assert row["macs"] == cost.total.macs
    # Pareto columns match the naive reference on the stored objectives.
    for front in fronts_for(False):
        assert frame[front.column].tolist() == pareto_mask_naive(objective_matrix(frame, front.objectives)).tolist()
    manifest = json.loads((tmp_path / "res" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["n_points"] == 8 and len(manifest["input_hash"]) == 64
    assert {"hwsim", "numpy", "python"} <= set(manifest["versions"])


def test_resume_recomputes_nothing_finished_and_changed_inputs_are_refused(cli, tmp_path):
    out = tmp_path / "res"
    assert _sweep(cli, out).code == 0
    first = pd.read_parquet(out / "results.parquet")
    (out / "cost" / "accel-00001.parquet").unlink()  # as if killed before the second accelerator was written
    (out / "results.parquet").unlink()
    resumed = _sweep(cli, out, "--resume")
    assert resumed.code == 0 and "accelerators costed: 1" in resumed.out
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), first)
    again = _sweep(cli, out, "--resume")
    assert "accelerators costed: 0" in again.out

    changed = cli("sweep", "--model", SMALL, "--ratios", "0.5", "--accel", "gemmini-like", "--out", out,
                  "--no-progress")
    assert_one_line_error(changed, "different inputs", "--force")
    forced = cli("sweep", "--model", SMALL, "--ratios", "0.5", "--accel", "gemmini-like", "--out", out,
                 "--no-progress", "--force")
    assert forced.code == 0
    assert len(pd.read_parquet(out / "results.parquet")) == 2
    assert sorted(p.name for p in (out / "cost").iterdir()) == ["accel-00000.parquet"]  # stale parts removed


def test_report_command_on_a_results_directory(cli, tmp_path):
    assert _sweep(cli, tmp_path / "res").code == 0
    result = cli("report", tmp_path / "res", "-o", tmp_path / "named.html", "--point", "3")
    assert result.code == 0, result.err
    exported = json.loads((tmp_path / "named.json").read_text())
    assert exported["chosen"]["row"] == 3 and len(exported["chosen"]["layers"]["latency_s"]) == 5  # 4 layers + output
    assert len(pd.read_csv(tmp_path / "named.csv")) == 8


@pytest.mark.parametrize(
    "args, fragments",
    [
        (("--ratios", ""), ("empty",)),
        (("--ratios", "0.5,2"), ("outside 0..1",)),
        (("--heads-per-layer", "8,6"), ("2 entries", "4 layers")),
        (("--heads-per-layer", "8,6,x,4"), ("malformed",)),
        (("--heads-per-layer", "4", "--grid", "colz=16"), ("unknown accel parameter", "colz")),
        (("--heads-per-layer", "4", "--grid", "dataflow=diagonal"), ("dataflow",)),
        (("--heads-per-layer", "4", "--accel", "no-such-chip"), ("no-such-chip",)),
        (("--heads-per-layer", "4", "--grid", "rows"), ("PARAM=",)),
    ],
)
def test_bad_sweep_input_is_one_line(cli, tmp_path, args, fragments):
    result = cli("sweep", "--model", SMALL, "--out", tmp_path / "res", "--no-progress", *args)
    assert_one_line_error(result, *fragments)


def test_bad_spec_file_and_checkpoint_are_one_line(cli, tmp_path):
    empty = tmp_path / "empty.toml"
    empty.write_text('[sweep]\nmodel = "%s"\n[pruning]\nratios = [0.5]\n[accel]\npresets = []\n' % SMALL)
    assert_one_line_error(cli("sweep", empty, "--out", tmp_path / "a", "--no-progress"), "empty accelerator space")
    nothing = tmp_path / "nothing.toml"
    nothing.write_text('[sweep]\nmodel = "%s"\n[accel]\npresets = ["gemmini-like"]\n' % SMALL)
    assert_one_line_error(cli("sweep", nothing, "--out", tmp_path / "b", "--no-progress"), "empty pruning space")
    assert_one_line_error(cli("sweep", tmp_path / "missing.toml"), "missing.toml")
    broken = tmp_path / "broken.ckpt"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    (broken / "meta.json").write_text("{")
    assert_one_line_error(cli("sweep", "--checkpoint", broken, "--ratios", "0.5", "--out", tmp_path / "c"),
                          "broken.ckpt")
    assert_one_line_error(cli("sweep", "--checkpoint", tmp_path / "nope", "--ratios", "0.5", "--out", tmp_path / "d"),
                          "not found")
    assert_one_line_error(cli("report", tmp_path / "nope"), "not a sweep results directory")


def make_tiny_checkpoint(root: Path) -> Path:
    """A 2-layer x 4-head All-Attention model on PTB: 3 baseline steps, then 3 gating steps (seconds on CPU).

    Shared by the sweep tests that need real perplexities (imported from here by test_sweep_resume / _ray)."""
    from hwsim.nn.train import train
    from hwsim.spec import load_recipe

    raw = load_recipe(SMALL)
    raw["model"].update(name="ptb-tiny", n_layers=2, d_model=32, n_heads=4, d_head=8, n_persistent=8, segment_len=16,
                        memory_len=16)
    raw["train"].update(steps=3, batch_size=4, eval_every=1000, eval_tokens=256, weights_dtype="float32")
    raw["gates"].update(steps=3)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: a second intra-op thread only adds contention on a shared machine
    try:
        train(raw, root / "base", progress=False, save_train_state=False)
        train(raw, root / "gated", gates=True, init_from=root / "base", progress=False, save_train_state=False)
    finally:
        torch.set_num_threads(threads)
    return root / "gated"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


def test_checkpoint_sweep_measures_perplexity_by_gate_score(cli, tmp_path, tiny_checkpoint):
    from hwsim.nn.evaluate import MaskedEvaluator
    from hwsim.nn.prune import head_scores

    result = cli("sweep", "--checkpoint", tiny_checkpoint, "--ratios", "0,0.5", "--heads-per-layer", "1,3",
                 "--accel", "gemmini-like", "--max-tokens", "600", "--workers", "1", "--out", tmp_path / "r",
                 "--no-progress")
    assert result.code == 0, result.err
    frame = pd.read_parquet(tmp_path / "r" / "results.parquet")
    evaluator = MaskedEvaluator(tiny_checkpoint, max_tokens=600)
    scores = head_scores(evaluator.checkpoint)
    expected_gate = tuple(int(x) for x in ratio_heads(evaluator.spec, 0.5, RatioMode.GATE, scores))
    assert set(frame["heads_per_layer"]) == {"4,4", "1,3", "2,2", ",".join(map(str, expected_gate))}
    assert set(frame["numerics"]) == {"W8A8"}  # measured as gemmini-like computes: 8-bit weights and activations
    for _, row in frame.iterrows():  # each perplexity equals a direct evaluation of that heads vector
        direct = evaluator.perplexity(tuple(int(h) for h in row["heads_per_layer"].split(",")), Numerics())
        assert row["perplexity"] == pytest.approx(direct.perplexity, rel=1e-9)
        assert row["tokens"] == direct.tokens
    for front in fronts_for(True):
        assert frame[front.column].tolist() == pareto_mask_naive(objective_matrix(frame, front.objectives)).tolist()


def test_finetune_steps_improve_perplexity_and_change_the_inputs_hash(cli, tmp_path, tiny_checkpoint):
    from hwsim.sweep.evaluate import PerplexityJob
    from hwsim.sweep.finetune import finetuned_perplexity
    from hwsim.nn.evaluate import MaskedEvaluator

    # Zero steps: the physically pruned model scores exactly what the masked model scores (independent code paths).
    zero = finetuned_perplexity(PerplexityJob(checkpoint=str(tiny_checkpoint), max_tokens=300), (1, 3))
    masked = MaskedEvaluator(tiny_checkpoint, max_tokens=300).perplexity((1, 3))
    assert zero["perplexity"] == pytest.approx(masked.perplexity, rel=1e-6)

    args = ("sweep", "--checkpoint", tiny_checkpoint, "--heads-per-layer", "1,3", "--accel", "gemmini-like",
            "--max-tokens", "300", "--workers", "1", "--no-progress", "--out", tmp_path / "r")
    assert cli(*args).code == 0
    plain = pd.read_parquet(tmp_path / "r" / "results.parquet")
    assert_one_line_error(cli(*args, "--finetune-steps", "2", "--resume"), "different inputs")
    tuned = cli(*args, "--finetune-steps", "2", "--force")
    assert tuned.code == 0, tuned.err
    after = pd.read_parquet(tmp_path / "r" / "results.parquet")
    assert np.isfinite(after["perplexity"]).all()
    # A barely trained model, pruned to (1, 3): a few steps at the end-of-schedule learning rate lower its validation
    # perplexity (deterministic: seeded, no dropout; measured 10229.7 -> 10223.5 after 2 steps, 10212.9 after 5).
    assert (after["perplexity"] < plain["perplexity"]).all()
    assert_one_line_error(cli("sweep", "--model", SMALL, "--heads-per-layer", "4", "--finetune-steps", "2",
                              "--out", tmp_path / "x"), "needs a checkpoint")


def test_checkpoint_hash_covers_every_file_of_the_directory(tmp_path):
    from hwsim.sweep.store import path_sha256

    ckpt = tmp_path / "c.ckpt"
    ckpt.mkdir()
    (ckpt / "model.safetensors").write_bytes(b"weights")
    (ckpt / "meta.json").write_text("{}")
    before = path_sha256(ckpt)
    (ckpt / "model.safetensors").write_bytes(b"weightz")
    assert path_sha256(ckpt) != before
    (ckpt / "model.safetensors").write_bytes(b"weights")
    assert path_sha256(ckpt) == before
    (ckpt / "meta.json").rename(ckpt / "meta2.json")  # names count too
    assert path_sha256(ckpt) != before


def test_default_sweep_on_the_shipped_checkpoint(cli, tmp_path):
    """`hwsim sweep` with no space arguments: sweeps/default.toml on models/ptb-small.ckpt (few tokens, for speed)."""
    result = cli("sweep", "--max-tokens", "128", "--workers", "1", "--no-progress", "--out", tmp_path / "pareto")
    assert result.code == 0, result.err
    frame = pd.read_parquet(tmp_path / "pareto" / "results.parquet")
    default = load_sweep_spec(DEFAULT_SPEC_PATH)
    assert frame["accel_id"].nunique() == len(default.accel.points()) == 16
    assert frame["perplexity"].notna().all() and frame["label"].str.startswith("gate").any()
    assert frame["pareto_latency"].any() and frame["pareto_area"].any() and frame["pareto_3d"].any()
    assert (tmp_path / "pareto.html").is_file()
    # the default sweep costs the decode phase too: per-token columns and their own fronts
    assert default.phases == ("segment", "decode")
    assert frame["latency_per_token_s"].gt(0).all() and frame["pareto_decode_latency"].any()
    assert frame["pareto_decode_energy"].any()
    assert np.allclose(frame["tokens_per_s"], 1 / frame["latency_per_token_s"])  # batch 1


def test_decode_phase_columns_equal_the_scalar_decode_cost(cli, tmp_path):
    from hwsim.accel.config import PRESETS
    from hwsim.accel.generation import decode_cost
    from hwsim.spec import load_spec

    out = tmp_path / "res"
    result = cli("sweep", "--model", ROOT / "models" / "ptb-small.toml", "--heads-per-layer", "8,8,8,8",
                 "--heads-per-layer", "1,1,1,1", "--accel", "gemmini-like", "--phases", "segment,decode",
                 "--context", "40", "--batch", "2", "--no-progress", "--out", out)  # fmt: skip
    assert result.code == 0, result.err
    frame = pd.read_parquet(out / "results.parquet")
    spec = load_spec(ROOT / "models" / "ptb-small.toml")
    for _, row in frame.iterrows():
        heads = tuple(int(h) for h in row["heads_per_layer"].split(","))
        cost = decode_cost(spec, heads, PRESETS["gemmini-like"], 2, 40)
        assert row["latency_per_token_s"] == cost.total.latency_s
        assert row["energy_per_token_pj"] == cost.total.energy_pj / 2
        assert bool(row["weights_on_chip"]) == cost.kept.weights
    assert frame["weights_on_chip"].tolist() == [False, True]  # one head per layer fits in the filter buffer
    budget = cli("report", out, "-o", tmp_path / "r.html", "--max-latency-per-token-ms",
                 str(frame["latency_per_token_s"].min() * 1e3 * 1.0001))  # fmt: skip
    assert budget.code == 0 and "lowest latency per token: heads 1,1,1,1" in budget.out


@pytest.mark.parametrize("args,fragment", [
    (("--phases", "decode"), "phases"),
    (("--phases", "segment,prefill"), "phases"),
    (("--phases", "segment", "--context", "5"), "context applies to the decode phase"),
    (("--phases", "segment,decode", "--context", "128"), "context"),
])  # fmt: skip
def test_bad_phases_are_one_line(cli, tmp_path, args, fragment):
    result = cli("sweep", "--model", ROOT / "models" / "ptb-small.toml", "--heads-per-layer", "8", "--accel",
                 "gemmini-like", "--no-progress", "--out", tmp_path / "o", *args)  # fmt: skip
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "o").exists()


def test_decode_budget_needs_the_decode_phase(cli, tmp_path):
    out = tmp_path / "res"
    assert cli("sweep", "--model", ROOT / "models" / "ptb-small.toml", "--heads-per-layer", "8", "--accel",
               "gemmini-like", "--phases", "segment", "--no-progress", "--out", out).code == 0  # fmt: skip
    assert_one_line_error(cli("report", out, "--max-energy-per-token-uj", "5"), "decode")


def test_a_training_sweep_spec_refuses_pattern_options(cli, tmp_path):
    spec = tmp_path / "train.toml"
    spec.write_text('[train]\nlambdas = [0.01]\n[accel]\npresets = ["gemmini-like"]\n')
    assert_one_line_error(cli("sweep", spec, "--heads-per-layer", "4", "--out", tmp_path / "t"), "training sweep")


def test_sweep_refuses_options_the_kind_of_sweep_ignores(cli, tmp_path):
    """`hwsim sweep` on a training-sweep spec ([train]) or with --train-lambdas runs a training sweep: options only a
    pruning sweep honours (--seed, --search, budgets...) are refused by name, not dropped; and the reverse."""
    train_spec = tmp_path / "train.toml"
    train_spec.write_text('[train]\nlambdas = [0.01]\ninit_from = "nowhere"\n')
    for extra, flag in ((("--seed", "3"), "--seed"), (("--max-latency-ms", "1"), "--max-latency-ms"),
                        (("--search", "nsga2"), "--search"), (("--align",), "--align")):
        res = cli("sweep", train_spec, *extra, "--out", tmp_path / "o")
        assert_one_line_error(res, "training sweep", flag)
    res = cli("sweep", "--train-lambdas", "0.1", "--init-from", "x", "--seed", "1", "--out", tmp_path / "o")
    assert_one_line_error(res, "training sweep", "--seed")
    for extra, flag in ((("--gate-steps", "5"), "--gate-steps"), (("--device", "cpu"), "--device"),
                        (("--ablation-variants", "none"), "--ablation-variants")):
        res = cli("sweep", "--model", SMALL, "--heads-per-layer", "4", *extra, "--out", tmp_path / "o")
        assert_one_line_error(res, "pruning sweep", flag)
    assert not (tmp_path / "o").exists()
