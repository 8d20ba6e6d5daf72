"""The torch models against the cost model's parameter count and against a naive per-query reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hwsim.nn.attention import relative_shift
from hwsim.nn.model import build_model
from hwsim.spec import load_spec
from hwsim.workload import build_workload
from nn_helpers import tiny_spec


def _randomise(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.endswith("log_alpha"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model


@pytest.mark.parametrize(
    "spec",
    [tiny_spec(), tiny_spec(adaptive=True), tiny_spec("transformer_xl"), tiny_spec("transformer_xl", adaptive=True),
     tiny_spec("transformer_xl", style="nnlib")],
    ids=["aa", "aa-adaptive", "txl", "txl-adaptive", "txl-nnlib"],
)
@pytest.mark.parametrize("heads", [None, (4, 0, 2)])
def test_param_count_equals_workload(spec, heads):
    model = build_model(spec, gated=True, heads_per_layer=heads)
    wl = build_workload(spec, heads)
    assert model.param_count() == wl.params + wl.embedding_params


def test_paper_recipe_param_count():
    spec = load_spec("models/shim-wt103-16l.toml")
    with torch.device("meta"):
        model = build_model(spec)
    non_embedding = sum(p.numel() for n, p in model.named_parameters() if n.startswith("layers."))
    assert non_embedding == 16 * (426_112 * 8 + 1_536)  # paper.md §3: P_l = 426,112 h + 1,536 -> 54,566,912


def _naive_attention(attn, x, mem, pos, same_length, max_mem):
    """Per-query loops straight from the equations of paper.md §2 (S2 model)."""
    b, t, d = x.shape
    full = torch.cat([mem, x], 1) if mem is not None else x
    m = full.shape[1] - t
    xn = attn.norm(full)
    h, dh, n = attn.n_heads, attn.d_head, attn.n_persistent
    wq, wk, wv, wr = (getattr(attn, f"{k}_proj").weight for k in "qkvr")
    r = pos @ wr.t()  # (L, h*dh): row c <-> distance L-1-c
    out = torch.zeros(b, t, h * dh)
    for bi in range(b):
        for i in range(t):
            for hi in range(h):
                sl = slice(hi * dh, (hi + 1) * dh)
                q = xn[bi, m + i] @ wq.t()[:, sl]
                logits, vals = [], []
                for j in range(m + i + 1):
                    if same_length and j < m + i - max_mem:
                        continue
                    k = xn[bi, j] @ wk.t()[:, sl]
                    dist = m + i - j
                    rr = r[full.shape[1] - 1 - dist, sl]
                    logits.append((q + attn.u_bias[hi]) @ k + (q + attn.v_bias[hi]) @ rr)
                    vals.append(xn[bi, j] @ wv.t()[:, sl])
                for p in range(n):
                    logits.append(q @ (attn.mem_k[hi, p] * math.sqrt(dh)))
                    vals.append(attn.mem_v[hi, p] * math.sqrt(n))
                a = torch.softmax(torch.stack(logits) / math.sqrt(dh), 0)
                out[bi, i, sl] = (a.unsqueeze(1) * torch.stack(vals)).sum(0)
    return x + out @ attn.out_proj.weight.t() + attn.out_proj.bias


@pytest.mark.parametrize("same_length", [False, True])
@pytest.mark.parametrize("mem_len", [0, 5])
def test_attention_matches_naive_reference(same_length, mem_len):
    spec = tiny_spec(n_layers=1, segment_len=4, memory_len=5)
    model = _randomise(build_model(spec, same_length=same_length)).eval()
    attn = model.layers[0].attn
    torch.manual_seed(3)
    x = torch.randn(2, 4, 32)
    mem = torch.randn(2, mem_len, 32) if mem_len else None
    from hwsim.nn.attention import attention_mask

    length = 4 + mem_len
    pos = model.pos_emb[-length:]
    got = attn(x, mem, pos, attention_mask(4, mem_len, 5, same_length, "cpu"))
    want = _naive_attention(attn, x, mem, pos, same_length, 5)
    assert torch.allclose(got, want, atol=1e-4)


def test_relative_shift_maps_distances():
    t, m = 3, 2
    length = t + m
    bd = torch.arange(length).float().expand(1, t, length)  # column c holds its own index = distance L-1-c
    shifted = relative_shift(bd, m)
    for i in range(t):
        for j in range(m + i + 1):
            assert shifted[0, i, j] == length - 1 - (m + i - j)


def test_all_gates_open_equals_ungated_model():
    spec = tiny_spec()
    ungated = _randomise(build_model(spec)).eval()
    gated = build_model(spec, gated=True, output_scaling=True)
    missing, _ = gated.load_state_dict(ungated.state_dict(), strict=False)
    assert all(k.endswith("log_alpha") for k in missing)
    gated.eval()  # log alpha = 2.0 > 0: every deterministic gate is open
    x = torch.randint(0, 100, (2, 8))
    a, _ = ungated(x, None, x)
    b, _ = gated(x, None, x)
    assert torch.equal(a, b)
    gated.set_head_mask(np.ones((3, 4), dtype=bool))
    c, _ = gated(x, None, x)
    assert torch.equal(a, c)


def test_causal_and_memory_carried():
    spec = tiny_spec()
    model = _randomise(build_model(spec)).eval()
    x = torch.randint(0, 100, (1, 16))
    y = x.clone()
    y[0, 12:] = (y[0, 12:] + 1) % 100  # change the future
    h1, _ = model(x[:, :8])
    _, mem = model(x[:, :8])
    a, _ = model(x[:, 8:], mem)
    b, _ = model(y[:, 8:], mem)
    assert torch.allclose(a[:, :4], b[:, :4]) and not torch.allclose(a[:, 4:], b[:, 4:])
    c, _ = model(x[:, 8:], None)
    assert not torch.allclose(a, c)  # the memory matters


def test_adaptive_softmax_is_a_distribution_and_nll_matches():
    spec = tiny_spec(adaptive=True)
    model = _randomise(build_model(spec)).eval()
    x = torch.randint(0, 100, (2, 8))
    h, _ = model(x)
    logp = model.output.log_probs(h)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(2, 8), atol=1e-5)
    nll, _ = model(x, None, x)
    assert torch.allclose(nll, -logp.gather(-1, x.unsqueeze(-1)).squeeze(-1), atol=1e-5)


@pytest.mark.parametrize("n_layers", [2, 8])
def test_persistent_init_scale_follows_the_layer_count(n_layers):
    """S2 initialises m_k, m_v as U(+-sqrt(1/(d*L))) with L the model's own layer count (issue 13), not a fixed 16."""
    spec = tiny_spec(n_layers=n_layers, n_persistent=64)
    torch.manual_seed(0)
    model = build_model(spec)
    bound = math.sqrt(1 / (32 * n_layers))  # d = 32
    for layer in model.layers:
        for p in (layer.attn.mem_k, layer.attn.mem_v):
            assert p.abs().max() <= bound
            assert p.abs().max() > 0.95 * bound  # 64x4x8 uniform draws reach the bound closely
            assert abs(p.pow(2).mean().item() - bound**2 / 3) < 0.1 * bound**2 / 3  # variance of U(-b, b)


def test_nnlib_txl_param_count_by_hand():
    """nnlib MemoryTransformer style (issue 13): no position table, one u/v for all layers, a final LayerNorm."""
    spec = tiny_spec("transformer_xl", style="nnlib")  # 3 layers, d 32, 4 heads x 8, d_ff 48, vocab 100, pos_len 24
    attention = 4 * 32 * 32 + (32 * 32 + 32) + 2 * 32  # W_q, W_k, W_v, W_r; W_o and its bias; pre-LN
    ff = 2 * 32 + (32 * 48 + 48) + (48 * 32 + 32)  # pre-LN; W1, b1; W2, b2
    layers = 3 * (attention + ff)  # 25,296: no u/v inside the layers
    assert layers == 25_296
    shared = 2 * 4 * 8 + 2 * 32  # u and v (H x d_h each), final LayerNorm
    embedding = 100 * 32 + 100  # tied embedding/softmax and its bias; sinusoids have no parameters
    model = build_model(spec)
    assert model.param_count() == layers + shared + embedding == 28_724
    s2 = build_model(tiny_spec("transformer_xl"))  # S2 scaffold: u/v per layer (3 x 64) and a 24 x 32 table R
    assert s2.param_count() == layers + 3 * 64 + 24 * 32 + embedding
    names = {n for n, _ in model.named_parameters()}
    assert not any(n.startswith("layers.") and n.endswith(("u_bias", "v_bias")) for n in names)
    assert {"u_bias", "v_bias", "final_norm.weight", "final_norm.bias"} <= names and "pos_emb" not in names


def test_sinusoid_positions_by_hand():
    """Rows for distances L-1..0 = [sin(k w), cos(k w)], w = 10000^(-2i/d), distances clamped at clamp_len."""
    from hwsim.nn.attention import sinusoid_positions

    got = sinusoid_positions(5, 4, clamp_len=2)  # distances 4, 3, 2, 1, 0 -> 2, 2, 2, 1, 0; w = 1, 1/100
    def row(k):
        return [math.sin(k), math.sin(k / 100), math.cos(k), math.cos(k / 100)]
    want = torch.tensor([row(2), row(2), row(2), row(1), row(0)])
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(sinusoid_positions(5, 4)[0], torch.tensor(row(4)), atol=1e-6)  # no clamp


def test_nnlib_txl_uses_shared_uv_and_sinusoids():
    """Changing the one shared u changes every layer's logits; the model feeds the clamped sinusoids to W_r."""
    from hwsim.nn.attention import sinusoid_positions

    spec = tiny_spec("transformer_xl", style="nnlib", clamp_len=5)
    torch.manual_seed(0)
    model = build_model(spec).eval()
    assert torch.equal(model._positions(12), sinusoid_positions(12, 32, 5))
    seen = []
    for layer in model.layers:
        layer.attn.r_proj.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    x = torch.randint(0, 100, (2, 8))
    base, _ = model(x, None, x)
    assert len(seen) == 3 and all(torch.equal(s, sinusoid_positions(8, 32, 5)) for s in seen)
    with torch.no_grad():
        model.u_bias[1] += 1.0
    moved, _ = model(x, None, x)
    assert not torch.allclose(base, moved)
    assert all(torch.equal(layer.attn.head_index, torch.arange(4)) for layer in model.layers)


def test_bad_style_is_a_spec_error():
    from hwsim.errors import SpecError

    with pytest.raises(SpecError, match="style must be one of s2, nnlib"):
        tiny_spec("transformer_xl", style="nnlibb")
    with pytest.raises(SpecError, match="clamp_len must be a non-negative integer"):
        tiny_spec("transformer_xl", style="nnlib", clamp_len=-1)
    assert "style" not in tiny_spec().to_dict() and tiny_spec(style="nnlib").to_dict()["style"] == "nnlib"
