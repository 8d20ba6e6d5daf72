"""Kill a real search subprocess with SIGKILL midway, resume it, and compare with an uninterrupted search."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pandas as pd
import pytest

from test_sweep import make_tiny_checkpoint
from test_sweep_resume import _env


def _cmd(ckpt, out, *extra):
    import sys

    # 2 layers x 4 heads: 24 pruned vectors; budget 12 with populations of 4, one perplexity part per config.
    return [sys.executable, "-m", "hwsim.cli.main", "sweep", "--checkpoint", str(ckpt), "--search", "nsga2",
            "--budget", "12", "--seed", "7", "--accel", "gemmini-like", "--grid", "dataflow=os,ws", "--max-tokens",
            "800", "--workers", "1", "--out", str(out), "--no-progress", *extra]


@pytest.mark.slow
def test_sigkill_midway_then_resume_finishes_the_same_search(tmp_path):
    ckpt = make_tiny_checkpoint(tmp_path / "ckpt")
    full = subprocess.run(_cmd(ckpt, tmp_path / "full"), capture_output=True, text=True, env=_env(), timeout=300)
    assert full.returncode == 0, full.stderr
    assert "perplexity evaluated this run: 13," in full.stdout
    expected = pd.read_parquet(tmp_path / "full" / "results.parquet")

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(ckpt, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    parts = out / "perplexity"
    deadline = time.monotonic() + 120
    # Wait for the baseline and a few searched configurations, then kill mid-search.
    while len(list(parts.glob("part-*.parquet"))) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = sum(len(pd.read_parquet(p)) for p in parts.glob("part-*.parquet"))
    assert 0 < done < 13 and not (out / "results.parquet").exists()

    resumed = subprocess.run(_cmd(ckpt, out, "--resume"), capture_output=True, text=True, env=_env(), timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    evaluated = int(re.search(r"perplexity evaluated this run: (\d+),", resumed.stdout).group(1))
    assert evaluated == 13 - done  # nothing evaluated twice
    ppl = pd.concat([pd.read_parquet(p) for p in parts.glob("part-*.parquet")])
    assert len(ppl) == ppl["config_id"].nunique() == 13
    result = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(result, expected, check_exact=True)
