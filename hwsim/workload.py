"""Model spec + heads-per-layer -> per-layer operations (GEMMs, vector ops) and parameters.

The operations are exactly the matrix products the torch models in ``hwsim.nn`` run for one segment of
``segment_len`` tokens with a full memory of ``memory_len`` states (steady state), batch ``batch``:

per layer with h heads kept (h*d_head channels), L = T + M:
  q_proj        (B*T) x d  @ d x (h*dh)          weights
  k_proj        (B*L) x d  @ d x (h*dh)          weights (keys recomputed over memory + segment, as S2 does)
  v_proj        (B*L) x d  @ d x (h*dh)          weights
  r_proj        L x d      @ d x (h*dh)          weights, once per segment (batch-independent position keys)
  content_scores     T x dh @ dh x L      repeated B*h   ((q+u) k^T)
  position_scores    T x dh @ dh x L      repeated B*h   ((q+v) r^T, then the relative shift: data movement only)
  persistent_scores  T x dh @ dh x N      repeated B*h   (q m_k^T; persistent keys are parameters)
  attn_values        T x L  @ L x dh      repeated B*h
  persistent_values  T x N  @ N x dh      repeated B*h   (persistent values are parameters)
  out_proj      (B*T) x (h*dh) @ (h*dh) x d      weights
  vector: layernorm over (B*L) x d, softmax over B*h*T rows of L+N, residual add (B*T) x d
Transformer-XL layers add an FF block: layernorm (B*T) x d, ff1 (B*T) x d @ d x d_ff, relu, ff2, residual add.
A layer with 0 heads keeps only its output bias: a (B*T) x d add (the gated model computes W_o*0 + b_o).

Output layer: plain softmax = (B*T) x d @ d x V (tied embedding); adaptive softmax (S2) = shortlist projection
d x d, head logits d x (c0 + n_tail), and for every tail cluster a projection d x d_i and logits d_i x size_i, all
evaluated for every token (full distribution, as perplexity evaluation needs). Embedding lookups are not GEMMs; the
adaptive *input* projections are data-dependent (tokens per cluster) and are left out of the MAC count.

Every function that builds shapes takes ``heads`` as an int or an int numpy array, so the vectorised cost path
(many heads vectors at once) uses the same formulas as the scalar path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from hwsim.errors import SpecError
from hwsim.heads import validate_heads
from hwsim.spec import Family, ModelSpec

IntLike = Union[int, np.ndarray]


@dataclass(frozen=True, kw_only=True, eq=False)
class Gemm:
    """C[m x n] = A[m x k] @ B[k x n], ``repeat`` independent instances. ``b_is_weight``: B is a parameter.

    Fields are ints in a :class:`Workload`; in the vectorised path they may be int arrays (one entry per config).
    """

    name: str
    m: IntLike
    n: IntLike
    k: IntLike
    repeat: IntLike = 1
    b_is_weight: bool = False

    @property
    def macs(self) -> IntLike:
        return self.m * self.n * self.k * self.repeat


@dataclass(frozen=True, kw_only=True, eq=False)
class VectorOp:
    """An element-wise or row-wise operation on the vector unit (kind: layernorm, softmax, residual_add, relu)."""

    name: str
    kind: str
    elements: IntLike


@dataclass(frozen=True, kw_only=True)
class LayerWorkload:
    """What one layer (or the output layer) computes and holds."""

    name: str
    heads: int  # heads kept; 0 for the output layer
    gemms: tuple[Gemm, ...]
    vector_ops: tuple[VectorOp, ...]
    params: int  # non-embedding weights held by this layer

    @property
    def macs(self) -> int:
        return int(sum(g.macs for g in self.gemms))

    @property
    def vector_elements(self) -> int:
        return int(sum(v.elements for v in self.vector_ops))


@dataclass(frozen=True, kw_only=True)
class Workload:
    """The per-layer operations of one model spec with one heads-per-layer vector, for one segment."""

    spec: ModelSpec
    heads_per_layer: tuple[int, ...]
    batch: int
    layers: tuple[LayerWorkload, ...]  # one per transformer layer
    output: LayerWorkload  # the softmax / adaptive-softmax layer (its weights are embedding parameters)
    embedding_params: int

    @property
    def all_layers(self) -> tuple[LayerWorkload, ...]:
        return (*self.layers, self.output)

    @property
    def params(self) -> int:
        """Non-embedding parameters (the paper's 53.8M convention)."""
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.all_layers)


# ---- parameters -------------------------------------------------------------------------------------------------
def params_per_head(spec: ModelSpec) -> int:
    """Weights one head owns: d_h columns of W_q, W_k, W_v, W_r, d_h rows of W_o, its u/v slices, N m_k + N m_v.

    paper.md §3: P_head = 5*d*d_h + 2*d_h + 2*N*d_h (426,112 for the paper recipe).
    """
    d, dh, n = spec.d_model, spec.d_head, spec.n_persistent
    own_uv = 0 if spec.nnlib else 2 * dh  # nnlib style: u/v are shared by all layers (counted in embedding_params)
    return 5 * d * dh + own_uv + 2 * n * dh


def ff_params(spec: ModelSpec) -> int:
    """Transformer-XL feed-forward block: pre-LN (2d) + W1, b1 + W2, b2."""
    if spec.family is not Family.TRANSFORMER_XL:
        return 0
    d, f = spec.d_model, spec.d_ff
    return 2 * d + d * f + f + f * d + d


def layer_params(spec: ModelSpec, heads: IntLike) -> IntLike:
    """Non-embedding parameters of one layer with ``heads`` kept.

    h >= 1: h*P_head + 3d (pre-LN gain and bias, W_o bias); h = 0: only the W_o bias (d) survives.
    Gate logits are training-only and are not counted (pruning removes them).
    """
    d = spec.d_model
    attention = np.where(np.asarray(heads) > 0, heads * params_per_head(spec) + 3 * d, d)
    total = attention + ff_params(spec)
    return int(total) if np.ndim(total) == 0 else total


def embedding_params(spec: ModelSpec) -> int:
    """Parameters outside the layers: embeddings, softmax, position table (paper.md §2: 18.81M + 0.53M + 0.26M)."""
    d, v = spec.d_model, spec.vocab_size
    # nnlib style: sinusoidal positions (no table), one shared u/v (2 H d_h) and a final LayerNorm (2d)
    pos = 2 * spec.n_heads * spec.d_head + 2 * d if spec.nnlib else spec.pos_rows * d
    if not spec.adaptive_cutoffs:
        return v * d + v + pos  # tied input/output embedding + output bias
    clusters = spec.adaptive_clusters
    n_tail = len(clusters) - 1
    embeddings = sum((end - start) * width for start, end, width in clusters)
    projections = sum(width * d for _, _, width in clusters)  # tied between adaptive input and softmax
    softmax_untied = d * d + n_tail * d + v + n_tail  # shortlist projection, cluster logits, biases
    return embeddings + projections + softmax_untied + pos


# ---- operations -------------------------------------------------------------------------------------------------
def attention_gemms(spec: ModelSpec, heads: IntLike, batch: int = 1) -> tuple[Gemm, ...]:
    """The GEMMs of one layer's attention with ``heads`` kept (see module docstring)."""
    d, dh, n = spec.d_model, spec.d_head, spec.n_persistent
    t, length = spec.segment_len, spec.context_len
    width = heads * dh
    per_head = batch * heads
    gemms = [
        Gemm(name="q_proj", m=batch * t, n=width, k=d, b_is_weight=True),
        Gemm(name="k_proj", m=batch * length, n=width, k=d, b_is_weight=True),
        Gemm(name="v_proj", m=batch * length, n=width, k=d, b_is_weight=True),
        Gemm(name="r_proj", m=length, n=width, k=d, b_is_weight=True),
        Gemm(name="content_scores", m=t, n=length, k=dh, repeat=per_head),
        Gemm(name="position_scores", m=t, n=length, k=dh, repeat=per_head),
    ]
    if n > 0:
        gemms.append(Gemm(name="persistent_scores", m=t, n=n, k=dh, repeat=per_head, b_is_weight=True))
    gemms.append(Gemm(name="attn_values", m=t, n=dh, k=length, repeat=per_head))
    if n > 0:
        gemms.append(Gemm(name="persistent_values", m=t, n=dh, k=n, repeat=per_head, b_is_weight=True))
    gemms.append(Gemm(name="out_proj", m=batch * t, n=d, k=width, b_is_weight=True))
    return tuple(gemms)


def attention_vector_ops(spec: ModelSpec, heads: IntLike, batch: int = 1) -> tuple[VectorOp, ...]:
    d, t, length = spec.d_model, spec.segment_len, spec.context_len
    on = np.asarray(heads) > 0
    ln = np.where(on, batch * length * d, 0)
    softmax = batch * heads * t * (length + spec.n_persistent)
    return (
        VectorOp(name="attn_layernorm", kind="layernorm", elements=_maybe_int(ln)),
        VectorOp(name="attn_softmax", kind="softmax", elements=_maybe_int(softmax)),
        VectorOp(name="attn_residual", kind="residual_add", elements=batch * t * d),
    )


def ff_gemms(spec: ModelSpec, batch: int = 1) -> tuple[Gemm, ...]:
    if spec.family is not Family.TRANSFORMER_XL:
        return ()
    m = batch * spec.segment_len
    return (
        Gemm(name="ff1", m=m, n=spec.d_ff, k=spec.d_model, b_is_weight=True),
        Gemm(name="ff2", m=m, n=spec.d_model, k=spec.d_ff, b_is_weight=True),
    )


def ff_vector_ops(spec: ModelSpec, batch: int = 1) -> tuple[VectorOp, ...]:
    if spec.family is not Family.TRANSFORMER_XL:
        return ()
    m = batch * spec.segment_len
    return (
        VectorOp(name="ff_layernorm", kind="layernorm", elements=m * spec.d_model),
        VectorOp(name="ff_relu", kind="relu", elements=m * spec.d_ff),
        VectorOp(name="ff_residual", kind="residual_add", elements=m * spec.d_model),
    )


def output_gemms(spec: ModelSpec, batch: int = 1) -> tuple[Gemm, ...]:
    m, d = batch * spec.segment_len, spec.d_model
    if not spec.adaptive_cutoffs:
        return (Gemm(name="logits", m=m, n=spec.vocab_size, k=d, b_is_weight=True),)
    clusters = spec.adaptive_clusters
    head_start, head_end, _ = clusters[0]
    gemms = [
        Gemm(name="head_proj", m=m, n=d, k=d, b_is_weight=True),
        Gemm(name="head_logits", m=m, n=head_end - head_start + len(clusters) - 1, k=d, b_is_weight=True),
    ]
    for i, (start, end, width) in enumerate(clusters[1:], start=1):
        gemms.append(Gemm(name=f"tail{i}_proj", m=m, n=width, k=d, b_is_weight=True))
        gemms.append(Gemm(name=f"tail{i}_logits", m=m, n=end - start, k=width, b_is_weight=True))
    return tuple(gemms)


def output_vector_ops(spec: ModelSpec, batch: int = 1) -> tuple[VectorOp, ...]:
    m = batch * spec.segment_len
    n_tail = len(spec.adaptive_clusters) - 1
    return (VectorOp(name="log_softmax", kind="softmax", elements=m * (spec.vocab_size + n_tail)),)


def layer_workload(spec: ModelSpec, index: int, heads: int, batch: int = 1) -> LayerWorkload:
    gemms = attention_gemms(spec, heads, batch) if heads > 0 else ()
    # attention_vector_ops gives 0 layernorm/softmax elements at h = 0 (the vectorised path relies on that);
    # the scalar workload lists only the ops that do work.
    vector_ops = tuple(op for op in attention_vector_ops(spec, heads, batch) if op.elements > 0)
    return LayerWorkload(
        name=f"layer{index}",
        heads=heads,
        gemms=gemms + ff_gemms(spec, batch),
        vector_ops=vector_ops + ff_vector_ops(spec, batch),
        params=int(layer_params(spec, heads)),
    )


def build_workload(spec: ModelSpec, heads_per_layer=None, batch: int = 1) -> Workload:
    """Per-layer operations and parameters of ``spec`` with ``heads_per_layer`` kept (default: all heads)."""
    if batch < 1:
        raise SpecError(f"batch must be a positive integer, got {batch}")
    heads = validate_heads(spec, spec.full_heads() if heads_per_layer is None else heads_per_layer)
    layers = tuple(layer_workload(spec, i, h, batch) for i, h in enumerate(heads))
    output = LayerWorkload(
        name="output", heads=0, gemms=output_gemms(spec, batch), vector_ops=output_vector_ops(spec, batch), params=0
    )
    return Workload(
        spec=spec,
        heads_per_layer=heads,
        batch=batch,
        layers=layers,
        output=output,
        embedding_params=embedding_params(spec),
    )


def _maybe_int(x):
    return int(x) if np.ndim(x) == 0 else x
