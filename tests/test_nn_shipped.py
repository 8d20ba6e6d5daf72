"""The Penn Treebank checkpoint shipped in models/ (the default sweep's model): small, gated, some heads closed,
consistent with the cost model and with its recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwsim.nn.checkpoint import load_checkpoint
from hwsim.nn.evaluate import MaskedEvaluator
from hwsim.nn.prune import head_scores, keep_masks, prune_model
from hwsim.spec import load_spec
from hwsim.workload import build_workload

ROOT = Path(__file__).resolve().parents[1]
CKPT = ROOT / "models" / "ptb-small.ckpt"


def test_shipped_checkpoint_is_small_gated_and_matches_recipe():
    size = sum(f.stat().st_size for f in CKPT.iterdir())
    assert size < 8 * 2**20
    ckpt = load_checkpoint(CKPT)
    assert ckpt.spec == load_spec(ROOT / "models" / "ptb-small.toml")
    assert ckpt.gated and ckpt.train_state["phase"] == "gates"
    scores = head_scores(ckpt)
    open_heads = (scores >= 0).sum(axis=1)
    assert 0 < open_heads.sum() < ckpt.spec.total_heads  # some heads are closed, some open
    assert len(np.unique(np.round(scores, 4))) > ckpt.spec.n_layers  # a meaningful ranking, not ties
    assert ckpt.history[-1]["heads_open"] == open_heads.tolist()


def test_shipped_checkpoint_prunes_to_cost_model_size_and_evaluates():
    ckpt = load_checkpoint(CKPT)
    model = ckpt.build_model()
    heads = tuple(model.heads_open())
    pruned = prune_model(model, keep_masks(head_scores(ckpt, model), heads))
    wl = build_workload(ckpt.spec, heads)
    assert pruned.param_count() == wl.params + wl.embedding_params
    res = MaskedEvaluator(CKPT, max_tokens=2000).perplexity(heads)
    assert res.tokens == 2000 and 20 < res.perplexity < 400  # far below the unigram ~700
