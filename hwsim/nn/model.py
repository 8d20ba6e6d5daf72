"""The All-Attention language model of Shim et al. 2021 (and its Transformer-XL baseline), built from a ModelSpec.

Pre-LN layers with TXL relative attention and persistent vectors (``attention.py``), no final LayerNorm, a learned
position table R of ``spec.pos_rows`` rows shared by all layers (each layer projects it with its own W_r), segment-
level memory of each layer's input states from the previous segment (detached), tied plain or adaptive softmax.
Sources: paper.md §2 "Model used by Shim" (S2 config wt103_all_16l_train.json).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hwsim.heads import validate_heads
from hwsim.nn.adaptive import build_output
from hwsim.nn.attention import FeedForward, RelativeAttention, attention_mask, sinusoid_positions
from hwsim.spec import Family, ModelSpec


@dataclass(frozen=True, kw_only=True)
class Dropouts:
    """Dropout rates (S2: attention 0.2, projection 0.1, input 0.1 also on pos_emb, output 0.1)."""

    emb: float = 0.0
    attn: float = 0.0
    proj: float = 0.0
    out: float = 0.0


class Layer(nn.Module):
    def __init__(self, spec: ModelSpec, heads: int, drop: Dropouts, gated: bool, init_log_alpha: float, scaling: bool):
        super().__init__()
        self.attn = RelativeAttention(
            d_model=spec.d_model,
            d_head=spec.d_head,
            n_heads=heads,
            n_persistent=spec.n_persistent,
            full_heads=spec.n_heads,
            dropout_attn=drop.attn,
            dropout_proj=drop.proj,
            gated=gated,
            init_log_alpha=init_log_alpha,
            output_scaling=scaling,
            shared_uv=spec.nnlib,
        )
        self.ff = FeedForward(spec.d_model, spec.d_ff, drop.proj) if spec.family is Family.TRANSFORMER_XL else None

    def forward(self, x, mem, pos, mask, uv=None, **cached):
        """``cached``: ``cache`` and ``position_keys`` of incremental decoding (RelativeAttention.forward)."""
        x = self.attn(x, mem, pos, mask, uv, **cached)
        return self.ff(x) if self.ff is not None else x


class LanguageModel(nn.Module):
    """``forward(tokens, mems, targets)`` -> (per-token NLL (B, T), new mems); memory carries across segments."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        heads_per_layer: tuple[int, ...] | None = None,
        gated: bool = False,
        dropouts: Dropouts = Dropouts(),
        same_length: bool = False,
        output_scaling: bool = False,
        init_log_alpha: float = 2.0,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.heads_per_layer = validate_heads(spec, heads_per_layer or spec.full_heads())
        self.gated = gated
        self.same_length = same_length
        self.output = build_output(spec)
        if spec.nnlib:  # nnlib MemoryTransformer: sinusoidal R, one u/v for all layers, final LayerNorm
            self.u_bias = nn.Parameter(torch.zeros(spec.n_heads, spec.d_head))
            self.v_bias = nn.Parameter(torch.zeros(spec.n_heads, spec.d_head))
            self.final_norm = nn.LayerNorm(spec.d_model)
        else:
            self.pos_emb = nn.Parameter(torch.zeros(spec.pos_rows, spec.d_model))  # learned R (S2: (1, 512, d))
        self.drop_emb = nn.Dropout(dropouts.emb)
        self.drop_out = nn.Dropout(dropouts.out)
        self.layers = nn.ModuleList(
            Layer(spec, h, dropouts, gated, init_log_alpha, output_scaling) for h in self.heads_per_layer
        )
        self.reset_parameters(init_log_alpha)

    @torch.no_grad()
    def reset_parameters(self, init_log_alpha: float = 2.0) -> None:
        """S2 initialisation (paper.md §2): linear U(+-sqrt(1/(d*L))), embeddings/R U(+-sqrt(1/d)),
        persistent vectors U(+-sqrt(1/(d*L))) with L = this model's layer count (S2 all_transformer.py; issue 13: an
        earlier version used S2's 16 for every model), LN gain 1, biases 0."""
        d, n_layers = self.spec.d_model, self.spec.n_layers
        for name, p in self.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "log_alpha":
                p.fill_(init_log_alpha)
            elif "norm" in name:
                p.fill_(1.0 if leaf == "weight" else 0.0)
            elif leaf in ("mem_k", "mem_v"):
                p.uniform_(-math.sqrt(1 / (d * n_layers)), math.sqrt(1 / (d * n_layers)))
            elif name.startswith("output.") and "shortlist" not in name and "bias" not in name or name == "pos_emb":
                p.uniform_(-math.sqrt(1 / d), math.sqrt(1 / d))
            elif leaf == "weight":
                p.uniform_(-math.sqrt(1 / (d * n_layers)), math.sqrt(1 / (d * n_layers)))
            else:
                p.zero_()

    # ---- gates ---------------------------------------------------------------------------------------------------
    def gates(self) -> list:
        return [layer.attn.gate for layer in self.layers if layer.attn.gate is not None]

    def expected_l0(self) -> torch.Tensor:
        return torch.stack([g.expected_l0() for g in self.gates()]).sum()

    def set_head_mask(self, mask) -> None:
        """Fix every head's gate to 1 (kept) or 0 (closed); ``None`` restores the learned/absent gates."""
        for i, layer in enumerate(self.layers):
            attn = layer.attn
            if mask is None or attn.n_heads == 0:
                attn.fixed_gate = None
            else:
                row = torch.as_tensor(mask[i][: attn.n_heads], dtype=torch.float32, device=self.output.bias.device)
                attn.fixed_gate = row

    def set_numerics(self, numerics) -> None:
        """Compute every GEMM of the workload at ``numerics`` (``hwsim.numerics.Numerics``: quantised operands,
        integer accumulation; ``hwsim.nn.quant``), or in float32 again with None."""
        for module in self.modules():
            if hasattr(module, "numerics") and module is not self:
                module.numerics = numerics

    def heads_open(self) -> list[int]:
        """Deterministic open gates per layer (all heads for an ungated model)."""
        out = []
        for layer in self.layers:
            g = layer.attn.gate
            out.append(int(g.deterministic_open().sum()) if g is not None else layer.attn.n_heads)
        return out

    def log_alphas(self) -> torch.Tensor | None:
        if not self.gated:
            return None
        return torch.stack([layer.attn.gate.log_alpha.detach() for layer in self.layers])

    # ---- forward -------------------------------------------------------------------------------------------------
    def non_gate_parameters(self):
        return [p for n, p in self.named_parameters() if not n.endswith("log_alpha")]

    def forward(self, tokens: torch.Tensor, mems: list | None = None, targets: torch.Tensor | None = None):
        """tokens (B, T) -> (NLL (B, T) if targets is given else final hidden states (B, T, d), new mems)."""
        t = tokens.shape[1]
        m = 0 if not mems else mems[0].shape[1]
        length = t + m
        h = self.drop_emb(self.output.embed(tokens))
        pos = self.drop_emb(self._positions(length).to(h))  # rows for distances L-1..0
        mask = attention_mask(t, m, self.spec.memory_len, self.same_length, tokens.device)
        uv = (self.u_bias, self.v_bias) if self.spec.nnlib else None
        new_mems = []
        for i, layer in enumerate(self.layers):
            mem = mems[i] if mems else None
            new_mems.append(self._update_mem(mem, h))
            h = layer(h, mem, pos, mask, uv)
        h = self._final(h)
        if targets is None:
            return h, new_mems
        return self.output.nll(h, targets), new_mems

    def forward_cached(self, tokens: torch.Tensor, state) -> torch.Tensor:
        """Final hidden states (B, t, d) of ``tokens`` that follow the context held in ``state`` (a
        :class:`hwsim.nn.decode.DecodeState`), which takes in the new tokens; incremental decoding. The layers are
        the segment pass's own: each gets the cached keys/values (or states) and the position keys computed once."""
        t = tokens.shape[1]
        h = self.drop_emb(self.output.embed(tokens))
        mask = state.mask(t, self.same_length)
        uv = (self.u_bias, self.v_bias) if self.spec.nnlib else None
        for i, layer in enumerate(self.layers):
            mem, cache = state.layer_context(i, h)
            h = layer(h, mem, None, mask, uv, cache=cache, position_keys=state.position_keys[i])
        state.advance(t)
        return self._final(h)

    def _final(self, h: torch.Tensor) -> torch.Tensor:
        if self.spec.nnlib:
            h = self.final_norm(h)
        return self.drop_out(h)

    def _positions(self, length: int) -> torch.Tensor:
        if self.spec.nnlib:
            return sinusoid_positions(length, self.spec.d_model, self.spec.clamp_len).to(self.output.bias.device)
        return self.pos_emb[-length:]

    def _update_mem(self, mem, h):
        if self.spec.memory_len == 0:
            return h.new_zeros((h.shape[0], 0, h.shape[2]))
        full = h if mem is None else torch.cat([mem, h], dim=1)
        return full[:, -self.spec.memory_len :].detach()

    def param_count(self) -> int:
        """Parameters the cost model counts: everything but the gate logits."""
        return sum(p.numel() for n, p in self.named_parameters() if not n.endswith("log_alpha"))


def build_model(spec: ModelSpec, gated: bool = False, **kwargs) -> LanguageModel:
    """The LM for ``spec`` (All-Attention or Transformer-XL); see :class:`LanguageModel` for keyword options."""
    return LanguageModel(spec, gated=gated, **kwargs)
