"""Physical head pruning: remove closed heads' weights (W_q/W_k/W_v/W_r columns, W_o rows, u/v slices, persistent
keys and values, gate) and produce a smaller ungated model whose outputs equal the gated model with those gates fixed.

Which heads to keep in a layer (``keep_masks``) follows ``head_scores``:
  gated checkpoint    the gate logit log alpha (S2: a head is open at evaluation iff log alpha >= 0, so the
                      deterministic gate ranks heads by log alpha)
  ungated checkpoint  a data-free magnitude score of the head's value->output path:
                      ||W_o[:, head]||_F * sqrt(||W_v[head]||_F^2 + ||sqrt(N) m_v[head]||_F^2)
                      (how large a contribution the head can write into the residual stream; Michel et al. 2019
                      use a data-driven gradient score instead, which needs a forward/backward pass over data)
Slots a pruned checkpoint no longer has score -inf, so they are never chosen.
If the gated model used attention-output scaling (H / heads open), the pruned model folds that factor into W_o.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hwsim.errors import HeadsError
from hwsim.heads import validate_heads
from hwsim.nn.model import LanguageModel, build_model


@dataclass(frozen=True, kw_only=True)
class PruneResult:
    path: Path
    heads_per_layer: tuple[int, ...]
    params: int  # parameters of the pruned model (gates excluded)
    workload_params: int  # hwsim.workload: non-embedding + embedding parameters for the same heads vector


def _importance(attn) -> np.ndarray:
    h, dh = attn.n_heads, attn.d_head
    w_o = attn.out_proj.weight.detach().view(-1, h, dh)  # (d, h, dh)
    w_v = attn.v_proj.weight.detach().view(h, dh, -1)
    out_norm = w_o.pow(2).sum(dim=(0, 2)).sqrt()
    value_sq = w_v.pow(2).sum(dim=(1, 2))
    if attn.n_persistent:
        value_sq = value_sq + (attn.mem_v.detach() * math.sqrt(attn.n_persistent)).pow(2).sum(dim=(1, 2))
    return (out_norm * value_sq.sqrt()).double().numpy()


def head_scores(checkpoint, model: LanguageModel | None = None) -> np.ndarray:
    """(n_layers, n_heads) ranking scores: gate log alpha, or the magnitude importance for an ungated model."""
    model = model if model is not None else checkpoint.build_model()
    spec = checkpoint.spec
    scores = np.full((spec.n_layers, spec.n_heads), -np.inf)
    for i, layer in enumerate(model.layers):
        attn = layer.attn
        if attn.n_heads == 0:
            continue
        if attn.gate is not None:
            scores[i, : attn.n_heads] = attn.gate.log_alpha.detach().double().cpu().numpy()
        else:
            scores[i, : attn.n_heads] = _importance(attn)
    return scores


def keep_masks(scores: np.ndarray, heads_per_layer) -> np.ndarray:
    """Bool (n_layers, n_heads): the ``heads_per_layer[i]`` highest-scoring heads of each layer (ties: lower index)."""
    scores = np.asarray(scores, dtype=float)
    heads = np.asarray(heads_per_layer, dtype=int)
    if heads.shape != (scores.shape[0],):
        raise HeadsError(f"heads-per-layer has {heads.size} entries but the model has {scores.shape[0]} layers")
    mask = np.zeros(scores.shape, dtype=bool)
    for i, k in enumerate(heads):
        available = int(np.isfinite(scores[i]).sum())
        if k < 0 or k > available:
            raise HeadsError(f"layer {i} cannot keep {k} heads (it has {available})")
        order = np.argsort(-scores[i], kind="stable")
        mask[i, order[:k]] = True
    return mask


@torch.no_grad()
def prune_model(model: LanguageModel, mask: np.ndarray) -> LanguageModel:
    """A new ungated model holding only the heads in ``mask`` (per layer, indices into the layer's current heads)."""
    spec = model.spec
    kept = tuple(int(np.asarray(mask[i][: layer.attn.n_heads]).sum()) for i, layer in enumerate(model.layers))
    validate_heads(spec, kept)
    new = build_model(spec, gated=False, heads_per_layer=kept, same_length=model.same_length)
    own = dict(model.named_parameters())
    for name, p in new.named_parameters():  # output, position table or shared u/v, final LayerNorm
        if not name.startswith("layers."):
            p.copy_(own[name])
    for i, (src_layer, dst_layer) in enumerate(zip(model.layers, new.layers)):
        src, dst = src_layer.attn, dst_layer.attn
        if src_layer.ff is not None:
            dst_layer.ff.load_state_dict(src_layer.ff.state_dict())
        if dst.n_heads == 0:
            dst.out_bias.copy_(src.out_bias if src.n_heads == 0 else src.out_proj.bias)
            continue
        idx = torch.as_tensor(np.flatnonzero(np.asarray(mask[i][: src.n_heads])), dtype=torch.long)
        cols = (idx.unsqueeze(1) * src.d_head + torch.arange(src.d_head)).reshape(-1)
        dst.norm.load_state_dict(src.norm.state_dict())
        for name in ("q_proj", "k_proj", "v_proj", "r_proj"):
            getattr(dst, name).weight.copy_(getattr(src, name).weight[cols])
        own_uv = () if spec.nnlib else ("u_bias", "v_bias")  # nnlib style: keep the shared u/v's original head ids
        for name in own_uv + (("head_index",) if spec.nnlib else ()) + (("mem_k", "mem_v") if src.n_persistent else ()):
            getattr(dst, name).copy_(getattr(src, name)[idx])
        scale = src.full_heads / len(idx) if src.output_scaling else 1.0  # fold H / heads-open into W_o
        dst.out_proj.weight.copy_(src.out_proj.weight[:, cols] * scale)
        dst.out_proj.bias.copy_(src.out_proj.bias)
    return new.eval()


def default_heads(checkpoint, model: LanguageModel) -> tuple[int, ...]:
    """Heads kept when none are given: the open gates of a gated model (log alpha >= 0)."""
    if not checkpoint.gated:
        raise HeadsError("this checkpoint has no gates: pass --heads-per-layer to choose the heads to keep")
    return tuple(model.heads_open())


def prune_checkpoint(path, out, heads_per_layer=None) -> PruneResult:
    """Load, choose heads (given vector or the open gates), prune physically, save the smaller checkpoint."""
    from hwsim.nn.checkpoint import load_checkpoint, save_checkpoint
    from hwsim.workload import build_workload

    ckpt = load_checkpoint(path)
    model = ckpt.build_model()
    heads = validate_heads(ckpt.spec, heads_per_layer) if heads_per_layer is not None else default_heads(ckpt, model)
    pruned = prune_model(model, keep_masks(head_scores(ckpt, model), heads))
    train_state = {"phase": "pruned", "pruned_from": str(path), "step": ckpt.train_state.get("step", 0)}
    save_checkpoint(out, model=pruned, recipe=ckpt.recipe, data=ckpt.data, vocab=ckpt.vocab, train_state=train_state,
                    history=ckpt.history, weights_dtype="float32")
    workload = build_workload(ckpt.spec, heads)
    return PruneResult(path=Path(out), heads_per_layer=heads, params=pruned.param_count(),
                       workload_params=workload.params + workload.embedding_params)
