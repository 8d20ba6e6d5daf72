"""Every published or peer figure hwsim can be held against, next to hwsim's own value (docs/validation.md).

:func:`checks` recomputes every hwsim value from the code; :func:`render_markdown` writes the page
(``python tools/gen_validation.py``); tests/test_validation.py checks that the committed page equals a fresh render,
so the page cannot go stale. Reference values are literals with their source; the SCALE-Sim ones come from running
SCALE-Sim v3 in-process on the small case below (the test reruns it when ``scalesim`` is installed).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from hwsim.accel import tech
from hwsim.accel.config import PRESETS, AccelConfig
from hwsim.accel.cost import fixed_area
from hwsim.accel.gemm import gemm_cost
from hwsim.accel.sram import FIT_BAND_BYTES, heldout_points, sram_estimate

ROOT = Path(__file__).resolve().parents[2]
KIB, MIB = 1024, 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class Check:
    group: str
    quantity: str
    reference: float
    source: str
    hwsim: float
    digits: int = 4  # significant digits shown

    @property
    def error(self) -> float:
        """hwsim / reference - 1."""
        return self.hwsim / self.reference - 1.0


# ---- CACTI 7 ------------------------------------------------------------------------------------------------------
# Two CACTI 7 table points (reproduced exactly) and held-out points (not in the table: interpolated by hwsim).
CACTI_TABLE_CASES = [(128 * KIB, 22, 64), (1 * MIB, 22, 64)]
CACTI_HELDOUT_CASES = [(22 * KIB, 22, 64), (112 * KIB, 32, 128), (448 * KIB, 45, 256), (2560 * KIB, 65, 64),
                       (5 * MIB, 22, 256), (7 * MIB, 45, 128), (128 * KIB, 34, 64), (1 * MIB, 58, 128),
                       (4 * MIB, 42, 256)]  # fmt: skip


def _size_text(size: int) -> str:
    return f"{size // MIB} MiB" if size % MIB == 0 else f"{size // KIB:,} KiB"


def _cacti_row(size: int, node: int, width: int, heldout: bool) -> dict[str, float]:
    """The CACTI run of a validation case, from the held-out file or the table (a held-out case must not be both)."""
    from hwsim.accel.sram import table_points

    key = (size, node, width)
    table = [r for r in table_points() if (r["size_bytes"], r["node_nm"], r["width_bits"]) == key]
    held = [r for r in heldout_points() if (r["size_bytes"], r["node_nm"], r["width_bits"]) == key]
    if heldout and held and not table:
        return held[0]
    if not heldout and table:
        return table[0]
    raise KeyError(f"{key} is not a CACTI {'held-out' if heldout else 'table'} point")


def cacti_checks() -> list[Check]:
    out = []
    for cases, label in ((CACTI_TABLE_CASES, "table point"), (CACTI_HELDOUT_CASES, "held out")):
        for size, node, width in cases:
            ref = _cacti_row(size, node, width, heldout=label == "held out")
            est = sram_estimate(size, node, width)
            name = f"{_size_text(size)}, {node} nm, {width}-bit ({label})"
            src = "CACTI 7 (tools/cacti_sweep.py)"
            out.append(Check(group="CACTI 7 SRAM", quantity=f"{name}: read pJ", reference=ref["read_pj"],
                             source=src, hwsim=est.read_pj))  # fmt: skip
            out.append(Check(group="CACTI 7 SRAM", quantity=f"{name}: area mm²", reference=ref["area_mm2"],
                             source=src, hwsim=est.area_mm2))  # fmt: skip
    return out


def _in_acceptance_band(row: dict[str, float]) -> bool:
    """Issue 12's accuracy band: 16 KiB-8 MiB (the monotone fit's band), 22-65 nm, 64-256-bit accesses."""
    return (FIT_BAND_BYTES[0] <= row["size_bytes"] <= FIT_BAND_BYTES[1] and 22 <= row["node_nm"] <= 65
            and row["width_bits"] in (64, 128, 256))  # fmt: skip


def heldout_error_summary(nodes=None) -> dict[str, float]:
    """Largest |hwsim / CACTI - 1| over every held-out CACTI point in the acceptance band (``nodes``: only these)."""
    worst = {"read_pj": 0.0, "write_pj": 0.0, "area_mm2": 0.0, "leakage_mw": 0.0}
    n = 0
    for row in heldout_points():
        if not _in_acceptance_band(row) or (nodes is not None and row["node_nm"] not in nodes):
            continue
        est = sram_estimate(int(row["size_bytes"]), row["node_nm"], int(row["width_bits"]))
        n += 1
        for key in worst:
            worst[key] = max(worst[key], abs(getattr(est, key) / row[key] - 1.0))
    return {"points": n, **worst}


def monotone_fit_summary() -> dict[str, float]:
    """How many table points the monotone fit moves off CACTI's own value, and by how much at most: inside the
    acceptance band (16 KiB-8 MiB, 22-65 nm, 64-256 bit) and anywhere."""
    from hwsim.accel.sram import table_points

    worst = {"read_pj": 0.0, "area_mm2": 0.0, "band_read_pj": 0.0, "band_area_mm2": 0.0}
    moved = 0
    rows = table_points()
    for row in rows:
        est = sram_estimate(int(row["size_bytes"]), row["node_nm"], int(row["width_bits"]))
        errors = {key: abs(getattr(est, key) / row[key] - 1.0) for key in ("read_pj", "write_pj", "leakage_mw",
                                                                            "area_mm2")}  # fmt: skip
        moved += max(errors.values()) > 1e-9
        for key in ("read_pj", "area_mm2"):
            worst[key] = max(worst[key], errors[key])
            if _in_acceptance_band(row):
                worst[f"band_{key}"] = max(worst[f"band_{key}"], errors[key])
    return {"adjusted": moved, "points": len(rows), **worst}


# ---- TPUv1, Gemmini --------------------------------------------------------------------------------------------------
TPU_DIE_MM2 = 331.0  # Jouppi et al. ISCA 2017 Table 2, "<331 mm^2" (hardware.md §2, UNVERIFIED upper bound)


def tpu_checks() -> list[Check]:
    tpu = PRESETS["tpu-v1-like"]
    area = fixed_area(tpu)
    floor = "Jouppi et al. 2017 floorplan (hardware.md §2): {:.0%} of ≤331 mm²"
    chip = sum(area.values())
    return [
        Check(group="TPUv1", quantity="peak TOPS (65,536 MACs × 2 × 700 MHz)", reference=92.0,
              source="Jouppi et al. ISCA 2017 abstract", hwsim=2 * tpu.peak_macs_per_s / 1e12),
        Check(group="TPUv1", quantity="matrix unit area mm² (hwsim's PE anchor is derived from it)",
              reference=0.24 * TPU_DIE_MM2, source=floor.format(0.24), hwsim=area["pe_array_mm2"]),
        Check(group="TPUv1", quantity="24 MiB unified buffer area mm²", reference=0.29 * TPU_DIE_MM2,
              source=floor.format(0.29), hwsim=area["ifmap_sram_mm2"]),
        Check(group="TPUv1", quantity="4 MiB accumulator area mm²", reference=0.06 * TPU_DIE_MM2,
              source=floor.format(0.06), hwsim=area["ofmap_sram_mm2"]),
        Check(group="TPUv1", quantity="die area mm² (hwsim: array + buffers + vector unit only)",
              reference=TPU_DIE_MM2, source="Jouppi et al. 2017 Table 2 (≤, UNVERIFIED)", hwsim=chip),
    ]  # fmt: skip


# TPUv1's production apps (Jouppi et al. ISCA 2017 Table 1: layers, weights, batch; Table 3: measured TOPS and % of
# cycles; hardware.md §7). Per-layer shapes are not published; assumed: equal square FC layers holding the app's
# weights at its batch (MLP0 5 x 2000^2 = 20.0M, batch 200; MLP1 4 x 1118^2 = 5.0M, batch 168; LSTM0 24 x 1472^2 =
# 52.0M, batch 64, its 34 vector layers not costed), and for CNN0 16 3x3 convolutions 236 -> 236 channels on a 19 x 19
# map (8.0M weights) at batch 8, which gives Table 1's 2,888 ops per weight byte (8 x 361 output pixels). Activations
# stay in the 24 MiB unified buffer (A and C on chip); weights stream from DRAM. (M, K, N) per layer.
TPU_APPS = {
    "MLP0": ((200, 2000, 2000),) * 5, "MLP1": ((168, 1118, 1118),) * 4, "LSTM0": ((64, 1472, 1472),) * 24,
    "CNN0": ((8 * 361, 9 * 236, 236),) * 16,
}  # fmt: skip
TPU_MEASURED = {  # Table 3: measured TOPS; array active, weight stall, weight shift (% of cycles)
    "MLP0": (12.3, 12.7, 53.9, 15.9), "MLP1": (9.7, 10.6, 44.2, 13.4), "LSTM0": (3.7, 8.2, 58.1, 15.8),
    "CNN0": (86.0, 78.2, 0.0, 0.0),
}  # fmt: skip


def tpu_app(name: str, objective: str = "dram") -> dict[str, float]:
    """hwsim on tpu-v1-like for one app: TOPS, and the % of cycles the array computes (active), waits for weights
    from DRAM (stall) and loads them into the array without computing (shift: R - T cycles of a fold whose T < R);
    ``objective``: the mapping search's (hwsim.accel.mapping)."""
    from hwsim.accel.config import with_overrides
    from hwsim.accel.gemm import gemm_cost
    from hwsim.accel.mapping import best_mapping

    tpu = with_overrides(PRESETS["tpu-v1-like"], {"mapping_objective": objective})
    macs = cycles = stall = shift = 0
    for m, k, n in TPU_APPS[name]:
        c = gemm_cost(m, n, k, tpu, a_on_chip=True, c_on_chip=True)
        mp = best_mapping(m, n, k, tpu, (True, False, True))
        macs, cycles, stall = macs + c.macs, cycles + c.total_cycles, stall + c.stall_cycles
        shift += mp.folds * max(0, tpu.rows - min(mp.tile_m, m))
    return {"tops": 2 * macs / (cycles / tpu.clock_hz) / 1e12, "active": 100 * (cycles - stall - shift) / cycles,
            "stall": 100 * stall / cycles, "shift": 100 * shift / cycles}


HARDWARE_GROUPS = ("TPUv1 apps", "Gemmini RTL")
_MECHANISMS = (  # (fragment of the case, why hwsim differs): the first that matches
    ("TOPS", "hwsim costs the matrix work only: Table 3's non-matrix, RAW and input-stall cycles (21-33 %) are not in "
             "its GEMM workloads"),
    ("weight stall", "hwsim overlaps each tile's weight shift with the next tile's DRAM transfer; the counters "
                     "serialise shifting after the stall, so hwsim's stall share is larger"),
    ("weight shift", "the same overlap: hwsim exposes only R - T cycles of a fold's shift, and none while DRAM-bound"),
    ("array active", "the shares are of hwsim's matrix cycles; its stall/shift split differs (above)"),
    ("600", "TPUv1 moves whole 256 x 256 weight tiles (9 x 64 KiB = 576 KiB) through its weight FIFO; hwsim moves the "
            "360 KB of real weights (padded tiles: 17.4 us at 34 GB/s)"),
)


def hardware_mechanism(case: str) -> str:
    if case.startswith("CNN0 TOPS, latency-first"):
        return ("Table 3's CNN0 rows disagree: 86 TOPS is 93 % of the 92 TOPS peak, yet the counters show the array "
                "active 78.2 % of cycles; hwsim's latency-first mapping keeps it busy 79 % of the time (its "
                "idle PEs: 236 output channels on 256 columns, K = 2,124 in 9 folds of 256 rows)")
    if case.startswith("CNN0 TOPS"):
        return ("CNN0 is compute-bound; hwsim's mapper minimises DRAM bytes before cycles, keeping one 2,888-row M tile "
                "and 128-column tiles that idle half the array (mapped latency-first instead: the next row)")
    return next((why for fragment, why in _MECHANISMS if fragment in case), "")


def tpu_app_checks() -> list[Check]:
    src = "Jouppi et al. 2017 Table 3"
    out = []
    for name, (tops, active, stall, shift) in TPU_MEASURED.items():
        ours = tpu_app(name)
        out.append(Check(group="TPUv1 apps", quantity=f"{name} TOPS", reference=tops, source=src, hwsim=ours["tops"]))
        # hwsim costs the matrix work only: Table 3's three matrix rows renormalised to their sum
        matrix = active + stall + shift
        for what, key, ref in (("array active", "active", active), ("weight stall", "stall", stall),
                               ("weight shift", "shift", shift)):  # fmt: skip
            if ref > 0:
                out.append(Check(group="TPUv1 apps", quantity=f"{name} {what}, % of matrix cycles",
                                 reference=100 * ref / matrix, source=src + " (3 matrix rows, renormalised)",
                                 hwsim=ours[key]))  # fmt: skip
    # CNN0 is compute-bound: the same layers mapped latency-first (mapping_objective = latency)
    out.append(Check(group="TPUv1 apps", quantity="CNN0 TOPS, latency-first mapping", reference=TPU_MEASURED["CNN0"][0],
                     source=src, hwsim=tpu_app("CNN0", "latency")["tops"]))  # fmt: skip
    # §7: a 600 x 600 FC layer takes 9 weight tiles on the 256 x 256 array, about 18 us (batch 200, as MLP0)
    from hwsim.accel.gemm import gemm_cost

    tpu = PRESETS["tpu-v1-like"]
    layer = gemm_cost(200, 600, 600, tpu, a_on_chip=True, c_on_chip=True)
    out.append(Check(group="TPUv1 apps", quantity="600×600 FC layer, batch 200: µs", reference=18.0,
                     source="Jouppi et al. 2017 §7", hwsim=layer.total_cycles / tpu.clock_hz * 1e6))  # fmt: skip
    return out


def gemmini_checks() -> list[Check]:
    # Gemmini's own mm² breakdown (DAC'21, 22FFL) was not retrieved (hardware.md §1); the peer figure is the OpenROAD
    # ASAP7 (7 nm predictive PDK) implementation of its 16x16 int8 MeshWithDelays: 103,705 um^2 of cells.
    g = PRESETS["gemmini-like"]
    from hwsim.accel.mapping import best_mapping

    tiles = best_mapping(512, 512, 512, PRESETS["gemmini"])
    return [
        Check(group="Gemmini", quantity="16×16 int8 mesh area at 7 nm, mm²", reference=0.103705,
              source="OpenROAD ASAP7 gemmini demo (hardware.md §1)",
              hwsim=tech.pe_array_area_mm2(g.rows, g.cols, g.input_bits, g.acc_bits, 7.0)),
        Check(group="Gemmini", quantity="peak TOPS at 500 MHz (16×16 × 2 × 500 MHz)", reference=0.256,
              source="hardware.md §1 (derived peak)", hwsim=2 * g.peak_macs_per_s / 1e12),
        # gemmini.h's weight-stationary tiling of 512^3 on the default config: 5 x 6 x 32 blocks, 42 tiles
        Check(group="Gemmini", quantity="gemmini preset, 512³: tiles of gemmini.h's WS tiling (5 × 6 × 32 blocks)",
              reference=42.0, source="buddy-mlir PR #933 (its port of gemmini.h's rule)",
              hwsim=float(tiles.trips_m * tiles.trips_n * tiles.trips_k)),
    ]  # fmt: skip


# Issue 17's 8 x 8 weight-stationary Gemmini (64 KiB scratchpad, 16 KiB accumulator, DRAM never binding).
GEMMINI_8X8 = AccelConfig(name="gemmini-8x8", rows=8, cols=8, dataflow="ws", ifmap_sram_bytes=64 * KIB,
                          filter_sram_bytes=0, unified_scratchpad=True, ofmap_sram_bytes=16 * KIB,
                          dram_bandwidth_bytes_per_s=1e15, clock_hz=500e6, schedule="gemmini")  # fmt: skip
# Issue 17 ran 13 GEMMs on Gemmini's RTL: SCALE-Sim's timing took 1.01-2.77x the RTL's cycles, the most on M = 1
# matrix-vector products. Its RTL counts are not published; the one derivable number is the M = 1 case.
SCALESIM_OVER_RTL_M1 = 2.77
SCHEDULE_SHAPES = ((1, 1000, 512), (1, 768, 768), (1, 4096, 1024), (64, 64, 64), (100, 100, 100), (128, 1024, 1024),
                   (512, 768, 768), (512, 768, 3072), (512, 3072, 768), (512, 4096, 1024), (196, 256, 2304),
                   (49, 512, 4608))  # (M, N, K)  # fmt: skip


def _scalesim_8x8() -> AccelConfig:
    """SCALE-Sim's timing on the same array (its cycles do not depend on the buffer sizes)."""
    return dataclasses.replace(GEMMINI_8X8, unified_scratchpad=False, filter_sram_bytes=32 * KIB,
                               ifmap_sram_bytes=32 * KIB, schedule="search", mode="scalesim")  # fmt: skip


def gemmini_rtl_checks() -> list[Check]:
    m, n, k = SCHEDULE_SHAPES[0]
    rtl = gemm_cost(m, n, k, _scalesim_8x8()).compute_cycles / SCALESIM_OVER_RTL_M1
    return [Check(group="Gemmini RTL", quantity=f"8×8, M{m} N{n} K{k} (matrix-vector): compute cycles", reference=rtl,
                  source=f"issue 17's RTL runs (derived: SCALE-Sim's cycles / {SCALESIM_OVER_RTL_M1})",
                  hwsim=float(gemm_cost(m, n, k, GEMMINI_8X8).compute_cycles), digits=6)]  # fmt: skip


def schedule_rows() -> list[tuple[tuple[int, int, int], int, float, float, float]]:
    """(shape, Gemmini-schedule compute cycles, search / Gemmini, latency-first search / Gemmini, SCALE-Sim mode /
    Gemmini) on the 8 x 8 array."""
    search, scalesim = dataclasses.replace(GEMMINI_8X8, schedule="search"), _scalesim_8x8()
    fast = dataclasses.replace(search, mapping_objective="latency")
    rows = []
    for m, n, k in SCHEDULE_SHAPES:
        ours = gemm_cost(m, n, k, GEMMINI_8X8).compute_cycles
        rows.append(((m, n, k), ours, *(gemm_cost(m, n, k, a).compute_cycles / ours for a in (search, fast, scalesim))))
    return rows


# ---- SCALE-Sim v3 (CALC mode), run in-process on this case (tools/gen_validation.py --scalesim prints them) ----------
SCALESIM_CASE = dict(rows=8, cols=8, m=100, n=40, k=30, sram_kb=64)
SCALESIM_REFERENCE: dict[str, dict[str, int]] = {
    "os": {"compute_cycles": 2859, "sram_ifmap_reads": 15000, "sram_filter_reads": 15600, "sram_ofmap_writes": 5040},
    "ws": {"compute_cycles": 2439, "sram_ifmap_reads": 15000, "sram_filter_reads": 1200, "sram_ofmap_writes": 16000},
}


def scalesim_accel(dataflow: str) -> AccelConfig:
    c = SCALESIM_CASE
    return AccelConfig(name="scalesim-case", rows=c["rows"], cols=c["cols"], dataflow=dataflow,
                       ifmap_sram_bytes=c["sram_kb"] * KIB, filter_sram_bytes=c["sram_kb"] * KIB,
                       ofmap_sram_bytes=c["sram_kb"] * KIB, dram_bandwidth_bytes_per_s=10e9, clock_hz=1e9,
                       input_bits=8, acc_bits=8, mode="scalesim")  # fmt: skip


def scalesim_checks() -> list[Check]:
    c = SCALESIM_CASE
    out = []
    for df, ref in SCALESIM_REFERENCE.items():
        cost = gemm_cost(c["m"], c["n"], c["k"], scalesim_accel(df)).to_dict()
        for key, value in ref.items():
            out.append(Check(group="SCALE-Sim v3", quantity=f"{df}, {c['rows']}×{c['cols']}, M{c['m']} N{c['n']} "
                             f"K{c['k']}: {key}", reference=float(value), source="SCALE-Sim v3 in-process, CALC",
                             hwsim=float(cost[key]), digits=8))  # fmt: skip
    return out


# ---- the paper's parameter counts (paper.md §5: Shim et al. 2021 S2 README) ------------------------------------------
def paper_checks() -> list[Check]:
    from hwsim.spec import load_spec
    from hwsim.workload import build_workload

    aa = load_spec(ROOT / "models" / "shim-wt103-16l.toml")
    txl = load_spec(ROOT / "models" / "txl-wt103-16l.toml")

    def params(spec, heads) -> float:
        return build_workload(spec, heads).params / 1e6

    src = "Shim et al. 2021 (paper.md §5)"
    return [
        Check(group="Paper", quantity="All-Attention baseline params (M)", reference=53.8, source=src,
              hwsim=params(aa, None)),
        Check(group="Paper", quantity="All-Attention, 43% of heads pruned (73 of 128 kept), params (M)",
              reference=30.7, source=src, hwsim=params(aa, (5,) * 9 + (4,) * 7)),
        Check(group="Paper", quantity="Transformer-XL baseline params (M)", reference=53.8, source=src,
              hwsim=params(txl, None)),
        Check(group="Paper", quantity="Transformer-XL, 25% of heads pruned (96 kept), params (M)", reference=47.9,
              source=src, hwsim=params(txl, (6,) * 16)),
    ]  # fmt: skip


# ---- the mapper (physical mode): DRAM bytes of one GEMM on gemmini-like memories -------------------------------------
# The optimum of single-level tiling under hwsim's double-buffering rule, as issue 8 quotes it after checking it equal
# to AccelForge 1.0.467 (the Timeloop/Accelergy successor) given half-size buffers.
ACCELFORGE_OPTIMUM_BYTES = {(384, 512, 512): 1_179_648, (1024, 1024, 1024): 18_874_368,
                            (4096, 256, 512): 5_373_952, (192, 64, 2048): 634_880}  # fmt: skip
# ZigZag 3.9.1 (LOMA temporal mapper, lpf_limit 6) on the same memories at half size: `python bench/bench_mapper.py`.
# ZigZag never moves fewer bytes; where it moves more it re-reads A (LOMA's prime-factor loop orders miss the tile).
ZIGZAG_BYTES = {(384, 512, 512): 1_245_184, (1024, 1024, 1024): 18_874_368, (4096, 256, 512): 9_568_256,
                (192, 64, 2048): 929_792, (128, 128, 128): 49_152, (192, 2048, 64): 536_576,
                (192, 384, 64): 110_592, (192, 64, 384): 110_592}  # fmt: skip


def mapper_checks() -> list[Check]:
    from hwsim.accel.mapping import best_mapping

    accel = PRESETS["gemmini-like"]
    out = []
    for refs, group, source in ((ACCELFORGE_OPTIMUM_BYTES, "Mapper vs AccelForge", "AccelForge 1.0.467 (issue 8)"),
                                (ZIGZAG_BYTES, "Mapper vs ZigZag", "ZigZag 3.9.1, bench/bench_mapper.py")):
        for (m, n, k), ref in refs.items():
            out.append(Check(group=group, quantity=f"gemmini-like, M{m} N{n} K{k}: DRAM bytes", reference=float(ref),
                             source=source, hwsim=float(best_mapping(m, n, k, accel).dram_bytes), digits=8))
    return out


def checks() -> list[Check]:
    return [*cacti_checks(), *tpu_checks(), *tpu_app_checks(), *gemmini_rtl_checks(), *gemmini_checks(),
            *scalesim_checks(), *mapper_checks(), *paper_checks()]


# ---- the page ------------------------------------------------------------------------------------------------------
def _fmt(x: float, digits: int) -> str:
    return f"{x:,.0f}" if digits >= 8 and float(x).is_integer() else f"{x:.{digits}g}"


def _error_text(error: float) -> str:
    return "0.0%" if abs(error) < 5e-4 else f"{error:+.1%}"


def _schedule_section() -> list[str]:
    lines = [
        "",
        "## Gemmini's schedule (from its RTL) against hwsim's other timings",
        "",
        "`schedule = \"gemmini\"` (the `gemmini` preset) takes Gemmini's tiles from its software (`gemmini.h`",
        "`tiled_matmul_auto`) and its cycles from its execute pipeline (`ExecuteController`, `LoopMatmul`,",
        "`MeshWithDelays`): DIM cycles per DIM × DIM block, whatever the block's rows, because every COMPUTE is paired",
        "with the next PRELOAD, which streams DIM rows; then the last COMPUTE and the pipeline's drain",
        "(`hwsim/accel/gemmini.py` cites every source line; tests/test_gemmini_schedule.py checks it by hand and",
        "against a request-by-request replay of the command stream). Issue 17's RTL cycle counts are not published",
        "and no other per-GEMM RTL counts were found, so the one measured comparison is the matrix-vector row above.",
        "The same 8 × 8 array (64 KiB scratchpad, 16 KiB accumulator) under hwsim's mapping search and under",
        "SCALE-Sim's timing, as ratios to Gemmini's schedule:",
        "",
        "| M × N × K | Gemmini schedule, cycles | search / Gemmini | latency-first search / Gemmini | "
        "SCALE-Sim mode / Gemmini |",
        "|---|---|---|---|---|",
    ]
    for (m, n, k), cycles, search, fast, scalesim in schedule_rows():
        lines.append(f"| {m} × {n} × {k} | {cycles:,} | {search:.3f} | {fast:.3f} | {scalesim:.3f} |")
    lines += [
        "",
        "SCALE-Sim's timing spends 2R + C + T − 2 cycles per fold, its weight preload never hidden: 2.87× on M = 1,",
        "where issue 17 measured 2.77× against the RTL. hwsim's search picks the tiles with the fewest DRAM bytes,",
        "cycles only breaking ties; with a 16 KiB accumulator those tiles can be 1 to 11 columns wide, folds that",
        "idle most of the array's 8 columns (8× on 512 × 768 × 3072, tile 52 × 1 × 615), where Gemmini's whole-block",
        "tiles move more bytes but keep the array busy. Issue 17 measured its physical mode at 0.95–1.16× the RTL on its",
        "13 shapes; the same band appears here wherever the search's tiles are not degenerate. Ranked by total",
        "cycles first (`mapping_objective = \"latency\"`) the search keeps the array busy on every shape (1.000 or",
        "below: hwsim's fold timing streams the 49 or 196 rows of M without padding them to whole blocks as Gemmini",
        "does) for at most 10.4 % more DRAM bytes than the bytes-first search (none on 7 of the 12).",
    ]
    return lines


def render_markdown() -> str:
    """docs/validation.md, regenerated from :func:`checks` (tools/gen_validation.py writes it)."""
    rows = checks()
    summary = heldout_error_summary()
    native = heldout_error_summary(nodes=(22, 32, 45, 65))
    fit = monotone_fit_summary()
    lines = [
        "# Validation: hwsim against published and peer figures",
        "",
        "Generated by `python tools/gen_validation.py` from `hwsim/accel/validation.py`; `tests/test_validation.py`",
        "fails if this page differs from a fresh render, so every hwsim figure below is what the code computes now.",
        "Error = hwsim / reference − 1.",
        "",
        "| group | quantity | reference | source | hwsim | error |",
        "|---|---|---|---|---|---|",
    ]
    for c in rows:
        if c.group in HARDWARE_GROUPS:
            continue
        lines.append(f"| {c.group} | {c.quantity} | {_fmt(c.reference, c.digits)} | {c.source} | "
                     f"{_fmt(c.hwsim, c.digits)} | {_error_text(c.error)} |")  # fmt: skip
    lines += [
        "",
        "## Against hardware",
        "",
        "Measured on silicon (TPUv1) or on RTL (Gemmini), next to hwsim's number for the same case; the mechanism",
        "behind every error above 5 %.",
        "",
        "| case | measured | source | hwsim | error | mechanism (errors > 5 %) |",
        "|---|---|---|---|---|---|",
    ]
    for c in rows:
        if c.group in HARDWARE_GROUPS:
            why = hardware_mechanism(c.quantity) if abs(c.error) > 0.05 else ""
            lines.append(f"| {c.quantity} | {_fmt(c.reference, c.digits)} | {c.source} | {_fmt(c.hwsim, c.digits)} "
                         f"| {_error_text(c.error)} | {why} |")  # fmt: skip
    lines += _schedule_section()
    lines += [
        "",
        f"**CACTI held-out points**: {summary['points']} CACTI runs that are not in hwsim's table, 16 KiB–8 MiB, "
        "22–65 nm, 64/128/256-bit (fixed off-grid sizes, random sizes rounded as a user sizes a buffer, and the nodes "
        "34, 42 and 58 nm that are not table nodes; `tools/cacti_sweep.py`). The largest |error| is "
        f"{summary['read_pj']:.1%} for read energy, {summary['area_mm2']:.1%} area, {summary['write_pj']:.1%} write "
        f"energy and {summary['leakage_mw']:.1%} leakage; at CACTI's own nodes 22/32/45/65 nm ({native['points']} "
        f"points) {native['read_pj']:.1%} read and {native['area_mm2']:.1%} area. Table points are reproduced exactly "
        f"except where CACTI's output dips as size grows ({fit['adjusted']} of {fit['points']} points, counting write "
        "energy and leakage), where the monotone fit splits the dip: in 16 KiB–8 MiB, 22–65 nm, 64–256-bit by at "
        f"most {fit['band_read_pj']:.1%} read and {fit['band_area_mm2']:.1%} area; anywhere by at most "
        f"{fit['read_pj']:.1%} read and {fit['area_mm2']:.1%} area (below 16 KiB, where the fit stays under the "
        "band's first value). Between table nodes CACTI is not monotone in node either (17 KiB, 256-bit read: "
        "12.1, 12.8, 13.4, 14.0, 10.0 pJ at 32–36 nm), which is where the largest held-out errors are.",
        "",
        "Notes:",
        "* TPUv1: the per-MAC area anchor (1,200 µm² at 28 nm) is itself derived from the matrix-unit share of the",
        "  die, so that row checks arithmetic, not an independent model. The die row is a lower bound by construction:",
        "  hwsim has no control, PCIe, DDR interface or activation pipeline beyond the vector lanes. The unified",
        "  buffer and accumulators are single-ported CACTI macros with low-standby-power cells (the hwcomponents",
        "  defaults); the floorplan shares include ports, banking and wiring hwsim does not model.",
        "* TPUv1 apps (issue 17, against hardware): Table 1 gives each app's layer count, weights and batch but not its",
        "  shapes; hwsim costs the assumed layers of `TPU_APPS` on tpu-v1-like with activations in the unified buffer.",
        "  MLP0, MLP1 and LSTM0 land within 9-15 % of the measured TOPS (hwsim is faster: it has none of Table 3's",
        "  non-matrix, RAW and input-stall cycles, 21-33 % of the measured time). The cycle split differs: hwsim",
        "  overlaps a tile's weight shift into the array with the DRAM transfer of the next one, so its weight stall is",
        "  larger and its shift smaller than the counters', which serialise shifting after the stall. CNN0 is the",
        "  exception (-56 %): its layers are compute-bound (Table 3: 78 % array active), and hwsim's mapper minimises",
        "  DRAM bytes before cycles, so it keeps one 2,888-row M tile (B read once) and pays with 128-column tiles that",
        "  idle half the array; the mapper's objective, not the array model, is the mechanism. Mapped latency-first",
        "  (`mapping_objective = \"latency\"`: fewest total cycles, then bytes) the same layers give 72.6 TOPS (-15.5 %):",
        "  79 % of peak, as Table 3's 78 % array-active share, while its 86 TOPS would be 93 % of peak (the table's",
        "  rows disagree; its caption warns they are not fully consistent). The 600 × 600 layer",
        "  (§7) takes 12.1 µs in hwsim against about 18 µs: TPUv1 moves whole 256 × 256 weight tiles (9 × 64 KiB)",
        "  through its weight FIFO, hwsim only the 360 KB of real weights (the padded tiles would be 17.4 µs at 34 GB/s).",
        "* Gemmini's published mm² breakdown (DAC'21, Intel 22FFL) was not retrieved; the ASAP7 figure is a predictive",
        "  7 nm PDK implementation of the mesh alone (SRAMs mocked, 41% utilisation).",
        "* SCALE-Sim: hwsim's `scalesim` cost mode reproduces SCALE-Sim v3's compute cycles and SRAM counts exactly",
        "  (tests/test_gemm_scalesim.py runs SCALE-Sim on 72 shape/array/dataflow cases); the row values are one small",
        "  case run in-process.",
        "* Mapper: the physical-mode mapper equals the optimum of single-level tiling under its rule (the AccelForge",
        "  rows; tests/test_mapping.py checks it against a brute-force enumeration). ZigZag, given the same capacity,",
        "  never moves fewer DRAM bytes; where it moves more (three GEMMs) its LOMA loop orders over prime factors",
        "  re-read the A operand (`python bench/bench_mapper.py` prints both mappings).",
        "* hwsim's mapper and AccelForge on the export (`hwsim export --format accelforge`, tests/test_accelforge.py,",
        "  AccelForge 1.0.467 on gemmini-like's usable half-buffers, DRAM bits as its objective): AccelForge nests",
        "  its buffers in the listed order, which fixes the operands' tile-loop order, while hwsim's three buffers are",
        "  peers under six loop orders; mapped with each of the six `--buffer-order`s and the best kept, AccelForge",
        "  moves exactly hwsim's DRAM bytes on 384x512x512, 1024^3, 4096x512x256, 192x2048x64 (M x K x N), a",
        "  1 x 512 x 1000 matrix-vector product, a 64 x 16 x 128 GEMM repeated 8 times and every GEMM of a PTB layer",
        "  (2 heads, unfused). With the default order alone two of the four issue-8 shapes need 37 % and 41 % more.",
        "  Where they differ, hwsim moves less: 512 x 768 x 768 takes 4,915,200 B in hwsim (B fetched 7 times over 7",
        "  balanced M tiles of 74 rows) and 5,505,024 B in AccelForge, whose tiles divide each dimension (8 tiles).",
        "* Paper: hwsim counts non-embedding weights exactly (54,566,912 for the recipe); the paper's 53.8M is its",
        "  rounded headline (paper.md §5 leaves a 0.8M gap unexplained).",
        "",
    ]
    return "\n".join(lines)
