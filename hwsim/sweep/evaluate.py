"""Per-process work units of a sweep: perplexity of one pruning configuration, cost of every config on one accelerator.

Both are plain module-level functions of picklable arguments so that a process pool and Ray run the very same code.
The perplexity evaluator (checkpoint + corpus in memory) is built once per process and cached.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwsim.errors import CheckpointError, SweepError
from hwsim.spec import ModelSpec
from hwsim.sweep.job import PerplexityJob

# Columns a cost part holds, in order: the scalar outputs of ``cost_many`` kept in the results table.
COST_COLUMNS = ("params", "macs", "cycles", "latency_s", "area_mm2", "energy_pj", "sram_bytes", "dram_bytes",
                "fits_on_chip")
# With the decode phase: one decode step per point (hwsim.accel.generation), per generated token.
DECODE_COLUMNS = ("latency_per_token_s", "tokens_per_s", "energy_per_token_pj", "dram_bytes_per_token",
                  "weights_on_chip", "cache_on_chip")
PPL_COLUMNS = ("perplexity", "bits_per_token", "tokens")  # per (config_id, numerics): the numerics' label


_EVALUATORS: dict[PerplexityJob, Any] = {}


def _evaluator(job: PerplexityJob):
    from dataclasses import replace

    key = replace(job, numerics=None)  # one model and split in memory for every numerics
    if key not in _EVALUATORS:
        from hwsim.nn.evaluate import MaskedEvaluator

        _EVALUATORS[key] = MaskedEvaluator(job.checkpoint, split=job.split, max_tokens=job.max_tokens)
    return _EVALUATORS[key]


def release_evaluators() -> None:
    """Drop the cached evaluators and fine-tuning data (an in-process sweep calls this when done; the checkpoint may
    change later)."""
    from hwsim.sweep.finetune import release_finetune_data

    _EVALUATORS.clear()
    release_finetune_data()


def evaluate_configs(job: PerplexityJob, config_ids: list[int], heads: list[tuple[int, ...]]) -> list[dict[str, Any]]:
    """Perplexity of each heads-per-layer vector (heads kept by gate score), as rows of a perplexity part."""
    import torch

    torch.set_num_threads(job.torch_threads)
    if job.finetune_steps:
        from hwsim.sweep.finetune import finetuned_perplexity

        return [
            {"config_id": int(cid), "numerics": job.numerics_label, **finetuned_perplexity(job, h)}
            for cid, h in zip(config_ids, heads)
        ]
    evaluator = _evaluator(job)
    rows = []
    for cid, h in zip(config_ids, heads):
        result = evaluator.perplexity(tuple(int(x) for x in h), job.numerics)
        rows.append(
            {
                "config_id": int(cid),
                "numerics": job.numerics_label,
                "perplexity": float(result.perplexity),
                "bits_per_token": float(result.bits_per_token),
                "tokens": int(result.tokens),
            }
        )
    return rows


def cost_configs(spec: ModelSpec, heads: np.ndarray, preset: str, overrides: dict[str, Any],
                 batch: int, decode_context: int | None = None) -> dict[str, np.ndarray]:
    """Vectorised cost of every row of ``heads`` on one accelerator (``cost_many``), the columns in COST_COLUMNS;
    with ``decode_context`` also a decode step after that many cached tokens, the columns in DECODE_COLUMNS."""
    from hwsim.accel.batch import cost_many
    from hwsim.accel.config import load_accel, with_overrides
    from hwsim.workload import decode_step

    accel = with_overrides(load_accel(preset), overrides) if overrides else load_accel(preset)
    out = cost_many(spec, heads, accel, batch=batch)
    columns = {name: np.asarray(out[name]) for name in COST_COLUMNS}
    if decode_context is not None:
        step = cost_many(spec, heads, accel, batch=batch, step=decode_step(decode_context))
        columns.update(latency_per_token_s=step["latency_s"], tokens_per_s=batch / step["latency_s"],
                       energy_per_token_pj=step["energy_pj"] / batch, dram_bytes_per_token=step["dram_bytes"] / batch,
                       weights_on_chip=step["kept_weights"], cache_on_chip=step["kept_cache"])  # fmt: skip
    return columns


def load_model_inputs(checkpoint: str | None, model: str | None) -> tuple[ModelSpec, np.ndarray | None, str | None]:
    """(model spec, gate scores or None, checkpoint SHA-256 or None) for a sweep."""
    from hwsim.spec import load_spec
    from hwsim.sweep.store import path_sha256

    if checkpoint:
        from pathlib import Path

        from hwsim.nn.checkpoint import load_checkpoint
        from hwsim.nn.prune import head_scores

        path = Path(checkpoint)
        if not path.exists():
            raise CheckpointError(f"checkpoint not found: {path}")
        ckpt = load_checkpoint(path)  # raises CheckpointError naming the path on anything unreadable
        if ckpt.heads_per_layer != ckpt.spec.full_heads():
            raise CheckpointError(f"checkpoint {path} is already pruned ({','.join(map(str, ckpt.heads_per_layer))}); "
                                  "sweep from the unpruned (gated) checkpoint")
        return ckpt.spec, np.asarray(head_scores(ckpt), dtype=np.float64), path_sha256(path)
    if model:
        return load_spec(model), None, None
    raise SweepError("no checkpoint and no model spec: pass --checkpoint CKPT, or --model SPEC.toml (cost only)")
