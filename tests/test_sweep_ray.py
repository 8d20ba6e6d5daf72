"""``--backend ray`` on a local Ray instance the test starts: same results as the local backend."""

from __future__ import annotations

import pandas as pd
import pytest

from test_sweep import make_tiny_checkpoint


@pytest.mark.slow
def test_ray_backend_matches_local(cli, tmp_path, local_ray):
    ckpt = make_tiny_checkpoint(tmp_path / "ckpt")
    args = ("sweep", "--checkpoint", ckpt, "--ratios", "0,0.5", "--heads-per-layer", "1,3", "--accel", "gemmini-like",
            "--grid", "dataflow=os,ws", "--max-tokens", "400", "--no-progress")
    on_ray = cli(*args, "--backend", "ray", "--out", tmp_path / "ray")
    assert on_ray.code == 0, on_ray.err
    local = cli(*args, "--workers", "1", "--out", tmp_path / "local")
    assert local.code == 0, local.err
    ray_frame = pd.read_parquet(tmp_path / "ray" / "results.parquet")
    local_frame = pd.read_parquet(tmp_path / "local" / "results.parquet")
    assert len(ray_frame) == 2 * ray_frame["config_id"].nunique() >= 6 and ray_frame["perplexity"].notna().all()
    pd.testing.assert_frame_equal(ray_frame, local_frame, check_exact=True)


@pytest.mark.slow
def test_search_on_ray_matches_local(cli, tmp_path, local_ray):
    ckpt = make_tiny_checkpoint(tmp_path / "ckpt")
    args = ("sweep", "--checkpoint", ckpt, "--search", "nsga2", "--budget", "6", "--seed", "2", "--accel",
            "gemmini-like", "--max-tokens", "400", "--no-progress")
    on_ray = cli(*args, "--backend", "ray", "--out", tmp_path / "ray")
    assert on_ray.code == 0, on_ray.err
    assert "perplexity evaluated this run: 7," in on_ray.out
    local = cli(*args, "--workers", "1", "--out", tmp_path / "local")
    assert local.code == 0, local.err
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "ray" / "results.parquet"),
                                  pd.read_parquet(tmp_path / "local" / "results.parquet"), check_exact=True)
