"""Issue 9, classes 2-12: every example of that issue gets one `error:` line and exit 2 (or correct output where the
input is legal), with nothing written outside the output path. Class 1 (data loss, locks): test_output_safety.py;
random inputs: test_fuzz_cli.py."""

from __future__ import annotations

import json
import os
import signal
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import assert_one_line_error
from hwsim.limits import MAX_COUNT
from hwsim.nn.checkpoint import save_checkpoint
from hwsim.nn.model import build_model
from nn_helpers import tiny_spec

ROOT = Path(__file__).resolve().parents[1]
SMALL = str(ROOT / "models" / "ptb-small.toml")
SHIPPED = str(ROOT / "models" / "ptb-small.ckpt")
GEMM = ("gemm", "--m", 8, "--n", 8, "--k", 8, "--rows", 4, "--cols", 4, "--dataflow", "os")
MODEL_TOML = ("[model]\nname = 'x'\nn_layers = 2\nd_model = 16\nn_heads = 2\nd_head = 8\nn_persistent = 4\n"
              "segment_len = 8\nmemory_len = 8\nvocab_size = 100\n")


def _file(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty directory; after the test nothing but the test's own files may be there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---- class 2: unwritable or odd output paths ---------------------------------------------------------------------
@pytest.mark.parametrize("command", ["prune", "sweep", "report", "train-report", "export"])
@pytest.mark.parametrize("target", ["", ".", "file/sub", "dir-as-file"])
def test_odd_output_paths(cli, in_tmp, command, target):
    (in_tmp / "file").write_text("x")
    (in_tmp / "d").mkdir()
    before = _tree(in_tmp)
    out = {"file/sub": "file/sub", "dir-as-file": "d"}.get(target, target)
    args = {
        "prune": ("prune", SHIPPED, "--out", out, "--heads-per-layer", "4"),
        "sweep": ("sweep", "--model", SMALL, "--heads-per-layer", "4", "--accel", "gemmini-like", "--no-progress",
                  *(("--out", "r", "--report", out) if target == "dir-as-file" else ("--out", out))),
        "report": ("report", str(in_tmp / "nothing"), "-o", out),
        "train-report": ("train-report", str(in_tmp / "nothing"), "-o", out),
        "export": ("export", "--model", SMALL, "-o", out),
    }[command]
    if command in ("export", "prune") and target == "dir-as-file":
        return  # an (empty) directory is a fine place to export into or to write a checkpoint to
    result = cli(*args)
    assert_one_line_error(result)
    assert result.out == ""
    assert _tree(in_tmp) == before  # in particular no store in the current directory


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only directories")
def test_read_only_parent_is_refused_before_work(cli, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert_one_line_error(cli("prune", SHIPPED, "--out", ro / "p", "--heads-per-layer", "4"), "not writable")
        assert_one_line_error(cli("sweep", "--model", SMALL, "--heads-per-layer", "4", "--out", ro / "s",
                                  "--no-progress"), "not writable")
    finally:
        ro.chmod(0o755)


# ---- class 3: overflow ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra", [
    ("--repeat", 2**70), ("--m", 2**40, "--n", 2**40), ("--clock-hz", "1e300"), ("--rows", 2**40),
])
def test_huge_gemm_is_refused_with_a_limit(cli, extra):
    result = cli(*GEMM, *extra)
    assert_one_line_error(result)
    assert any(s in result.err for s in ("2^62", "limit", "range"))


def test_large_legal_gemm_counts_are_exact_and_non_negative(cli):
    # 2^40 MACs on a 16 x 16 array: far above 2^31, well below the int64 bound; every count is a plain integer.
    m = n = k = 2**13 + 1
    out = cli("gemm", "--m", m, "--n", n, "--k", k, "--rows", 16, "--cols", 16, "--dataflow", "ws", "--json").json()
    assert out["macs"] == m * n * k
    assert all(v >= 0 for v in out.values() if isinstance(v, (int, float)))
    assert out["total_cycles"] < MAX_COUNT


@pytest.mark.parametrize("batch", [0, 2**21, 2**62])
def test_huge_batch_is_refused(cli, batch):
    assert_one_line_error(cli("cost", "--model", SMALL, "--batch", batch))


def test_model_whose_counts_would_wrap_is_refused(cli, tmp_path):
    big = MODEL_TOML.replace("d_model = 16", "d_model = 65536").replace("n_layers = 2", "n_layers = 1024").replace(
        "segment_len = 8", "segment_len = 65536")
    assert_one_line_error(cli("cost", "--model", _file(tmp_path, "m.toml", big), "--batch", 1024), "2^62")


# ---- class 4: not UTF-8 TOML -------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["model", "accel", "recipe", "sweep", "train-sweep"])
def test_binary_garbage_as_toml(cli, in_tmp, where):
    junk = _file(in_tmp, "junk.toml", bytes(range(256)) * 4)
    args = {"model": ("cost", "--model", junk), "accel": ("cost", "--model", SMALL, "--accel", junk),
            "recipe": ("train", "--recipe", junk, "--out", "o"), "sweep": ("sweep", junk, "--out", "o"),
            "train-sweep": ("train-sweep", junk, "--out", "o")}[where]
    assert_one_line_error(cli(*args), "UTF-8")
    assert _tree(in_tmp) == ["junk.toml"]


def test_oversized_toml_is_refused(cli, tmp_path):
    assert_one_line_error(cli("cost", "--model", _file(tmp_path, "m.toml", "#" * (2 << 20))), "KiB")


# ---- class 5: type holes -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("edit,fragment", [
    (("vocab_size = 100", "vocab_size = 100\nadaptive_cutoffs = 5"), "adaptive_cutoffs"),
    (("vocab_size = 100", "vocab_size = 100\nadaptive_cutoffs = [50]\nadaptive_div = '4'"), "adaptive_div"),
    (("vocab_size = 100", "vocab_size = 100\nadaptive_cutoffs = [50]\nadaptive_div = 1.5"), "adaptive_div"),
    (("n_heads = 2", "n_heads = [2]"), "n_heads"),
    (("name = 'x'", "name = 5"), "name"),
])
def test_model_type_holes(cli, tmp_path, edit, fragment):
    assert_one_line_error(cli("cost", "--model", _file(tmp_path, "m.toml", MODEL_TOML.replace(*edit))), fragment)


@pytest.mark.parametrize("text,fragment", [
    ("[accel]\nbase = ['gemmini-like']\n", "base"),
    ("[accel]\nbase = 'gemmini-like'\nrows = '16'\n", "rows"),
    ("[accel]\nbase = 'gemmini-like'\n[acel]\nrows = 16\n", "acel"),
    ("[accel]\nbase = 'gemmini-like'\nacc_bits = 4096\n", "acc_bits"),
])
def test_accel_type_holes(cli, tmp_path, text, fragment):
    assert_one_line_error(cli("cost", "--model", SMALL, "--accel", _file(tmp_path, "a.toml", text)), fragment)


@pytest.mark.parametrize("table,fragment", [
    ("[trian]\nsteps = 3\n", "trian"),
    ("[train]\ndropout_attn = 2.0\n", "dropout_attn"),
    ("[train]\nbetas = [1.5, 0.999]\n", "betas"),
    ("[train]\neval_batch_size = 0\n", "eval_batch_size"),
    ("[train]\nlr = nan\n", "lr"),
    ("[train]\nsteps = 1.5\n", "steps"),
    ("[gates]\nlambda = inf\n", "finite"),
    ("[gates]\nsparsity_warmup = 'no'\n", "sparsity_warmup"),
])
def test_recipe_type_holes_before_any_work(cli, in_tmp, table, fragment):
    recipe = _file(in_tmp, "r.toml", MODEL_TOML + table)
    assert_one_line_error(cli("train", "--recipe", recipe, "--out", "o", "--quiet"), fragment)
    assert _tree(in_tmp) == ["r.toml"]


# ---- class 6: size limits ------------------------------------------------------------------------------------------
def test_absurd_model_size_names_the_limit(cli, tmp_path):
    result = cli("cost", "--model", _file(tmp_path, "m.toml", MODEL_TOML.replace("n_layers = 2", "n_layers = 1000000")))
    assert_one_line_error(result, "n_layers", "limit")


def test_model_that_cannot_fit_in_memory_is_refused_before_training(cli, in_tmp):
    recipe = _file(in_tmp, "r.toml", MODEL_TOML.replace("d_model = 16", "d_model = 65536").replace(
        "vocab_size = 100", "vocab_size = 16000000"))
    assert_one_line_error(cli("train", "--recipe", recipe, "--out", "o", "--quiet"), "GiB")
    assert _tree(in_tmp) == ["r.toml"]


def test_a_billion_random_samples_is_refused(cli, in_tmp):
    result = cli("sweep", "--model", SMALL, "--samples", 10**9, "--out", "o", "--no-progress")
    assert_one_line_error(result, "1,000,000")
    assert _tree(in_tmp) == []


# ---- class 7: sweep options validated before any work ----------------------------------------------------------------
@pytest.mark.parametrize("args,fragment", [
    (("--samples", -1), "samples"),
    (("--samples", 3, "--seed", -5), "seed"),
    (("--heads-per-layer", "4", "--max-tokens", -4), "max_tokens"),
    (("--heads-per-layer", "4", "--grid", "rows=16", "--grid", "rows=32"), "more than once"),
    (("--heads-per-layer", "4", "--grid", "array=16x16", "--grid", "rows=32"), "more than once"),
    (("--heads-per-layer", "4", "--split", "tset"), "split"),
    (("--ratios", "nan"), "outside"),
    (("--ratios", "0,,0.5"), "empty"),
])
def test_bad_sweep_options(cli, in_tmp, args, fragment):
    assert_one_line_error(cli("sweep", "--model", SMALL, "--out", "o", "--no-progress", *args), fragment)
    assert _tree(in_tmp) == []


@pytest.mark.parametrize("args,fragment", [
    (("--batch", 0), "batch"), (("--gate-steps", 0), "steps"), (("--train-lambdas", "nan"), "lambda"),
    (("--max-tokens", -3), "max_tokens"), (("--split", "nope"), "split"), (("--device", "tpu"), "device"),
    (("--grid", "rows=16", "--grid", "rows=32"), "more than once"),
])
def test_bad_train_sweep_options_refused_before_training(cli, in_tmp, args, fragment):
    lambdas = () if "--train-lambdas" in args else ("--train-lambdas", "0.1")
    result = cli("train-sweep", "--init-from", SHIPPED, "--out", "o", "--no-progress", *lambdas, *args)
    assert_one_line_error(result, fragment)
    assert _tree(in_tmp) == []


# ---- class 8: NaN and inf ------------------------------------------------------------------------------------------
def test_lambda_nan_is_refused(cli, in_tmp):
    result = cli("train", "--recipe", SMALL, "--gates", "--init-from", SHIPPED, "--lambda", "nan", "--out", "o")
    assert_one_line_error(result, "--lambda")
    assert _tree(in_tmp) == []


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "t.ckpt"
    model = build_model(tiny_spec(vocab_size=10000)).eval()
    save_checkpoint(path, model=model, recipe={"model": model.spec.to_dict()}, data={"kind": "ptb"}, vocab=[],
                    train_state={"step": 0}, history=[])
    return path


def test_nan_weights_are_refused(cli, tmp_path, tiny_ckpt):
    from safetensors.torch import load_file, save_file

    bad = tmp_path / "nan.ckpt"
    shutil.copytree(tiny_ckpt, bad)
    weights = load_file(str(bad / "model.safetensors"))
    name = sorted(weights)[0]
    weights[name][..., 0] = float("nan")
    save_file(weights, str(bad / "model.safetensors"))
    assert_one_line_error(cli("eval", bad, "--max-tokens", 50), "NaN", name)


def test_non_finite_loss_is_never_reported():
    from hwsim.errors import CheckpointError
    from hwsim.nn.evaluate import result_from_nll

    with pytest.raises(CheckpointError, match="non-finite"):
        result_from_nll(float("nan"), 10, "valid", (1,))
    with pytest.raises(CheckpointError, match="non-finite"):
        result_from_nll(1e6, 10, "valid", (1,))  # exp(1e5) overflows
    assert result_from_nll(10 * 2.0, 10, "valid", (1,)).perplexity == pytest.approx(7.38905609893065)


# ---- class 9: devices and checkpoint metadata ------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["tpu", "cuda:x", "gpu"])
def test_unknown_device(cli, tiny_ckpt, device):
    assert_one_line_error(cli("eval", tiny_ckpt, "--device", device), "device")


def test_cuda_without_cuda(cli, tiny_ckpt):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert_one_line_error(cli("eval", tiny_ckpt, "--device", "cuda"), "CUDA")


@pytest.mark.parametrize("field,value,fragment", [
    ("gated", "no", "gated"), ("gated", 1, "gated"), ("heads_per_layer", "4", "heads_per_layer"),
    ("heads_per_layer", [4, 4], "entries"), ("vocab", {"a": 1}, "vocab"), ("model_options", [], "model_options"),
    ("spec", {"name": "t"}, "missing"),
])
def test_malformed_meta_json(cli, tmp_path, tiny_ckpt, field, value, fragment):
    bad = tmp_path / "bad.ckpt"
    shutil.copytree(tiny_ckpt, bad)
    meta = json.loads((bad / "meta.json").read_text())
    meta[field] = value
    (bad / "meta.json").write_text(json.dumps(meta))
    assert_one_line_error(cli("eval", bad, "--max-tokens", 50), fragment)


# ---- class 10: damaged results stores ------------------------------------------------------------------------------
def _sweep(cli, out, *extra):
    return cli("sweep", "--model", SMALL, "--heads-per-layer", "8,6,6,4", "--accel", "gemmini-like",
               "--accel", "tpu-v1-like", "--out", out, "--no-progress", *extra)


def test_resume_recomputes_damaged_parts_and_says_so(cli, tmp_path):
    out = tmp_path / "r"
    assert _sweep(cli, out).code == 0
    good = pd.read_parquet(out / "results.parquet")
    (out / "cost" / "accel-00001.parquet").write_bytes(b"not parquet")
    (out / "configs.parquet").unlink()
    result = _sweep(cli, out, "--resume")
    assert result.code == 0, result.err
    assert "damaged" in result.err and "configs.parquet" in result.err and "accel-00001" in result.err
    assert "accelerators costed: 1" in result.out  # only the damaged part was recomputed
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), good)


def test_unrecoverable_store_is_refused_in_one_line(cli, tmp_path):
    out = tmp_path / "r"
    assert _sweep(cli, out).code == 0
    (out / "manifest.json").write_text("{")
    assert_one_line_error(_sweep(cli, out, "--resume"), "--force")
    assert_one_line_error(cli("report", out, "-o", tmp_path / "x.html"), "manifest")
    assert _sweep(cli, out, "--force").code == 0  # --force recomputes it


def test_report_on_damaged_results(cli, tmp_path):
    out = tmp_path / "r"
    assert _sweep(cli, out).code == 0
    (out / "results.parquet").write_bytes(b"PAR1 garbage")
    assert_one_line_error(cli("report", out, "-o", tmp_path / "x.html"), "--resume")
    pd.DataFrame({"config_id": [0]}).to_parquet(out / "results.parquet")
    assert_one_line_error(cli("report", out, "-o", tmp_path / "x.html"), "damaged")
    assert not (tmp_path / "x.html").exists()


# ---- class 11: paths from data -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "a\\\\b"])
def test_model_name_with_path_separators(cli, in_tmp, name):
    model = _file(in_tmp, "m.toml", MODEL_TOML.replace("name = 'x'", f"name = '{name}'"))
    assert_one_line_error(cli("export", "--model", model, "-o", "out"), "name")
    assert _tree(in_tmp) == ["m.toml"]


def test_export_empty_out_is_refused(cli, in_tmp):
    assert_one_line_error(cli("export", "--model", SMALL, "-o", ""), "empty")
    assert _tree(in_tmp) == []


# ---- class 12: smaller ones ----------------------------------------------------------------------------------------
def test_eval_max_tokens_is_an_upper_bound(cli, tiny_ckpt):
    for n in (1, 3, 9):
        out = cli("eval", tiny_ckpt, "--max-tokens", n, "--json").json()
        assert 1 <= out["tokens"] <= n


@pytest.mark.parametrize("text", ["", "\uff14", "\u0664", "0_4", " ", "4,", "+4", "4.0"])
def test_head_counts_are_ascii_integers_everywhere(cli, tmp_path, text):
    assert_one_line_error(cli("cost", "--model", SMALL, "--heads-per-layer", text), "heads-per-layer")
    assert_one_line_error(cli("sweep", "--model", SMALL, "--heads-per-layer", text, "--out", tmp_path / "o",
                              "--no-progress"), "heads-per-layer")


def test_a_huge_bad_list_gives_a_short_error_line(cli):
    result = cli("cost", "--model", SMALL, "--heads-per-layer", ",".join(["x"] * 10000))
    assert_one_line_error(result, "heads-per-layer")
    assert len(result.err) < 600


def test_word_checkpoint_on_a_byte_corpus_is_refused(cli, tmp_path, tiny_ckpt):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abc def\n" * 2000)
    assert_one_line_error(cli("eval", tiny_ckpt, "--data", corpus, "--data-kind", "char"), "byte-level")


def test_ctrl_c_prints_interrupted_and_exits_130(cli, monkeypatch):
    import hwsim.accel.cost as cost

    def interrupt(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        raise AssertionError("SIGINT did not interrupt")

    monkeypatch.setattr(cost, "model_cost", interrupt)
    result = cli("cost", "--model", SMALL)
    assert result.code == 130
    assert result.err.strip() == "error: interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the CLI's handler is gone again


@pytest.mark.parametrize("damage", ["manifest", "results"])
def test_train_report_on_a_damaged_training_sweep(cli, tmp_path, damage):
    store = tmp_path / "ts"
    shutil.copytree(ROOT / "reports" / "ptb-train", store)
    (store / "manifest.json").write_text(json.dumps({"kind": "train-sweep", "input_hash": "x"}))
    if damage == "manifest":
        (store / "manifest.json").write_text("{")
    else:
        (store / "results.csv").write_bytes(b"\x00\xff not a csv")
    assert_one_line_error(cli("train-report", store, "-o", tmp_path / "x.html"), "damaged")
    assert not (tmp_path / "x.html").exists()
