"""Perplexity / bits per token over a split, with the memory carried across segments (as S2/S3 evaluate).

The split is cut into ``batch_size`` contiguous rows (S3 evaluates with batch 8), processed segment by segment with
the memory of the previous segment; every token of the rows except the first of each row is predicted once.
``max_tokens`` caps the evaluated tokens (the first ``max_tokens // batch_size`` positions of each row) for cheap
sweeps; ``tokens`` in the result says how many were scored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hwsim.errors import CheckpointError, DataError, HeadsError
from hwsim.heads import validate_heads

EVAL_BATCH = 8  # S3: evaluation uses batch 8
MAX_MEAN_NLL = 700.0  # math.exp overflows a float just above 709 nats


@dataclass(frozen=True, kw_only=True)
class EvalResult:
    perplexity: float
    bits_per_token: float
    tokens: int
    split: str
    heads_per_layer: tuple[int, ...]
    numerics: str = "float"  # hwsim.numerics.Numerics.label of the evaluation

    def to_dict(self) -> dict:
        return {
            "perplexity": self.perplexity,
            "bits_per_token": self.bits_per_token,
            "tokens": self.tokens,
            "split": self.split,
            "heads_per_layer": list(self.heads_per_layer),
            "numerics": self.numerics,
        }


@torch.inference_mode()
def stream_nll(model, rows: torch.Tensor, segment_len: int, max_tokens: int | None = None) -> tuple[float, int]:
    """(sum of NLL in nats, tokens scored) over ``rows`` (B, n) with memory carried."""
    from hwsim.nn.data import segments

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count, mems = 0.0, 0, None
    for x, y in segments(rows, segment_len, max_tokens):
        nll, mems = model(x.to(device), mems, y.to(device))
        total += float(nll.double().sum())
        count += y.numel()
    model.train(was_training)
    return total, count


def result_from_nll(total: float, count: int, split: str, heads, numerics: str = "float") -> EvalResult:
    """The result; a non-finite loss (NaN or inf weights, overflow) is an error, never a reported number."""
    mean = total / max(count, 1)
    if not math.isfinite(mean) or mean > MAX_MEAN_NLL:
        raise CheckpointError(f"evaluation gave a non-finite loss ({mean!r} nats/token over {count} tokens): "
                              "the model's weights or activations are NaN or infinite")
    return EvalResult(
        perplexity=math.exp(mean),
        bits_per_token=mean / math.log(2),
        tokens=count,
        split=split,
        heads_per_layer=tuple(int(h) for h in heads),
        numerics=numerics,
    )


class MaskedEvaluator:
    """Loads a checkpoint and a split once; ``perplexity(heads)`` keeps the best-scoring heads of each layer."""

    def __init__(
        self,
        checkpoint_path: str | Path,
        split: str = "valid",
        max_tokens: int | None = None,
        device: str = "cpu",
        data=None,
        batch_size: int = EVAL_BATCH,
    ) -> None:
        from hwsim.nn.checkpoint import load_checkpoint
        from hwsim.nn.data import DataSource, batchify, check_same_level, load_corpus
        from hwsim.nn.prune import head_scores

        self.checkpoint = load_checkpoint(checkpoint_path)
        self.spec = self.checkpoint.spec
        self.split = split
        self.max_tokens = max_tokens
        self.model = self.checkpoint.build_model(device)
        self.scores = head_scores(self.checkpoint, self.model)
        if max_tokens is not None and (isinstance(max_tokens, bool) or max_tokens < 1):
            raise DataError(f"max_tokens must be a positive number of tokens, got {max_tokens!r}")
        source = data if data is not None else DataSource.from_dict(self.checkpoint.data)
        check_same_level(source, self.checkpoint.data, f"checkpoint {checkpoint_path}")
        corpus = load_corpus(source, self.checkpoint.vocab or None)
        stream = corpus.stream(split)
        if len(stream) and int(stream.max()) >= self.spec.vocab_size:
            raise DataError(f"the {source.kind.value} corpus has {len(corpus.vocab):,} symbols but the model's "
                            f"vocabulary has only {self.spec.vocab_size:,}: it was trained on other data")
        self.rows = batchify(stream, batch_size)
        if max_tokens is not None and max_tokens < self.rows.shape[0]:
            self.rows = self.rows[:max_tokens]  # "at most max_tokens": fewer rows, one token each

    def perplexity(self, heads_per_layer=None, numerics=None) -> EvalResult:
        """Perplexity keeping ``heads_per_layer`` heads by score, computed at ``numerics`` (``hwsim.numerics``:
        quantised GEMMs) or in float32 (None)."""
        from hwsim.nn.prune import keep_masks

        heads = checkpoint_heads(self.checkpoint, heads_per_layer or self.checkpoint.heads_per_layer)
        if heads == self.checkpoint.heads_per_layer and not self.checkpoint.gated:
            self.model.set_head_mask(None)
        else:
            self.model.set_head_mask(keep_masks(self.scores, heads))
        self.model.set_numerics(numerics)
        try:
            total, count = stream_nll(self.model, self.rows, self.spec.segment_len, self.max_tokens)
        finally:
            self.model.set_head_mask(None)
            self.model.set_numerics(None)
        return result_from_nll(total, count, self.split, heads, "float" if numerics is None else numerics.label)


def masked_model(checkpoint, heads_per_layer, device: str = "cpu"):
    """The checkpoint's model keeping ``heads_per_layer`` heads per layer (by :func:`hwsim.nn.prune.head_scores`),
    or all its heads (a gated model: its deterministic gates) when None; eval mode."""
    from hwsim.nn.prune import head_scores, keep_masks

    model = checkpoint.build_model(device)
    if heads_per_layer is not None:
        model.set_head_mask(keep_masks(head_scores(checkpoint, model), checkpoint_heads(checkpoint, heads_per_layer)))
    return model


def checkpoint_heads(checkpoint, heads_per_layer) -> tuple[int, ...]:
    """``heads_per_layer`` validated against the model and against the heads the checkpoint still has."""
    heads = validate_heads(checkpoint.spec, heads_per_layer)
    for layer, (h, have) in enumerate(zip(heads, checkpoint.heads_per_layer)):
        if h > have:
            raise HeadsError(f"layer {layer} keeps {h} heads but the checkpoint has only {have} there")
    return heads


def evaluate(
    checkpoint_path: str | Path,
    heads_per_layer=None,
    split: str = "valid",
    max_tokens: int | None = None,
    device: str = "cpu",
    data=None,
    numerics=None,
) -> EvalResult:
    """Evaluate a checkpoint. Without ``heads_per_layer`` a gated model uses its deterministic gates (log alpha >= 0);
    ``numerics`` (``hwsim.numerics.Numerics``) evaluates at an accelerator's bit widths."""
    evaluator = MaskedEvaluator(checkpoint_path, split=split, max_tokens=max_tokens, device=device, data=data)
    if numerics is not None:
        from hwsim.numerics import max_reduction

        numerics.check_accumulator(max_reduction(evaluator.spec), f"model {evaluator.spec.name!r}")
    if heads_per_layer is None and evaluator.checkpoint.gated:
        heads_per_layer = tuple(int(h) for h in np.asarray(evaluator.model.heads_open()))
    return evaluator.perplexity(heads_per_layer, numerics)
