"""`hwsim export --format scalesim`: SCALE-Sim runs on the exported files and agrees with hwsim's scalesim mode."""

from __future__ import annotations

import pytest

from hwsim.accel.config import load_accel, with_overrides
from hwsim.accel.gemm import gemm_cost
from hwsim.accel.scalesim_export import ScalesimFiles, run_scalesim
from hwsim.spec import load_spec
from hwsim.workload import build_workload

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # SCALE-Sim's own numpy deprecation

TINY_TOML = """
[model]
name = "tiny-export"
family = "all_attention"
n_layers = 2
d_model = 16
n_heads = 2
d_head = 8
n_persistent = 4
segment_len = 6
memory_len = 6
vocab_size = 60
adaptive_cutoffs = [20]
adaptive_div = 2
"""
ACCEL_TOML = """
[accel]
base = "gemmini-like"
rows = 4
cols = 4
dataflow = "{df}"
ifmap_sram_bytes = 2048
filter_sram_bytes = 2048
ofmap_sram_bytes = 4096
"""


@pytest.mark.parametrize("df", ["ws", "os"])
def test_scalesim_runs_on_export(cli, tmp_path, df):
    pytest.importorskip("scalesim")  # only the comparison with SCALE-Sim needs it
    model = tmp_path / "tiny.toml"
    model.write_text(TINY_TOML)
    accel_path = tmp_path / "arr.toml"
    accel_path.write_text(ACCEL_TOML.format(df=df))
    out = tmp_path / "export"
    r = cli("export", "--model", model, "--accel", accel_path, "--heads-per-layer", "2,1", "--format", "scalesim",
            "-o", out)  # fmt: skip
    assert r.code == 0, r.err
    files = ScalesimFiles(
        topology=next(out.glob("*_gemm.csv")), config=next(out.glob("*.cfg")), layout=next(out.glob("*_layout.csv")),
        rows=0,
    )
    reference = run_scalesim(files, tmp_path / "run")

    spec = load_spec(model)
    accel = with_overrides(load_accel(accel_path), {"mode": "scalesim"})
    workload = build_workload(spec, (2, 1))
    expanded = [g for layer in workload.all_layers for g in layer.gemms for _ in range(g.repeat)]
    assert len(reference) == len(expanded)
    for g, ref in zip(expanded, reference):
        ours = gemm_cost(g.m, g.n, g.k, accel)
        for key in ("compute_cycles", "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes"):
            assert getattr(ours, key) == ref[key], (g.name, key)
    # the whole workload: repeats expanded row by row == hwsim's repeat-weighted sum
    gemms = [g for layer in workload.all_layers for g in layer.gemms]
    total = sum(gemm_cost(g.m, g.n, g.k, accel, g.repeat).compute_cycles for g in gemms)
    assert sum(ref["compute_cycles"] for ref in reference) == total


def test_export_user_interface_and_bad_dir(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    model = tmp_path / "tiny.toml"
    model.write_text(TINY_TOML)
    ok = cli("export", "--model", model, "--interface", "USER", "-o", tmp_path / "u")
    assert ok.code == 0 and "InterfaceBandwidth = USER" in next((tmp_path / "u").glob("*.cfg")).read_text()
    from conftest import assert_one_line_error

    assert_one_line_error(cli("export", "--model", model, "-o", blocker / "sub"), "cannot create")
