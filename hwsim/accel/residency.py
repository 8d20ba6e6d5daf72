"""Which activation tensors of a layer stay on chip: a liveness pass over the layer's operator sequence.

With ``activations_on_chip`` the activations live in the ifmap buffer, of which half is available (the other half
double-buffers the tiles being fetched, as in the GEMM mapping rule). A tensor is live from the operator that
writes it (the layer's inputs: from the start, written by the previous layer) to the last operator that reads it
(the layer's outputs: to the end, read by the next layer). Tensors are placed in the order they are produced: one
stays on chip iff, at every moment of its life, it and every tensor already placed that is live at that moment fit
the buffer; otherwise it is written to DRAM and read back by its consumers (the GEMM and attention costs then
charge that traffic, and the layer reports it as ``spill_bytes``).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np


def op_tensors(op) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(reads, writes) activation tensors of a Gemm, VectorOp or AttentionCore."""
    if hasattr(op, "a_tensor"):
        reads = tuple(t for t in (op.a_tensor, op.b_tensor) if t)
        return reads, (op.c_tensor,) if op.c_tensor else ()
    if hasattr(op, "reads"):
        return op.reads, op.writes
    return ("q", "k", "r", "v"), ("attn",)  # the fused attention core


def resident_tensors(
    ops: Iterable, sizes_bytes: dict[str, int], inputs: Iterable[str], outputs: Iterable[str], capacity_bytes: int
) -> frozenset[str]:
    """The tensors that stay on chip (see module docstring); ``ops`` in execution order."""
    ops = list(ops)
    end = len(ops)
    start: dict[str, int] = {name: -1 for name in inputs}
    last: dict[str, int] = {}
    for i, op in enumerate(ops):
        reads, writes = op_tensors(op)
        for name in writes:
            start.setdefault(name, i)
        for name in (*reads, *writes):
            last[name] = i
    for name in outputs:
        if name in start:
            last[name] = end
    occupancy = np.zeros(end + 2, dtype=np.int64)  # index i + 1 is the moment of operator i; 0 is before op 0
    resident = []
    for name in sorted(start, key=lambda t: (start[t], t)):
        lo, hi = start[name] + 1, last.get(name, start[name]) + 1
        size = sizes_bytes.get(name, 0)
        if size > 0 and occupancy[lo : hi + 1].max() + size <= capacity_bytes:
            occupancy[lo : hi + 1] += size
            resident.append(name)
    return frozenset(resident)
