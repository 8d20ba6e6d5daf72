"""A unified scratchpad (Gemmini's layout: inputs and weights in one memory) in the mapper, the fused kernel, the
technology tables and the `gemmini` preset (issue 17)."""

from __future__ import annotations

import itertools

import pytest

from hwsim.accel import ert
from hwsim.accel.config import PRESETS, AccelConfig
from hwsim.accel.cost import model_cost
from hwsim.accel.mapping import best_mapping, tile_fits
from hwsim.errors import AccelConfigError
from hwsim.spec import load_spec
from hwsim.workload import build_workload
from conftest import ROOT

COMMON = dict(rows=4, cols=4, dataflow="ws", ofmap_sram_bytes=65536, dram_bandwidth_bytes_per_s=1e9, clock_hz=1e9)
SPLIT = AccelConfig(name="split", ifmap_sram_bytes=1024, filter_sram_bytes=1024, **COMMON)  # halves 512 + 512
UNIFIED = AccelConfig(name="unified", ifmap_sram_bytes=1536, filter_sram_bytes=0, unified_scratchpad=True,
                      **COMMON)  # one half of 768 bytes, shared  # fmt: skip


def test_a_tile_that_fits_unified_but_not_split_and_the_reverse():
    # A 70 x 10 = 700 words and B 10 x 5 = 50: 750 <= 768 together, but A > 512 alone
    assert tile_fits(UNIFIED, 70, 5, 10) and not tile_fits(SPLIT, 70, 5, 10)
    # A 50 x 10 = 500 and B 10 x 50 = 500: each <= 512, but 1,000 > 768 together
    assert tile_fits(SPLIT, 50, 50, 10) and not tile_fits(UNIFIED, 50, 50, 10)
    # 4-bit weights take half the room in the shared half: 500 + 250 <= 768
    assert tile_fits(UNIFIED, 50, 50, 10, b_bits=4)


@pytest.mark.parametrize("shape", [(70, 5, 10), (50, 50, 10), (37, 91, 23), (200, 3, 64), (1, 1000, 512)])
def test_every_mapping_on_a_unified_scratchpad_obeys_the_shared_rule(shape):
    m, n, k = shape
    for accel, bits in itertools.product((UNIFIED, PRESETS["gemmini"]), (8, 4)):
        mp = best_mapping(m, n, k, accel, b_bits=bits)
        assert tile_fits(accel, mp.tile_m, mp.tile_n, mp.tile_k, bits), (accel.name, bits, mp)
        assert mp.dram_bytes >= m * k + (k * n * bits + 7) // 8 + m * n  # never below compulsory traffic


def test_gemmini_preset_is_one_macro_and_validated():
    g = PRESETS["gemmini"]
    assert g.unified_scratchpad and g.filter_sram_bytes == 0 and g.weight_buffer_bytes == 256 * 1024
    assert ert.sram_area_mm2(g, "filter") == 0 and ert.sram_leakage_mw(g, "filter") == 0
    assert ert.sram_pj_per_byte(g, "filter") == ert.sram_pj_per_byte(g, "ifmap")  # weights read from the pad
    assert [c.name for c in ert.components(g) if c.kind == "sram"] == ["ifmap_sram", "ofmap_sram"]
    cost = model_cost(build_workload(load_spec(ROOT / "models" / "ptb-small.toml")), g)
    assert cost.area.filter_sram_mm2 == 0 and cost.area.total_mm2 > cost.area.ifmap_sram_mm2
    with pytest.raises(AccelConfigError, match="filter_sram_bytes = 0"):
        AccelConfig(name="x", ifmap_sram_bytes=1024, filter_sram_bytes=512, unified_scratchpad=True, **COMMON)
    with pytest.raises(AccelConfigError, match="physical"):
        AccelConfig(name="x", ifmap_sram_bytes=1024, filter_sram_bytes=0, unified_scratchpad=True, mode="scalesim",
                    **COMMON)  # fmt: skip
    with pytest.raises(AccelConfigError, match="filter_sram_bytes"):
        AccelConfig(name="x", ifmap_sram_bytes=1024, filter_sram_bytes=0, **COMMON)


def test_exports_of_a_unified_scratchpad():
    from hwsim.accel.accelforge_export import arch_yaml
    from hwsim.accel.scalesim_export import config_text

    g = PRESETS["gemmini"]
    arch = arch_yaml(g)
    assert "keep: input | weight" in arch and "WeightBuffer" not in arch and f"size: {128 * 1024 * 8}\n" in arch
    cfg = config_text(g, [], "gemmini")  # SCALE-Sim has separate buffers: the scratchpad as two 128 KiB halves
    assert "IfmapSramSzkB = 128" in cfg and "FilterSramSzkB = 128" in cfg
