"""Output paths never destroy a user's data (issue 9, class 1): prune/train refuse anything that is not an hwsim
checkpoint, sweeps refuse a directory that is not a sweep store, and one sweep at a time writes an --out directory
(a lock file with the owner's pid; a stale lock left by a killed run is taken over)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import assert_one_line_error
from hwsim.atomicio import LOCK_NAME, output_lock
from hwsim.nn.checkpoint import load_checkpoint, save_checkpoint
from hwsim.nn.model import build_model
from nn_helpers import tiny_spec

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "models" / "ptb-small.toml"


def _user_dir(path: Path) -> Path:
    path.mkdir()
    (path / "thesis.tex").write_text("years of work")
    (path / "sub").mkdir()
    (path / "sub" / "data.csv").write_text("1,2,3")
    return path


def _snapshot(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {".": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "src.ckpt"
    model = build_model(tiny_spec()).eval()
    save_checkpoint(path, model=model, recipe={"model": model.spec.to_dict()}, data={"kind": "ptb"}, vocab=[],
                    train_state={"step": 0}, history=[])
    return path


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_prune_refuses_to_replace_user_data(tmp_path, cli, ckpt, kind):
    target = _user_dir(tmp_path / "mine") if kind == "dir" else tmp_path / "notes.txt"
    if kind == "file":
        target.write_text("keep me")
    before = _snapshot(target)
    result = cli("prune", ckpt, "--out", target, "--heads-per-layer", "2")
    assert_one_line_error(result, str(target), "refusing")
    assert _snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporaries left either


def test_prune_replaces_only_a_checkpoint_and_spares_a_dot_old_sibling(tmp_path, cli, ckpt):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("prune", ckpt, "--out", empty, "--heads-per-layer", "2").code == 0
    assert load_checkpoint(empty).heads_per_layer == (2, 2, 2)
    sibling = _user_dir(tmp_path / "empty.old")  # the old code deleted <out>.old unconditionally
    before = _snapshot(sibling)
    assert cli("prune", ckpt, "--out", empty, "--heads-per-layer", "1").code == 0  # an hwsim checkpoint: replaced
    assert load_checkpoint(empty).heads_per_layer == (1, 1, 1)
    assert _snapshot(sibling) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "empty.old"]


def test_train_refuses_user_directory_before_any_work(tmp_path, cli):
    target = _user_dir(tmp_path / "mine")
    before = _snapshot(target)
    result = cli("train", "--recipe", SMALL, "--out", target, "--steps", "1", "--quiet")
    assert_one_line_error(result, "refusing")
    assert _snapshot(target) == before


def _cost_sweep(cli, out, *extra):
    return cli("sweep", "--model", SMALL, "--heads-per-layer", "8,6,6,4", "--accel", "gemmini-like", "--out", out,
               "--no-progress", *extra)


@pytest.mark.parametrize("force", [False, True])
def test_sweep_refuses_a_directory_that_is_not_a_sweep(tmp_path, cli, force):
    target = _user_dir(tmp_path / "mine")
    (target / "results.csv").write_text("my own results")  # a name the store also writes
    before = _snapshot(target)
    result = _cost_sweep(cli, target, *(["--force"] if force else []))
    assert_one_line_error(result, "refusing")
    assert _snapshot(target) == before
    assert not (tmp_path / "mine.html").exists()


def test_sweep_refuses_a_regular_file_as_out(tmp_path, cli):
    target = tmp_path / "res"
    target.write_text("keep")
    assert_one_line_error(_cost_sweep(cli, target, "--force"), "not a directory")
    assert target.read_text() == "keep"


def test_second_sweep_on_a_locked_out_is_refused(tmp_path, cli):
    out = tmp_path / "res"
    with output_lock(out, "sweep"):
        result = _cost_sweep(cli, out)
        assert_one_line_error(result, "in use by another sweep", f"pid {os.getpid()}")
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written by the refused run
    assert not (out / LOCK_NAME).exists()
    assert _cost_sweep(cli, out).code == 0


def test_lock_held_by_another_process_refuses_and_a_stale_lock_is_taken_over(tmp_path, cli):
    out = tmp_path / "res"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from hwsim.atomicio import output_lock
            with output_lock({str(out)!r}, "sweep"):
                print("locked", flush=True)
                sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert_one_line_error(_cost_sweep(cli, out), "in use by another sweep", f"pid {holder.pid}")
    finally:
        holder.kill()  # killed while holding the lock: its lock file stays behind, stale
        holder.wait()
    assert (out / LOCK_NAME).read_text().strip() == str(holder.pid)
    result = _cost_sweep(cli, out)
    assert result.code == 0, result.err
    assert (out / "results.parquet").is_file() and not (out / LOCK_NAME).exists()


def test_sweep_rerun_into_its_own_store_still_works(tmp_path, cli):
    out = tmp_path / "res"
    assert _cost_sweep(cli, out).code == 0
    assert _cost_sweep(cli, out, "--resume").code == 0
