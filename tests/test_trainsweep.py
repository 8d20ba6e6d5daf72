"""End-to-end training sweep on tiny models (both families, two lambdas) and the checks the paper's claims call for:
larger lambda leaves fewer heads; pruned parameters and MACs fall proportionally for All-Attention and less than
proportionally for Transformer-XL; every pruned model's perplexity in the results equals ``hwsim eval`` on its
saved checkpoint. Plus resume, spec files, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_one_line_error
from hwsim.nn.train import train

D, H, DH, N, L, DFF = 32, 4, 8, 8, 2, 24
LAMBDAS = (0.002, 0.4)
ROOT = Path(__file__).resolve().parents[1]


def _corpus(root):
    """A copy task: each line is 6 random words repeated twice, so attention over the memory pays off."""
    rng = np.random.default_rng(0)
    root.mkdir()
    for split, n in (("train", 1500), ("valid", 120), ("test", 40)):
        lines = []
        for _ in range(n):
            words = [f"w{x}" for x in rng.integers(0, 40, size=6)]
            lines.append(" ".join(words + words))
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def _recipe(family: str, data) -> dict:
    model = dict(name=f"tiny-{family}", family=family, n_layers=L, d_model=D, n_heads=H, d_head=DH, segment_len=16,
                 memory_len=16, vocab_size=64)
    if family == "all_attention":
        model["n_persistent"] = N
    else:
        model["d_ff"] = DFF  # an FF block of 1,656 parameters next to 5,344 of attention: visibly not pruned
    return {
        "model": model,
        "train": dict(optimizer="adamw", lr=3e-3, warmup_steps=20, steps=150, batch_size=8, eval_every=1000,
                      eval_tokens=512, dropout_attn=0.0, seed=0),
        "gates": dict(lr=3e-3, steps=80, sparsity_warmup_steps=10, gate_lr_mult=10.0),
        "data": {"kind": "word", "path": str(data)},
    }


@pytest.fixture(scope="module")
def baselines(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainsweep")
    data = _corpus(root / "corpus")
    out = {}
    for fam in ("all_attention", "transformer_xl"):
        out[fam] = train(_recipe(fam, data), root / f"{fam}.ckpt", progress=False).checkpoint_path
    return root, out


@pytest.fixture(scope="module")
def sweep(baselines):
    from hwsim.cli.main import run

    root, base = baselines
    out = root / "sweep"
    code = run(["train-sweep", "--train-lambdas", ",".join(map(str, LAMBDAS)), "--init-from", str(base["all_attention"]),
                "--txl-init-from", str(base["transformer_xl"]), "--accel", "gemmini-like", "--grid", "rows=8,16",
                "--max-tokens", "1024", "--device", "cpu", "--out", str(out), "--no-progress"])
    assert code == 0
    return out, pd.read_parquet(out / "results.parquet")


def _jobs(frame):
    return frame[frame["accel_id"] == 0].set_index("job_id")


def test_larger_lambda_leaves_fewer_heads(sweep):
    _, frame = sweep
    jobs = _jobs(frame)
    for fam in ("aa", "txl"):
        small, large = jobs.loc[f"{fam}-lam{LAMBDAS[0]:g}-full"], jobs.loc[f"{fam}-lam{LAMBDAS[1]:g}-full"]
        assert large["heads_kept"] < small["heads_kept"], (fam, small["heads_per_layer"], large["heads_per_layer"])
        assert jobs.loc[f"{fam}-baseline", "heads_kept"] == H * L


def _layer_params_by_hand(family: str, heads) -> int:
    """Independent count: per head 5*d*dh + 2*dh (+ 2*N*dh persistent); per layer with h>0 3d (LN, W_o bias), else d;
    TXL adds its FF block 2d + d*f + f + f*d + d."""
    per_head = 5 * D * DH + 2 * DH + (2 * N * DH if family == "all_attention" else 0)
    ff = 2 * D + 2 * D * DFF + DFF + D if family == "transformer_xl" else 0
    return sum((h * per_head + 3 * D if h else D) + ff for h in heads)


def test_params_and_macs_fall_proportionally_for_aa_not_for_txl(sweep):
    _, frame = sweep
    jobs = _jobs(frame)
    for job_id, row in jobs.iterrows():
        fam = row["family"]
        heads = [int(h) for h in row["heads_per_layer"].split(",")]
        assert row["layer_params"] == _layer_params_by_hand(fam, heads)
        assert row["params_fraction"] == pytest.approx(row["layer_params"] / _layer_params_by_hand(fam, [H] * L))
    for fam, proportional in (("aa", True), ("txl", False)):
        row = jobs.loc[f"{fam}-lam{LAMBDAS[1]:g}-full"]
        kept = row["heads_fraction"]
        assert kept < 1.0
        if proportional:
            # only the per-layer LayerNorm and W_o bias (3d of ~16k per layer) are not proportional to heads
            assert row["params_fraction"] == pytest.approx(kept, abs=0.03)
            assert row["macs_fraction"] == pytest.approx(kept, abs=1e-9)
        else:
            # the FF blocks stay: the fraction of parameters removed is smaller than the fraction of heads removed
            assert 1 - row["params_fraction"] < 0.9 * (1 - kept)
            assert 1 - row["macs_fraction"] < 0.9 * (1 - kept)
    # MACs of one segment by hand for the TXL job: attention MACs scale with heads, the FF block does not
    row = jobs.loc[f"txl-lam{LAMBDAS[1]:g}-full"]
    t, m = 16, 16
    heads = [int(h) for h in row["heads_per_layer"].split(",")]
    attn = lambda h: h * (t * D * DH + 3 * (t + m) * D * DH + 2 * t * DH * (t + m) + t * (t + m) * DH + t * DH * D)
    ff = 2 * t * D * DFF
    assert row["layer_macs"] == sum(attn(h) + ff for h in heads)


def test_results_perplexity_equals_hwsim_eval_of_saved_checkpoint(sweep, cli):
    _, frame = sweep
    jobs = _jobs(frame)
    assert len(jobs) == 6  # 2 families x (baseline + 2 lambdas)
    for job_id, row in jobs.iterrows():
        res = cli("eval", row["checkpoint"], "--max-tokens", "1024", "--device", "cpu", "--json")
        assert res.code == 0, res.err
        out = res.json()
        assert out["perplexity"] == pytest.approx(row["perplexity"], rel=1e-9), job_id
        assert ",".join(map(str, out["heads_per_layer"])) == row["heads_per_layer"]
    # every model costed on every accelerator, and latency falls with heads removed on each
    assert sorted(frame["accel"].unique()) == ["gemmini-like[rows=16]", "gemmini-like[rows=8]"]
    for (_, fam), sub in frame.groupby(["accel", "family"]):
        sub = sub.sort_values("heads_kept")
        assert np.all(np.diff(sub["latency_s"].to_numpy()) >= 0)


def test_rerun_resumes_without_training_and_report_is_written(sweep, baselines, cli):
    out, frame = sweep
    root, base = baselines
    before = {p: p.stat().st_mtime_ns for p in (out / "jobs").glob("*/result.json")}
    res = cli("train-sweep", "--train-lambdas", ",".join(map(str, LAMBDAS)), "--init-from", base["all_attention"],
              "--txl-init-from", base["transformer_xl"], "--accel", "gemmini-like", "--grid", "rows=8,16",
              "--max-tokens", "1024", "--device", "cpu", "--out", out, "--no-progress")
    assert res.code == 0, res.err
    assert "0 run now" in res.out
    assert before == {p: p.stat().st_mtime_ns for p in (out / "jobs").glob("*/result.json")}
    page = (out.parent / "sweep.html").read_text()
    assert 'id="jobs-table"' in page and "Transformer-XL" in page and "heads kept per layer" in page
    records = json.loads((out / "jobs.json").read_text())
    gated = [r for r in records if r["job"]["lambda"] is not None]
    assert all(r["history"] and len(r["history"][-1]["heads_open"]) == L for r in gated)


def test_hwsim_sweep_train_lambdas_dispatches_to_the_training_sweep(sweep, baselines, cli):
    """`hwsim sweep --train-lambdas ... --init-from ...` is the same training sweep (here: all jobs already done)."""
    out, frame = sweep
    root, base = baselines
    res = cli("sweep", "--train-lambdas", ",".join(map(str, LAMBDAS)), "--init-from", base["all_attention"],
              "--txl-init-from", base["transformer_xl"], "--accel", "gemmini-like", "--grid", "rows=8,16",
              "--max-tokens", "1024", "--device", "cpu", "--out", out, "--no-progress")
    assert res.code == 0, res.err
    assert "6 jobs (0 run now" in res.out
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), frame)
    assert_one_line_error(cli("sweep", "--train-lambdas", "0.1", "--init-from", base["all_attention"], "--ratios", "0.5",
                              "--out", out), "training sweep", "--ratios")


def test_interrupted_gating_phase_resumes(baselines, tmp_path):
    """A job killed mid-gating continues from its saved state and ends where an uninterrupted job ends."""
    from hwsim.nn.checkpoint import load_checkpoint
    from hwsim.spec import Family
    from hwsim.trainsweep.job import GATED, TrainJob, run_job

    root, base = baselines
    job = TrainJob(family=Family.ALL_ATTENTION, baseline=str(base["all_attention"]), lam=0.4, steps=20,
                   max_tokens=256)
    whole = run_job(job, tmp_path / "whole")
    # interrupt: the job's own gating phase stopped at step 10 (as a kill after a save would leave it)
    recipe = load_checkpoint(base["all_attention"]).recipe
    recipe = {**recipe, "train": {**recipe["train"], "eval_every": 10}}
    train(recipe, tmp_path / "cut" / GATED, gates=True, init_from=base["all_attention"],
          overrides={"gates": job.gate_overrides()}, progress=False, stop_after=10)
    assert load_checkpoint(tmp_path / "cut" / GATED).train_state["step"] == 10
    cut = run_job(job, tmp_path / "cut")
    assert load_checkpoint(tmp_path / "cut" / GATED).train_state["step"] == 20
    assert cut["heads_per_layer"] == whole["heads_per_layer"]
    assert cut["perplexity"] == pytest.approx(whole["perplexity"], rel=1e-5)


def test_spec_file_form(baselines, tmp_path):
    from hwsim.trainsweep.runner import plan_jobs
    from hwsim.trainsweep.spec import load_train_sweep_spec

    root, base = baselines
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(f"""
[train]
lambdas = [0.01, 0.02]
init_from = "{base['all_attention']}"
steps = 30
[train.gates]
lr = 1e-3
[train.ablation]
lambdas = [0.02]
variants = ["no-warmup", "no-init", "no-scaling"]
[accel]
presets = ["gemmini-like"]
[accel.grid]
rows = [8, 16]
""")
    spec = load_train_sweep_spec(spec_file)
    jobs = plan_jobs(spec)
    ids = [j.job_id for j in jobs]
    assert ids == ["aa-baseline", "aa-lam0.01-full", "aa-lam0.02-full", "aa-lam0.02-no-warmup", "aa-lam0.02-no-init",
                   "aa-lam0.02-no-scaling"]
    by_id = {j.job_id: j for j in jobs}
    assert by_id["aa-lam0.02-no-init"].gate_overrides() == {
        "lr": 1e-3, "lambda": 0.02, "steps": 30, "sparsity_warmup": True, "proper_init": False, "output_scaling": True}
    assert len(spec.accel.points()) == 2


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--train-lambdas", "0.01,x", "--init-from", "CKPT"], ("--train-lambdas", "numbers")),
        (["--train-lambdas", "-0.1", "--init-from", "CKPT"], ("lambda must be >= 0",)),
        (["--train-lambdas", "0.01"], ("baseline checkpoint", "--init-from")),
        (["--train-lambdas", "0.01", "--init-from", "/nonexistent/ckpt"], ("checkpoint not found",)),
        (["--train-lambdas", "0.01", "--init-from", "CKPT", "--variants", "fast"], ("variants",)),
        (["--train-lambdas", "0.01", "--init-from", "TXL"], ("transformer_xl checkpoint", "expected all_attention")),
        (["--train-lambdas", "0.01", "--init-from", "CKPT", "--txl-init-from", "CKPT"],
         ("all_attention checkpoint", "expected transformer_xl")),  # the TXL baseline equal to the AA one
        (["--train-lambdas", "0.01", "--init-from", "CORRUPT"], ("model.safetensors",)),
        (["--train-lambdas", "0.01", "--init-from", "GATED"], ("gated or pruned",)),
        (["--train-lambdas", "0.01", "--init-from", "CKPT", "--grid", "rows"], ("--grid",)),
    ],
)
def test_bad_input_one_line_error(args, fragments, baselines, cli, tmp_path):
    """Refused before anything is written: no --out directory is left behind (issue 20)."""
    root, base = baselines
    corrupt = tmp_path / "corrupt.ckpt"
    if "CORRUPT" in args:
        import shutil

        shutil.copytree(base["all_attention"], corrupt)
        (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    names = {"CKPT": base["all_attention"], "TXL": base["transformer_xl"], "CORRUPT": corrupt,
             "GATED": ROOT / "models" / "ptb-small.ckpt"}
    args = [str(names.get(a, a)) for a in args]
    res = cli("train-sweep", *args, "--out", tmp_path / "o", "--device", "cpu", "--no-progress")
    assert_one_line_error(res, *fragments)
    assert not (tmp_path / "o").exists()



def test_train_report_options_and_bad_input(sweep, cli, tmp_path):
    out, frame = sweep
    res = cli("train-report", out, "-o", tmp_path / "r.html", "--plotlyjs", "directory", "--accel", "gemmini-like[rows=16]",
              "--markdown")
    assert res.code == 0, res.err
    table = [line for line in res.out.splitlines() if line.startswith(f"| All-Attention | {LAMBDAS[1]:g} | full |")]
    row = _jobs(frame).loc[f"aa-lam{LAMBDAS[1]:g}-full"]
    assert len(table) == 1 and f"| {row['heads_per_layer']} | {row['heads_kept']} |" in table[0]
    page = (tmp_path / "r.html").read_text()
    assert 'src="plotly.min.js"' in page and len(page) < 500_000
    assert (tmp_path / "plotly.min.js").is_file()
    # the data beside the page: every model on every accelerator, and the job records
    assert len(pd.read_csv(tmp_path / "r.csv")) == len(frame)
    assert len(json.loads((tmp_path / "r.jobs.json").read_text())) == 6
    assert_one_line_error(cli("train-report", out, "-o", tmp_path / "x.html", "--plotlyjs", "svg"), "--plotlyjs")
    assert_one_line_error(cli("train-report", out, "-o", tmp_path / "x.html", "--accel", "nope"), "accelerator 'nope'")
    assert_one_line_error(cli("train-report", tmp_path / "missing"), "not a training-sweep results directory")


def test_changed_job_settings_are_refused_but_extensions_are_not(sweep, baselines, cli):
    out, _ = sweep
    root, base = baselines
    common = ["--init-from", base["all_attention"], "--txl-init-from", base["transformer_xl"], "--accel", "gemmini-like",
              "--grid", "rows=8,16", "--device", "cpu", "--out", out, "--no-progress"]
    res = cli("train-sweep", "--train-lambdas", ",".join(map(str, LAMBDAS)), "--max-tokens", "512", *common)
    assert_one_line_error(res, "different inputs", "max_tokens", "--force")
    # fewer lambdas and another accelerator grid reuse the finished jobs (nothing trains)
    res = cli("train-sweep", "--train-lambdas", str(LAMBDAS[1]), "--max-tokens", "1024", *common[:4],
              "--accel", "edge-soc-32x32", "--device", "cpu", "--out", out, "--no-progress")
    assert res.code == 0, res.err
    assert "4 jobs (0 run now" in res.out


def test_changed_baseline_checkpoint_is_refused(baselines, cli, tmp_path):
    """Finished jobs are tied to their baseline's content (SHA-256 in the manifest), not only to its path."""
    import shutil

    root, base = baselines
    ckpt = tmp_path / "base.ckpt"
    shutil.copytree(base["all_attention"], ckpt)
    args = ("train-sweep", "--train-lambdas", "0.1", "--init-from", ckpt, "--gate-steps", "5", "--accel", "gemmini-like",
            "--max-tokens", "256", "--device", "cpu", "--out", tmp_path / "o", "--no-progress")
    assert cli(*args).code == 0
    recipe = _recipe("all_attention", root / "corpus")
    recipe["train"]["steps"] = 3
    train(recipe, ckpt, progress=False)  # same path, other weights
    assert_one_line_error(cli(*args), "all_attention baseline checkpoint", "--force")
    res = cli(*args, "--force")
    assert res.code == 0 and "2 jobs (2 run now" in res.out


def test_portable_paths_only_rewrite_absolute_paths_under_base(tmp_path):
    from hwsim.trainsweep.results import portable_paths

    base = tmp_path / "repo"
    value = {"baseline": f"{base}/tmp/a.ckpt", "other": "/elsewhere/b.ckpt", "rel": "tmp/c",
             "jobs": [{"checkpoint": f"{base}/tmp/sweep/jobs/x/pruned", "n": 3}], "near": f"{base}x/d"}
    assert portable_paths(value, base) == {"baseline": "tmp/a.ckpt", "other": "/elsewhere/b.ckpt", "rel": "tmp/c",
                                           "jobs": [{"checkpoint": "tmp/sweep/jobs/x/pruned", "n": 3}],
                                           "near": f"{base}x/d"}


def test_seed_spread_table_from_two_results(tmp_path, cli):
    """Two 'seeds' made from the committed N = d/2 run: one with every All-Attention perplexity raised by 100."""
    from pathlib import Path

    from hwsim.trainsweep.report import seed_rows
    from hwsim.trainsweep.results import load_train_results

    committed = Path(__file__).resolve().parents[1] / "reports" / "ptb-train"
    frame = load_train_results(committed)[0]
    worse = frame.assign(perplexity=frame["perplexity"] + 100 * (frame["family"] == "all_attention"))
    rows = {r["job_id"]: r for r in seed_rows({"s0": frame, "s1": worse})}
    base = frame[(frame["accel_id"] == 0) & (frame["job_id"] == "aa-lam0.12-full")].iloc[0]
    r = rows["aa-lam0.12-full"]
    assert r["perplexity"] == {"s0": pytest.approx(base["perplexity"]), "s1": pytest.approx(base["perplexity"] + 100)}
    assert r["spread"] == pytest.approx(100) and r["mean"] == pytest.approx(base["perplexity"] + 50)
    assert rows["txl-baseline"]["spread"] == 0
    assert r["aa_better"] == {"s0": False, "s1": False} and len(rows) == 13
    for src in ("s0", "s1"):
        d = tmp_path / src
        d.mkdir()
        for name in ("manifest.json", "jobs.json"):
            (d / name).write_text((committed / name).read_text())
        (frame if src == "s0" else worse).to_csv(d / "results.csv", index=False)
    res = cli("train-report", str(tmp_path / "s0"), "-o", str(tmp_path / "r.html"), "--plotlyjs", "cdn", "--markdown",
              "--seeds", str(tmp_path / "s1"))
    assert res.code == 0, res.err
    assert f"| {base['perplexity']:.2f} (14) | {base['perplexity'] + 100:.2f} (14) | " in res.out
