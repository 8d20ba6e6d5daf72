"""Cost of one GEMM C[m x n] = A[m x k] @ B[k x n] on an R x C systolic array (SCALE-Sim compatible).

A is the ifmap, B the filter, C the ofmap (SCALE-Sim's GEMM convention, scalesim.md §2). Every function works on
Python ints *and* on int numpy arrays (broadcasting), so the vectorised path (``hwsim.accel.batch``) runs the same
formulas. Counts are in words; ``repeat`` independent instances run back to back: in physical mode they share one
pipeline fill and drain and one prologue, and DRAM overlaps them all (as consecutive loop_ws calls stream through
Gemmini's execute pipeline, hwsim.accel.gemmini); work counts (MACs, SRAM and DRAM) are ``repeat`` times one
instance's; in scalesim mode every instance is a separate SCALE-Sim run.

Mapping (scalesim.md §3): the dataflow puts two GEMM dimensions on the array (Sr rows, Sc columns) and streams the
third over time (T); folds = ceil(Sr/R) * ceil(Sc/C).

**scalesim mode** reproduces SCALE-Sim v3 exactly (compute cycles, SRAM reads/writes per operand):
  cycles per fold = R + C + T - 2 (os) or 2R + C + T - 2 (ws/is: R cycles of weight/input preload);
  compute cycles = folds * cycles_per_fold - 1; full R, C even for partial edge folds;
  os ofmap writes carry SCALE-Sim's spurious +folds*(R+C); ws/is write every K-fold partial sum and never read it.
  DRAM counts follow SCALE-Sim's CALC-mode reuse rules (scalesim.md §3, threshold = half of each SRAM): ifmap and
  filter reads exact except os filter reads (SCALE-Sim's FIFO sets make them 0.9-1.3x the closed form, measured),
  ofmap writes 0..127 words below SCALE-Sim's (its drain padding).
**physical mode** (the default for model costs) tiles the GEMM with the mapping search of
``hwsim.accel.mapping`` (tile sizes and loop order with the fewest DRAM bytes under double buffering; ties: fewer
cycles) and runs SCALE-Sim's fold schedule inside each tile, without what SCALE-Sim does unphysically:
  consecutive folds and tiles overlap (the next fold's preload / the previous fold's drain of R cycles hides behind
  T cycles of streaming, as in Gemmini's double-buffered mesh and TPUv1's weight FIFO): compute = sum over tiles of
  folds * max(T, R), plus 2R + C - 3 once (equal to SCALE-Sim for one fold with T >= R);
  os writes each output once per K tile; every accumulation after an output's first reads its partial sum back;
  partial sums that leave the accumulator (the C tile is restarted) go to DRAM and come back at acc_bits.
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

import math
from dataclasses import dataclass, fields
from typing import Union

import numpy as np

from hwsim.accel.config import AccelConfig, CostMode, Dataflow
from hwsim.accel.mapping import best_mapping, first_fold_words, packed_bytes

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
    sram_ifmap_write_bytes: IntLike  # the part of sram_ifmap_bytes that writes the SRAM (fills)
    sram_filter_write_bytes: IntLike  # likewise (fills)
    sram_ofmap_write_bytes: IntLike  # partial-sum and output writes, spilled partial sums written back
    dram_bytes: IntLike  # ifmap/filter at input width, final outputs at input width, partial sums at acc width
    mapping_efficiency: float | np.ndarray  # mean over folds of used PEs / (R * C)
    utilization: float | np.ndarray  # macs / (compute_cycles * R * C): SCALE-Sim's CALC-mode "Overall Util" / 100
    utilization_with_stalls: float | np.ndarray  # macs / (total_cycles * R * C)
    dram_psum_reads: IntLike  # spilled partial sums read back from DRAM (physical mode)
    dram_ifmap_bytes: IntLike  # dram_bytes split by operand: A reads, B reads, C (outputs + partial sums)
    dram_filter_bytes: IntLike
    dram_ofmap_bytes: IntLike
    psum_spill_bytes: IntLike  # partial sums written to and read back from DRAM, at acc width
    onchip_ifmap_reads: IntLike  # A words filled from an on-chip buffer instead of DRAM (a_on_chip)
    onchip_ofmap_writes: IntLike  # output words written to an on-chip buffer instead of DRAM (c_on_chip)

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


def _scalar(x) -> bool:
    """A Python or numpy scalar (or 0-d array): the one-GEMM path."""
    return not (isinstance(x, np.ndarray) and x.ndim > 0)


def _where(cond, a, b):
    """np.where, with a plain branch for a scalar condition (scalars stay Python numbers: several times faster)."""
    if _scalar(cond):
        return a if cond else b
    return np.where(cond, a, b)


def _maximum(a, b):
    return max(a, b) if _scalar(a) and _scalar(b) else np.maximum(a, b)


def _ceil_int(x):
    return math.ceil(x) if _scalar(x) else np.ceil(x).astype(np.int64)


def _ceil_div(a, b):
    return -(-a // b)


def gemm_cost(
    m: IntLike, n: IntLike, k: IntLike, accel: AccelConfig, repeat: IntLike = 1, *,
    a_on_chip=False, b_on_chip=False, c_on_chip=False, b_bits: int | None = None,
) -> GemmCost:  # fmt: skip
    """Cost of ``repeat`` instances of an m x k by k x n GEMM on ``accel`` (see module docstring); ``b_bits``: the
    width of the B operand (default input_bits; a weight operand's is the accelerator's weight width, packed)."""
    bb = b_bits or accel.input_bits
    if all(_scalar(x) for x in (m, n, k, repeat, a_on_chip, b_on_chip, c_on_chip)):
        # one GEMM: Python ints and bools, the same formulas without numpy's per-operation overhead
        m, n, k, repeat = (int(x) for x in (m, n, k, repeat))
        a_on, b_on, c_on = (bool(x) for x in (a_on_chip, b_on_chip, c_on_chip))
        live = m > 0 and n > 0 and k > 0 and repeat > 0
        m, n, k = (m, n, k) if live else (1, 1, 1)
    else:
        m, n, k, repeat = (np.asarray(x, dtype=np.int64) for x in (m, n, k, repeat))
        a_on, b_on, c_on = (np.asarray(x, dtype=bool) for x in (a_on_chip, b_on_chip, c_on_chip))
        live = (m > 0) & (n > 0) & (k > 0) & (repeat > 0)
        # Dead entries are computed on 1 x 1 x 1 and masked to 0 at the end (no -1 cycles, no division by zero).
        m, n, k = (np.where(live, x, 1) for x in (m, n, k))
    if accel.mode is CostMode.SCALESIM:
        c = _scalesim_counts(m, n, k, accel, a_on, b_on, c_on, bb)
    else:
        c = _physical_counts(m, n, k, accel, a_on, b_on, c_on, bb)
    rows, cols = accel.rows, accel.cols
    ib, ab = accel.input_bytes, accel.acc_bytes
    # Double-buffered bandwidth model: the first fold's operand tiles must arrive before the array starts.
    bpc = accel.dram_bytes_per_cycle
    first = _where(a_on, 0, c["first_a"] * ib) + _where(b_on, 0, packed_bytes(c["first_b"], bb))
    prologue = _ceil_int(first / bpc)
    r = _where(live, repeat, 0)
    if accel.mode is CostMode.SCALESIM:  # SCALE-Sim has no instances: each is a separate run
        compute, total = c["compute"] * r, (_maximum(c["compute"], _ceil_int(c["dram_bytes"] / bpc)) + prologue) * r
    else:
        compute, total = back_to_back_cycles(c["compute"], c["fill"], c["dram_bytes"], r, prologue, bpc)

    macs = m * n * k
    # max(., 1): SCALE-Sim counts 0 cycles for a 1x1x1 GEMM on a 1x1 OS array (fold of 1 cycle, minus 1).
    util = _where(live, r * macs / (_maximum(compute, 1) * rows * cols), 0.0)
    util_stalls = _where(live, r * macs / (_maximum(total, 1) * rows * cols), 0.0)
    map_eff = _where(live, c["used"] / (c["folds"] * rows * cols), 0.0)
    mn = m * n
    per_instance = dict(
        macs=macs, sram_ifmap_reads=c["sram_if"], sram_filter_reads=c["sram_f"], sram_ofmap_writes=c["of_writes"],
        sram_ofmap_reads=c["of_reads"], dram_ifmap_reads=c["dram_if"], dram_filter_reads=c["dram_f"],
        dram_ofmap_writes=c["dram_of_w"], onchip_filter_reads=c["onchip_f"], sram_ifmap_bytes=c["sram_if_bytes"],
        sram_filter_bytes=c["sram_f_bytes"], sram_ofmap_bytes=c["sram_of_bytes"], dram_bytes=c["dram_bytes"],
        sram_ifmap_write_bytes=c["fill_if"] * ib, sram_filter_write_bytes=packed_bytes(c["fill_f"], bb),
        sram_ofmap_write_bytes=c["sram_of_write_bytes"], dram_psum_reads=c["psum_reads"],
        dram_ifmap_bytes=c["dram_if"] * ib, dram_filter_bytes=packed_bytes(c["dram_f"], bb),
        dram_ofmap_bytes=c["dram_bytes"] - c["dram_if"] * ib - packed_bytes(c["dram_f"], bb),
        psum_spill_bytes=(c["psum_words"] + c["psum_reads"]) * ab, onchip_ifmap_reads=c["onchip_if"],
        onchip_ofmap_writes=_where(c_on, mn, 0),
    )  # fmt: skip
    return GemmCost(
        **{key: _py(value * r) for key, value in per_instance.items()},
        compute_cycles=_py(compute), stall_cycles=_py(total - compute), total_cycles=_py(total),
        row_folds=_py(c["row_folds"] * live), col_folds=_py(c["col_folds"] * live), folds=_py(c["folds"] * live),
        mapping_efficiency=_py(map_eff), utilization=_py(util), utilization_with_stalls=_py(util_stalls),
    )  # fmt: skip


def back_to_back_cycles(compute, fill, dram_bytes, repeat, prologue, bpc: float):
    """(compute, total) cycles of ``repeat`` instances run back to back in physical mode (a GEMM's instances, the
    fused kernel's heads): one pipeline fill and drain, one prologue, the DRAM of all of them overlapped with
    compute. ``compute`` includes one ``fill``; ints or int arrays; repeat 0 costs (0, 0)."""
    live = repeat > 0
    compute_all = repeat * (compute - fill) + _where(live, fill, 0)
    return compute_all, _where(live, _maximum(compute_all, _ceil_int(dram_bytes * repeat / bpc)) + prologue, 0)


def _scalesim_counts(m, n, k, accel: AccelConfig, a_on, b_on, c_on, bb: int) -> dict:
    """Per-instance counts in scalesim mode (SCALE-Sim v3's fixed loop order; see the module docstring)."""
    df, rows, cols = accel.dataflow, accel.rows, accel.cols
    sr, sc, t = mapping(df, m, n, k)
    row_folds, col_folds = _ceil_div(sr, rows), _ceil_div(sc, cols)
    folds = row_folds * col_folds
    half_if, half_f = accel.ifmap_sram_words // 2, accel.filter_sram_words // 2
    compute = folds * cycles_per_fold(df, rows, cols, t) - 1
    # SRAM accesses by the array (scalesim.md §3 closed forms).
    if df is Dataflow.OS:
        sram_if, sram_f = m * k * col_folds, k * n * row_folds
        of_writes = m * n + folds * (rows + cols)
    elif df is Dataflow.WS:
        sram_if, sram_f = m * k * col_folds, k * n
        of_writes = m * n * row_folds  # one partial-sum tile per K-fold (row fold)
    else:
        sram_if, sram_f = m * k, k * n * col_folds
        of_writes = m * n * row_folds
    of_reads = 0 * m
    # DRAM traffic: reuse when an operand fits in the active half of its double-buffered SRAM.
    if df is Dataflow.IS:
        dram_if = m * k
        dram_f = _where(k * n <= half_f, k * n, k * n * col_folds)
    else:
        dram_if = _where(m * k <= half_if, m * k, m * k * col_folds)
        if df is Dataflow.OS:  # a K x C filter column tile is reused across the inner M tiles only if it fits
            dram_f = _where(k * min(n, cols) <= half_f if _scalar(n) else k * np.minimum(n, cols) <= half_f,
                            k * n, k * n * row_folds)  # fmt: skip
        else:
            dram_f = k * n
    # Outputs leave once; SCALE-Sim also sends every ws/is K-fold partial sum to DRAM (never read back).
    dram_of_w = m * n * row_folds if df is not Dataflow.OS else m * n
    ib, ab = accel.input_bytes, accel.acc_bytes
    psum_words = dram_of_w - m * n
    first_a, first_b = first_fold_words(accel, m, n, k)
    return _finish_counts(
        m, n, accel, a_on, b_on, c_on, bb, dict(
            row_folds=row_folds, col_folds=col_folds, folds=folds, compute=compute, used=sr * sc,
            sram_if=sram_if, sram_f=sram_f, of_writes=of_writes, of_reads=of_reads, fill_if=dram_if, fill_f=dram_f,
            dram_of_w=dram_of_w, psum_words=psum_words, psum_reads=0 * m,
            sram_of_bytes=(of_writes + of_reads + psum_words) * ab + m * n * ib, sram_of_write_bytes=of_writes * ab,
            first_a=first_a, first_b=first_b,
        ),
    )  # fmt: skip


def _physical_counts(m, n, k, accel: AccelConfig, a_on, b_on, c_on, bb: int) -> dict:
    """Per-instance counts in physical mode from the searched mapping (one search per distinct shape)."""
    if _scalar(m) and _scalar(n) and _scalar(k) and _scalar(a_on):
        mp = best_mapping(m, n, k, accel, (bool(a_on), bool(b_on), bool(c_on)), bb)
        return _mapping_counts(m, n, k, accel, a_on, b_on, c_on, bb, lambda name: getattr(mp, name))
    shape = np.broadcast_shapes(m.shape, n.shape, k.shape, a_on.shape, b_on.shape, c_on.shape)
    flat = [np.broadcast_to(x, shape).ravel() for x in (m, n, k, a_on, b_on, c_on)]
    keys = np.stack([x.astype(np.int64) for x in flat], axis=1)
    uniq, index = np.unique(keys, axis=0, return_inverse=True)
    maps = [best_mapping(int(a), int(b), int(c), accel, (bool(x), bool(y), bool(z)), bb)
            for a, b, c, x, y, z in uniq]  # fmt: skip

    def field(name: str) -> np.ndarray:
        values = np.array([getattr(mp, name) for mp in maps], dtype=np.int64)
        return values[index.reshape(-1)].reshape(shape)

    return _mapping_counts(m, n, k, accel, a_on, b_on, c_on, bb, field)


def _mapping_counts(m, n, k, accel: AccelConfig, a_on, b_on, c_on, bb: int, field) -> dict:
    """Counts from the mapping fields (``field(name)``: an int or an array over the GEMMs)."""
    df, rows, cols = accel.dataflow, accel.rows, accel.cols
    sr, sc, _ = mapping(df, m, n, k)
    ib, ab = accel.input_bytes, accel.acc_bytes
    of_w, of_r, psum = field("sram_ofmap_writes"), field("sram_ofmap_reads"), field("psum_spill_words")
    mn = m * n
    return _finish_counts(
        m, n, accel, a_on, b_on, c_on, bb, dict(
            row_folds=_ceil_div(sr, rows) + 0 * of_w, col_folds=_ceil_div(sc, cols) + 0 * of_w,  # full shape
            folds=field("folds"), compute=field("compute_cycles"), fill=field("fill_cycles"), used=field("used_pe_folds"),
            sram_if=field("sram_ifmap_reads"), sram_f=field("sram_filter_reads"), of_writes=of_w, of_reads=of_r,
            fill_if=field("fill_a_words"), fill_f=field("fill_b_words"), dram_of_w=mn + psum, psum_words=psum,
            psum_reads=psum, sram_of_bytes=(of_w + of_r + 2 * psum) * ab + mn * ib,
            sram_of_write_bytes=(of_w + psum) * ab,  # spilled partial sums come back in through a write
            first_a=field("first_a_words"), first_b=field("first_b_words"),
        ),
    )  # fmt: skip


def _finish_counts(m, n, accel: AccelConfig, a_on, b_on, c_on, bb: int, c: dict) -> dict:
    """SRAM fill bytes and DRAM counts: operands held on chip are filled from their buffer, not DRAM; B words are
    ``bb`` bits wide (packed)."""
    ib, ab = accel.input_bytes, accel.acc_bytes
    mn = m * n
    c["sram_if_bytes"] = (c["sram_if"] + c["fill_if"]) * ib
    c["sram_f_bytes"] = packed_bytes(c["sram_f"] + c["fill_f"], bb)
    c["onchip_f"] = _where(b_on, c["fill_f"], 0)
    c["onchip_if"] = _where(a_on, c["fill_if"], 0)
    c["dram_if"] = _where(a_on, 0, c["fill_if"])
    c["dram_f"] = _where(b_on, 0, c["fill_f"])
    c["dram_of_w"] = _where(c_on, c["dram_of_w"] - mn, c["dram_of_w"])
    c["dram_bytes"] = (
        c["dram_if"] * ib + packed_bytes(c["dram_f"], bb) + _where(c_on, 0, mn) * ib
        + (c["psum_words"] + c["psum_reads"]) * ab
    )
    return c


def gemm_report(m: int, n: int, k: int, accel: AccelConfig, repeat: int = 1) -> dict:
    """``hwsim gemm``'s output: the shape, the array, every count, latency and (physical mode) the mapping."""
    cost = gemm_cost(m, n, k, accel, repeat).to_dict()
    result = {"m": m, "n": n, "k": k, "repeat": repeat, "accel": accel.name, "rows": accel.rows, "cols": accel.cols,
              "dataflow": accel.dataflow.value, "mode": accel.mode.value, "schedule": accel.schedule.value,
              **cost}  # fmt: skip
    result["latency_s"] = result["total_cycles"] / accel.clock_hz
    physical = accel.mode is CostMode.PHYSICAL and min(m, n, k, repeat) > 0
    result["mapping"] = best_mapping(m, n, k, accel).to_dict() if physical else None
    return result


def _py(x):
    """0-d numpy values -> Python int/float; arrays pass through."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return x.item()
    if isinstance(x, np.generic):
        return x.item()
    return x
