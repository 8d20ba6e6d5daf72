"""Kill a real sweep subprocess midway with SIGKILL, resume it, and compare with an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from test_sweep import make_tiny_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _cmd(ckpt: Path, out: Path, *extra: str) -> list[str]:
    # 1 worker: ~17 distinct configs in parts of ceil(17 / 4) = 5, so the first part lands well before the end.
    return [sys.executable, "-m", "hwsim.cli.main", "sweep", "--checkpoint", str(ckpt), "--ratios", "0,0.25,0.5,0.75",
            "--samples", "14", "--seed", "3", "--accel", "gemmini-like", "--grid", "dataflow=os,ws",
            "--max-tokens", "800", "--workers", "1", "--out", str(out), "--no-progress", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.mark.slow
def test_sigkill_midway_then_resume_matches_uninterrupted(tmp_path):
    ckpt = make_tiny_checkpoint(tmp_path / "ckpt")
    full = subprocess.run(_cmd(ckpt, tmp_path / "full"), capture_output=True, text=True, env=_env(), timeout=300)
    assert full.returncode == 0, full.stderr
    expected = pd.read_parquet(tmp_path / "full" / "results.parquet")
    n_configs = expected["config_id"].nunique()

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(ckpt, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    parts = out / "perplexity"
    deadline = time.monotonic() + 120
    while not list(parts.glob("part-*.parquet")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL  # killed, not finished
    done = sum(len(pd.read_parquet(p)) for p in parts.glob("part-*.parquet"))
    assert 0 < done < n_configs and not (out / "results.parquet").exists()

    resumed = subprocess.run(_cmd(ckpt, out, "--resume"), capture_output=True, text=True, env=_env(), timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"perplexity evaluated this run: {n_configs - done}," in resumed.stdout
    assert "accelerators costed: 0" in resumed.stdout  # costs were finished before the kill
    result = pd.read_parquet(out / "results.parquet")
    assert not result.duplicated(["config_id", "accel_id"]).any() and len(result) == n_configs * 2
    pd.testing.assert_frame_equal(result, expected, check_exact=True)
