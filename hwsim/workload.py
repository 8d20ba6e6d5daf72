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

Each layer also lists its operators in execution order (``sequence``), the activation tensors they read and write
(names and sizes, for the residency pass of ``hwsim.accel.residency``), and its per-head attention as one
:class:`AttentionCore` (the five per-head GEMMs and the softmax are ``fusable``: an accelerator with
``fuse_attention`` runs the core as one kernel instead, ``hwsim.accel.fusion``).

**Phases.** The above is the ``segment`` pass (a :class:`Step` of T queries over L keys; a prompt chunk of a
generation is the same pass with t queries over t + m keys). A ``decode`` step is one new token per sequence
(batch B, lockstep) with C cached tokens, L = C + 1 keys (``hwsim.nn.decode``, KV cache):
  q_proj, k_proj, v_proj   B x d @ d x (h*dh)                 the new token only; its K/V are written to the cache
  content_scores           1 x dh @ dh x L     repeated B*h   B operand: cached keys (k_cache)
  position_scores          B x dh @ dh x L     repeated h     B operand: the position keys R W_r of every distance,
                                                              computed once per model and read like weights
                                                              (pos_keys), shared by the B sequences
  persistent_scores        B x dh @ dh x N     repeated h     persistent keys shared by the batch
  attn_values              1 x L  @ L x dh     repeated B*h   B operand: cached values (v_cache)
  persistent_values        B x N  @ N x dh     repeated h
  out_proj                 B x (h*dh) @ (h*dh) x d            (and the FF block and the output layer at M = B)
  vector: layernorm B x d, softmax B*h rows of L+N, residual B x d.
For B = 1 every GEMM is a matrix-vector product. Where the cache, the position keys and the weights live between
tokens is decided for the whole model by the cost (``hwsim.accel.decode``), not here.

The shape functions take ``heads`` as an int (or an int numpy array); the vectorised cost path builds one layer
workload per head count with the same functions (``hwsim.accel.batch``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from hwsim.errors import SpecError
from hwsim.heads import validate_heads
from hwsim.spec import Family, ModelSpec

IntLike = Union[int, np.ndarray]
SEGMENT, DECODE = "segment", "decode"
# Decode tensors whose home is decided across tokens (hwsim.accel.decode): the residency pass never places them.
CACHE_READ_TENSORS = ("k_cache", "v_cache")
CACHE_WRITE_TENSORS = ("k_new", "v_new")
POSITION_KEY_TENSOR = "pos_keys"


@dataclass(frozen=True, kw_only=True)
class Step:
    """One forward pass per sequence: ``queries`` new tokens attending to ``keys`` keys (cached + new).

    ``segment``: keys, values and position keys are projected over all ``keys`` tokens (the segment pass, a prompt
    chunk); ``decode``: one new token, the other keys/values read from the cache, position keys precomputed."""

    kind: str
    queries: int
    keys: int

    @property
    def cached(self) -> int:
        return self.keys - self.queries


# How a generated token's context grows (hwsim.nn.decode runs them, hwsim.accel.generation costs them): ``segment``,
# the evaluation context (memory of the previous segment plus the current segment's tokens, rolling over every T);
# ``window``, the last memory_len + segment_len tokens.
CONTEXT_POLICIES = ("segment", "window")


def check_policy(policy: str) -> str:
    if policy not in CONTEXT_POLICIES:
        raise SpecError(f"unknown context policy {policy!r} (choose {', '.join(CONTEXT_POLICIES)})")
    return policy


def segment_step(spec: ModelSpec) -> Step:
    """The evaluation pass: T queries over T + M keys."""
    return Step(kind=SEGMENT, queries=spec.segment_len, keys=spec.context_len)


def decode_step(context: int) -> Step:
    """One new token per sequence after ``context`` cached tokens."""
    return Step(kind=DECODE, queries=1, keys=int(context) + 1)


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
    # Activation tensors the operands are (names local to the layer; "" for a parameter): the residency pass
    # (hwsim.accel.residency) decides which stay on chip. ``fusable``: part of the per-head attention core.
    a_tensor: str = ""
    b_tensor: str = ""
    c_tensor: str = ""
    fusable: bool = False

    @property
    def macs(self) -> IntLike:
        return self.m * self.n * self.k * self.repeat


@dataclass(frozen=True, kw_only=True, eq=False)
class VectorOp:
    """An element-wise or row-wise operation on the vector unit (kind: layernorm, softmax, residual_add, relu)."""

    name: str
    kind: str
    elements: IntLike
    reads: tuple[str, ...] = ()  # activation tensors read and written (for the residency pass)
    writes: tuple[str, ...] = ()
    fusable: bool = False  # the attention softmax: runs inside the fused kernel when attention is fused


@dataclass(frozen=True, kw_only=True)
class AttentionCore:
    """One layer's per-head attention, ``repeat`` = B*h instances: scores of ``t`` queries against ``length``
    keys with relative positions and ``n_persistent`` persistent keys, one softmax, values. The separate GEMMs
    (``fusable``) and this description cost the same MACs; an accelerator with ``fuse_attention`` runs this one
    kernel instead (hwsim.accel.fusion). Reads the q, k, r, v tensors; writes attn."""

    name: str
    t: int
    length: int
    n_persistent: int
    d_head: int
    repeat: int


@dataclass(frozen=True, kw_only=True)
class LayerWorkload:
    """What one layer (or the output layer) computes and holds."""

    name: str
    heads: int  # heads kept; 0 for the output layer
    gemms: tuple[Gemm, ...]
    vector_ops: tuple[VectorOp, ...]
    params: int  # non-embedding weights held by this layer
    attention: AttentionCore | None = None
    # Execution order of the layer's GEMMs, vector ops and attention core, and its activation tensors
    # (name, elements): ``inputs`` arrive from the previous layer, ``outputs`` leave for the next one.
    sequence: tuple = ()
    tensors: tuple[tuple[str, int], ...] = ()
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

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
    step: Step | None = None  # the pass (default: the segment pass)

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
def attention_gemms(spec: ModelSpec, heads: IntLike, batch: int = 1, step: Step | None = None) -> tuple[Gemm, ...]:
    """The GEMMs of one layer's attention with ``heads`` kept (see module docstring)."""
    step = step or segment_step(spec)
    if step.kind == DECODE:
        return _decode_attention_gemms(spec, heads, batch, step)
    d, dh, n = spec.d_model, spec.d_head, spec.n_persistent
    t, length = step.queries, step.keys
    width = heads * dh
    per_head = batch * heads
    gemms = [
        Gemm(name="q_proj", m=batch * t, n=width, k=d, b_is_weight=True, a_tensor="x_ln", c_tensor="q"),
        Gemm(name="k_proj", m=batch * length, n=width, k=d, b_is_weight=True, a_tensor="x_ln", c_tensor="k"),
        Gemm(name="v_proj", m=batch * length, n=width, k=d, b_is_weight=True, a_tensor="x_ln", c_tensor="v"),
        Gemm(name="r_proj", m=length, n=width, k=d, b_is_weight=True, c_tensor="r"),  # A: the position table
        Gemm(name="content_scores", m=t, n=length, k=dh, repeat=per_head, a_tensor="q", b_tensor="k",
             c_tensor="s_content", fusable=True),
        Gemm(name="position_scores", m=t, n=length, k=dh, repeat=per_head, a_tensor="q", b_tensor="r",
             c_tensor="s_position", fusable=True),
    ]  # fmt: skip
    if n > 0:
        gemms.append(Gemm(name="persistent_scores", m=t, n=n, k=dh, repeat=per_head, b_is_weight=True,
                          a_tensor="q", c_tensor="s_persistent", fusable=True))  # fmt: skip
    gemms.append(Gemm(name="attn_values", m=t, n=dh, k=length, repeat=per_head, a_tensor="probs", b_tensor="v",
                      c_tensor="attn", fusable=True))  # fmt: skip
    if n > 0:
        gemms.append(Gemm(name="persistent_values", m=t, n=dh, k=n, repeat=per_head, b_is_weight=True,
                          a_tensor="probs", c_tensor="attn", fusable=True))  # fmt: skip
    gemms.append(Gemm(name="out_proj", m=batch * t, n=d, k=width, b_is_weight=True, a_tensor="attn", c_tensor="y"))
    return tuple(gemms)


def _decode_attention_gemms(spec: ModelSpec, heads: IntLike, batch: int, step: Step) -> tuple[Gemm, ...]:
    """A decode step's attention GEMMs (module docstring): what the batch shares has M = B."""
    d, dh, n, length = spec.d_model, spec.d_head, spec.n_persistent, step.keys
    width, per_head = heads * dh, batch * heads
    gemms = [
        Gemm(name="q_proj", m=batch, n=width, k=d, b_is_weight=True, a_tensor="x_ln", c_tensor="q"),
        Gemm(name="k_proj", m=batch, n=width, k=d, b_is_weight=True, a_tensor="x_ln", c_tensor="k_new"),
        Gemm(name="v_proj", m=batch, n=width, k=d, b_is_weight=True, a_tensor="x_ln", c_tensor="v_new"),
        Gemm(name="content_scores", m=1, n=length, k=dh, repeat=per_head, a_tensor="q", b_tensor="k_cache",
             c_tensor="s_content"),
        Gemm(name="position_scores", m=batch, n=length, k=dh, repeat=heads, a_tensor="q",
             b_tensor=POSITION_KEY_TENSOR, c_tensor="s_position"),
    ]  # fmt: skip
    if n > 0:
        gemms.append(Gemm(name="persistent_scores", m=batch, n=n, k=dh, repeat=heads, b_is_weight=True,
                          a_tensor="q", c_tensor="s_persistent"))  # fmt: skip
    gemms.append(Gemm(name="attn_values", m=1, n=dh, k=length, repeat=per_head, a_tensor="probs",
                      b_tensor="v_cache", c_tensor="attn"))  # fmt: skip
    if n > 0:
        gemms.append(Gemm(name="persistent_values", m=batch, n=dh, k=n, repeat=heads, b_is_weight=True,
                          a_tensor="probs", c_tensor="attn"))  # fmt: skip
    gemms.append(Gemm(name="out_proj", m=batch, n=d, k=width, b_is_weight=True, a_tensor="attn", c_tensor="y"))
    return tuple(gemms)


def _rows(spec: ModelSpec, step: Step | None) -> tuple[Step, int, int]:
    """(step, queries, keys whose states are layer-normed: all keys in a segment pass, the new ones in decode)."""
    step = step or segment_step(spec)
    return step, step.queries, step.keys if step.kind == SEGMENT else step.queries


def attention_vector_ops(spec: ModelSpec, heads: IntLike, batch: int = 1, step: Step | None = None
                         ) -> tuple[VectorOp, ...]:  # fmt: skip
    d = spec.d_model
    step, t, normed = _rows(spec, step)
    on = np.asarray(heads) > 0
    ln = np.where(on, batch * normed * d, 0)
    softmax = batch * heads * t * (step.keys + spec.n_persistent)
    return (
        VectorOp(name="attn_layernorm", kind="layernorm", elements=_maybe_int(ln), reads=("x",), writes=("x_ln",)),
        VectorOp(name="attn_softmax", kind="softmax", elements=_maybe_int(softmax), fusable=step.kind == SEGMENT,
                 reads=("s_content", "s_position", "s_persistent"), writes=("probs",)),
        VectorOp(name="attn_residual", kind="residual_add", elements=batch * t * d, reads=("x", "y"), writes=("y",)),
    )  # fmt: skip


def attention_core(spec: ModelSpec, heads: int, batch: int = 1, step: Step | None = None) -> AttentionCore | None:
    """The per-head attention of one layer as one fusable kernel (same shapes as the fusable GEMMs); None for a
    decode step, whose GEMMs run apart (their shared operands batched, module docstring)."""
    step = step or segment_step(spec)
    if step.kind == DECODE:
        return None
    return AttentionCore(name="attention", t=step.queries, length=step.keys, n_persistent=spec.n_persistent,
                         d_head=spec.d_head, repeat=batch * heads)  # fmt: skip


def layer_tensors(spec: ModelSpec, heads: int, batch: int = 1, step: Step | None = None
                  ) -> tuple[tuple[str, int], ...]:  # fmt: skip
    """Activation tensors of one transformer layer (elements): layer input x = [memory; segment] states (a decode
    step: the new tokens' states; its cache and position keys are not activations of the layer)."""
    d, dh, n = spec.d_model, spec.d_head, spec.n_persistent
    step, t, normed = _rows(spec, step)
    length = step.keys
    width, per_head = heads * dh, batch * heads
    kv = {"k": batch * length * width, "v": batch * length * width, "r": length * width}
    if step.kind == DECODE:
        kv = {}
    sizes = {
        "x": batch * normed * d, "x_ln": batch * normed * d, "q": batch * t * width, **kv,
        "s_content": per_head * t * length, "s_position": per_head * t * length, "s_persistent": per_head * t * n,
        "probs": per_head * t * (length + n), "attn": batch * t * width, "y": batch * t * d,
    }  # fmt: skip
    if step.kind == SEGMENT:  # keep the segment pass's order of tensors
        sizes = {key: sizes[key] for key in ("x", "x_ln", "q", "k", "v", "r", "s_content", "s_position",
                                             "s_persistent", "probs", "attn", "y")}  # fmt: skip
    if spec.family is Family.TRANSFORMER_XL:
        m, f = batch * t, spec.d_ff
        sizes.update({"y_ln": m * d, "ff": m * f, "ff_out": m * d, "out": m * d})
    return tuple(sizes.items())


def _queries(spec: ModelSpec, step: Step | None) -> int:
    return (step or segment_step(spec)).queries


def ff_gemms(spec: ModelSpec, batch: int = 1, step: Step | None = None) -> tuple[Gemm, ...]:
    if spec.family is not Family.TRANSFORMER_XL:
        return ()
    m = batch * _queries(spec, step)
    return (
        Gemm(name="ff1", m=m, n=spec.d_ff, k=spec.d_model, b_is_weight=True, a_tensor="y_ln", c_tensor="ff"),
        Gemm(name="ff2", m=m, n=spec.d_model, k=spec.d_ff, b_is_weight=True, a_tensor="ff", c_tensor="ff_out"),
    )


def ff_vector_ops(spec: ModelSpec, batch: int = 1, step: Step | None = None) -> tuple[VectorOp, ...]:
    if spec.family is not Family.TRANSFORMER_XL:
        return ()
    m = batch * _queries(spec, step)
    return (
        VectorOp(name="ff_layernorm", kind="layernorm", elements=m * spec.d_model, reads=("y",), writes=("y_ln",)),
        VectorOp(name="ff_relu", kind="relu", elements=m * spec.d_ff, reads=("ff",), writes=("ff",)),
        VectorOp(name="ff_residual", kind="residual_add", elements=m * spec.d_model, reads=("y", "ff_out"),
                 writes=("out",)),
    )  # fmt: skip


def output_gemms(spec: ModelSpec, batch: int = 1, step: Step | None = None) -> tuple[Gemm, ...]:
    m, d = batch * _queries(spec, step), spec.d_model
    if not spec.adaptive_cutoffs:
        return (Gemm(name="logits", m=m, n=spec.vocab_size, k=d, b_is_weight=True, a_tensor="x", c_tensor="logits"),)
    clusters = spec.adaptive_clusters
    head_start, head_end, _ = clusters[0]
    gemms = [
        Gemm(name="head_proj", m=m, n=d, k=d, b_is_weight=True, a_tensor="x", c_tensor="head_h"),
        Gemm(name="head_logits", m=m, n=head_end - head_start + len(clusters) - 1, k=d, b_is_weight=True,
             a_tensor="head_h", c_tensor="logits0"),
    ]  # fmt: skip
    for i, (start, end, width) in enumerate(clusters[1:], start=1):
        gemms.append(Gemm(name=f"tail{i}_proj", m=m, n=width, k=d, b_is_weight=True, a_tensor="x",
                          c_tensor=f"tail{i}_h"))  # fmt: skip
        gemms.append(Gemm(name=f"tail{i}_logits", m=m, n=end - start, k=width, b_is_weight=True,
                          a_tensor=f"tail{i}_h", c_tensor=f"logits{i}"))  # fmt: skip
    return tuple(gemms)


def output_tensors(spec: ModelSpec, batch: int = 1, step: Step | None = None) -> tuple[tuple[str, int], ...]:
    """Activation tensors of the output layer: its input x, each projection and each block of logits."""
    sizes = {"x": batch * _queries(spec, step) * spec.d_model}
    for g in output_gemms(spec, batch, step):
        sizes[g.c_tensor] = g.m * g.n
    return tuple(sizes.items())


def output_vector_ops(spec: ModelSpec, batch: int = 1, step: Step | None = None) -> tuple[VectorOp, ...]:
    m = batch * _queries(spec, step)
    n_tail = len(spec.adaptive_clusters) - 1
    logits = tuple(g.c_tensor for g in output_gemms(spec, batch, step) if g.c_tensor.startswith("logits"))
    return (VectorOp(name="log_softmax", kind="softmax", elements=m * (spec.vocab_size + n_tail), reads=logits,
                     writes=logits),)  # fmt: skip


def layer_workload(spec: ModelSpec, index: int, heads: int, batch: int = 1, step: Step | None = None
                   ) -> LayerWorkload:  # fmt: skip
    gemms = attention_gemms(spec, heads, batch, step) if heads > 0 else ()
    # attention_vector_ops gives 0 layernorm/softmax elements at h = 0; the workload lists only ops that do work.
    vector_ops = tuple(op for op in attention_vector_ops(spec, heads, batch, step) if op.elements > 0)
    core = attention_core(spec, heads, batch, step) if heads > 0 else None
    by_name = {op.name: op for op in (*gemms, *vector_ops)}
    order = ("attn_layernorm", "q_proj", "k_proj", "v_proj", "r_proj", "attention", "content_scores",
             "position_scores", "persistent_scores", "attn_softmax", "attn_values", "persistent_values", "out_proj",
             "attn_residual")  # fmt: skip
    sequence = tuple(core if name == "attention" else by_name[name] for name in order
                     if (name == "attention" and core is not None) or name in by_name)  # fmt: skip
    ff_g, ff_v = ff_gemms(spec, batch, step), ff_vector_ops(spec, batch, step)
    if ff_g:
        sequence += (ff_v[0], ff_g[0], ff_v[1], ff_g[1], ff_v[2])
    return LayerWorkload(
        name=f"layer{index}",
        heads=heads,
        gemms=gemms + ff_g,
        vector_ops=vector_ops + ff_v,
        params=int(layer_params(spec, heads)),
        attention=core,
        sequence=sequence,
        tensors=layer_tensors(spec, heads, batch, step),
        inputs=("x",),
        outputs=("out",) if ff_g else ("y",),
    )


def output_workload(spec: ModelSpec, batch: int = 1, step: Step | None = None) -> LayerWorkload:
    gemms, vector_ops = output_gemms(spec, batch, step), output_vector_ops(spec, batch, step)
    return LayerWorkload(
        name="output", heads=0, gemms=gemms, vector_ops=vector_ops, params=0, sequence=gemms + vector_ops,
        tensors=output_tensors(spec, batch, step), inputs=("x",),
        outputs=tuple(g.c_tensor for g in gemms if g.c_tensor.startswith("logits")),
    )  # fmt: skip


def check_step(spec: ModelSpec, step: Step) -> Step:
    """A step the model can run: at least one query, cached tokens within the policies' cap M + T - 1."""
    cap = spec.context_len - 1
    if step.kind not in (SEGMENT, DECODE):
        raise SpecError(f"unknown pass kind {step.kind!r} (choose {SEGMENT}, {DECODE})")
    if step.queries < 1 or not 0 <= step.cached <= cap or step.queries > spec.segment_len:
        raise SpecError(f"context must be 0..{cap} cached tokens (memory_len + segment_len - 1 of model "
                        f"'{spec.name}'), got {step.cached}")
    return step


def build_workload(spec: ModelSpec, heads_per_layer=None, batch: int = 1, step: Step | None = None) -> Workload:
    """Per-layer operations and parameters of ``spec`` with ``heads_per_layer`` kept (default: all heads), for one
    pass ``step`` (default: the segment pass)."""
    if batch < 1:
        raise SpecError(f"batch must be a positive integer, got {batch}")
    heads = validate_heads(spec, spec.full_heads() if heads_per_layer is None else heads_per_layer)
    step = check_step(spec, step or segment_step(spec))
    layers = tuple(layer_workload(spec, i, h, batch, step) for i, h in enumerate(heads))
    output = output_workload(spec, batch, step)
    return Workload(
        spec=spec,
        heads_per_layer=heads,
        batch=batch,
        layers=layers,
        output=output,
        embedding_params=embedding_params(spec),
        step=step,
    )


def _maybe_int(x):
    return int(x) if np.ndim(x) == 0 else x
