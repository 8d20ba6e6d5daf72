"""Input embeddings and output softmax: tied plain softmax, or adaptive input + adaptive softmax (Baevski & Auli 2019,
Grave et al. 2017) as S2 configures it (paper.md §2: cutoffs 20k/40k/200k, div 4, tied weights and tail projections,
untied shortlist projection).

Parameter layout (matches ``hwsim.workload.embedding_params`` exactly):
  plain:    E (V x d) tied input/output, output bias (V)
  adaptive: per cluster i an embedding E_i (size_i x d/div^i) and a projection P_i (d/div^i x d), both tied between
            input and output; an untied shortlist projection (d x d); n_tail cluster-logit vectors (n_tail x d);
            biases for the V words and the n_tail cluster logits.
Embeddings are scaled by sqrt(d) (S2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.nn.quant import NumericLinear, linear
from hwsim.spec import ModelSpec


class TiedSoftmax(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.scale = math.sqrt(spec.d_model)
        self.weight = nn.Parameter(torch.zeros(spec.vocab_size, spec.d_model))
        self.bias = nn.Parameter(torch.zeros(spec.vocab_size))
        self.numerics = None  # hwsim.numerics.Numerics (LanguageModel.set_numerics): the logits GEMM at those widths

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.embedding(tokens, self.weight) * self.scale

    def log_probs(self, h: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(linear(h, self.weight, self.bias, self.numerics).float(), dim=-1)

    def nll(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per token, same shape as ``targets``."""
        return -self.log_probs(h).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


class AdaptiveSoftmax(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.scale = math.sqrt(spec.d_model)
        self.d_model = spec.d_model
        self.clusters = spec.adaptive_clusters
        self.n_tail = len(self.clusters) - 1
        self.emb = nn.ParameterList([nn.Parameter(torch.zeros(e - s, w)) for s, e, w in self.clusters])
        self.proj = nn.ParameterList([nn.Parameter(torch.zeros(w, spec.d_model)) for _, _, w in self.clusters])
        self.shortlist_proj = NumericLinear(spec.d_model, spec.d_model, bias=False)
        self.numerics = None  # hwsim.numerics.Numerics (LanguageModel.set_numerics): output GEMMs at those widths
        self.cluster_weight = nn.Parameter(torch.zeros(self.n_tail, spec.d_model))
        self.bias = nn.Parameter(torch.zeros(spec.vocab_size + self.n_tail))

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        out = tokens.new_zeros((*tokens.shape, self.d_model), dtype=self.proj[0].dtype)
        for i, (start, end, _) in enumerate(self.clusters):
            sel = (tokens >= start) & (tokens < end)
            if sel.any():
                # under bf16 autocast the product is bf16; the buffer keeps the parameters' dtype
                out[sel] = (F.embedding(tokens[sel] - start, self.emb[i]) @ self.proj[i]).to(out.dtype)
        return out * self.scale

    def _head_logits(self, h: torch.Tensor) -> torch.Tensor:
        start, end, _ = self.clusters[0]
        head_weight = torch.cat([self.emb[0], self.cluster_weight])  # shortlist words use E_0 (width d) directly
        head_bias = torch.cat([self.bias[start:end], self.bias[-self.n_tail :]])
        return linear(self.shortlist_proj(h), head_weight, head_bias, self.numerics)

    def _tail_logits(self, h: torch.Tensor, i: int) -> torch.Tensor:
        start, end, _ = self.clusters[i]
        return linear(linear(h, self.proj[i], None, self.numerics), self.emb[i], self.bias[start:end], self.numerics)

    def log_probs(self, h: torch.Tensor) -> torch.Tensor:
        """Full (..., V) log-distribution: every tail evaluated for every token (the workload's output GEMMs)."""
        head = torch.log_softmax(self._head_logits(h).float(), dim=-1)
        c0 = self.clusters[0][1]
        parts = [head[..., :c0]]
        for i in range(1, len(self.clusters)):
            tail = torch.log_softmax(self._tail_logits(h, i).float(), dim=-1)
            parts.append(head[..., c0 + i - 1 : c0 + i] + tail)
        return torch.cat(parts, dim=-1)

    def nll(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per-token NLL; tails are evaluated only for the tokens that fall in them (training/eval efficiency)."""
        head = torch.log_softmax(self._head_logits(h).float(), dim=-1)
        c0 = self.clusters[0][1]
        out = torch.empty(targets.shape, dtype=head.dtype, device=h.device)
        short = targets < c0
        out[short] = -head[short].gather(-1, targets[short].unsqueeze(-1)).squeeze(-1)
        for i in range(1, len(self.clusters)):
            start, end, _ = self.clusters[i]
            sel = (targets >= start) & (targets < end)
            if sel.any():
                tail = torch.log_softmax(self._tail_logits(h[sel], i).float(), dim=-1)
                picked = tail.gather(-1, (targets[sel] - start).unsqueeze(-1)).squeeze(-1)
                out[sel] = -(head[sel][:, c0 + i - 1] + picked)
        return out


def build_output(spec: ModelSpec) -> nn.Module:
    return AdaptiveSoftmax(spec) if spec.adaptive_cutoffs else TiedSoftmax(spec)
