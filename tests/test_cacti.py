"""SRAM figures against CACTI 7's own outputs (table and held-out points), node scaling below 22 nm, DRAM types,
and ``hwsim tech``. The CACTI numbers are read straight from the committed CSVs (CACTI's output), not from hwsim."""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from hwsim.accel import ert
from hwsim.accel.config import PRESETS, AccelConfig, with_overrides
from hwsim.accel.dram import DRAM_TECHS, dram_tech
from hwsim.accel.sram import sram_estimate
from hwsim.errors import AccelConfigError, TechError
from conftest import assert_one_line_error

DATA = Path(__file__).resolve().parents[1] / "hwsim" / "accel" / "data"
KIB, MIB = 1024, 1024 * 1024
KEYS = ("read_pj", "write_pj", "leakage_mw", "area_mm2", "access_ns")


def _rows(name: str) -> list[dict[str, float]]:
    with open(DATA / name) as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


TABLE = _rows("cacti_sram.csv")
HELDOUT = _rows("cacti_sram_heldout.csv")


def _est(row):
    return sram_estimate(int(row["size_bytes"]), row["node_nm"], int(row["width_bits"]))


def _columns(rows) -> dict[tuple[float, float], list[dict]]:
    out: dict[tuple[float, float], list[dict]] = {}
    for row in rows:
        out.setdefault((row["node_nm"], row["width_bits"]), []).append(row)
    return {key: sorted(col, key=lambda r: r["size_bytes"]) for key, col in out.items()}


COLUMNS = _columns(TABLE)
MONOTONE_KEYS = ("read_pj", "write_pj", "leakage_mw", "area_mm2")


def test_table_columns_and_heldout_points_are_off_the_table():
    nodes, widths = {n for n, _ in COLUMNS}, {w for _, w in COLUMNS}
    assert len(COLUMNS) == len(nodes) * len(widths)  # every (node, width) has a column
    assert {22, 32, 45, 65} <= nodes and {64, 128, 256} <= widths
    spans = {(col[0]["size_bytes"], col[-1]["size_bytes"]) for col in COLUMNS.values()}
    assert spans == {(4 * KIB, 64 * MIB)}
    refined = COLUMNS[(45, 128)]  # refined where CACTI changes organisation: 16 -> 17 KiB is a step of ~40%
    assert sum(16 * KIB <= r["size_bytes"] <= 8 * MIB for r in refined) > 3 * sum(
        16 * KIB <= r["size_bytes"] <= 8 * MIB for r in COLUMNS[(90, 512)])
    keys = {(r["size_bytes"], r["node_nm"], r["width_bits"]) for r in TABLE}
    assert not any((r["size_bytes"], r["node_nm"], r["width_bits"]) in keys for r in HELDOUT)


BAND = (16 * KIB, 8 * MIB)  # hwsim.accel.sram.FIT_BAND_BYTES


def _minimax(logs: list[float]) -> list[float]:
    """The max-norm-closest non-decreasing sequence, by its definition: the midpoint of the largest earlier value and
    the smallest later value."""
    return [(max(logs[: i + 1]) + min(logs[i:])) / 2 for i in range(len(logs))]


def _naive_monotone_fit(sizes: list[float], values: list[float]) -> list[float]:
    """The documented fit of one column: minimax inside 16 KiB-8 MiB; below it the values capped at the band's first
    fitted value, above it floored at its last, each fitted the same way."""
    logs = [math.log(v) for v in values]
    inside = [i for i, s in enumerate(sizes) if BAND[0] <= s <= BAND[1]]
    lo, hi = inside[0], inside[-1] + 1
    mid = _minimax(logs[lo:hi])
    below = _minimax([min(x, mid[0]) for x in logs[:lo]]) if lo else []
    above = _minimax([max(x, mid[-1]) for x in logs[hi:]]) if hi < len(logs) else []
    return [math.exp(x) for x in below + mid + above]


def _fitted_table() -> dict[tuple, dict[str, float]]:
    out = {}
    for col in COLUMNS.values():
        sizes = [r["size_bytes"] for r in col]
        fits = {key: _naive_monotone_fit(sizes, [r[key] for r in col]) for key in MONOTONE_KEYS}
        for i, row in enumerate(col):
            out[(row["size_bytes"], row["node_nm"], row["width_bits"])] = {**row, **{k: f[i] for k, f in fits.items()}}
    return out


FITTED = _fitted_table()


def test_exact_at_table_points_where_cacti_is_monotone():
    adjusted = 0
    for row in TABLE:
        est = _est(row)
        want = FITTED[(row["size_bytes"], row["node_nm"], row["width_bits"])]
        for key in KEYS:
            assert getattr(est, key) == pytest.approx(want[key], rel=1e-9), (row, key)
        if any(want[k] != pytest.approx(row[k], rel=1e-12) for k in MONOTONE_KEYS):
            adjusted += 1
            assert "monotone" in est.notes[0]
        else:
            assert est.notes[0] == "CACTI 7 table point"
            assert all(getattr(est, k) == pytest.approx(row[k], rel=1e-9) for k in KEYS)
    assert adjusted > 0
    # the two CACTI figures: 128 KiB at 22 nm, 64-bit, is a point where CACTI dips (127 KiB reads cost 8.23 pJ,
    # 128 KiB 7.40 pJ): the fit meets them half way; its area is CACTI's
    est = sram_estimate(128 * KIB, 22, 64)
    assert est.read_pj == pytest.approx(math.sqrt(7.40229 * 8.22935), rel=1e-6) and est.area_mm2 == pytest.approx(0.118839, rel=1e-12)


def _in_band(row) -> bool:
    return BAND[0] <= row["size_bytes"] <= BAND[1] and 22 <= row["node_nm"] <= 65 and row["width_bits"] in (64, 128, 256)


def test_monotone_fit_error_is_half_of_cactis_largest_dip_in_the_band():
    """No non-decreasing curve can be closer to a sequence with a dip y_i > y_j (i < j) than sqrt(y_i / y_j) at one of
    the two; inside 16 KiB-8 MiB the fit reaches that bound (largest dip over all pairs, computed pairwise). CACTI's
    largest in-band dips (read energy, area) keep every table point of the band within 15% of CACTI."""
    worst_in_band = 0.0
    for col in COLUMNS.values():
        band = [r for r in col if BAND[0] <= r["size_bytes"] <= BAND[1]]
        for key in ("read_pj", "area_mm2"):
            values = [r[key] for r in band]
            dip = max(values[i] / values[j] for i in range(len(values)) for j in range(i, len(values)))
            errors = [abs(math.log(FITTED[(r["size_bytes"], r["node_nm"], r["width_bits"])][key] / r[key]))
                      for r in band]  # fmt: skip
            assert max(errors) == pytest.approx(math.log(dip) / 2, abs=1e-12)
            if _in_band(band[0]):
                worst_in_band = max(worst_in_band, dip)
    assert worst_in_band < 1.15**2  # half of it (in log space) is < 15%
    for row in TABLE:
        if _in_band(row):
            est = _est(row)
            assert abs(est.read_pj / row["read_pj"] - 1) < 0.15 and abs(est.area_mm2 / row["area_mm2"] - 1) < 0.15


def _heldout_errors(nodes) -> list[tuple[float, float, dict]]:
    out = []
    for row in HELDOUT:
        if _in_band(row) and row["node_nm"] in nodes:
            est = _est(row)
            out.append((est.read_pj / row["read_pj"] - 1, est.area_mm2 / row["area_mm2"] - 1, row))
    return out


def test_within_15_percent_of_cacti_off_the_table_at_table_nodes():
    """Acceptance: read energy and area within 15% of CACTI off the table (16 KiB-8 MiB, 64-256 bit), on fixed
    off-grid sizes and on random sizes at CACTI's own nodes (tools/cacti_sweep.py)."""
    errors = _heldout_errors((22, 32, 45, 65))
    assert len(errors) >= 400
    assert sum(r["size_bytes"] < 64 * KIB for _, _, r in errors) >= 90
    for read, area, row in errors:
        assert abs(read) <= 0.15 and abs(area) <= 0.15, (row, read, area)


def test_between_table_nodes_cacti_itself_jumps():
    """At 34, 42 and 58 nm (between table nodes) a few points miss by more than 15%: CACTI re-optimises the
    organisation at every node too, and is not monotone in node (17 KiB, 256-bit read: 12.1, 12.8, 13.4, 14.0,
    10.0 pJ at 32, 33, 34, 35, 36 nm), which interpolating between the 32 and 36 nm columns cannot follow."""
    errors = _heldout_errors((34, 42, 58))
    assert len(errors) >= 200
    beyond = [row for read, area, row in errors if max(abs(read), abs(area)) > 0.15]
    assert len(beyond) <= 0.01 * len(errors)
    assert all(max(abs(read), abs(area)) <= 0.20 for read, area, _ in errors)


@pytest.mark.parametrize("node,width", [(22, 64), (32, 128), (45, 256), (65, 64), (90, 512), (28, 96), (16, 64),
                                        (7, 256), (40, 200)])  # fmt: skip
def test_monotone_in_size(node, width):
    sizes = np.unique(np.geomspace(512, 256 * MIB, 400).astype(int))
    ests = [sram_estimate(int(s), node, width) for s in sizes]
    for key in ("read_pj", "write_pj", "leakage_mw", "area_mm2"):
        values = [getattr(e, key) for e in ests]
        assert all(b >= a * (1 - 1e-12) for a, b in zip(values, values[1:])), key


def test_node_scaling_below_22nm_is_the_documented_rule():
    """Energy x (n/22)^0.5, leakage x (n/22)^0.5 x 0.79, area x bitcell(n)/bitcell(22): 16 nm 0.070, 7 nm 0.027,
    22 nm 0.092 um^2 (hardware.md §3)."""
    for size, width in itertools.product((64 * KIB, 4 * MIB), (64, 256)):
        base = sram_estimate(size, 22, width)
        for node, cell in ((16, 0.070), (7, 0.027), (3, 0.0199)):
            est = sram_estimate(size, node, width)
            assert est.read_pj == pytest.approx(base.read_pj * math.sqrt(node / 22))
            assert est.write_pj == pytest.approx(base.write_pj * math.sqrt(node / 22))
            assert est.leakage_mw == pytest.approx(base.leakage_mw * math.sqrt(node / 22) * 0.79)
            assert est.area_mm2 == pytest.approx(base.area_mm2 * cell / 0.092)
            assert any("< 22 nm" in note for note in est.notes)


def test_outside_the_table_sizes_and_widths():
    big, top = sram_estimate(128 * MIB, 32, 128), sram_estimate(64 * MIB, 32, 128)
    assert big.area_mm2 == pytest.approx(2 * top.area_mm2) and big.leakage_mw == pytest.approx(2 * top.leakage_mw)
    assert big.read_pj == pytest.approx(top.read_pj)
    small, four = sram_estimate(1024, 45, 64), sram_estimate(4 * KIB, 45, 64)
    assert small.area_mm2 == pytest.approx(four.area_mm2 / 4) and small.read_pj == pytest.approx(four.read_pj)
    wide, w512 = sram_estimate(1 * MIB, 22, 2048), sram_estimate(1 * MIB, 22, 512)
    assert wide.read_pj == pytest.approx(4 * w512.read_pj)
    assert wide.read_pj_per_byte == pytest.approx(w512.read_pj_per_byte)
    narrow, w32 = sram_estimate(1 * MIB, 22, 16), sram_estimate(1 * MIB, 22, 32)
    assert narrow.read_pj == pytest.approx(w32.read_pj * (0.7 * 16 / 32 + 0.3))


@pytest.mark.parametrize("size,node,width,fragment", [(0, 22, 64, "size"), (-4096, 22, 64, "size"),
                                                      (4096, 95, 64, "node"), (4096, 2, 64, "node"),
                                                      (4096, 22, 12, "width"), (4096, 22, 0, "width")])  # fmt: skip
def test_bad_sram_queries_raise(size, node, width, fragment):
    with pytest.raises(TechError, match=fragment):
        sram_estimate(size, node, width)


def test_dram_types_have_sources_and_patterns():
    for name in ("DDR3", "DDR4", "LPDDR4", "LPDDR4X", "LPDDR5", "HBM2", "GDDR6"):
        t = DRAM_TECHS[name]
        assert t.pj_per_bit > 0 and t.source and t.access_pattern
        assert t.pj_per_byte == 8 * t.pj_per_bit
    assert dram_tech("hbm2") is DRAM_TECHS["HBM2"]
    with pytest.raises(TechError, match="DDR9"):
        dram_tech("DDR9")
    assert [PRESETS[p].dram_type for p in ("gemmini-like", "tpu-v1-like", "edge-soc-32x32")] == ["DDR3", "DDR3",
                                                                                                  "LPDDR4X"]
    assert with_overrides(PRESETS["gemmini-like"], {"dram_type": "gddr6"}).dram_type == "GDDR6"
    with pytest.raises(AccelConfigError, match="dram_type"):
        with_overrides(PRESETS["gemmini-like"], {"dram_type": "SDR"})
    with pytest.raises(AccelConfigError, match="node"):
        with_overrides(PRESETS["gemmini-like"], {"tech_node_nm": 130.0})


def test_component_table_widths_and_dram():
    g = PRESETS["gemmini-like"]  # Gemmini rows: scratchpad 16 x 8 = 128 bit, accumulator 16 x 32 = 512 bit
    assert ert.buffer_width_bits(g, "ifmap") == 128 and ert.buffer_width_bits(g, "ofmap") == 512
    parts = {c.name: c for c in ert.components(g)}
    assert set(parts) == {"pe_array", "ifmap_sram", "filter_sram", "ofmap_sram", "vector_unit", "dram"}
    row = FITTED[(64 * KIB, 22, 512)]  # a CACTI table point (made monotone, as every point)
    assert parts["ofmap_sram"].energy_pj["read"] == pytest.approx(row["read_pj"])
    assert parts["ofmap_sram"].energy_pj["write_per_byte"] == pytest.approx(row["write_pj"] / 64)
    assert parts["ofmap_sram"].area_mm2 == pytest.approx(row["area_mm2"])
    assert parts["dram"].energy_pj["read_per_byte"] == 160.0  # DDR3 20 pJ/bit


def _hand_accel(**kw) -> AccelConfig:
    base = dict(name="hand", rows=4, cols=4, dataflow="ws", ifmap_sram_bytes=8192, filter_sram_bytes=8192,
                ofmap_sram_bytes=8192, dram_bandwidth_bytes_per_s=64e9, clock_hz=1e9, vector_lanes=4,
                tech_node_nm=45.0, dram_type="LPDDR4")  # fmt: skip
    return AccelConfig(**{**base, **kw})


def test_cost_model_charges_the_cacti_figures_and_leakage():
    """4x4x4 WS GEMM at 45 nm (counts as in test_cost.py): SRAM bytes ifmap 16 read + 16 written, filter the same,
    ofmap 16 read + 64 written (widths 32, 32 and 128 bit), 48 DRAM bytes at LPDDR4 8 pJ/bit; leakage = sum of the
    three CACTI standby powers x latency."""
    from hwsim.accel.cost import layer_counts, layer_floats
    from hwsim.workload import Gemm, LayerWorkload

    accel = _hand_accel()
    layer = LayerWorkload(name="l", heads=0, gemms=(Gemm(name="g", m=4, n=4, k=4),), vector_ops=(), params=0)
    counts, _ = layer_counts(layer, accel, weights_resident=False, weight_bits=8)
    cost = layer_floats(counts, accel)
    row = {w: FITTED[(8192, 45, w)] for w in (32, 128)}
    sram = (32 * row[32]["read_pj"] + 32 * row[32]["write_pj"]) / 4 + (16 * row[128]["read_pj"]
                                                                      + 64 * row[128]["write_pj"]) / 16  # fmt: skip
    assert cost["energy_sram_pj"] == pytest.approx(sram)
    assert cost["energy_dram_pj"] == pytest.approx(48 * 8 * 8.0)
    leak_mw = 2 * row[32]["leakage_mw"] + row[128]["leakage_mw"]
    assert cost["energy_leak_pj"] == pytest.approx(counts["cycles"] / 1e9 * leak_mw * 1e9)
    total = cost["energy_mac_pj"] + sram + cost["energy_dram_pj"] + cost["energy_vector_pj"] + cost["energy_leak_pj"]
    assert cost["energy_pj"] == pytest.approx(total)


def test_bigger_idle_buffers_leak_more():
    from hwsim.accel.cost import model_cost
    from hwsim.spec import ModelSpec
    from hwsim.workload import build_workload

    spec = ModelSpec(name="tiny", n_layers=2, d_model=16, n_heads=4, d_head=4, n_persistent=8, segment_len=8,
                     memory_len=8, vocab_size=60, adaptive_cutoffs=(20, 40), adaptive_div=2)  # fmt: skip
    small = model_cost(build_workload(spec), _hand_accel())
    big = model_cost(build_workload(spec), _hand_accel(ifmap_sram_bytes=1 * MIB))
    assert big.total.cycles == small.total.cycles
    assert big.total.energy_leak_pj > small.total.energy_leak_pj
    assert sum(big.leakage_pj.values()) == pytest.approx(big.total.energy_leak_pj)
    assert big.leakage_pj["ifmap_sram"] > small.leakage_pj["ifmap_sram"]


# ---- CLI ---------------------------------------------------------------------------------------------------------
def test_tech_sram_cli_matches_cacti(cli):
    row = FITTED[(128 * KIB, 22, 64)]
    result = cli("tech", "sram", "--bytes", 128 * KIB, "--node-nm", 22, "--width-bits", 64, "--json")
    assert result.code == 0, result.err
    out = result.json()
    for key in ("read_pj", "write_pj", "leakage_mw", "area_mm2"):
        assert out[key] == pytest.approx(row[key])
    text = cli("tech", "sram", "--bytes", 4096, "--node-nm", 16, "--width-bits", 64)
    assert text.code == 0 and "read_pj" in text.out and "< 22 nm" in text.out


def test_tech_accel_cli_lists_every_component(cli, tmp_path):
    result = cli("tech", "--accel", "tpu-v1-like", "--json")
    assert result.code == 0, result.err
    comps = {c["name"]: c for c in result.json()["components"]}
    assert comps["dram"]["attributes"]["dram_type"] == "DDR3"
    assert comps["ifmap_sram"]["attributes"]["size_bytes"] == 24 * MIB
    assert comps["pe_array"]["energy_pj"]["mac"] > 0 and comps["ifmap_sram"]["leakage_mw"] > 0
    text = cli("tech", "--accel", "edge-soc-32x32")
    assert text.code == 0 and "LPDDR4X" in text.out and "ofmap_sram" in text.out


@pytest.mark.parametrize("args,fragment", [
    (("tech", "sram", "--bytes", 0, "--node-nm", 22), "size"),
    (("tech", "sram", "--bytes", -5, "--node-nm", 22), "size"),
    (("tech", "sram", "--bytes", 4096, "--node-nm", 250), "node"),
    (("tech", "sram", "--bytes", 4096, "--node-nm", 22, "--width-bits", 60), "width"),
    (("tech",), "--accel"),
])  # fmt: skip
def test_tech_cli_bad_input(cli, args, fragment):
    result = cli(*args)
    assert result.code == 2
    assert_one_line_error(result, fragment)


def test_tech_cli_unknown_dram_type(cli, tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('[accel]\nbase = "gemmini-like"\ndram_type = "DDR9"\n')
    result = cli("tech", "--accel", path)
    assert result.code == 2
    assert_one_line_error(result, "dram_type", "DDR9")
