"""Accelerator config: presets from hardware.md, validation naming the field, TOML loading, overrides, tech rules."""

from __future__ import annotations

import pytest

from hwsim.accel import tech
from hwsim.accel.config import PRESETS, CostMode, Dataflow, load_accel, with_overrides
from hwsim.errors import AccelConfigError


def test_presets_match_hardware_md():
    g = PRESETS["gemmini-like"]
    assert (g.rows, g.cols, g.dataflow, g.input_bits, g.acc_bits) == (16, 16, Dataflow.WS, 8, 32)
    assert g.ifmap_sram_bytes + g.filter_sram_bytes == 256 * 1024 and g.ofmap_sram_bytes == 64 * 1024
    assert g.clock_hz == 500e6
    t = PRESETS["tpu-v1-like"]
    assert (t.rows, t.cols, t.clock_hz, t.dram_bandwidth_bytes_per_s, t.tech_node_nm) == (256, 256, 700e6, 34e9, 28)
    assert t.ifmap_sram_bytes == 24 * 1024 * 1024 and t.ofmap_sram_bytes == 4 * 1024 * 1024
    assert t.peak_macs_per_s * 2 == pytest.approx(91.75e12, rel=1e-3)  # 92 TOPS (hardware.md §2)
    assert PRESETS["edge-soc-32x32"].weights_on_chip
    assert all(a.mode is CostMode.PHYSICAL for a in PRESETS.values())


@pytest.mark.parametrize(
    "field,value",
    [("rows", 0), ("cols", -3), ("ifmap_sram_bytes", 0), ("clock_hz", 0.0), ("dram_bandwidth_bytes_per_s", -1.0),
     ("input_bits", 12), ("vector_lanes", 0), ("tech_node_nm", 0), ("weights_on_chip", "yes"), ("rows", 2.5)],
)  # fmt: skip
def test_validation_names_the_field(field, value):
    with pytest.raises(AccelConfigError, match=field):
        with_overrides(PRESETS["gemmini-like"], {field: value})


def test_unknown_dataflow_mode_and_override():
    with pytest.raises(AccelConfigError, match="dataflow"):
        with_overrides(PRESETS["gemmini-like"], {"dataflow": "rs"})
    with pytest.raises(AccelConfigError, match="mode"):
        with_overrides(PRESETS["gemmini-like"], {"mode": "exact"})
    with pytest.raises(AccelConfigError, match="row"):
        with_overrides(PRESETS["gemmini-like"], {"row": 32})
    assert with_overrides(PRESETS["gemmini-like"], {"rows": 32, "dataflow": "os"}).dataflow is Dataflow.OS


def test_acc_narrower_than_input_rejected():
    with pytest.raises(AccelConfigError, match="acc_bits"):
        with_overrides(PRESETS["gemmini-like"], {"acc_bits": 8, "input_bits": 16})


def test_load_preset_and_unknown_preset():
    assert load_accel("tpu-v1-like") is PRESETS["tpu-v1-like"]
    with pytest.raises(AccelConfigError, match="gemmini-like"):
        load_accel("tpu-v9")


def test_load_toml_full_and_based(tmp_path):
    full = tmp_path / "mine.toml"
    full.write_text(
        "[accel]\nrows = 8\ncols = 4\ndataflow = 'os'\nifmap_sram_bytes = 4096\nfilter_sram_bytes = 4096\n"
        "ofmap_sram_bytes = 2048\ndram_bandwidth_bytes_per_s = 1e9\nclock_hz = 2e8\nmode = 'scalesim'\n"
    )
    a = load_accel(full)
    assert (a.name, a.rows, a.cols, a.dataflow, a.acc_bits) == ("mine", 8, 4, Dataflow.OS, 32)
    assert a.mode is CostMode.SCALESIM
    based = tmp_path / "big.toml"
    based.write_text("[accel]\nbase = 'gemmini-like'\nrows = 32\ncols = 32\n")
    b = load_accel(based)
    assert (b.rows, b.clock_hz, b.name) == (32, 500e6, "big")


@pytest.mark.parametrize(
    "text,fragment",
    [("[accel\nrows=1", "malformed TOML"), ("[other]\nx=1\n", "no [accel] table"),
     ("[accel]\nbase='gemmini-like'\nrowz=3\n", "rowz"), ("[accel]\nrows=4\n", "missing"),
     ("[accel]\nbase='nope'\n", "unknown base preset")],
)  # fmt: skip
def test_bad_toml(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(AccelConfigError, match=fragment.replace("[", r"\[")):
        load_accel(path)


def test_scaling_rule_and_anchors():
    assert tech.energy_scale(45, 45) == pytest.approx(1.0)
    assert tech.area_scale(28, 28) == pytest.approx(1.0)
    assert tech.logic_density(28) == pytest.approx(15.3)
    assert tech.energy_scale(45, 7) == pytest.approx(tech.area_scale(45, 7) ** 0.5)
    assert tech.pe_area_um2(8, 32, 28) == pytest.approx(1200.0)  # TPUv1 anchor
    assert tech.mac_energy_pj(8, 32, 45) == pytest.approx(0.3)  # Horowitz 8b mult + 32b add
    assert tech.mult_energy_pj(32, 45) == pytest.approx(3.1)
