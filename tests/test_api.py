"""The public Python API (hwsim.api, re-exported by ``import hwsim``): its surface, that it equals the CLI, and the
examples in examples/ (each runs here as a user would run it)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import hwsim
from conftest import ROOT
from hwsim.sweep.pareto import pareto_mask_naive

PAPER = ROOT / "models" / "shim-wt103-16l.toml"
LAMBDA_002 = [5, 2, 5, 4, 3, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3]
SURFACE = ("load_spec", "load_accel", "workload", "cost", "cost_many", "CostResult", "perplexity", "generate", "sweep",
           "SweepResult", "read_results", "pareto_front", "best_under", "export_accelforge", "Numerics", "HwsimError")


def test_the_surface_is_listed_once_and_documented():
    assert tuple(hwsim.__all__) == SURFACE  # one place: hwsim.api.__all__, re-exported
    for name in SURFACE:
        obj = getattr(hwsim, name)
        assert obj.__doc__ and obj.__doc__.strip(), name
    code = "import sys, hwsim; print('torch' in sys.modules, 'plotly' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == ["False",
                                                                                                           "False"]


def test_cost_equals_the_cli_json(cli):
    spec = hwsim.load_spec(PAPER)
    ours = hwsim.cost(spec, accel="gemmini-like", heads_per_layer=LAMBDA_002)
    theirs = cli("cost", "--model", PAPER, "--accel", "gemmini-like", "--heads-per-layer",
                 ",".join(map(str, LAMBDA_002)), "--json").json()  # fmt: skip
    assert ours.latency_s == theirs["total"]["latency_s"] and ours.payload == json.loads(json.dumps(theirs))
    decode = hwsim.cost(spec, heads_per_layer=LAMBDA_002, phase="decode", batch=8)
    cli_decode = cli("cost", "--model", PAPER, "--heads-per-layer", ",".join(map(str, LAMBDA_002)), "--phase",
                     "decode", "--batch", "8", "--json").json()  # fmt: skip
    assert decode.per_token["latency_per_token_s"] == cli_decode["latency_per_token_s"]
    frame = ours.to_frame()
    assert list(frame.index) == [f"layer{i}" for i in range(16)] + ["output", "total"]
    assert frame.loc["total", "latency_s"] == ours.latency_s
    with pytest.raises(hwsim.HwsimError, match="context"):
        hwsim.cost(spec, phase="decode", context=10_000)


def test_cost_many_frame_equals_cost():
    spec = hwsim.load_spec(ROOT / "models" / "ptb-small.toml")
    heads = np.random.default_rng(3).integers(0, 9, size=(12, 4))
    for phase in ("segment", "decode"):
        frame = hwsim.cost_many(spec, heads, "edge-soc-32x32", phase=phase)
        assert list(frame["heads_per_layer"]) == [",".join(map(str, row)) for row in heads]
        for i in (0, 5, 11):
            one = hwsim.cost(spec, "edge-soc-32x32", heads[i], phase=phase)
            assert frame.loc[i, "latency_s"] == one.latency_s and frame.loc[i, "energy_pj"] == one.energy_pj


def test_load_accel_overrides_and_pareto_and_budget():
    accel = hwsim.load_accel("gemmini-like", rows=32, cols=32)
    assert (accel.rows, accel.cols, accel.clock_hz) == (32, 32, 500e6)
    with pytest.raises(hwsim.HwsimError, match="rowz"):
        hwsim.load_accel("gemmini-like", rowz=3)
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"perplexity": rng.random(50), "latency_s": rng.random(50), "is_baseline": False})
    front = hwsim.pareto_front(frame)
    assert list(front.index) == list(np.flatnonzero(pareto_mask_naive(frame[["perplexity", "latency_s"]])))
    best = hwsim.best_under(frame, max_perplexity=0.5)
    assert best["latency_s"]["latency_s"] == frame.loc[frame["perplexity"] <= 0.5, "latency_s"].min()


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_examples_run(example, tmp_path):
    args = [str(tmp_path / "out")] if example == "sweep_and_query.py" else []
    run = subprocess.run([sys.executable, str(ROOT / "examples" / example), *args], capture_output=True, text=True,
                         cwd=tmp_path, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip()
