"""``--finetune-steps N``: prune a configuration physically, train it N steps on the training split, evaluate.

The paper recovers accuracy by training while the gates close (paper.md §2, "no separate fine-tuning stage");
a sweep over fixed heads vectors has no such phase, so this gives each pruned model a short recovery run instead:
the checkpoint's own optimizer and batch size, at its end-of-schedule learning rate (lr x min_lr_ratio) so that
the steps repair rather than retrain, no dropout (deterministic, like the evaluation), seeded by the recipe.
"""

from __future__ import annotations

from typing import Any

import torch

from hwsim.sweep.job import PerplexityJob

_DATA: dict[PerplexityJob, Any] = {}


def release_finetune_data() -> None:
    """Drop the checkpoints and corpora loaded for fine-tuning (see :func:`hwsim.sweep.evaluate.release_evaluators`)."""
    _DATA.clear()


def _load(job: PerplexityJob):
    """(checkpoint, train rows, eval rows, train config) of a job, loaded once per process."""
    if job not in _DATA:
        from hwsim.nn.checkpoint import load_checkpoint
        from hwsim.nn.config import train_config
        from hwsim.nn.data import DataSource, batchify, load_corpus
        from hwsim.nn.evaluate import EVAL_BATCH

        ckpt = load_checkpoint(job.checkpoint)
        cfg = train_config(ckpt.recipe.get("train"))
        corpus = load_corpus(DataSource.from_dict(ckpt.data), ckpt.vocab or None)
        _DATA[job] = (ckpt, batchify(corpus.stream("train"), cfg.batch_size),
                      batchify(corpus.stream(job.split), EVAL_BATCH), cfg)
    return _DATA[job]


def finetuned_perplexity(job: PerplexityJob, heads: tuple[int, ...]) -> dict[str, Any]:
    """Perplexity of ``heads`` (kept by gate score) after ``job.finetune_steps`` training steps of the pruned model."""
    from hwsim.nn.evaluate import result_from_nll, stream_nll
    from hwsim.nn.optim import build_optimizer
    from hwsim.nn.prune import head_scores, keep_masks, prune_model
    from hwsim.nn.step import segments_per_epoch, step_segment, train_step

    ckpt, train_rows, eval_rows, cfg = _load(job)
    full = ckpt.build_model()
    model = prune_model(full, keep_masks(head_scores(ckpt, full), heads))
    torch.manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = build_optimizer(cfg.optimizer, [{"params": params}], lr=cfg.lr * cfg.min_lr_ratio, betas=cfg.betas,
                          weight_decay=cfg.weight_decay)
    seg_len = ckpt.spec.segment_len
    per_epoch = segments_per_epoch(train_rows, seg_len)  # too short a split is an error, as in train()
    model.train()
    mems = None
    for step in range(job.finetune_steps):
        x, restart = step_segment(train_rows, step, per_epoch, seg_len)
        _, mems = train_step(model, opt, x, None if restart else mems, clip=cfg.clip, clip_params=params)
    model.set_numerics(job.numerics)  # evaluated at the accelerator's bit widths (None: float32)
    total, count = stream_nll(model, eval_rows, seg_len, job.max_tokens)
    result = result_from_nll(total, count, job.split, heads)
    return {"perplexity": float(result.perplexity), "bits_per_token": float(result.bits_per_token),
            "tokens": int(result.tokens)}
