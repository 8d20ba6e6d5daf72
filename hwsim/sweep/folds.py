"""Fold-aware pruning: where removing a head saves cycles on a systolic array and where it only saves MACs.

A head's projections are ``d_head`` columns wide (``q/k/v/r_proj`` have n = h * d_head, ``out_proj`` has
k = h * d_head). The dataflow puts two GEMM dimensions on the array (``hwsim.accel.gemm.mapping``): where the
head width lands on an array dimension of size A, the GEMM takes ceil(h * d_head / A) folds, so with d_head 64 on
a 128-wide array an odd head count leaves a half-empty fold that costs as many cycles as a full one. The per-head
GEMMs (scores, attention x values) repeat once per head and scale linearly; they never round.

A head count is **aligned** on an accelerator when every head-width dimension that lands on the array fills whole
folds (h * d_head a multiple of that array dimension); 0 and n_heads are always kept as anchors. The **cycles lost to
fold rounding** at h are its cycles minus the straight line between the nearest anchors below and above it (what
the layer would take if the partly empty fold cost in proportion to its heads): 0 at every anchor.

Cycles and MACs per head count come from :func:`hwsim.accel.batch.layer_table` (one layer, every h at once, the
same numbers ``cost_many`` sums); fold counts from :func:`hwsim.accel.gemm.mapping` on the workload's GEMMs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.accel.config import AccelConfig
from hwsim.spec import ModelSpec


@dataclass(frozen=True, kw_only=True)
class FoldTable:
    """One transformer layer on one accelerator, for every head count h = 0..n_heads (arrays of length n_heads+1)."""

    heads: np.ndarray
    macs: np.ndarray
    cycles: np.ndarray
    width_folds: np.ndarray  # folds of the head-width GEMMs (sum of row_folds * col_folds over them)
    aligned: np.ndarray  # bool: every head-width dimension on the array fills whole folds
    lost_cycles: np.ndarray  # cycles above the line between the nearest aligned anchors

    def mac_saving(self, h: int) -> float:
        """Fraction of the unpruned layer's MACs saved by keeping h heads."""
        return float(1.0 - self.macs[h] / self.macs[-1]) if self.macs[-1] else 0.0

    def cycle_saving(self, h: int) -> float:
        """Fraction of the unpruned layer's cycles saved by keeping h heads."""
        return float(1.0 - self.cycles[h] / self.cycles[-1]) if self.cycles[-1] else 0.0


def _width_gemms(spec: ModelSpec, heads: np.ndarray, batch: int):
    """The attention GEMMs whose shape (not repeat count) changes with the heads kept."""
    from hwsim.workload import attention_gemms

    one, two = attention_gemms(spec, 1, batch), attention_gemms(spec, 2, batch)
    names = {a.name for a, b in zip(one, two) if (a.m, a.n, a.k) != (b.m, b.n, b.k)}
    return [g for g in attention_gemms(spec, heads, batch) if g.name in names]


def aligned_heads(spec: ModelSpec, accel: AccelConfig, batch: int = 1) -> np.ndarray:
    """Bool (n_heads + 1,): head counts whose head-width GEMM dimensions fill whole folds (0 and n_heads always)."""
    from hwsim.accel.gemm import mapping

    heads = np.arange(spec.n_heads + 1, dtype=np.int64)
    ok = np.ones(heads.shape, dtype=bool)
    for g in _width_gemms(spec, heads, batch):
        sr, sc, _ = (np.broadcast_to(np.asarray(x, dtype=np.int64), heads.shape) for x in mapping(
            accel.dataflow, g.m, g.n, g.k))
        if np.unique(sr).size > 1:  # the head width is on the array rows
            ok &= sr % accel.rows == 0
        if np.unique(sc).size > 1:  # ... on the array columns
            ok &= sc % accel.cols == 0
    ok[0] = ok[-1] = True
    return ok


def fold_table(spec: ModelSpec, accel: AccelConfig, batch: int = 1) -> FoldTable:
    from hwsim.accel.batch import INT_KEYS, layer_table
    from hwsim.accel.gemm import mapping

    heads = np.arange(spec.n_heads + 1, dtype=np.int64)
    ints, _ = layer_table(spec, accel.for_model(spec), batch)
    cycles = ints[:, INT_KEYS.index("cycles")]
    macs = ints[:, INT_KEYS.index("macs")]
    folds = np.zeros(heads.shape, dtype=np.int64)
    for g in _width_gemms(spec, heads, batch):
        sr, sc, _ = mapping(accel.dataflow, np.asarray(g.m), np.asarray(g.n), np.asarray(g.k))
        live = (np.asarray(g.m) > 0) & (np.asarray(g.n) > 0) & (np.asarray(g.k) > 0)
        folds = folds + np.where(live, -(-sr // accel.rows) * -(-sc // accel.cols), 0)
    aligned = aligned_heads(spec, accel, batch)
    anchors = heads[aligned]
    line = np.interp(heads, anchors, cycles[aligned].astype(np.float64))
    return FoldTable(heads=heads, macs=macs, cycles=cycles, width_folds=folds,
                     aligned=aligned, lost_cycles=cycles - line)


def aligned_on_all(spec: ModelSpec, accels: list[AccelConfig], batch: int = 1) -> np.ndarray:
    """Head counts aligned on every accelerator of a grid (``--align``), ascending."""
    ok = np.ones(spec.n_heads + 1, dtype=bool)
    for accel in accels:
        ok &= aligned_heads(spec, accel, batch)
    return np.flatnonzero(ok)


def layer_rows(spec: ModelSpec, accel: AccelConfig, heads: tuple[int, ...], batch: int = 1) -> list[dict]:
    """Per layer of one heads vector: MACs saved next to cycles saved, cycles lost to fold rounding, aligned."""
    table = fold_table(spec, accel, batch)
    return [{
        "layer": i, "heads": int(h), "mac_saving": table.mac_saving(h), "cycle_saving": table.cycle_saving(h),
        "lost_cycles": float(table.lost_cycles[h]), "aligned": bool(table.aligned[h]),
        "width_folds": int(table.width_folds[h]), "full_width_folds": int(table.width_folds[-1]),
    } for i, h in enumerate(heads)]
