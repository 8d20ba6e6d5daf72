"""What stays on chip from one decode step to the next (a deployed LM generating token by token).

A segment pass streams its weights once per segment; a decode step would stream every kept weight, the persistent
vectors, the position keys and the whole cache for every token, unless they stay on chip between tokens. Decided
once per (model, heads, accelerator, batch, context), for the whole model, in this order:

  weights        on a ``weights_on_chip`` design they live in its weight SRAM (sized to them); otherwise they stay
                 iff all kept layer parameters (persistent vectors included) fit in half of the filter buffer (the
                 other half double-buffers the streamed operands, as in the GEMM mapping rule); with a unified
                 scratchpad, half of it, which the position keys and the cache then share
  position keys  R W_r for every distance up to M + T - 1, per layer and head (``hwsim.workload``'s decode step):
                 they stay iff they fit in what is left of that half
  cache          the keys and values of every cached token after this step's write, per layer: they stay iff they
                 fit in half of the ifmap buffer (the other half holds the step's activations)
  scores         an accelerator that fuses attention keeps one head's scores and probabilities on chip (what the
                 fused kernel promises): for a decode step, B x (3L + 2N) words per head, iff they fit in that half

What does not stay is read from DRAM at every step (the cost charges it by class: weights, persistent vectors,
position keys, cache reads, cache writes, activations). The rule is the same for one configuration (``model_cost``)
and for many at once (``hwsim.accel.batch``): ints or int arrays.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from hwsim.accel.config import AccelConfig, CostMode
from hwsim.accel.mapping import packed_bytes
from hwsim.spec import ModelSpec
from hwsim.workload import CACHE_READ_TENSORS, CACHE_WRITE_TENSORS, POSITION_KEY_TENSOR, Step, layer_params

SCORE_TENSORS = ("s_content", "s_position", "s_persistent", "probs")


@dataclass(frozen=True)
class Kept:
    """Which classes stay on chip between decode steps (module docstring)."""

    weights: bool
    position_keys: bool
    cache: bool
    scores: bool

    def tensors(self) -> frozenset[str]:
        """The decode step's tensors held on chip (the weights are the layers' ``weights_resident`` flag)."""
        names: tuple[str, ...] = ()
        if self.position_keys:
            names += (POSITION_KEY_TENSOR,)
        if self.cache:
            names += CACHE_READ_TENSORS + CACHE_WRITE_TENSORS
        if self.scores:
            names += SCORE_TENSORS
        return frozenset(names)


@functools.lru_cache(maxsize=256)
def per_head_count_bytes(spec: ModelSpec, accel: AccelConfig, batch: int, context: int) -> np.ndarray:
    """(n_heads + 1, 3) int64: a layer's (parameter, position-key, cache) bytes for h = 0..n_heads heads kept."""
    h = np.arange(spec.n_heads + 1, dtype=np.int64)
    bits = accel.array_weight_bits  # the design's weight width (model_cost resolves it with for_model)
    params = np.array([packed_bytes(int(layer_params(spec, int(x))), bits) for x in h], dtype=np.int64)
    keys = h * spec.d_head * spec.context_len * accel.input_bytes  # distances 0..M+T-1: M+T columns per head
    cache = 2 * batch * h * spec.d_head * (context + 1) * accel.input_bytes
    return np.stack([params, keys, cache], axis=1)


def footprint(spec: ModelSpec, accel: AccelConfig, heads: np.ndarray, batch: int, step: Step) -> np.ndarray:
    """(..., 3) bytes of (kept parameters, position keys, cache) of each heads vector (the last axis of ``heads``)."""
    table = per_head_count_bytes(spec, accel, int(batch), step.cached)
    heads = np.asarray(heads, dtype=np.int64)
    return np.stack([np.take(table[:, j], heads).sum(axis=-1) for j in range(3)], axis=-1)


def kept_flags(accel: AccelConfig, spec: ModelSpec, batch: int, step: Step, sizes: np.ndarray):
    """(weights, position keys, cache, scores) flags from :func:`footprint` sizes (arrays over configurations)."""
    params, keys, cache = sizes[..., 0], sizes[..., 1], sizes[..., 2]
    half_filter = accel.weight_buffer_bytes // 2
    weights = np.logical_or(accel.weights_on_chip, params <= half_filter)
    used = np.where(weights & (not accel.weights_on_chip), params, 0)
    position_keys = keys <= half_filter - used
    room = accel.ifmap_sram_bytes // 2
    if accel.unified_scratchpad:  # the cache shares the scratchpad's half with what the weights already hold
        room = room - used - np.where(position_keys, keys, 0)
    cached = cache <= room
    per_head_scores = batch * (3 * step.keys + 2 * spec.n_persistent) * accel.input_bytes
    scores = bool(accel.fuse_attention and accel.mode is CostMode.PHYSICAL
                  and per_head_scores <= accel.ifmap_sram_bytes // 2)  # fmt: skip
    return weights, position_keys, cached, np.full(np.shape(weights), scores)


def decode_kept(accel: AccelConfig, spec: ModelSpec, heads, batch: int, step: Step) -> tuple[Kept, int]:
    """The :class:`Kept` of one heads vector, and its cache bytes."""
    sizes = footprint(spec, accel, np.asarray(heads), batch, step)
    flags = kept_flags(accel, spec, batch, step, sizes)
    return Kept(*(bool(f) for f in flags)), int(sizes[2])
