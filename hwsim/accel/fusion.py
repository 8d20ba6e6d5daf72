"""Fused attention (``fuse_attention``): one head's scores, softmax and values as one on-chip kernel.

FlashAttention (Dao et al., NeurIPS 2022) / FLAT (Kao et al., ASPLOS 2023) style, for an All-Attention head whose
keys are [memory + segment keys with relative positions ; N persistent keys] in one softmax (mapping.md): the
queries are cut into blocks of Tq rows and the keys into blocks of Bk; for each query block the kernel walks
the key blocks (the persistent keys are simply more key blocks, without position scores), computing

  S = (q+u) K_blk^T + (q+v) R_win^T      content and position scores accumulate into one Tq x Bk tile
  online softmax: running row max m and sum l; P = exp(S - m) into the ifmap buffer
  O = O * exp(m_old - m_new) + P V_blk   output tile rescaled, then accumulated

so scores and probabilities never leave the chip. The relative shift needs, for a key block, the position keys of
Bk + Tq - 1 relative distances (a sliding window of R rows); the MACs are those of the separate GEMMs.

Buffers, in words. What streams per key block is double-buffered (two copies, as in the GEMM mapping rule);
what stays for the whole query block (Q, O, running max and sum) is held once:
  ifmap (input_bits):  Q block Tq*dh + 2 P tiles Tq*Bk
  filter (input_bits): 2 x (K block Bk*dh + V block Bk*dh + R window (Bk + Tq - 1)*dh)
  accumulator (acc_bits): 2 S tiles Tq*Bk + O tile Tq*dh + running max and sum 2*Tq
DRAM per head (words): Q and O once; K, R, V (L*dh each) and the persistent K, V (N*dh each) once per query block,
unless held on chip (resident activations; persistent K/V are weights). The search picks the query block with
the fewest query blocks (DRAM bytes), then the key block with the fewest cycles (then the largest). Vector work
added by the online softmax, per extra key block of a query row: one correction factor exp(m_old - m_new)
(a softmax element) and dh + 1 rescaling multiplies (O row and l; ``rescale`` elements). A kernel that fits no
block (tiny buffers) is not fused: the layer falls back to the separate GEMMs.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np

from hwsim.accel.config import AccelConfig
from hwsim.accel.mapping import _per_tile, first_fold_words, half_buffers, pipeline_cycles, tile_candidates, tiles_sum


@dataclass(frozen=True, kw_only=True)
class FusedPlan:
    """Per-head counts of the fused kernel (words unless named otherwise)."""

    query_block: int
    key_block: int
    query_blocks: int
    key_blocks: int  # per query row: positional then persistent key blocks
    macs: int
    folds: int
    compute_cycles: int
    fill_cycles: int  # the pipeline's fill and drain inside compute_cycles, paid once for heads run back to back
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int
    sram_ofmap_reads: int
    q_words: int  # Q read once
    kv_words: int  # K, R, V reads over all query blocks
    persistent_words: int  # persistent K and V reads over all query blocks (weights)
    o_words: int  # output written once
    rescale_elements: int
    correction_elements: int  # exp(m_old - m_new) per row per extra key block (softmax-kind work)
    first_words: int  # Q block and first K block: the prologue

    def to_dict(self) -> dict:
        return asdict(self)


def _products(t: int, length: int, n: int, dh: int, tq, bk):
    """(m, n, k, tile_m, tile_n, tile_k) of the five per-block products of the kernel."""
    return (
        (t, length, dh, tq, bk, dh),  # content scores
        (t, length, dh, tq, bk, dh),  # position scores
        (t, n, dh, tq, bk, dh),  # persistent scores
        (t, dh, length, tq, dh, bk),  # probabilities x values
        (t, dh, n, tq, dh, bk),  # probabilities x persistent values
    )


def _sum(accel: AccelConfig, name: str, t: int, length: int, n: int, dh: int, tq, bk):
    per_tile = _per_tile(accel)[name]
    return sum(tiles_sum(per_tile, *p) for p in _products(t, length, n, dh, tq, bk) if min(p[:3]) > 0)


@functools.lru_cache(maxsize=1 << 12)
def fused_plan(t: int, length: int, n: int, dh: int, accel: AccelConfig) -> FusedPlan | None:
    """The block sizes of the fused kernel with the fewest DRAM bytes, then cycles; None if no block fits."""
    half_buffers(accel)  # the same "too small" error as the GEMM mapper
    words_a, words_b, words_c = accel.ifmap_sram_words, accel.filter_sram_words, accel.ofmap_sram_words
    keys = max(length, n)
    tq, bk = (g.ravel() for g in np.meshgrid(tile_candidates(t), np.arange(1, keys + 1), indexing="ij"))
    if accel.unified_scratchpad:  # Q, P tiles and the K/V/R blocks share one scratchpad
        legal = tq * dh + 2 * tq * bk + 2 * (3 * bk + tq - 1) * dh <= words_a
    else:
        legal = (tq * dh + 2 * tq * bk <= words_a) & (2 * (3 * bk + tq - 1) * dh <= words_b)
    legal &= 2 * tq * bk + tq * dh + 2 * tq <= words_c
    if not legal.any():
        return None
    tq, bk = tq[legal], bk[legal]
    n_q = -(-t // tq)
    cycles = _sum(accel, "cycles", t, length, n, dh, tq, bk)
    best = np.lexsort((-bk, cycles, n_q))[0]
    return _plan(t, length, n, dh, accel, int(tq[best]), int(bk[best]))


def _plan(t: int, length: int, n: int, dh: int, accel: AccelConfig, tq: int, bk: int) -> FusedPlan:
    n_q = -(-t // tq)
    key_blocks = -(-length // bk) + -(-n // bk)
    writes = int(_sum(accel, "of_writes", t, length, n, dh, tq, bk))
    fa, fb = first_fold_words(accel, tq, bk, dh)
    return FusedPlan(
        query_block=tq, key_block=bk, query_blocks=n_q, key_blocks=key_blocks,
        macs=3 * t * length * dh + 2 * t * n * dh,
        folds=int(_sum(accel, "folds", t, length, n, dh, tq, bk)),
        compute_cycles=int(_sum(accel, "cycles", t, length, n, dh, tq, bk)) + pipeline_cycles(accel, tq),
        fill_cycles=pipeline_cycles(accel, tq),
        sram_ifmap_reads=int(_sum(accel, "if_reads", t, length, n, dh, tq, bk)),
        sram_filter_reads=int(_sum(accel, "f_reads", t, length, n, dh, tq, bk)),
        sram_ofmap_writes=writes, sram_ofmap_reads=writes - t * (length + n) - t * dh,
        q_words=t * dh, kv_words=n_q * 3 * length * dh, persistent_words=n_q * 2 * n * dh, o_words=t * dh,
        rescale_elements=t * (dh + 1) * (key_blocks - 1), correction_elements=t * (key_blocks - 1),
        first_words=int(fa + fb),
    )  # fmt: skip
