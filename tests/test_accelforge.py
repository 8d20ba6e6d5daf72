"""Round trip through AccelForge (the Timeloop/Accelergy successor): hwsim exports GEMMs and a model layer
(``hwsim export --format accelforge``), AccelForge maps them, and its DRAM traffic is compared with hwsim's mapper.

AccelForge needs Python >= 3.12 and is never imported by hwsim: the test runs ``tools/accelforge_map.py`` with the
interpreter named by HWSIM_ACCELFORGE_PYTHON (``.ci/run`` builds a Python 3.12 virtual environment with
``accelforge==1.0.467`` for it) and is skipped, saying so, where there is none.

AccelForge nests its buffers in the order they are listed; hwsim's three buffers are peers under one of six loop
orders, so the export is mapped with each of the six buffer orders and the best is kept. Expected: equal DRAM
bytes wherever hwsim's optimum uses whole-dividing tiles (AccelForge's tiles divide each dimension; hwsim's may
leave a partial last tile) — docs/validation.md lists both kinds of case.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, assert_one_line_error
from hwsim.accel.accelforge_export import BUFFER_ORDER, export
from hwsim.accel.config import PRESETS, with_overrides
from hwsim.accel.cost import model_cost
from hwsim.accel.gemm import gemm_cost
from hwsim.spec import load_spec
from hwsim.workload import Gemm, build_workload

PYTHON = os.environ.get("HWSIM_ACCELFORGE_PYTHON", "")
needs_accelforge = pytest.mark.skipif(
    not (PYTHON and Path(PYTHON).exists()),
    reason="AccelForge is not installed (needs Python >= 3.12: set HWSIM_ACCELFORGE_PYTHON to an interpreter with "
    "accelforge==1.0.467, as .ci/run does)")
pytestmark = pytest.mark.accelforge

# M, K, N, repeat: the GEMMs of issue 8 (hwsim's mapper equal to AccelForge's optimum), a matrix-vector product,
# a repeated per-head GEMM, and one (512 x 768 x 768) whose best tiling leaves a partial tile.
GEMMS = [(384, 512, 512, 1), (1024, 1024, 1024, 1), (4096, 512, 256, 1), (192, 2048, 64, 1), (1, 512, 1000, 1),
         (64, 16, 128, 8)]
PARTIAL_TILE = (512, 768, 768, 1)


def _map_all_orders(tmp: Path, gemms, accel) -> dict[str, dict]:
    """{einsum: {tensor: bits}} per buffer order, from one AccelForge run over the six orders' arch files."""
    archs = []
    for i, order in enumerate(itertools.permutations(BUFFER_ORDER)):
        files = export(gemms, accel, tmp / f"order{i}", order)
        archs.append(str(files.arch))
    run = subprocess.run([PYTHON, str(ROOT / "tools" / "accelforge_map.py"), str(files.workload), *archs],
                         capture_output=True, text=True, timeout=900)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout), files.einsums


def _bytes(bits: dict, einsum: str, g: Gemm, accel) -> int:
    """AccelForge's MainMemory traffic in hwsim's bytes: A and B at input_bits, outputs once at input_bits and every
    other output transfer (partial sums out and back) at acc_bits."""
    total = {t: bits[f"{einsum}_{t}"]["read"] + bits[f"{einsum}_{t}"]["write"] for t in "ABC"}
    finals = g.m * g.n * g.repeat
    partial = total["C"] / accel.acc_bits - finals
    return int(total["A"] / 8 + total["B"] / 8 + finals * accel.input_bytes + partial * accel.acc_bytes)


@needs_accelforge
def test_accelforge_finds_hwsims_dram_traffic_on_gemms(tmp_path):
    accel = PRESETS["gemmini-like"]
    gemms = [("gemm", Gemm(name=f"g{i}", m=m, n=n, k=k, repeat=r, b_is_weight=True))
             for i, (m, k, n, r) in enumerate(GEMMS + [PARTIAL_TILE])]  # fmt: skip
    per_order, einsums = _map_all_orders(tmp_path, gemms, accel)
    for (_, g), einsum in zip(gemms, einsums):
        ours = gemm_cost(g.m, g.n, g.k, accel, g.repeat).dram_bytes
        theirs = min(_bytes(result[einsum], einsum, g, accel) for result in per_order.values())
        if (g.m, g.k, g.n, g.repeat) == PARTIAL_TILE:
            # hwsim: B fetched 7 times with 7 balanced M tiles of 74 rows; AccelForge's tiles divide 512 (8 times)
            assert ours < theirs
        else:
            assert ours == theirs, (g, ours, theirs)


@needs_accelforge
def test_accelforge_finds_hwsims_dram_traffic_on_a_model_layer(tmp_path):
    """One layer of the shipped PTB model (2 heads, segment pass) on gemmini-like without fused attention, so hwsim
    costs each of its GEMMs on its own with every operand in DRAM, as the export describes."""
    accel = with_overrides(PRESETS["gemmini-like"], {"fuse_attention": False})
    workload = build_workload(load_spec(ROOT / "models" / "ptb-small.toml"), (2, 0, 1, 1))
    layer = workload.layers[0]
    ops = {op.name: op for op in model_cost(workload, accel).ops[0]}
    gemms = [(layer.name, g) for g in layer.gemms]
    per_order, einsums = _map_all_orders(tmp_path, gemms, accel)
    for (_, g), einsum in zip(gemms, einsums):
        ours = ops[g.name].counts["dram_bytes"]
        theirs = min(_bytes(result[einsum], einsum, g, accel) for result in per_order.values())
        assert ours == theirs, (g.name, ours, theirs)


def test_export_writes_both_files_with_hwsims_energies(tmp_path, cli):
    """Runs everywhere (no AccelForge needed): the CLI writes arch.yaml and workload.yaml, one einsum per GEMM, the
    DRAM energy per bit of the preset's technology and the buffers at half their size."""
    from hwsim.accel import ert

    out = tmp_path / "af"
    result = cli("export", "--model", ROOT / "models" / "ptb-small.toml", "--accel", "gemmini-like", "--format",
                 "accelforge", "--heads-per-layer", "2,0,1,1", "-o", out)  # fmt: skip
    assert result.code == 0, result.err
    arch, work = (out / "arch.yaml").read_text(), (out / "workload.yaml").read_text()
    accel = PRESETS["gemmini-like"]
    assert f"energy: {ert.dram_pj_per_byte(accel) / 8 * 1e-12:.6g}" in arch
    assert f"size: {accel.ifmap_sram_bytes // 2 * 8}\n" in arch and "fanout: 16" in arch
    n_gemms = sum(len(layer.gemms) for layer in build_workload(load_spec(ROOT / "models" / "ptb-small.toml"),
                                                                (2, 0, 1, 1)).all_layers)  # fmt: skip
    assert work.count("  - name: ") == n_gemms
    assert "layer0_content_scores_r: 0 <= layer0_content_scores_r < 2" in work  # repeat = batch x heads
    assert_one_line_error(cli("export", "--model", ROOT / "models" / "ptb-small.toml", "--format", "accelforge",
                              "--buffer-order", "ifmap,ifmap,ofmap", "-o", tmp_path / "bad"), "buffer order")
    assert not (tmp_path / "bad").exists()
