"""Evaluation with memory carried, the masked evaluator, checkpoint integrity, CLI output and errors."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from conftest import assert_one_line_error
from hwsim.errors import CheckpointError
from hwsim.nn.checkpoint import load_checkpoint, save_checkpoint
from hwsim.nn.evaluate import MaskedEvaluator, evaluate
from hwsim.nn.model import build_model
from nn_helpers import tiny_spec


def _corpus(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "corpus"
    root.mkdir(exist_ok=True)
    for split, n in (("train", 20), ("valid", 12), ("test", 5)):
        lines = [" ".join(f"w{x}" for x in rng.integers(0, 40, size=5)) for _ in range(n)]
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def _checkpoint(tmp_path, spec, gated=False, name="m.ckpt", seed=0):
    torch.manual_seed(seed)
    model = build_model(spec, gated=gated)
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (1.5 if n.endswith("log_alpha") else 0.3))
    data = {"kind": "word", "path": str(_corpus(tmp_path))}
    save_checkpoint(tmp_path / name, model=model, recipe={"model": spec.to_dict()}, data=data, vocab=[],
                    train_state={"step": 0}, history=[])
    return tmp_path / name, model


def test_memory_carried_equals_one_long_segment(tmp_path):
    # With M >= the row length and no same_length window, carrying the memory across segments of 4 must give the
    # same scores as one pass over each whole row (full causal attention): an independent check of the memory path.
    short = tiny_spec(vocab_size=50, segment_len=4, memory_len=64, pos_len=80)
    path, model = _checkpoint(tmp_path, short)
    res = evaluate(path, split="valid", max_tokens=64)
    corpus_rows = MaskedEvaluator(path, split="valid").rows[:, :9]  # 8 rows x 9 tokens -> 64 predictions
    long = dataclasses.replace(short, segment_len=8, memory_len=0)
    one_pass = build_model(long)
    one_pass.load_state_dict(model.state_dict())
    one_pass.eval()
    with torch.no_grad():
        nll, _ = one_pass(corpus_rows[:, :-1], None, corpus_rows[:, 1:])
    assert res.tokens == 64
    assert res.perplexity == pytest.approx(math.exp(float(nll.double().mean())), rel=1e-5)
    assert res.bits_per_token == pytest.approx(float(nll.double().mean()) / math.log(2), rel=1e-5)


def test_masked_evaluator_reuses_model_and_matches_deterministic_gates(tmp_path):
    spec = tiny_spec(vocab_size=50)
    path, model = _checkpoint(tmp_path, spec, gated=True)
    ev = MaskedEvaluator(path, split="valid")
    default = evaluate(path)
    assert default.heads_per_layer == tuple(model.heads_open())
    assert ev.perplexity(default.heads_per_layer).perplexity == pytest.approx(default.perplexity, rel=1e-9)
    fewer = ev.perplexity((1, 1, 1))
    assert fewer.heads_per_layer == (1, 1, 1) and fewer.perplexity != default.perplexity
    assert ev.perplexity((1, 1, 1)).perplexity == fewer.perplexity  # no state leaks between calls


def test_eval_cli_json(tmp_path, cli):
    path, _ = _checkpoint(tmp_path, tiny_spec(vocab_size=50))
    res = cli("eval", path, "--json", "--split", "test", "--heads-per-layer", "2")
    assert res.code == 0, res.err
    out = res.json()
    assert {"perplexity", "bits_per_token", "tokens", "split", "heads_per_layer"} <= set(out)
    assert out["split"] == "test" and out["heads_per_layer"] == [2, 2, 2]
    assert out["bits_per_token"] == pytest.approx(math.log2(out["perplexity"]))
    text = cli("eval", path)
    assert text.code == 0 and "perplexity" in text.out


def test_corrupt_and_mismatched_checkpoints(tmp_path, cli):
    path, _ = _checkpoint(tmp_path, tiny_spec(vocab_size=50))
    assert_one_line_error(cli("eval", tmp_path / "missing.ckpt"), "not found")
    weights = path / "model.safetensors"
    blob = weights.read_bytes()
    weights.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert_one_line_error(cli("eval", path), "checkpoint")
    weights.write_bytes(blob)
    meta = json.loads((path / "meta.json").read_text())
    (path / "meta.json").write_text("{not json")
    assert_one_line_error(cli("eval", path), "corrupt")
    meta["spec"]["d_model"] = 64  # weights no longer match the spec
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(path).build_model()
    assert_one_line_error(cli("eval", path), "do not match")
    (path / "meta.json").unlink()
    assert_one_line_error(cli("eval", path), "meta.json")


def test_eval_cli_bad_inputs(tmp_path, cli):
    path, _ = _checkpoint(tmp_path, tiny_spec(vocab_size=50))
    assert_one_line_error(cli("eval", path, "--heads-per-layer", "1,2"), "3 layers")
    assert_one_line_error(cli("eval", path, "--heads-per-layer", "5"), "outside")
    assert_one_line_error(cli("eval", path, "--split", "dev"), "split")
    assert_one_line_error(cli("eval", path, "--max-tokens", "0"), "max-tokens")
    assert_one_line_error(cli("eval", path, "--data", tmp_path / "nope", "--data-kind", "word"), "not found")
