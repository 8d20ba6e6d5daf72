"""Write docs/validation.md from hwsim/accel/validation.py; with --scalesim, print SCALE-Sim v3's counts for the
validation case (to paste into SCALESIM_REFERENCE when the case changes)."""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.accel.validation import SCALESIM_CASE, render_markdown  # noqa: E402
from hwsim.atomicio import atomic_write_bytes  # noqa: E402


def scalesim_counts(dataflow: str) -> dict[str, int]:
    """Run SCALE-Sim v3 in-process (CALC mode) on SCALESIM_CASE."""
    from scalesim.scale_sim import scalesim

    c = SCALESIM_CASE
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "arch.cfg").write_text(
            "[general]\nrun_name = v\n[architecture_presets]\n"
            f"ArrayHeight = {c['rows']}\nArrayWidth = {c['cols']}\nIfmapSramSzkB = {c['sram_kb']}\n"
            f"FilterSramSzkB = {c['sram_kb']}\nOfmapSramSzkB = {c['sram_kb']}\nIfmapOffset = 0\n"
            "FilterOffset = 10000000\nOfmapOffset = 20000000\nBandwidth = 10\n"
            f"Dataflow = {dataflow}\nReadRequestBuffer = 32\nWriteRequestBuffer = 32\n"
            "[layout]\nIfmapCustomLayout = False\nIfmapSRAMBankBandwidth = 10\nIfmapSRAMBankNum = 1\n"
            "IfmapSRAMBankPort = 2\nFilterCustomLayout = False\nFilterSRAMBankBandwidth = 10\nFilterSRAMBankNum = 1\n"
            "FilterSRAMBankPort = 2\n[sparsity]\nSparsitySupport = false\nSparseRep = ellpack_block\n"
            "OptimizedMapping = false\nBlockSize = 8\nRandomNumberGeneratorSeed = 40\n"
            "[run_presets]\nInterfaceBandwidth = CALC\nUseRamulatorTrace = False\n"
        )
        (d / "topo.csv").write_text(f"Layer, M, N, K,\ng0, {c['m']}, {c['n']}, {c['k']},\n")
        (d / "layout.csv").write_text("Layer name,\n")
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=True, verbose=False, config=str(d / "arch.cfg"),
                           topology=str(d / "topo.csv"), layout=str(d / "layout.csv"), input_type_gemm=True)
            sim.run_scale(top_path=str(d / "out"))
        layer = sim.runner.single_layer_sim_object_list[0]
        _, cycles, _, _, _, _ = layer.get_compute_report_items()
        det = layer.get_detail_report_items()
        return {"compute_cycles": int(cycles), "sram_ifmap_reads": int(det[2]), "sram_filter_reads": int(det[5]),
                "sram_ofmap_writes": int(det[8])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalesim", action="store_true", help="print SCALE-Sim's counts for the case and exit")
    args = parser.parse_args()
    if args.scalesim:
        for df in ("os", "ws"):
            print(df, scalesim_counts(df))
        return
    atomic_write_bytes(ROOT / "docs" / "validation.md", render_markdown().encode())
    print("wrote docs/validation.md")


if __name__ == "__main__":
    main()
