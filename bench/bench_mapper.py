"""hwsim's GEMM mapper side by side with ZigZag's LOMA temporal mapper (Mei et al., IEEE TC 2021; PyPI zigzag-dse).

Both tools map the same GEMMs onto the same gemmini-like memories: a 16x16 weight-stationary array, an ifmap
buffer for A, a filter buffer for B, an int32 accumulator for C, DRAM behind them; int8 operands, int32 partial
sums, int8 outputs. hwsim's rule tiles into half of each buffer (the other half double-buffers); ZigZag (no double
buffering modelled) is given the half-size buffers, so both schedule the same capacity: 64 KiB + 64 KiB + 32 KiB.
ZigZag minimises energy with DRAM accesses 1000x the cost of a buffer access, so its optimum is the DRAM-lightest
mapping it finds; its DRAM port is 8 bits wide so that its word-access counts are bytes. LOMA searches loop orders
of the dimensions' prime factors (lpf_limit 6 merges the smallest ones), which can miss sizes such as 384 = 2^7 x 3.

Usage: ``python bench/bench_mapper.py [--lpf 6] [--gemms 384x512x512,...]`` (ZigZag takes seconds per GEMM).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.accel.config import PRESETS  # noqa: E402
from hwsim.accel.mapping import best_mapping  # noqa: E402

# Issue 8's four examples, mapping.md's 128^3 and three paper-recipe shapes (persistent scores, content scores,
# one head's values over the memory).
GEMMS = [(384, 512, 512), (1024, 1024, 1024), (4096, 256, 512), (192, 64, 2048), (128, 128, 128),
         (192, 2048, 64), (192, 384, 64), (192, 64, 384)]  # fmt: skip


def _port(name: str, kind: str, bits: int, allocation: list[str]) -> dict:
    return {"name": name, "type": kind, "bandwidth_min": bits, "bandwidth_max": bits, "allocation": allocation}


def _buffer(size_bits: int, operand: str, bits: int) -> dict:
    reads, writes = (["O, tl", "O, th"], ["O, fh", "O, fl"]) if operand == "O" else ([f"{operand}, tl"],
                                                                                       [f"{operand}, fh"])
    ports = [_port("r_port_1", "read", bits, reads), _port("w_port_1", "write", bits, writes)]
    return {"size": size_bits, "r_cost": 1, "w_cost": 1, "area": 0, "latency": 1, "operands": [operand],
            "ports": ports, "served_dimensions": ["D1", "D2"]}  # fmt: skip


def zigzag_accelerator(rows: int, cols: int, ifmap_bytes: int, filter_bytes: int, acc_bytes: int) -> dict:
    """Per-PE weight and partial-sum registers, three buffers (bottom-up order matters), DRAM."""
    dram_ports = ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"]
    memories = {
        "rf_w": {"size": 8, "r_cost": 0.01, "w_cost": 0.01, "area": 0, "latency": 1, "operands": ["I2"],
                 "ports": [_port("r_port_1", "read", 8, ["I2, tl"]), _port("w_port_1", "write", 8, ["I2, fh"])],
                 "served_dimensions": []},
        "rf_o": {"size": 32, "r_cost": 0.01, "w_cost": 0.01, "area": 0, "latency": 1, "operands": ["O"],
                 "ports": [_port("r_port_1", "read", 32, ["O, tl"]), _port("r_port_2", "read", 32, ["O, th"]),
                           _port("w_port_1", "write", 32, ["O, fh"]), _port("w_port_2", "write", 32, ["O, fl"])],
                 "served_dimensions": []},
        "ifmap": _buffer(ifmap_bytes * 8, "I1", 128 * 8),
        "filter": _buffer(filter_bytes * 8, "I2", 128 * 8),
        "acc": _buffer(acc_bytes * 8, "O", 128 * 32),
        "dram": {"size": 10**12, "r_cost": 1000, "w_cost": 1000, "area": 0, "latency": 1,
                 "operands": ["I1", "I2", "O"], "ports": [_port("rw_port_1", "read_write", 8, dram_ports)],
                 "served_dimensions": ["D1", "D2"]},
    }  # fmt: skip
    return {"name": "gemmini_half", "memories": memories,
            "operational_array": {"input_precision": [8, 8], "unit_energy": 0.04, "unit_area": 1,
                                  "dimensions": ["D1", "D2"], "sizes": [rows, cols]}}  # fmt: skip


def run_zigzag(m: int, n: int, k: int, tmp: Path, lpf: int) -> tuple[dict[str, int], float, str]:
    """ZigZag's DRAM bytes per operand, its wall time and its temporal mapping."""
    import yaml
    from zigzag.api import get_hardware_performance_zigzag
    from zigzag.hardware.architecture.memory_port import DataDirection

    accel = PRESETS["gemmini-like"]
    halves = accel.ifmap_sram_bytes // 2, accel.filter_sram_bytes // 2, accel.ofmap_sram_bytes // 2
    (tmp / "accel.yaml").write_text(yaml.safe_dump(zigzag_accelerator(accel.rows, accel.cols, *halves),
                                                   sort_keys=False))  # fmt: skip
    (tmp / "mapping.yaml").write_text(yaml.safe_dump([{
        "name": "default", "spatial_mapping": {"D1": [f"K, {accel.rows}"], "D2": [f"N, {accel.cols}"]},
        "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}], sort_keys=False))  # fmt: skip
    (tmp / "workload.yaml").write_text(yaml.safe_dump([{
        "id": 0, "name": "gemm", "operator_type": "Gemm", "equation": "O[m][n]+=I[m][k]*W[k][n]",
        "loop_dims": ["M", "N", "K"], "loop_sizes": [m, n, k],
        "operand_precision": {"I": 8, "W": 8, "O": 32, "O_final": 8}}], sort_keys=False))  # fmt: skip
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        result = get_hardware_performance_zigzag(
            str(tmp / "workload.yaml"), str(tmp / "accel.yaml"), str(tmp / "mapping.yaml"), opt="energy",
            dump_folder=str(tmp / "out"), loma_show_progress_bar=False, lpf_limit=lpf,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    cme = result[-1][0][1][0][0]
    dram = {}
    for operand, levels in cme.memory_word_access.items():
        top = levels[-1]  # DRAM; 8-bit port: one word access = one byte
        dram[str(operand)] = sum(top.get(d) for d in (DataDirection.RD_OUT_TO_LOW, DataDirection.WR_IN_BY_LOW))
    return dram, seconds, str(cme.temporal_mapping)


def run_hwsim(m: int, n: int, k: int):
    accel = PRESETS["gemmini-like"]
    best_mapping.cache_clear()  # time the search, not the memo
    start = time.perf_counter()
    mp = best_mapping(m, n, k, accel)
    return mp, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lpf", type=int, default=6, help="ZigZag LOMA lpf_limit")
    parser.add_argument("--gemms", default=None, help="comma list of MxNxK (default: the 8 built in)")
    args = parser.parse_args()
    gemms = GEMMS if args.gemms is None else [tuple(map(int, g.split("x"))) for g in args.gemms.split(",")]
    logging.disable(logging.CRITICAL)
    print("== DRAM bytes of one GEMM on gemmini-like memories (hwsim: half of 128/128/64 KiB; ZigZag: 64/64/32 KiB)")
    print(f"{'M x N x K':>18} {'hwsim_B':>12} {'hwsim_ms':>9} {'zigzag_B':>12} {'zigzag_s':>9} {'zz/hw':>6}  "
          f"hwsim mapping | ZigZag DRAM bytes I/W/O")  # fmt: skip
    for m, n, k in gemms:
        mp, t_hw = run_hwsim(m, n, k)
        with tempfile.TemporaryDirectory() as tmp:
            dram, t_zz, _ = run_zigzag(m, n, k, Path(tmp), args.lpf)
        zz = sum(dram.values())
        shape = f"{m}x{n}x{k}"
        ours = (f"{mp.loop_order} {mp.tile_m}x{mp.tile_n}x{mp.tile_k} A{mp.refetch_a} B{mp.refetch_b} "
                f"C{mp.refetch_c}")  # fmt: skip
        print(f"{shape:>18} {mp.dram_bytes:>12,} {t_hw * 1e3:>9.1f} {zz:>12,} {t_zz:>9.1f} {zz / mp.dram_bytes:>6.2f}  "
              f"{ours} | {dram.get('I', 0):,}/{dram.get('W', 0):,}/{dram.get('O', 0):,}")


if __name__ == "__main__":
    main()
