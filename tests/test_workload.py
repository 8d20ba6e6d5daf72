"""Per-layer MACs and parameters against hand-derived formulas (tiny specs written out here, and the paper recipe)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwsim.spec import Family, ModelSpec, load_spec
from hwsim.workload import build_workload, layer_params

ROOT = Path(__file__).resolve().parents[1]

# d=8, 2 heads of 4, N=3 persistent vectors per head, T=2, M=3 (L=5), V=11, plain softmax, position table L rows.
TINY = ModelSpec(name="tiny", n_layers=3, d_model=8, n_heads=2, d_head=4, n_persistent=3, segment_len=2,
                 memory_len=3, vocab_size=11)  # fmt: skip
TINY_TXL = ModelSpec(name="tiny-txl", family=Family.TRANSFORMER_XL, n_layers=2, d_model=8, n_heads=2, d_head=4, d_ff=16,
                     segment_len=2, memory_len=3, vocab_size=11)  # fmt: skip
# The paper's Transformer-XL baseline (paper.md §4 item 10: nnlib MemoryTransformer, d 512, 8 x 64 heads,
# d_ff 2048, 16 layers).
TXL_PAPER = ModelSpec(name="txl-wt103-16l", family=Family.TRANSFORMER_XL, n_layers=16, d_model=512, n_heads=8,
                      d_head=64, d_ff=2048, segment_len=192, memory_len=192, pos_len=512, vocab_size=267735,
                      adaptive_cutoffs=(20000, 40000, 200000), adaptive_div=4)  # fmt: skip


def test_tiny_params_by_hand():
    # per head: W_q,W_k,W_v,W_r columns + W_o rows = 5*8*4 = 160; u, v slices 2*4 = 8; persistent k, v 2*3*4 = 24
    # -> 192 per head; pre-LN gain+bias and W_o bias = 3*8 = 24; an empty layer keeps only the W_o bias (8).
    w = build_workload(TINY, (2, 1, 0))
    assert [layer.params for layer in w.layers] == [2 * 192 + 24, 192 + 24, 8]
    assert w.params == 408 + 216 + 8
    # tied embedding 11*8 + output bias 11 + position table 5*8
    assert w.embedding_params == 88 + 11 + 40


def test_tiny_macs_by_hand():
    # per head, T=2, L=5, d=8, dh=4, N=3: q 2*8*4=64, k 5*8*4=160, v 160, r 160, content 2*4*5=40, position 40,
    # persistent scores 2*4*3=24, attn values 2*5*4=40, persistent values 2*3*4=24, out 2*4*8=64 -> 776
    w = build_workload(TINY, (2, 1, 0))
    assert [layer.macs for layer in w.layers] == [2 * 776, 776, 0]
    assert w.output.macs == 2 * 8 * 11  # logits T x d @ d x V
    assert w.macs == 3 * 776 + 176


def test_tiny_macs_with_batch():
    # every product scales with the batch B except r_proj (position keys once per segment): 776*B - 160*(B - 1)
    w = build_workload(TINY, (2, 2, 2), batch=3)
    assert w.layers[0].macs == 2 * (776 * 3 - 160 * 2)
    assert w.output.macs == 3 * 176


def test_tiny_txl_by_hand():
    # attention per head 5*8*4 + 2*4 = 168 (no persistent vectors), + 24; FF: LN 16 + 8*16 + 16 + 16*8 + 8 = 296
    w = build_workload(TINY_TXL, (2, 0))
    assert [layer.params for layer in w.layers] == [2 * 168 + 24 + 296, 8 + 296]
    # attention per head without the two persistent products (24 + 24): 776 - 48 = 728; FF 2 * T*d*d_ff = 512
    assert [layer.macs for layer in w.layers] == [2 * 728 + 512, 512]


def test_paper_recipe_counts():
    spec = load_spec(ROOT / "models" / "shim-wt103-16l.toml")
    w = build_workload(spec)
    assert w.params == 54_566_912  # 16 x (8 x 426,112 + 1,536), paper.md §3
    # adaptive embedding 18.81M + untied softmax 0.53M + pos_emb 512 x 512 (paper.md §2)
    assert w.embedding_params == 19_603_602
    # h*dh*(2Td + 3Ld + 3TL + 2TN), T=192, L=384, d=512, N=2048 (paper.md §3 per-token form times T, plus W_r R)
    assert w.layers[0].macs == 8 * 64 * (2 * 192 * 512 + 3 * 384 * 512 + 3 * 192 * 384 + 2 * 192 * 2048)


def test_paper_recipe_linear_in_heads():
    spec = load_spec(ROOT / "models" / "shim-wt103-16l.toml")
    one = build_workload(spec, (1,) * 16)
    for h in range(1, 9):
        w = build_workload(spec, (h,) * 16)
        assert w.params == 16 * (426_112 * h + 1_536)
        assert [layer.macs for layer in w.layers] == [h * layer.macs for layer in one.layers]
    # the shipped per-layer heads of the lambda = 0.02 run (paper.md §2): 59 heads kept
    heads = (5, 2, 5, 4, 3, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3)
    assert build_workload(spec, heads).params == 426_112 * 59 + 16 * 1_536


def test_txl_paper_baseline():
    w = build_workload(TXL_PAPER)
    # attention 8 x (5*512*64 + 2*64) + 3*512 = 1,313,280; FF 2*512 + 512*2048 + 2048 + 2048*512 + 512 = 2,100,736
    assert w.layers[0].params == 1_313_280 + 2_100_736  # "3.41M, the same as an All-Attention layer" (paper.md §3)
    assert w.params == 16 * 3_414_016
    # pruning a TXL layer keeps the FF block: 8 -> 0 heads removes only the attention part
    assert build_workload(TXL_PAPER, (0,) + (8,) * 15).layers[0].params == 512 + 2_100_736
    # MACs: attention without persistent products, FF 2*T*d*d_ff
    attn = 8 * 64 * (2 * 192 * 512 + 3 * 384 * 512 + 3 * 192 * 384)
    assert w.layers[0].macs == attn + 2 * 192 * 512 * 2048


def test_layer_params_accepts_arrays():
    h = np.arange(3)
    assert list(layer_params(TINY, h)) == [8, 216, 408]


@pytest.mark.parametrize("spec", [TINY, TINY_TXL])
def test_zero_heads_layer_has_no_attention_gemms(spec):
    w = build_workload(spec, (0,) * spec.n_layers)
    assert all(g.name.startswith("ff") for layer in w.layers for g in layer.gemms)


def test_shipped_txl_recipe_counts():
    """models/txl-wt103-16l.toml (the comparison baseline) has the hand-derived TXL counts above."""
    path = ROOT / "models" / "txl-wt103-16l.toml"
    if not path.exists():
        pytest.skip("TXL recipe not in this checkout")
    spec = load_spec(path)
    w = build_workload(spec)
    assert w.params == 16 * (1_313_280 + 2_100_736)
    assert w.embedding_params == 19_603_602  # same adaptive embedding/softmax and position table as the paper recipe
    # 25% of the heads pruned (6 per layer) removes only attention weights: 16 x 2 x 163,968
    assert w.params - build_workload(spec, (6,) * 16).params == 16 * 2 * (5 * 512 * 64 + 2 * 64)
