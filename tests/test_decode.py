"""Incremental decoding (hwsim.nn.decode) against independent paths: the segment pass (the ``segment`` policy must
reproduce its log-probabilities at every position, across segment boundaries), a naive sliding-window reference
(``window``), the torch flop counter against the decode workload's MACs, and ``hwsim generate`` end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from conftest import ROOT, assert_one_line_error
from hwsim.nn import decode
from hwsim.nn.attention import sinusoid_positions
from hwsim.nn.data import segments
from hwsim.nn.model import build_model
from hwsim.nn.prune import keep_masks, prune_model
from hwsim.workload import build_workload, decode_step
from nn_helpers import tiny_spec

TOKENS = 30  # T = 8: segments 0..3, three boundaries crossed


def _model(family: str, variant: str, style: str = "s2", **options):
    spec = tiny_spec(family, style=style) if style != "s2" else tiny_spec(family)
    torch.manual_seed(0)
    model = build_model(spec, gated=variant == "gated", init_log_alpha=0.5, **options).eval()
    with torch.no_grad():  # larger weights than the initialisation, so every term matters
        for name, p in model.named_parameters():
            if not name.endswith("log_alpha"):
                p.normal_(0, 0.2)
        if variant == "gated":  # some gates closed, some open
            for layer in model.layers:
                layer.attn.gate.log_alpha.copy_(torch.tensor([1.0, -1.0, 2.0, -0.5]))
    heads = (3, 0, 2)
    if variant == "masked":
        model.set_head_mask(keep_masks(np.random.default_rng(1).random((3, 4)), heads))
    if variant == "pruned":
        model = prune_model(model, keep_masks(np.random.default_rng(1).random((3, 4)), heads)).eval()
    return model


def _segment_log_probs(model, rows):
    out, mems = [], None
    with torch.no_grad():
        for x, _ in segments(rows, model.spec.segment_len):
            h, mems = model(x, mems)
            out.append(model.output.log_probs(h))
    return torch.cat(out, dim=1)


CASES = [("all_attention", v, "s2") for v in ("plain", "gated", "masked", "pruned")] + [
    ("transformer_xl", v, "s2") for v in ("plain", "gated", "pruned")] + [("transformer_xl", "plain", "nnlib")]


@pytest.mark.parametrize("family,variant,style", CASES)
@pytest.mark.parametrize("cache", ["kv", "states"])
def test_segment_policy_reproduces_the_segment_pass(family, variant, style, cache):
    model = _model(family, variant, style, output_scaling=variant == "gated")
    rows = torch.randint(0, model.spec.vocab_size, (2, TOKENS + 1), generator=torch.Generator().manual_seed(2))
    reference = _segment_log_probs(model, rows)
    state = decode.start(model, 2, "segment", cache)
    one_by_one = torch.cat([decode.feed(model, state, rows[:, i : i + 1]) for i in range(TOKENS)], dim=1)
    assert (one_by_one - reference).abs().max() <= 1e-5
    state = decode.start(model, 2, "segment", cache)  # a prompt in chunks that straddle the boundaries
    chunks = torch.cat([decode.feed(model, state, rows[:, :13]), decode.feed(model, state, rows[:, 13:TOKENS])], 1)
    assert (chunks - reference).abs().max() <= 1e-5


def test_segment_policy_with_same_length_attention():
    model = _model("all_attention", "plain", same_length=True)
    rows = torch.randint(0, model.spec.vocab_size, (1, TOKENS + 1), generator=torch.Generator().manual_seed(3))
    reference = _segment_log_probs(model, rows)
    state = decode.start(model, 1)
    got = torch.cat([decode.feed(model, state, rows[:, i : i + 1]) for i in range(TOKENS)], dim=1)
    assert (got - reference).abs().max() <= 1e-5


def _naive_window(model, tokens: torch.Tensor) -> torch.Tensor:
    """Sliding window by brute force: each layer's input states are kept for every token, and token p's layer output
    is the layer's segment pass over [states p-W+1..p-1 as memory ; p] (each token's states computed once, with its
    own window: what a rolling KV cache holds). No cache object, no mask but the layer's own."""
    spec = model.spec
    window = spec.memory_len + spec.segment_len
    states = [[] for _ in model.layers]
    out = []
    with torch.no_grad():
        for p in range(tokens.shape[1]):
            h = model.output.embed(tokens[:, p : p + 1])
            for i, layer in enumerate(model.layers):
                mem = torch.cat(states[i][-(window - 1) :], dim=1) if states[i] and window > 1 else None
                states[i].append(h)
                length = 1 + (0 if mem is None else mem.shape[1])
                pos = (sinusoid_positions(length, spec.d_model, spec.clamp_len) if spec.nnlib
                       else model.pos_emb[-length:])  # fmt: skip
                uv = (model.u_bias, model.v_bias) if spec.nnlib else None
                h = layer(h, mem, pos, torch.ones(1, length, dtype=torch.bool), uv)
            if spec.nnlib:
                h = model.final_norm(h)
            out.append(model.output.log_probs(h))
    return torch.cat(out, dim=1)


@pytest.mark.parametrize("family,variant", [("all_attention", "gated"), ("transformer_xl", "pruned")])
def test_window_policy_equals_a_naive_sliding_window(family, variant):
    model = _model(family, variant)
    rows = torch.randint(0, model.spec.vocab_size, (2, TOKENS), generator=torch.Generator().manual_seed(4))
    state = decode.start(model, 2, "window")
    got = torch.cat([decode.feed(model, state, rows[:, i : i + 1]) for i in range(TOKENS)], dim=1)
    assert state.length == model.spec.memory_len + model.spec.segment_len - 1  # evicted down to the window
    assert (got - _naive_window(model, rows)).abs().max() <= 1e-5
    for cache in ("kv", "states"):  # a prompt longer than the window, in chunks; the states cache alike
        state = decode.start(model, 2, "window", cache)
        chunks = torch.cat([decode.feed(model, state, rows[:, :25]), decode.feed(model, state, rows[:, 25:])], 1)
        assert (chunks - got).abs().max() <= 1e-5


@pytest.mark.parametrize("family", ["all_attention", "transformer_xl"])
@pytest.mark.parametrize("heads,context", [((4, 4, 4), 11), ((2, 0, 3), 5), ((1, 1, 0), 0)])
def test_flop_counter_of_a_decode_step_equals_the_decode_workload(family, heads, context):
    """The torch decode step (position keys computed once, before it) does exactly the decode workload's MACs."""
    spec = tiny_spec(family)
    model = build_model(spec).eval()
    if heads != spec.full_heads():
        model = prune_model(model, keep_masks(np.zeros((3, 4)), heads)).eval()
    model.requires_grad_(False)  # the counter's module hooks trip over parameters that want grads in inference mode
    batch = 3
    state = decode.start(model, batch)
    tokens = torch.randint(0, spec.vocab_size, (batch, context + 1))
    if context:
        decode.feed(model, state, tokens[:, :context])
    # the math backend: the counter has no formula for the CPU flash kernel SDPA picks for one query
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        decode.feed(model, state, tokens[:, context:])
    workload = build_workload(spec, heads, batch, decode_step(context))
    assert counter.get_total_flops() // 2 == workload.macs


def test_generate_is_deterministic_for_a_seed():
    model = _model("all_attention", "plain")
    a = decode.generate(model, [1, 2, 3], 20, temperature=1.0, top_k=10, seed=7)
    b = decode.generate(model, [1, 2, 3], 20, temperature=1.0, top_k=10, seed=7)
    c = decode.generate(model, [1, 2, 3], 20, temperature=1.0, top_k=10, seed=8)
    assert a.tokens == b.tokens and len(a.tokens) == 20 and a.tokens != c.tokens
    greedy = decode.generate(model, [1, 2, 3], 5, temperature=0)
    state = decode.start(model, 1)  # greedy by hand: argmax, fed back
    expected, log_probs = [], decode.feed(model, state, torch.tensor([[1, 2, 3]]))[:, -1]
    for _ in range(5):
        expected.append(int(log_probs.argmax()))
        log_probs = decode.feed(model, state, torch.tensor([[expected[-1]]]))[:, -1]
    assert list(greedy.tokens) == expected


def test_top_k_samples_only_the_k_most_likely():
    log_probs = torch.log_softmax(torch.tensor([[0.0, 3.0, 1.0, 2.0]]), dim=-1)
    draws = {int(decode.sample(log_probs, 1.0, 2, torch.Generator().manual_seed(s))) for s in range(50)}
    assert draws == {1, 3}


def test_cli_generate_on_the_shipped_ptb_model(cli):
    ckpt = ROOT / "models" / "ptb-small.ckpt"
    result = cli("generate", ckpt, "--prompt", "the company said", "--new-tokens", "50", "--seed", "0")
    assert result.code == 0, result.err
    words, line_breaks = len(result.out.split()), result.out.count("\n") - 1  # <eos> prints as a line break
    assert words + line_breaks == 50 and words > 25
    assert "tokens/s" in result.err
    again = cli("generate", ckpt, "--prompt", "the company said", "--new-tokens", "50", "--seed", "0", "--json")
    payload = again.json()
    assert len(payload["tokens"]) == 50 and payload["tokens_per_s"] > 0
    assert payload["text"].strip() == result.out.strip()  # the same seed, the same text
    note = cli("generate", ckpt, "--prompt", "the qwertyuiop rose", "--new-tokens", "3", "--json")
    assert note.code == 0 and "<unk>" in note.err and "qwertyuiop" in note.err
    assert note.json()["prompt_tokens"][1] == 1  # <unk> is id 1 of the PTB vocabulary


def test_cli_generate_on_a_byte_level_checkpoint(cli, tmp_path):
    from hwsim.nn.checkpoint import save_checkpoint

    text = "abc abd abe\n" * 40
    (tmp_path / "corpus").mkdir()
    for split in ("train", "valid", "test"):
        (tmp_path / "corpus" / f"{split}.txt").write_text(text)
    symbols = sorted(set(text.encode()))
    spec = tiny_spec(vocab_size=len(symbols))
    vocab = [chr(c) if 32 <= c < 127 else f"\\x{c:02x}" for c in symbols]
    save_checkpoint(tmp_path / "char.ckpt", model=build_model(spec), recipe={"model": spec.to_dict()},
                    data={"kind": "char", "path": str(tmp_path / "corpus")}, vocab=vocab, train_state={},
                    history=[])  # fmt: skip
    result = cli("generate", tmp_path / "char.ckpt", "--prompt", "ab", "--new-tokens", "12", "--json")
    assert result.code == 0, result.err
    assert len(result.json()["tokens"]) == 12 and set(result.json()["text"]) <= set(text)


@pytest.mark.parametrize("args,fragment", [
    (("--new-tokens", "-3"), "--new-tokens"),
    (("--new-tokens", "10000000"), "--new-tokens"),
    (("--prompt", "   "), "prompt is empty"),
    (("--temperature", "-1"), "--temperature"),
    (("--top-k", "20000"), "--top-k"),
    (("--policy", "sliding"), "policy"),
    (("--heads-per-layer", "9,9,9,9"), "heads"),
])  # fmt: skip
def test_cli_generate_bad_options(cli, args, fragment):
    assert_one_line_error(cli("generate", ROOT / "models" / "ptb-small.ckpt", *args), fragment)


def test_cli_generate_prompt_file_must_be_utf8(cli, tmp_path):
    bad = tmp_path / "prompt.txt"
    bad.write_bytes(b"the \xff\xfe company")
    assert_one_line_error(cli("generate", ROOT / "models" / "ptb-small.ckpt", "--prompt-file", bad), "UTF-8")
