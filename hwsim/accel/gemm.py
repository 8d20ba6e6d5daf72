"""Cost of one GEMM C[m x n] = A[m x k] @ B[k x n] on an R x C systolic array (SCALE-Sim compatible).

A is the ifmap, B the filter, C the ofmap (SCALE-Sim's GEMM convention, scalesim.md §2). Every function works on
Python ints *and* on int numpy arrays (broadcasting), so the vectorised path (``hwsim.accel.batch``) runs the same
formulas. Counts are in words; ``repeat`` independent instances run back to back.

Mapping (scalesim.md §3): the dataflow puts two GEMM dimensions on the array (Sr rows, Sc columns) and streams the
third over time (T); folds = ceil(Sr/R) * ceil(Sc/C).

**scalesim mode** reproduces SCALE-Sim v3 exactly (compute cycles, SRAM reads/writes per operand):
  cycles per fold = R + C + T - 2 (os) or 2R + C + T - 2 (ws/is: R cycles of weight/input preload);
  compute cycles = folds * cycles_per_fold - 1; full R, C even for partial edge folds;
  os ofmap writes carry SCALE-Sim's spurious +folds*(R+C); ws/is write every K-fold partial sum and never read it.
  DRAM counts follow SCALE-Sim's CALC-mode reuse rules (scalesim.md §3, threshold = half of each SRAM): ifmap and
  filter reads exact except os filter reads (SCALE-Sim's FIFO sets make them 0.9-1.3x the closed form, measured),
  ofmap writes 0..127 words below SCALE-Sim's (its drain padding).
**physical mode** (the default for model costs) differs only where SCALE-Sim is known to be unphysical:
  consecutive folds overlap (the next fold's preload / the previous fold's drain of R cycles hides behind T cycles
  of streaming, as in Gemmini's double-buffered mesh and TPUv1's weight FIFO): compute = folds*max(T, R) + 2R + C - 3
  (equal to SCALE-Sim for one fold with T >= R);
  os writes each output once; ws/is read every partial sum back before accumulating the next K-fold into it;
  partial sums stay in the ofmap (accumulator) SRAM: when a C x T partial-sum tile does not fit in half of it, the
  streamed dimension T is processed in chunks that fit (as Gemmini's LoopMatmul tiles do), re-preloading the
  stationary operand once per chunk (its SRAM reads, and its DRAM reads unless it fits in half its SRAM, scale
  with the number of chunks).

**Bandwidth (both modes)**, a double-buffered model: while fold i computes, fold i+1's operands stream in, so
DRAM and compute overlap; the array waits once for the first fold's operands (the prologue). total cycles =
max(compute, dram) + prologue, dram = ceil(DRAM bytes / bytes per cycle), stall = total - compute.
SCALE-Sim's USER-bandwidth stall counts are not reproduced (scalesim.md §6: they include re-prefetch artefacts).
A GEMM with any zero dimension or repeat 0 costs exactly 0.

**On-chip operands** (``a_on_chip``, ``b_on_chip``, ``c_on_chip``; set by the layer cost for resident weights and
activations, never by ``hwsim gemm``): the operand is fetched from / written to an on-chip buffer instead of DRAM.
Its SRAM fills and drains are still counted; only its DRAM traffic (and its share of the prologue) disappears.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Union

import numpy as np

from hwsim.accel.config import AccelConfig, CostMode, Dataflow

IntLike = Union[int, np.ndarray]


@dataclass(frozen=True, kw_only=True)
class GemmCost:
    """Counts for ``repeat`` instances of one GEMM (words unless the name says bytes)."""

    macs: IntLike
    row_folds: IntLike  # ceil(Sr / R), per instance
    col_folds: IntLike  # ceil(Sc / C), per instance
    folds: IntLike  # per instance
    compute_cycles: IntLike
    stall_cycles: IntLike
    total_cycles: IntLike
    sram_ifmap_reads: IntLike
    sram_filter_reads: IntLike
    sram_ofmap_writes: IntLike
    sram_ofmap_reads: IntLike  # partial sums read back (physical mode only)
    dram_ifmap_reads: IntLike
    dram_filter_reads: IntLike
    dram_ofmap_writes: IntLike  # final outputs, plus every K-fold partial sum in scalesim mode
    onchip_filter_reads: IntLike  # filter words fetched from an on-chip buffer instead of DRAM (b_on_chip)
    sram_ifmap_bytes: IntLike  # array-side reads + fills from DRAM, input width
    sram_filter_bytes: IntLike
    sram_ofmap_bytes: IntLike  # writes + reads at acc width + drains to DRAM
    dram_bytes: IntLike  # ifmap/filter at input width, final outputs at input width, partial sums at acc width
    mapping_efficiency: float | np.ndarray  # mean over folds of used PEs / (R * C)
    utilization: float | np.ndarray  # macs / (compute_cycles * R * C): SCALE-Sim's CALC-mode "Overall Util" / 100
    utilization_with_stalls: float | np.ndarray  # macs / (total_cycles * R * C)

    def to_dict(self) -> dict:
        return {f.name: _py(getattr(self, f.name)) for f in fields(self)}


def mapping(dataflow: Dataflow, m: IntLike, n: IntLike, k: IntLike) -> tuple[IntLike, IntLike, IntLike]:
    """(Sr, Sc, T): the GEMM dimensions on array rows, array columns and time (scalesim.md §3 table)."""
    if dataflow is Dataflow.OS:
        return m, n, k
    if dataflow is Dataflow.WS:
        return k, n, m
    return k, m, n  # IS


def cycles_per_fold(dataflow: Dataflow, rows: int, cols: int, t: IntLike) -> IntLike:
    """SCALE-Sim v3's stall-free cycles of one fold (scalesim.md §3: the 2R+C+T-2 form does not hold for os)."""
    if dataflow is Dataflow.OS:
        return rows + cols + t - 2
    return 2 * rows + cols + t - 2


def _ceil_div(a, b):
    return -(-a // b)


def gemm_cost(
    m: IntLike, n: IntLike, k: IntLike, accel: AccelConfig, repeat: IntLike = 1, *,
    a_on_chip=False, b_on_chip=False, c_on_chip=False,
) -> GemmCost:  # fmt: skip
    """Cost of ``repeat`` instances of an m x k by k x n GEMM on ``accel`` (see module docstring)."""
    m, n, k, repeat = (np.asarray(x, dtype=np.int64) for x in (m, n, k, repeat))
    a_on, b_on, c_on = (np.asarray(x, dtype=bool) for x in (a_on_chip, b_on_chip, c_on_chip))
    live = (m > 0) & (n > 0) & (k > 0) & (repeat > 0)
    # Dead entries are computed on 1 x 1 x 1 and masked to 0 at the end (no -1 cycles, no division by zero).
    m, n, k = (np.where(live, x, 1) for x in (m, n, k))
    df, rows, cols = accel.dataflow, accel.rows, accel.cols
    scalesim = accel.mode is CostMode.SCALESIM
    sr, sc, t = mapping(df, m, n, k)
    row_folds, col_folds = _ceil_div(sr, rows), _ceil_div(sc, cols)
    folds = row_folds * col_folds

    half_if, half_f, half_of = accel.ifmap_sram_words // 2, accel.filter_sram_words // 2, accel.ofmap_sram_words // 2
    if scalesim or df is Dataflow.OS:
        n_chunks = np.ones_like(t)
    else:  # physical ws/is: T rows per chunk such that the C x T partial-sum tile fits half the accumulator
        chunk = np.maximum(half_of // np.minimum(sc, cols), 1)
        n_chunks = _ceil_div(t, chunk)
    if scalesim:
        compute = folds * cycles_per_fold(df, rows, cols, t) - 1
    else:
        # T split into n_chunks balanced chunks (rem of q + 1 rows, the rest q); each chunk streams for at least
        # the R cycles that hide the next preload.
        q, rem = t // n_chunks, t % n_chunks
        per_fold = rem * np.maximum(q + 1, rows) + (n_chunks - rem) * np.maximum(q, rows)
        compute = folds * per_fold + 2 * rows + cols - 3

    # SRAM accesses by the array (scalesim.md §3 closed forms; the stationary operand once per chunk).
    if df is Dataflow.OS:
        sram_if, sram_f = m * k * col_folds, k * n * row_folds
    elif df is Dataflow.WS:
        sram_if, sram_f = m * k * col_folds, k * n * n_chunks
    else:
        sram_if, sram_f = m * k * n_chunks, k * n * col_folds
    if df is Dataflow.OS:
        of_writes = m * n + folds * (rows + cols) if scalesim else m * n
        of_reads = np.zeros_like(m)
    else:  # ws / is: one partial-sum tile per K-fold (row fold)
        of_writes = m * n * row_folds
        of_reads = np.zeros_like(m) if scalesim else m * n * (row_folds - 1)

    # DRAM traffic: reuse when an operand fits in the active half of its double-buffered SRAM.
    if df is Dataflow.IS:
        dram_if = np.where(m * k <= half_if, m * k, m * k * n_chunks)
        dram_f = np.where(k * n <= half_f, k * n, k * n * col_folds)
    else:
        dram_if = np.where(m * k <= half_if, m * k, m * k * col_folds)
        if df is Dataflow.OS:  # a K x C filter column tile is reused across the inner M tiles only if it fits
            dram_f = np.where(k * np.minimum(n, cols) <= half_f, k * n, k * n * row_folds)
        else:
            dram_f = np.where(k * n <= half_f, k * n, k * n * n_chunks)
    # Outputs leave once; SCALE-Sim also sends every ws/is K-fold partial sum to DRAM (never read back).
    dram_of_w = m * n * row_folds if scalesim and df is not Dataflow.OS else m * n

    ib, ab = accel.input_bytes, accel.acc_bytes
    psum_words = dram_of_w - m * n
    # SRAM side: array accesses, fills (from DRAM or an on-chip buffer) and the drain of the outputs.
    sram_if_bytes = (sram_if + dram_if) * ib
    sram_f_bytes = (sram_f + dram_f) * ib
    sram_of_bytes = (of_writes + of_reads + psum_words) * ab + m * n * ib
    # DRAM side: only operands that are not on chip.
    onchip_f = np.where(b_on, dram_f, 0)
    dram_if, dram_f = np.where(a_on, 0, dram_if), np.where(b_on, 0, dram_f)
    dram_of_w = np.where(c_on, dram_of_w - m * n, dram_of_w)
    dram_bytes = (dram_if + dram_f) * ib + np.where(c_on, 0, m * n) * ib + psum_words * ab

    # Double-buffered bandwidth model: the first fold's operand tiles must arrive before the array starts.
    bpc = accel.dram_bytes_per_cycle
    if df is Dataflow.OS:
        first_a, first_b = np.minimum(m, rows) * k, k * np.minimum(n, cols)
    elif df is Dataflow.WS:
        first_a, first_b = m * np.minimum(k, rows), np.minimum(k, rows) * np.minimum(n, cols)
    else:
        first_a, first_b = np.minimum(k, rows) * np.minimum(m, cols), np.minimum(k, rows) * n
    first = np.where(a_on, 0, first_a) + np.where(b_on, 0, first_b)
    prologue = np.ceil(first * ib / bpc).astype(np.int64)
    dram_cycles = np.ceil(dram_bytes / bpc).astype(np.int64)
    total = np.maximum(compute, dram_cycles) + prologue

    macs = m * n * k
    r = np.where(live, repeat, 0)
    # max(., 1): SCALE-Sim counts 0 cycles for a 1x1x1 GEMM on a 1x1 OS array (fold of 1 cycle, minus 1).
    util = np.where(live, macs / (np.maximum(compute, 1) * rows * cols), 0.0)
    util_stalls = np.where(live, macs / (np.maximum(total, 1) * rows * cols), 0.0)
    map_eff = np.where(live, sr * sc / (folds * rows * cols), 0.0)
    return GemmCost(
        macs=_py(macs * r),
        row_folds=_py(row_folds * live),
        col_folds=_py(col_folds * live),
        folds=_py(folds * live),
        compute_cycles=_py(compute * r),
        stall_cycles=_py((total - compute) * r),
        total_cycles=_py(total * r),
        sram_ifmap_reads=_py(sram_if * r),
        sram_filter_reads=_py(sram_f * r),
        sram_ofmap_writes=_py(of_writes * r),
        sram_ofmap_reads=_py(of_reads * r),
        dram_ifmap_reads=_py(dram_if * r),
        dram_filter_reads=_py(dram_f * r),
        dram_ofmap_writes=_py(dram_of_w * r),
        onchip_filter_reads=_py(onchip_f * r),
        sram_ifmap_bytes=_py(sram_if_bytes * r),
        sram_filter_bytes=_py(sram_f_bytes * r),
        sram_ofmap_bytes=_py(sram_of_bytes * r),
        dram_bytes=_py(dram_bytes * r),
        mapping_efficiency=_py(map_eff),
        utilization=_py(util),
        utilization_with_stalls=_py(util_stalls),
    )


def _py(x):
    """0-d numpy values -> Python int/float; arrays pass through."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return x.item()
    if isinstance(x, np.generic):
        return x.item()
    return x
