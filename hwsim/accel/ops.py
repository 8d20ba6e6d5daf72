"""Counts of a layer's operators: GEMMs, the fused attention kernel and vector ops, with activation residency.

A layer's operator sequence (``hwsim.workload``) is costed in order. With ``fuse_attention`` (physical mode) the
per-head GEMMs and the softmax run as one kernel (``hwsim.accel.fusion``); otherwise each GEMM alone
(``hwsim.accel.gemm``). With ``activations_on_chip`` the liveness pass (``hwsim.accel.residency``) decides which
activation tensors stay in the ifmap buffer; an operand held on chip costs no DRAM bytes. DRAM bytes are split by
what moves: weights (parameters, incl. the position table and persistent vectors), activations, and spilled
partial sums.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwsim.accel.config import AccelConfig, CostMode
from hwsim.accel.fusion import fused_plan
from hwsim.accel.gemm import back_to_back_cycles, gemm_cost
from hwsim.accel.mapping import best_mapping, packed_bytes
from hwsim.accel.residency import resident_tensors
from hwsim.workload import (
    CACHE_READ_TENSORS,
    CACHE_WRITE_TENSORS,
    POSITION_KEY_TENSOR,
    AttentionCore,
    Gemm,
    LayerWorkload,
    VectorOp,
)


def fused(layer: LayerWorkload, accel: AccelConfig) -> bool:
    """Whether the layer's attention runs as the fused kernel on ``accel``."""
    core = layer.attention
    if core is None or not accel.fuse_attention or accel.mode is not CostMode.PHYSICAL:
        return False
    return fused_plan(core.t, core.length, core.n_persistent, core.d_head, accel) is not None


def schedule(layer: LayerWorkload, accel: AccelConfig) -> tuple[list, frozenset[str]]:
    """(operators to cost in order, resident activation tensors)."""
    fuse = fused(layer, accel)
    sequence = layer.sequence or (*layer.gemms, *layer.vector_ops)
    ops = [op for op in sequence if _runs(op, fuse)]
    if not accel.activations_on_chip:
        return ops, frozenset()
    sizes = {name: elements * accel.input_bytes for name, elements in layer.tensors}
    live_ops = [op for op in ops if not (isinstance(op, VectorOp) and op.fusable and fuse)]
    room = accel.ifmap_sram_bytes // 2  # the other half double-buffers, as in the GEMM mapping rule
    return ops, resident_tensors(live_ops, sizes, layer.inputs, layer.outputs, room)


def _runs(op, fuse: bool) -> bool:
    if isinstance(op, AttentionCore):
        return fuse
    if isinstance(op, Gemm):
        return not (op.fusable and fuse)
    return True


def gemm_op(g: Gemm, accel: AccelConfig, resident: frozenset[str], weights_resident: bool) -> dict[str, Any]:
    """Counts (OP_KEYS) of one GEMM, plus its on-chip operands and mapping."""
    a_on = g.a_tensor in resident
    b_on = weights_resident if g.b_is_weight else g.b_tensor in resident
    c_on = g.c_tensor in resident
    b_bits = accel.array_weight_bits if g.b_is_weight else accel.input_bits
    c = gemm_cost(g.m, g.n, g.k, accel, g.repeat, a_on_chip=a_on, b_on_chip=b_on, c_on_chip=c_on, b_bits=b_bits)
    weight = (c.dram_filter_bytes if g.b_is_weight else 0) + (0 if g.a_tensor else c.dram_ifmap_bytes)
    counts = dict(
        macs=c.macs, array_cycles=c.total_cycles, stall_cycles=c.stall_cycles, sram_ifmap_bytes=c.sram_ifmap_bytes,
        sram_filter_bytes=c.sram_filter_bytes, sram_ofmap_bytes=c.sram_ofmap_bytes,
        sram_weight_bytes=packed_bytes(c.onchip_filter_reads, b_bits) if weights_resident and g.b_is_weight else 0,
        sram_ifmap_write_bytes=c.sram_ifmap_write_bytes, sram_filter_write_bytes=c.sram_filter_write_bytes,
        sram_ofmap_write_bytes=c.sram_ofmap_write_bytes, dram_bytes=c.dram_bytes, dram_ifmap_bytes=c.dram_ifmap_bytes,
        dram_filter_bytes=c.dram_filter_bytes,
        dram_ofmap_bytes=c.dram_ofmap_bytes, dram_weight_bytes=weight, dram_psum_bytes=c.psum_spill_bytes,
        dram_activation_bytes=c.dram_bytes - weight - c.psum_spill_bytes,
        dram_persistent_bytes=c.dram_filter_bytes if g.b_is_weight and g.name.startswith("persistent") else 0,
        dram_position_bytes=c.dram_filter_bytes if g.b_tensor == POSITION_KEY_TENSOR else 0,
        dram_cache_read_bytes=c.dram_filter_bytes if g.b_tensor in CACHE_READ_TENSORS else 0,
        # the finished K/V written to the cache (spilled partial sums are their own class)
        dram_cache_write_bytes=c.dram_ofmap_bytes - c.psum_spill_bytes if g.c_tensor in CACHE_WRITE_TENSORS else 0,
    )  # fmt: skip
    mapping = None
    if accel.mode is CostMode.PHYSICAL and min(g.m, g.n, g.k, g.repeat) > 0:
        mapping = best_mapping(g.m, g.n, g.k, accel, (a_on, b_on, c_on), b_bits).to_dict()
    on = ",".join(x for x, flag in zip("abc", (a_on, b_on, c_on)) if flag)
    return dict(counts=counts, on_chip=on, mapping=mapping)


def attention_op(core: AttentionCore, accel: AccelConfig, resident: frozenset[str], weights_resident: bool) -> dict:
    """Counts of the fused kernel for ``core.repeat`` heads (see hwsim.accel.fusion), plus its extra vector work."""
    plan = fused_plan(core.t, core.length, core.n_persistent, core.d_head, accel)
    ib, ab, r = accel.input_bytes, accel.acc_bytes, core.repeat
    per_kv = plan.kv_words // 3
    q = 0 if "q" in resident else plan.q_words
    kv = sum(0 if name in resident else per_kv for name in ("k", "r", "v"))
    o = 0 if "attn" in resident else plan.o_words
    persistent = 0 if weights_resident else plan.persistent_words
    wb = accel.array_weight_bits  # persistent vectors are weights: packed at the weight width
    pers_bytes, pers_all = packed_bytes(persistent, wb), packed_bytes(plan.persistent_words, wb)
    dram = (q + kv + o) * ib + pers_bytes
    bpc = accel.dram_bytes_per_cycle
    # the r heads run back to back, as a GEMM's instances do
    compute, total = back_to_back_cycles(plan.compute_cycles, plan.fill_cycles, dram, r,
                                         int(np.ceil(plan.first_words * ib / bpc)), bpc)  # fmt: skip
    counts = dict(
        macs=plan.macs * r, array_cycles=total, stall_cycles=total - compute,
        sram_ifmap_bytes=(plan.sram_ifmap_reads + plan.q_words) * ib * r,
        sram_filter_bytes=((plan.sram_filter_reads + plan.kv_words) * ib + pers_all) * r,
        sram_ofmap_bytes=((plan.sram_ofmap_writes + plan.sram_ofmap_reads) * ab + plan.o_words * ib) * r,
        sram_weight_bytes=pers_all * r if weights_resident else 0,
        sram_ifmap_write_bytes=plan.q_words * ib * r,  # Q, K/R/V and persistent vectors are written in once each
        sram_filter_write_bytes=(plan.kv_words * ib + pers_all) * r,
        sram_ofmap_write_bytes=plan.sram_ofmap_writes * ab * r, dram_bytes=dram * r, dram_ifmap_bytes=q * ib * r,
        dram_filter_bytes=(kv * ib + pers_bytes) * r,
        dram_ofmap_bytes=o * ib * r, dram_weight_bytes=pers_bytes * r, dram_psum_bytes=0,
        dram_activation_bytes=(q + kv + o) * ib * r, dram_persistent_bytes=pers_bytes * r,
        dram_position_bytes=0, dram_cache_read_bytes=0, dram_cache_write_bytes=0,
    )  # fmt: skip
    on = ",".join(name for name in ("q", "k", "r", "v", "attn") if name in resident)
    vector = {"rescale": plan.rescale_elements * r, "softmax": plan.correction_elements * r}
    return dict(counts=counts, on_chip=on, mapping=plan.to_dict(), vector=vector)
