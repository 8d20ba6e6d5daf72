"""Physical pruning: equivalence with fixed gates, parameter count equal to the cost model, head selection, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import assert_one_line_error
from hwsim.errors import HeadsError
from hwsim.nn.checkpoint import load_checkpoint, save_checkpoint
from hwsim.nn.model import build_model
from hwsim.nn.prune import head_scores, keep_masks, prune_model
from hwsim.workload import build_workload
from nn_helpers import tiny_spec


def _gated(spec, seed=0, scaling=True):
    torch.manual_seed(seed)
    model = build_model(spec, gated=True, output_scaling=scaling)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (1.5 if name.endswith("log_alpha") else 0.3))
    return model.eval()


@pytest.mark.parametrize("family", ["all_attention", "transformer_xl", "nnlib"])
@pytest.mark.parametrize("scaling", [True, False])
def test_pruned_equals_gated_with_fixed_gates(family, scaling):
    spec = tiny_spec("transformer_xl", style="nnlib", clamp_len=5) if family == "nnlib" else tiny_spec(family)
    model = _gated(spec, scaling=scaling)
    heads = (3, 0, 1)
    mask = keep_masks(head_scores(_Ck(spec), model), heads)
    pruned = prune_model(model, mask)
    model.set_head_mask(mask)
    x = torch.randint(0, 100, (2, 16))
    a1, ma = model(x[:, :8], None, x[:, 1:9])
    a2, _ = model(x[:, 8:], ma, x[:, :8])
    b1, mb = pruned(x[:, :8], None, x[:, 1:9])
    b2, _ = pruned(x[:, 8:], mb, x[:, :8])
    assert torch.allclose(a1, b1, atol=1e-5) and torch.allclose(a2, b2, atol=1e-5)
    wl = build_workload(spec, heads)
    assert pruned.param_count() == wl.params + wl.embedding_params
    assert pruned.heads_per_layer == heads


class _Ck:
    def __init__(self, spec):
        self.spec = spec


def test_keep_masks_by_score_with_ties():
    scores = np.array([[0.1, 3.0, -1.0, 3.0], [-np.inf, 2.0, 1.0, -np.inf]])
    mask = keep_masks(scores, (2, 1))
    assert mask.tolist() == [[False, True, False, True], [False, True, False, False]]
    assert keep_masks(scores, (3, 0))[0].tolist() == [True, True, False, True]
    with pytest.raises(HeadsError, match="cannot keep 3"):
        keep_masks(scores, (1, 3))


def test_gate_scores_are_log_alpha_and_open_gates_are_default(tmp_path):
    spec = tiny_spec()
    model = _gated(spec)
    ckpt = _save(tmp_path / "g.ckpt", model)
    scores = head_scores(ckpt)
    assert np.allclose(scores, torch.stack([l.attn.gate.log_alpha for l in model.layers]).detach().numpy())
    assert model.heads_open() == [int((row >= 0).sum()) for row in scores]


def test_importance_score_for_ungated_model(tmp_path):
    spec = tiny_spec()
    model = build_model(spec).eval()
    with torch.no_grad():
        attn = model.layers[0].attn
        attn.out_proj.weight.zero_()
        attn.out_proj.weight[:, 16:24] = 1.0  # only head 2 writes to the residual stream
    scores = head_scores(_save(tmp_path / "u.ckpt", model))
    assert scores[0].argmax() == 2 and scores[0][[0, 1, 3]].max() == 0.0


def _save(path, model):
    save_checkpoint(path, model=model, recipe={"model": model.spec.to_dict()}, data={"kind": "ptb"}, vocab=[],
                    train_state={"step": 0}, history=[])
    return load_checkpoint(path)


def test_cli_prune_and_eval_agree_with_masked(tmp_path, cli):
    spec = tiny_spec(vocab_size=10000, segment_len=8, memory_len=8)
    model = _gated(spec)
    src = tmp_path / "g.ckpt"
    _save(src, model)
    res = cli("prune", src, "--out", tmp_path / "p.ckpt", "--heads-per-layer", "2,1,0", "--json")
    assert res.code == 0, res.err
    payload = res.json()
    wl = build_workload(spec, (2, 1, 0))
    assert payload["params"] == payload["workload_params"] == wl.params + wl.embedding_params
    pruned = load_checkpoint(tmp_path / "p.ckpt")
    assert pruned.heads_per_layer == (2, 1, 0) and not pruned.gated
    masked = cli("eval", src, "--heads-per-layer", "2,1,0", "--max-tokens", "400", "--json").json()
    physical = cli("eval", tmp_path / "p.ckpt", "--max-tokens", "400", "--json").json()
    assert masked["tokens"] == physical["tokens"] == 400
    assert masked["perplexity"] == pytest.approx(physical["perplexity"], rel=1e-5)
    assert physical["heads_per_layer"] == [2, 1, 0]


def test_cli_prune_bad_inputs(tmp_path, cli):
    spec = tiny_spec()
    _save(tmp_path / "u.ckpt", build_model(spec))
    assert_one_line_error(cli("prune", tmp_path / "u.ckpt", "--out", tmp_path / "o"), "heads-per-layer")
    assert_one_line_error(cli("prune", tmp_path / "u.ckpt", "--out", tmp_path / "o", "--heads-per-layer", "9"), "outside")
    assert_one_line_error(cli("prune", tmp_path / "u.ckpt", "--out", tmp_path / "o", "--heads-per-layer", "1,x"),
                          "malformed")
    assert_one_line_error(cli("prune", tmp_path / "missing", "--out", tmp_path / "o", "--heads-per-layer", "1"),
                          "not found")
