"""At the held-out nodes that are not table nodes (34, 42, 58 nm): hwsim, and what hwcomponents-cacti 1.0.40 (the
SRAM model AccelForge users get) reports there, each against CACTI 7 run directly at that node.

hwcomponents-cacti runs CACTI only at 22, 32, 45, 65 and 90 nm and interpolates linearly in node between them
(``_interp_tech_node`` / ``_interp_call``); this script does the same from CACTI runs at the bracketing nodes, so it
needs the CACTI build of tools/cacti_sweep.py. Usage:
``python tools/cacti_offnode_check.py --cacti-dir DIR [--cache-dir DIR] [--jobs 2]`` (docs/tech.md quotes its output).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cacti_sweep  # noqa: E402

from hwsim.accel.sram import heldout_points, sram_estimate  # noqa: E402

HWCOMPONENTS_NODES_NM = [22, 32, 45, 65, 90]  # hwcomponents-cacti 1.0.40 ``supported_technologies``
KIB, MIB = 1024, 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cacti-dir", type=Path, required=True, help="a CACTI build (see tools/cacti_sweep.py)")
    parser.add_argument("--cache-dir", type=Path, help="the run cache of tools/cacti_sweep.py")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    points = [r for r in heldout_points() if r["node_nm"] not in cacti_sweep.TABLE_NODES_NM
              and 16 * KIB <= r["size_bytes"] <= 8 * MIB and r["width_bits"] in (64, 128, 256)]  # fmt: skip

    def bracket(node: float) -> tuple[int, int, float]:
        lo = max(n for n in HWCOMPONENTS_NODES_NM if n <= node)
        hi = min(n for n in HWCOMPONENTS_NODES_NM if n >= node)
        return lo, hi, (node - lo) / (hi - lo)

    need = sorted({(int(r["size_bytes"]), n, int(r["width_bits"])) for r in points for n in bracket(r["node_nm"])[:2]})
    runs = dict(zip(need, cacti_sweep.sweep(args.cacti_dir, need, args.jobs, args.cache_dir)))
    worst = {"hwsim": 0.0, "hwcomponents": 0.0}
    beyond = {"hwsim": 0, "hwcomponents": 0}
    for r in points:
        size, width = int(r["size_bytes"]), int(r["width_bits"])
        lo, hi, t = bracket(r["node_nm"])
        est = sram_estimate(size, r["node_nm"], width)
        values = {"hwsim": (est.read_pj, est.area_mm2),
                  "hwcomponents": tuple((1 - t) * runs[(size, lo, width)][k] + t * runs[(size, hi, width)][k]
                                        for k in ("read_pj", "area_mm2"))}  # fmt: skip
        for name, (read, area) in values.items():
            error = max(abs(read / r["read_pj"] - 1), abs(area / r["area_mm2"] - 1))
            worst[name] = max(worst[name], error)
            beyond[name] += error > 0.15
    nodes = sorted({r["node_nm"] for r in points})
    print(f"{len(points)} held-out points at nodes {nodes} nm, against CACTI 7 run there:")
    for name in worst:
        print(f"  {name:13s} largest |error| (read energy or area) {worst[name]:.1%}, {beyond[name]} beyond 15%")


if __name__ == "__main__":
    main()
