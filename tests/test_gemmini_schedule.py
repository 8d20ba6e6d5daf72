"""Gemmini's schedule (schedule = "gemmini", hwsim.accel.gemmini): tiles and cycles checked by hand from the cited
source lines of ucb-bar/gemmini and gemmini-rocc-tests, and against a request-by-request replay of the command stream
that Gemmini's software and LoopMatmul unroller issue and its ExecuteController pairs."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest

from conftest import ROOT, assert_one_line_error
from hwsim.accel import gemmini
from hwsim.accel.config import PRESETS, AccelConfig, Schedule
from hwsim.accel.gemm import gemm_cost
from hwsim.accel.mapping import best_mapping
from hwsim.errors import AccelConfigError

# The 8 x 8 array of the issue: 64 KiB unified scratchpad, 16 KiB accumulator, DRAM fast enough to never bind.
G8 = AccelConfig(name="g8", rows=8, cols=8, dataflow="ws", ifmap_sram_bytes=64 * 1024, filter_sram_bytes=0,
                 unified_scratchpad=True, ofmap_sram_bytes=16 * 1024, dram_bandwidth_bytes_per_s=1e15,
                 clock_hz=500e6, schedule="gemmini")  # fmt: skip
G16 = PRESETS["gemmini"]
# Drain after the last row's read, hop by hop: 2 (SyncReadMem + ex_read_pipe) + 1 (a_buf) + R + C - 1 (skewed mesh and
# de-skew) + 1 (mesh_output_delay) + 2 (acc_latency) = R + C + 5 cycles: 21 on 8 x 8, 37 on 16 x 16.
DRAIN = {8: 21, 16: 37}


def test_preset_uses_gemminis_schedule():
    assert G16.schedule is Schedule.GEMMINI and PRESETS["gemmini-like"].schedule is Schedule.SEARCH
    assert G16.to_dict()["schedule"] == "gemmini" and "schedule" not in PRESETS["gemmini-like"].to_dict()
    assert gemmini.drain_cycles(8, 8) == DRAIN[8] and gemmini.drain_cycles(16, 16) == DRAIN[16]


@pytest.mark.parametrize("accel,shape,cycles", [
    # M = 1 (decode's matrix-vector product) on 8 x 8: every COMPUTE is followed by a new weight block, so each of the
    # 125 x 64 blocks streams DIM = 8 rows (ExecuteController l. 285-302); the last COMPUTE alone feeds max(1, 4).
    (G8, (1, 1000, 512), 8 * 125 * 64 + 4 + 21),
    # partial row block: 20 rows = 8 + 8 + 4. Preload 8, COMPUTE(8 rows) with a weight-keeping PRELOAD: max(8, 4),
    # again 8, the last COMPUTE alone: max(4, 4) = 4 -> 28, + drain 21.
    (G8, (20, 8, 8), 8 + 8 + 8 + 4 + 21),
    # one block, one row: preload 8, COMPUTE alone max(1, 4)
    (G8, (1, 8, 8), 8 + 4 + 21),
    # 16 x 16: 33 rows = 16 + 16 + 1: preload 16, two COMPUTEs of 16 rows, the last alone max(1, 4)
    (G16, (33, 16, 16), 16 + 16 + 16 + 4 + 37),
    (G16, (1, 16, 16), 16 + 4 + 37),
    # partial columns and depth cost a whole block (the preload streams DIM rows; padded columns idle)
    (G16, (16, 17, 17), 16 * 4 + 16 + 37),
    # 512^3 on Gemmini's default: 32^3 blocks of 16 cycles
    (G16, (512, 512, 512), 16 * 32**3 + 16 + 37),
])  # fmt: skip
def test_whole_gemm_cycles_by_hand(accel, shape, cycles):
    m, n, k = shape
    assert gemm_cost(m, n, k, accel).compute_cycles == cycles
    assert gemmini.compute_cycles(accel.rows, m, n, k) == cycles


def test_per_tile_cycles_by_hand():
    assert gemmini.tile_cycles(8, 40, 40, 408) == 8 * 5 * 5 * 51  # DIM per (i, j, k) block
    assert gemmini.tile_cycles(8, 20, 8, 8) == 8 * 3  # the short row block still costs DIM (a preload follows)
    assert gemmini.tile_cycles(16, 1, 64, 448) == 16 * 1 * 4 * 28
    assert gemmini.tail_cycles(8, 20) == 4 + 21 and gemmini.tail_cycles(16, 48) == 16 + 37


def test_tiles_by_hand():
    # Gemmini's default (16 x 16, 4 banks x 4096 rows, 1024 accumulator rows), 512^3: start I = J = isqrt(512 / 16) =
    # 5, K = min(32, (16384 / 4 / 16) / 5 = 51) = 32; J -> 6 fits (480 acc rows <= 512), I -> 6 would need 576, K is
    # whole: 5 x 6 x 32 blocks, as buddy-mlir PR #933 also reports for gemmini.h's weight-stationary tiling.
    assert gemmini.tiles(512, 512, 512, dim=16, spad_bytes=256 * 1024, acc_bytes=64 * 1024, input_bytes=1,
                         acc_word_bytes=4) == (5, 6, 32)  # fmt: skip
    mp = best_mapping(512, 512, 512, G16)
    assert (mp.tile_m, mp.tile_n, mp.tile_k, mp.loop_order) == (80, 96, 512, "mnk")
    # 8 x 8, 64 KiB / 16 KiB: 4096 spad rows and 256 acc rows per half. Start 5, 5, 51; growing J or I needs
    # (5*51 + 51*6) * 8 = 4488 > 4096 spad rows, K -> 52 needs 4160: 5 x 5 x 51.
    mp = best_mapping(512, 768, 768, G8)
    assert (mp.tile_m, mp.tile_n, mp.tile_k) == (40, 40, 408)
    # M = 1: I = 1; J and K grow in turn (J 6, K 52, J 7, K 53, J 8, K 54, K 55, K 56; J 9 needs 4320 rows).
    mp = best_mapping(1, 1000, 512, G8)
    assert (mp.tile_m, mp.tile_n, mp.tile_k) == (1, 64, 448)


def test_dram_traffic_of_gemminis_loops_by_hand():
    # 40 x 40 x 408 tiles of 512 x 768 x 768: trips 13, 20, 2 walked i0, j0, k0. A is reloaded for every j0 (20
    # times), B for every i0 (13 times), C stays in the accumulator across k0.
    mp = best_mapping(512, 768, 768, G8)
    assert (mp.refetch_a, mp.refetch_b, mp.refetch_c) == (20, 13, 1)
    assert mp.dram_bytes == 512 * 768 * 20 + 768 * 768 * 13 + 512 * 768
    # b_reuse (gemmini.h l. 783): J0 * K0 = 1 * 2 <= 2, so B's two tiles are loaded once for all 5 row tiles
    mp = best_mapping(200, 40, 816, G8)
    assert (mp.trips_m, mp.trips_n, mp.trips_k) == (5, 1, 2) and mp.dram_b_words == 816 * 40
    assert mp.dram_a_words == 200 * 816


def _replay_cycles(m: int, n: int, k: int, accel: AccelConfig) -> int:
    """The command stream, request by request: gemmini.h's tile loops (i0, j0, k0), LoopMatmulExecute's block loops
    (k, j, i: a PRELOAD with the B block when i = 0, else a weight-keeping one, then a COMPUTE of the block's rows),
    and ExecuteController's pairing: a lone PRELOAD, a COMPUTE with the PRELOAD after it, or a lone COMPUTE, each
    feeding total_rows = DIM unless no new weights stream in, then max(A rows, 4)."""
    dim = accel.rows
    ti, tj, tk = gemmini.tiles(m, n, k, dim=dim, spad_bytes=accel.ifmap_sram_bytes, acc_bytes=accel.ofmap_sram_bytes,
                               input_bytes=accel.input_bytes, acc_word_bytes=accel.acc_bytes)  # fmt: skip
    bi, bj, bk = (-(-d // dim) for d in (m, n, k))
    commands = []
    for i0, j0, k0 in itertools.product(range(-(-bi // ti)), range(-(-bj // tj)), range(-(-bk // tk))):
        rows_i = range(i0 * ti, min(bi, (i0 + 1) * ti))
        for _kk, _jj, i in itertools.product(range(min(tk, bk - k0 * tk)), range(min(tj, bj - j0 * tj)), rows_i):
            commands.append(("preload", i == rows_i[0]))
            commands.append(("compute", dim if i < bi - 1 else m - dim * (bi - 1)))
    cycles, p = 0, 0
    while p < len(commands):
        kind, arg = commands[p]
        if kind == "preload":
            cycles, p = cycles + (dim if arg else 4), p + 1
        elif p + 1 < len(commands) and commands[p + 1][0] == "preload":
            cycles, p = cycles + (dim if commands[p + 1][1] else max(arg, 4)), p + 2
        else:
            cycles, p = cycles + max(arg, 4), p + 1
    return cycles + DRAIN[dim]


@pytest.mark.parametrize("shape", [(1, 1000, 512), (512, 768, 768), (100, 100, 100), (20, 8, 8), (1, 8, 8),
                                   (37, 91, 23), (300, 64, 1000), (7, 3000, 40), (129, 129, 129)])
@pytest.mark.parametrize("accel", [G8, G16], ids=["8x8", "16x16"])
def test_closed_form_equals_the_replayed_command_stream(shape, accel):
    assert gemm_cost(*shape, accel).compute_cycles == _replay_cycles(*shape, accel)


def test_every_gemmini_tile_fits_its_halves():
    from hwsim.accel.mapping import tile_fits

    for shape in [(1, 1000, 512), (512, 4096, 1024), (37, 91, 23), (4096, 64, 4096)]:
        for accel, bits in itertools.product((G8, G16), (8, 4)):
            mp = best_mapping(*shape, accel, b_bits=bits)
            assert tile_fits(accel, mp.tile_m, mp.tile_n, mp.tile_k, bits)
            assert mp.tile_m % accel.rows == 0 or mp.tile_m == shape[0]  # whole blocks but for the matrix's edge


def test_search_pads_where_gemmini_does_not():
    """The mechanism behind the search mapper's 4-16 % over Gemmini on big GEMMs: its fewest-bytes tiles are not whole
    blocks (7 or 77 columns), so folds idle columns; Gemmini's tiles are whole blocks."""
    search = dataclasses.replace(G8, schedule="search")
    mp = best_mapping(512, 1024, 4096, search)
    assert mp.tile_n % 8 != 0
    ratio = gemm_cost(512, 1024, 4096, search).compute_cycles / gemm_cost(512, 1024, 4096, G8).compute_cycles
    assert 1.10 < ratio < 1.16


@pytest.mark.parametrize("override,needs", [
    ({"dataflow": "os"}, "dataflow = ws"), ({"cols": 16}, "square"), ({"fuse_attention": True}, "fuse_attention"),
    ({"ofmap_sram_bytes": 256}, "room for one 8 x 8 block"), ({"schedule": "gemini"}, "unknown schedule"),
])  # fmt: skip
def test_schedule_checked_once(override, needs):
    with pytest.raises(AccelConfigError, match=needs):
        dataclasses.replace(G8, **override)
    with pytest.raises(AccelConfigError, match="unified_scratchpad"):
        dataclasses.replace(G8, unified_scratchpad=False, filter_sram_bytes=32 * 1024)


def test_cli_gemm_and_cost_on_gemminis_schedule(tmp_path, cli):
    toml = tmp_path / "g8.toml"
    toml.write_text('[accel]\nbase = "gemmini"\nrows = 8\ncols = 8\nifmap_sram_bytes = 65536\n'
                    'ofmap_sram_bytes = 16384\ndram_bandwidth_bytes_per_s = 1e15\n')  # fmt: skip
    out = json.loads(cli("gemm", "--m", "1", "--n", "1000", "--k", "512", "--accel", toml, "--json").out)
    assert out["compute_cycles"] == 64025 and out["mapping"]["loop_order"] == "mnk"
    bad = tmp_path / "bad.toml"
    bad.write_text('[accel]\nbase = "gemmini"\ndataflow = "os"\n')
    assert_one_line_error(cli("gemm", "--m", "8", "--n", "8", "--k", "8", "--accel", bad),
                          "schedule = gemmini needs dataflow = ws")
    result = cli("cost", "--model", ROOT / "models" / "ptb-small.toml", "--accel", "gemmini", "--json")
    assert result.code == 0 and json.loads(result.out)["total"]["cycles"] > 0


def test_a_sweep_grid_over_the_schedule(tmp_path, cli):
    """`--grid schedule=search,gemmini`: the same design under hwsim's search and Gemmini's schedule, side by side."""
    import csv

    out = tmp_path / "p"
    result = cli("sweep", "--model", ROOT / "models" / "ptb-small.toml", "--accel", "gemmini", "--grid",
                 "schedule=search,gemmini", "--heads-per-layer", "8,8,8,8", "--out", out, "--no-progress")  # fmt: skip
    assert result.code == 0, result.err
    rows = {row["accel"]: row for row in csv.DictReader((tmp_path / "p.csv").open())}
    from hwsim.accel.config import with_overrides
    from hwsim.accel.cost import model_cost
    from hwsim.spec import load_spec
    from hwsim.workload import build_workload

    w = build_workload(load_spec(ROOT / "models" / "ptb-small.toml"))
    for schedule in ("search", "gemmini"):
        cost = model_cost(w, with_overrides(G16, {"schedule": schedule}))
        assert int(rows[f"gemmini[schedule={schedule}]"]["cycles"]) == cost.total.cycles


def test_first_load_by_hand():
    """The array waits for one mvin of A and one of B (LoopMatmul's ld_ahead): DIM rows of up to 64 bytes
    (dma_maxbytes) each. 16 x 16 int8: 16 x 64 + 16 x 64 words; 8 x 8 with M = 1: 1 x 64 + 8 x 64."""
    import numpy as np

    assert tuple(int(x) for x in gemmini.first_load_words(16, 1, 80, 96, 512)) == (16 * 64, 16 * 64)
    assert tuple(int(x) for x in gemmini.first_load_words(8, 1, 1, 64, 448)) == (64, 8 * 64)
    slow = dataclasses.replace(G8, dram_bandwidth_bytes_per_s=8e9)  # 16 B per cycle at 500 MHz
    c = gemm_cost(1, 1000, 512, slow)
    dram = 512 + 512 * 1000 + 1000  # A, B, C once each (b_reuse: J0 * K0 = 16 * 2 > 2, but I0 = 1: B read once)
    assert c.dram_bytes == dram
    assert c.total_cycles == max(64025, int(np.ceil(dram / 16))) + (64 + 8 * 64) // 16
