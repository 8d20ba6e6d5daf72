"""Interop with SCALE-Sim v3: write a workload's GEMMs and an accelerator as SCALE-Sim inputs, and run SCALE-Sim.

Files (scalesim.md §2): ``<name>_gemm.csv`` (GEMM topology, header ``Layer, M, N, K,``, every row with its trailing
comma), ``<name>.cfg`` (all sections SCALE-Sim requires), ``<name>_layout.csv`` (header only: the default layout).
Repeats are expanded: a GEMM repeated r times (per-head attention products) becomes r rows named
``<layer>.<gemm>.<i>``, so summing SCALE-Sim's per-row cycles gives exactly the workload hwsim costed.

SCALE-Sim has no word size (1 byte per word): the cfg gives each buffer its capacity *in words* as KB
(ifmap/filter words = bytes / input bytes, ofmap words = bytes / acc bytes), so SCALE-Sim's reuse thresholds match
hwsim's. Bandwidth is words per cycle (DRAM bytes per cycle / input bytes, at least 1), used in USER mode; the
default CALC mode is the one whose compute cycles and DRAM counts hwsim's scalesim mode reproduces.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from hwsim.accel.config import AccelConfig
from hwsim.atomicio import atomic_write_bytes
from hwsim.errors import HwsimError
from hwsim.workload import Workload

LAYOUT_HEADER = "Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor,"


@dataclass(frozen=True, kw_only=True)
class GemmRow:
    """One SCALE-Sim topology row: C[m x n] = A[m x k] @ B[k x n]."""

    name: str
    m: int
    n: int
    k: int


@dataclass(frozen=True, kw_only=True)
class ScalesimFiles:
    topology: Path
    config: Path
    layout: Path
    rows: int


def workload_rows(workload: Workload) -> list[GemmRow]:
    """Every GEMM instance of the workload in execution order (repeats expanded, zero-size GEMMs left out)."""
    rows = []
    for layer in workload.all_layers:
        for g in layer.gemms:
            if min(g.m, g.n, g.k, g.repeat) <= 0:
                continue
            for i in range(g.repeat):
                name = f"{layer.name}.{g.name}" + (f".{i}" if g.repeat > 1 else "")
                rows.append(GemmRow(name=name, m=int(g.m), n=int(g.n), k=int(g.k)))
    return rows


def _offset_above(size: int, floor: int) -> int:
    """A flat address base above ``size`` words (SCALE-Sim's operands must not overlap: scalesim.md §6)."""
    return max(floor, 10 ** len(str(max(size, 1))))


def config_text(accel: AccelConfig, rows: Sequence[GemmRow], run_name: str, interface: str = "CALC") -> str:
    """The .cfg for ``accel`` (all sections; option names as in SCALE-Sim's shipped configs)."""
    if interface not in ("CALC", "USER"):
        raise HwsimError(f"SCALE-Sim interface bandwidth mode must be CALC or USER, got {interface!r}")
    # SCALE-Sim has separate buffers: a unified scratchpad is exported as two halves (inputs, weights)
    split = accel.ifmap_sram_words // 2 if accel.unified_scratchpad else None
    words = (split or accel.ifmap_sram_words, split or accel.filter_sram_words, accel.ofmap_sram_words)
    kb = [max(1, w // 1024) for w in words]
    max_a = max((r.m * r.k for r in rows), default=1)
    max_b = max((r.k * r.n for r in rows), default=1)
    filter_offset = _offset_above(max_a, 10_000_000)
    ofmap_offset = filter_offset + _offset_above(max_b, 10_000_000)
    bandwidth = max(1, int(accel.dram_bytes_per_cycle // accel.input_bytes))
    return "\n".join(
        [
            "[general]",
            f"run_name = {run_name}",
            "",
            "[architecture_presets]",
            f"ArrayHeight = {accel.rows}",
            f"ArrayWidth = {accel.cols}",
            f"IfmapSramSzkB = {kb[0]}",
            f"FilterSramSzkB = {kb[1]}",
            f"OfmapSramSzkB = {kb[2]}",
            "IfmapOffset = 0",
            f"FilterOffset = {filter_offset}",
            f"OfmapOffset = {ofmap_offset}",
            f"Bandwidth = {bandwidth}",
            f"Dataflow = {accel.dataflow.value}",
            "ReadRequestBuffer = 32",
            "WriteRequestBuffer = 32",
            "",
            "[layout]",
            "IfmapCustomLayout = False",
            f"IfmapSRAMBankBandwidth = {bandwidth}",
            "IfmapSRAMBankNum = 1",
            "IfmapSRAMBankPort = 2",
            "FilterCustomLayout = False",
            f"FilterSRAMBankBandwidth = {bandwidth}",
            "FilterSRAMBankNum = 1",
            "FilterSRAMBankPort = 2",
            "",
            "[sparsity]",
            "SparsitySupport = false",
            "SparseRep = ellpack_block",
            "OptimizedMapping = false",
            "BlockSize = 8",
            "RandomNumberGeneratorSeed = 40",
            "",
            "[run_presets]",
            f"InterfaceBandwidth = {interface}",
            "UseRamulatorTrace = False",
            "",
        ]
    )


def topology_text(rows: Iterable[GemmRow]) -> str:
    lines = ["Layer, M, N, K,"]
    lines += [f"{r.name}, {r.m}, {r.n}, {r.k}," for r in rows]
    return "\n".join(lines) + "\n"


def write_scalesim_inputs(
    rows: Sequence[GemmRow], accel: AccelConfig, out_dir: str | Path, name: str, interface: str = "CALC"
) -> ScalesimFiles:
    """Write topology, cfg and layout for ``rows`` on ``accel`` into ``out_dir`` (atomically, file by file)."""
    if not rows:
        raise HwsimError("nothing to export: the workload has no GEMMs")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HwsimError(f"cannot create output directory {out}: {exc.strerror}") from None
    files = ScalesimFiles(
        topology=out / f"{name}_gemm.csv", config=out / f"{name}.cfg", layout=out / f"{name}_layout.csv", rows=len(rows)
    )
    _write_atomic(files.topology, topology_text(rows))
    _write_atomic(files.config, config_text(accel, rows, run_name=name, interface=interface))
    _write_atomic(files.layout, LAYOUT_HEADER + "\n")
    return files


def export_workload(
    workload: Workload, accel: AccelConfig, out_dir: str | Path, interface: str = "CALC"
) -> ScalesimFiles:
    """SCALE-Sim inputs for every GEMM of ``workload`` on ``accel`` (named after the model and accelerator)."""
    name = f"{workload.spec.name}_{accel.name}".replace(" ", "_")
    return write_scalesim_inputs(workload_rows(workload), accel, out_dir, name, interface)


def _write_atomic(path: Path, text: str) -> None:
    try:
        atomic_write_bytes(path, text.encode())
    except OSError as exc:
        raise HwsimError(f"cannot write {path}: {exc.strerror}") from None


# ---- running SCALE-Sim in-process (tests and bench/) ----------------------------------------------------------
REPORT_KEYS = (
    "compute_cycles", "stall_cycles", "utilization", "mapping_efficiency",
    "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
    "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes",
)  # fmt: skip


def run_scalesim(files: ScalesimFiles, work_dir: str | Path) -> list[dict[str, float]]:
    """Run SCALE-Sim v3 (pip ``scalesim``) on written inputs; one dict of :data:`REPORT_KEYS` per topology row.

    ``compute_cycles`` is COMPUTE_REPORT's "Total Cycles" (compute + stalls; no stalls in CALC mode). Traces are not
    written (save_disk_space); SCALE-Sim's progress output is swallowed.
    """
    from scalesim.scale_sim import scalesim  # heavy and optional: imported only here

    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(
            save_disk_space=True,
            verbose=False,
            config=str(files.config),
            topology=str(files.topology),
            layout=str(files.layout),
            input_type_gemm=True,
        )
        sim.run_scale(top_path=str(work_dir))
    out = []
    for layer in sim.runner.single_layer_sim_object_list:
        _, total, stall, util, map_eff, _ = layer.get_compute_report_items()
        detail = layer.get_detail_report_items()
        out.append(
            {
                "compute_cycles": int(total),
                "stall_cycles": int(stall),
                "utilization": float(util) / 100,
                "mapping_efficiency": float(map_eff) / 100,
                "sram_ifmap_reads": int(detail[2]),
                "sram_filter_reads": int(detail[5]),
                "sram_ofmap_writes": int(detail[8]),
                "dram_ifmap_reads": int(detail[11]),
                "dram_filter_reads": int(detail[14]),
                "dram_ofmap_writes": int(detail[17]),
            }
        )
    return out


def run_scalesim_gemms(rows: Sequence[GemmRow], accel: AccelConfig, work_dir: str | Path) -> list[dict[str, float]]:
    """Write inputs for ``rows`` into ``work_dir`` and run SCALE-Sim on them."""
    files = write_scalesim_inputs(rows, accel, work_dir, name="hwsim")
    return run_scalesim(files, Path(work_dir) / "out")
