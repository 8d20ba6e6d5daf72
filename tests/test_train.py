"""Training: a short PTB run beats the unigram model, exact resume, gating phase, LAMB, schedule, CLI errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import assert_one_line_error
from hwsim.nn.checkpoint import load_checkpoint
from hwsim.nn.data import DataSource, load_corpus
from hwsim.nn.optim import Lamb, Schedule, lr_factor
from hwsim.nn.train import train

PTB_RECIPE = """
[model]
name = "ptb-test"
n_layers = 2
d_model = 32
n_heads = 4
d_head = 8
n_persistent = 8
segment_len = 32
memory_len = 32
vocab_size = 10000
adaptive_cutoffs = [2000]  # adaptive softmax: ~4x cheaper output layer, so the run fits the suite's budget
adaptive_div = 4
[train]
lr = 1e-2
warmup_steps = 10
steps = {steps}
batch_size = 8
dropout_emb = 0.0
dropout_attn = 0.0
dropout_proj = 0.0
dropout_out = 0.0
eval_every = 1000
eval_tokens = 4000
[gates]
lambda = 0.5
steps = 6
lr = 1e-3
gate_lr_mult = 100.0
sparsity_warmup_steps = 2
"""

TINY_RECIPE = """
[model]
name = "tiny"
n_layers = 2
d_model = 16
n_heads = 2
d_head = 8
n_persistent = 4
segment_len = 4
memory_len = 4
vocab_size = 40
[train]
optimizer = "{opt}"
lr = 1e-2
warmup_steps = 2
steps = 6
batch_size = 2
eval_every = 3
eval_tokens = 16
[gates]
lambda = 0.1
steps = 6
sparsity_warmup_steps = 3
[data]
kind = "word"
path = "{data}"
"""


def _unigram_perplexity(tokens: int) -> float:
    """Independent reference: a unigram model estimated on PTB train, scored on the same validation tokens."""
    corpus = load_corpus(DataSource())
    counts = np.bincount(corpus.stream("train"), minlength=len(corpus.vocab))
    rows = corpus.stream("valid")[: (len(corpus.stream("valid")) // 8) * 8].reshape(8, -1)
    targets = rows[:, 1 : 1 + tokens // 8]
    return float(np.exp(-np.log(counts[targets] / counts.sum()).mean()))


@pytest.fixture
def one_thread():
    """Tiny models run best single-threaded; two OpenMP threads on a shared 2-core machine slow it down 3x."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_short_ptb_run_beats_unigram_then_gating_phase(tmp_path, cli, one_thread):
    recipe = tmp_path / "ptb.toml"
    recipe.write_text(PTB_RECIPE.format(steps=600))
    res = cli("train", "--recipe", recipe, "--out", tmp_path / "base.ckpt", "--device", "cpu", "--quiet")
    assert res.code == 0, res.err
    out = res.json()
    unigram = _unigram_perplexity(4000)
    assert 600 < unigram < 800  # PTB unigram perplexity is ~700
    assert out["valid_perplexity"] < 0.6 * unigram, (out, unigram)
    res = cli("train", "--recipe", recipe, "--out", tmp_path / "gated.ckpt", "--gates", "--lambda", "0.5",
              "--init-from", tmp_path / "base.ckpt", "--device", "cpu", "--quiet")
    assert res.code == 0, res.err
    assert "heads open per layer" in res.err
    ckpt = load_checkpoint(tmp_path / "gated.ckpt")
    assert ckpt.gated and ckpt.train_state["phase"] == "gates"
    last = ckpt.history[-1]
    assert len(last["heads_open"]) == 2 and len(last["log_alpha"]) == 2 and last["lambda"] == 0.5
    # a strong sparsity loss pushes the gate logits down from their initial 2.0 (on average; CE may lift a few)
    assert np.mean(last["log_alpha"]) < 1.9


def _tiny_corpus(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "corpus"
    root.mkdir()
    for split, n in (("train", 60), ("valid", 10), ("test", 10)):
        lines = [" ".join(f"w{x}" for x in rng.integers(0, 30, size=6)) for _ in range(n)]
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.parametrize("opt", ["adamw", "lamb", "lamb-s2 nnlib"])
def test_resume_is_exact(tmp_path, opt):
    recipe = tmp_path / "tiny.toml"
    text = TINY_RECIPE.format(opt=opt.split()[0], data=_tiny_corpus(tmp_path))
    if opt.endswith("nnlib"):  # the authors' baseline as released: nnlib-style TXL trained with S2's LAMB
        text = text.replace("n_persistent = 4", 'family = "transformer_xl"\nd_ff = 16\nstyle = "nnlib"\nclamp_len = 6')
    recipe.write_text(text)
    full = train(recipe, tmp_path / "full.ckpt", progress=False)
    train(recipe, tmp_path / "part.ckpt", progress=False, stop_after=3)
    resumed = train(None, tmp_path / "part.ckpt", resume=True, progress=False)
    a, b = load_checkpoint(tmp_path / "full.ckpt"), load_checkpoint(tmp_path / "part.ckpt")
    assert resumed.steps == full.steps == 6
    for key, value in a.weights.items():
        assert torch.equal(value, b.weights[key]), key
    # the gating phase (gate noise, gate lr group) resumes exactly too
    train(recipe, tmp_path / "g_full", gates=True, init_from=tmp_path / "full.ckpt", progress=False)
    train(recipe, tmp_path / "g_part", gates=True, init_from=tmp_path / "full.ckpt", progress=False, stop_after=3)
    train(None, tmp_path / "g_part", resume=True, progress=False)
    a, b = load_checkpoint(tmp_path / "g_full"), load_checkpoint(tmp_path / "g_part")
    for key, value in a.weights.items():
        assert torch.equal(value, b.weights[key]), key
    assert [h["heads_open"] for h in a.history] == [h["heads_open"] for h in b.history]


def test_training_methods_are_switches(tmp_path):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE.format(opt="adamw", data=_tiny_corpus(tmp_path)))
    train(recipe, tmp_path / "base", progress=False)
    overrides = {"gates": {"proper_init": False, "output_scaling": False, "sparsity_warmup": False, "steps": 1}}
    train(recipe, tmp_path / "abl", gates=True, init_from=tmp_path / "base", overrides=overrides, progress=False)
    ckpt = load_checkpoint(tmp_path / "abl")
    assert ckpt.model_options["output_scaling"] is False and ckpt.model_options["init_log_alpha"] == 0.0
    assert ckpt.history[-1]["lambda"] == 0.1  # no ramp: full lambda from the first step
    model = ckpt.build_model()
    assert not any(layer.attn.output_scaling for layer in model.layers)


def test_lamb_step_matches_equations():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    opt = Lamb([w], lr=0.1, betas=(0.9, 0.999), eps=0.0, weight_decay=0.0)
    w.grad = torch.tensor([1.0, -2.0])
    opt.step()
    # step 1: m_hat = g, v_hat = g^2 -> r = sign(g) = (1, -1); trust = ||w|| / ||r|| = 5 / sqrt(2)
    want = torch.tensor([3.0, 4.0]) - 0.1 * (5 / math.sqrt(2)) * torch.tensor([1.0, -1.0])
    assert torch.allclose(w.detach(), want)


def _lamb_by_parameter(params, grads_per_step, *, lr, b1, b2, eps, wd, bias_correction, max_norm):
    """Reference LAMB, one parameter at a time in plain tensor ops (a parameter without a gradient is skipped and
    keeps its own step count)."""
    ws = [p.clone() for p in params]
    ms, vs, ts = [torch.zeros_like(w) for w in ws], [torch.zeros_like(w) for w in ws], [0] * len(ws)
    for grads in grads_per_step:
        for i, g in enumerate(grads):
            if g is None:
                continue
            ts[i] += 1
            ms[i] = b1 * ms[i] + (1 - b1) * g
            vs[i] = b2 * vs[i] + (1 - b2) * g * g
            c1, c2 = (1 - b1 ** ts[i], 1 - b2 ** ts[i]) if bias_correction else (1.0, 1.0)
            r = (ms[i] / c1) / ((vs[i] / c2).sqrt() + eps) + wd * ws[i]
            wn = ws[i].norm() if max_norm is None else ws[i].norm().clamp(0, max_norm)
            trust = wn / r.norm() if wn > 0 and r.norm() > 0 else 1.0
            ws[i] = ws[i] - lr * trust * r
    return ws


@pytest.mark.parametrize("s2", [False, True])
def test_multi_tensor_lamb_equals_a_loop_over_parameters(s2):
    """The optimizer steps all tensors of a group at once (torch._foreach_*); a per-parameter reference from the
    equations gives the same weights, including a parameter that has no gradient in some steps and a zero one."""
    from hwsim.nn.optim import OptimizerKind, build_optimizer

    torch.manual_seed(0)
    shapes = [(3, 4), (5,), (2, 2, 2), (1,)]
    params = [torch.randn(s, requires_grad=True) for s in shapes]
    params[3].data.zero_()  # ||w|| = 0 -> trust ratio 1
    steps = [[torch.randn(s) for s in shapes] for _ in range(4)]
    steps[1][2] = None  # no gradient this step: skipped, its step count lags
    start = [p.detach().clone() for p in params]
    kind = OptimizerKind.LAMB_S2 if s2 else OptimizerKind.LAMB
    opt = build_optimizer(kind, [{"params": params, "weight_decay": 0.01}], lr=0.05, betas=(0.9, 0.99),
                          weight_decay=0.0)  # fmt: skip
    for grads in steps:
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
    want = _lamb_by_parameter(start, steps, lr=0.05, b1=0.9, b2=0.99, eps=opt.defaults["eps"], wd=0.01,
                              bias_correction=not s2, max_norm=10.0 if s2 else None)  # fmt: skip
    for p, w in zip(params, want):
        assert torch.allclose(p.detach(), w, rtol=1e-6, atol=1e-7)


def test_released_lamb_step_by_hand():
    """LAMB as S2 releases it (issue 13): no bias correction, eps after the square root, ||w|| clamped at 10 in the
    trust ratio, LN gains as 1 + w (gain_offset). Two steps with weight decay, where bias correction is visible."""
    from hwsim.nn.optim import OptimizerKind, build_optimizer

    w = torch.tensor([30.0, 40.0], requires_grad=True)  # ||w|| = 50 -> clamped to 10
    gain = torch.tensor([1.0, 1.0], requires_grad=True)  # an LN gain at init: w = gain - 1 = 0 -> trust 1
    groups = [{"params": [w], "weight_decay": 0.01}, {"params": [gain], "weight_decay": 0.0, "gain_offset": 1.0}]
    opt = build_optimizer(OptimizerKind.LAMB_S2, groups, lr=0.1, betas=(0.9, 0.999), weight_decay=0.0)
    w.grad, gain.grad = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 0.25])
    opt.step()
    # step 1 by hand: m = 0.1 g = (0.1, -0.2), v = 0.001 g^2 = (0.001, 0.004), no 1/(1 - b^t) factors
    r = [0.1 / (math.sqrt(0.001) + 1e-8) + 0.01 * 30, -0.2 / (math.sqrt(0.004) + 1e-8) + 0.01 * 40]
    trust = 10 / math.hypot(*r)
    w1 = [30 - 0.1 * trust * r[0], 40 - 0.1 * trust * r[1]]
    assert w.detach().tolist() == pytest.approx(w1, rel=1e-6)
    assert w1 == pytest.approx([29.21829, 40.62366], abs=1e-4)
    # gain: trust ratio 1 because ||gain - 1|| = 0; r = m / sqrt(v) = sign(g) sqrt(0.1^2 / 0.001) = sqrt(10) each
    assert gain.detach().tolist() == pytest.approx([1 - 0.1 * math.sqrt(10)] * 2, rel=1e-6)
    w.grad, gain.grad = torch.tensor([3.0, 1.0]), torch.tensor([0.0, 0.0])
    opt.step()
    m = [0.9 * 0.1 + 0.1 * 3, 0.9 * -0.2 + 0.1 * 1]  # (0.39, -0.08)
    v = [0.999 * 0.001 + 0.001 * 9, 0.999 * 0.004 + 0.001 * 1]  # (0.009999, 0.004996)
    r = [m[i] / (math.sqrt(v[i]) + 1e-8) + 0.01 * w1[i] for i in range(2)]
    trust = 10 / math.hypot(*r)
    assert w.detach().tolist() == pytest.approx([w1[i] - 0.1 * trust * r[i] for i in range(2)], rel=1e-6)
    # hwsim's default LAMB (bias-corrected, no clamp) takes a different second step from the same start
    w_bc = torch.tensor([30.0, 40.0], requires_grad=True)
    bc = build_optimizer(OptimizerKind.LAMB, [{"params": [w_bc], "weight_decay": 0.01}], lr=0.1, betas=(0.9, 0.999),
                         weight_decay=0.0)
    for g in ([1.0, -2.0], [3.0, 1.0]):
        w_bc.grad = torch.tensor(g)
        bc.step()
    assert abs(w_bc[0].item() - w[0].item()) > 0.1


def test_released_lamb_groups_layer_norm_gains(tmp_path):
    """With optimizer = "lamb-s2" the LN gains (and only they) form the gain_offset = 1 group."""
    from hwsim.nn.config import train_config
    from hwsim.nn.model import build_model
    from hwsim.nn.train import _param_groups
    from nn_helpers import tiny_spec

    model = build_model(tiny_spec("transformer_xl", style="nnlib"))
    groups = _param_groups(model, train_config({"optimizer": "lamb-s2"}), None, 0.01)
    gains = [g for g in groups if g.get("gain_offset") == 1.0]
    names = {id(p): n for n, p in model.named_parameters()}
    assert len(gains) == 1
    assert sorted(names[id(p)] for p in gains[0]["params"]) == sorted(
        n for n in names.values() if "norm" in n and n.endswith("weight"))
    assert len(gains[0]["params"]) == 3 * 2 + 1  # attention and FF pre-LN per layer, the final LayerNorm
    assert not any("gain_offset" in g for g in _param_groups(model, train_config({"optimizer": "lamb"}), None, 0.01))


def test_schedule_warmup_cosine_constant():
    kw = dict(warmup_steps=4, total_steps=14, min_lr_ratio=0.1)
    assert lr_factor(0, schedule=Schedule.COSINE, **kw) == pytest.approx(0.25)
    assert lr_factor(4, schedule=Schedule.COSINE, **kw) == pytest.approx(1.0)
    assert lr_factor(9, schedule=Schedule.COSINE, **kw) == pytest.approx(0.55)  # half way: 0.1 + 0.9 * 0.5
    assert lr_factor(14, schedule=Schedule.COSINE, **kw) == pytest.approx(0.1)
    assert lr_factor(10, schedule=Schedule.CONSTANT, **kw) == 1.0


def test_train_cli_bad_inputs(tmp_path, cli):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE.format(opt="adamw", data=_tiny_corpus(tmp_path)))
    out = tmp_path / "o"
    assert_one_line_error(cli("train", "--out", out), "--recipe")
    assert_one_line_error(cli("train", "--recipe", recipe, "--out", out, "--gates"), "--init-from")
    assert_one_line_error(cli("train", "--recipe", recipe, "--out", out, "--steps", "0"), "--steps")
    assert_one_line_error(cli("train", "--recipe", tmp_path / "nope.toml", "--out", out), "not found")
    assert_one_line_error(cli("train", "--recipe", recipe, "--out", out, "--data", tmp_path / "nodir"), "not found")
    assert_one_line_error(cli("train", "--out", tmp_path / "never", "--resume"), "checkpoint not found")
    bad = tmp_path / "bad.toml"
    bad.write_text(recipe.read_text().replace("batch_size = 2", "batch_size = 2\nbogus = 1"))
    assert_one_line_error(cli("train", "--recipe", bad, "--out", out), "unknown key", "bogus")
    bad.write_text(recipe.read_text().replace('optimizer = "adamw"', 'optimizer = "sgd"'))
    assert_one_line_error(cli("train", "--recipe", bad, "--out", out), "optimizer")
    bad.write_text(recipe.read_text().replace("vocab_size = 40", "vocab_size = 10"))
    assert_one_line_error(cli("train", "--recipe", bad, "--out", out), "vocab")
    bad.write_text(recipe.read_text().replace("batch_size = 2", "batch_size = 2\naccum_steps = 3"))
    assert_one_line_error(cli("train", "--recipe", bad, "--out", out), "accum_steps", "multiple")
    bad.write_text(recipe.read_text().replace("batch_size = 2", "batch_size = 2\naccum_steps = 0"))
    assert_one_line_error(cli("train", "--recipe", bad, "--out", out), "accum_steps")


@pytest.mark.parametrize("gated", [False, True])
def test_gradient_accumulation_equals_the_whole_batch(gated):
    """accum_steps = 2: two half-batch forward/backward passes, each over its rows' own memory, then one optimizer
    step, give the weights and memory of one whole-batch step (no dropout; gates fixed at their mean, so no sampling);
    E[L0] counts once."""
    import copy

    from hwsim.nn.model import build_model
    from hwsim.nn.step import train_step
    from nn_helpers import tiny_spec

    spec = tiny_spec("all_attention", adaptive=True)
    torch.manual_seed(0)
    whole = build_model(spec, gated=gated, output_scaling=gated)
    for p in whole.parameters():
        p.data.normal_(0, 0.3)
    split = copy.deepcopy(whole)
    x = torch.randint(0, spec.vocab_size, (4, 3 * spec.segment_len + 1))
    results = []
    for model, accum in ((whole, 1), (split, 2)):
        model.train()
        if gated:
            for layer in model.layers:  # deterministic gates: the hard-concrete mean, as in evaluation
                layer.attn.fixed_gate = layer.attn.gate.eval()().detach()
        # plain SGD without clipping: the update is the gradient itself, so a wrong 1/accum_steps weight or an E[L0]
        # term counted twice would show (Adam-like optimisers and clipping would hide a scale error)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        mems, losses = None, []
        for seg in range(3):
            xs = x[:, seg * spec.segment_len : (seg + 1) * spec.segment_len + 1]
            loss, mems = train_step(model, opt, xs, mems, lam=0.1 if gated else None, accum_steps=accum)
            losses.append(float(loss))
        results.append((model, mems, losses))
    (a, mems_a, loss_a), (b, mems_b, loss_b) = results
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, rtol=1e-4, atol=1e-6)
    for ma, mb in zip(mems_a, mems_b):
        assert torch.allclose(ma, mb, rtol=1e-4, atol=1e-5)
