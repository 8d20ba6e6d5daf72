"""One job of a training sweep: gating phase from the baseline -> physical pruning -> evaluation of the pruned model.

A job is resumable at every stage. Its directory ``OUT/jobs/<job_id>/`` holds

    gated/        the gated checkpoint, saved with its training state at every validation (hwsim.nn.train)
    pruned/       the physically pruned checkpoint (hwsim.nn.prune.prune_checkpoint, heads = the open gates)
    result.json   written last, atomically: heads kept, perplexity of ``pruned/``, parameters, gate history

A rerun skips a job with a ``result.json``, resumes an interrupted gating phase from ``gated/`` exactly, and redoes
pruning and evaluation (cheap) otherwise. A ``baseline`` job only evaluates the unpruned baseline checkpoint.
The accelerator costs are not part of a job: they are vectorised over all jobs when the sweep joins its results.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.spec import Family
from hwsim.trainsweep.spec import FAMILY_SHORT, Variant

RESULT = "result.json"
GATED = "gated"
PRUNED = "pruned"


@dataclass(frozen=True, kw_only=True)
class TrainJob:
    """Everything a worker needs to run one (family, lambda, variant) job, or evaluate one baseline."""

    family: Family
    baseline: str  # the converged baseline checkpoint the gating phase starts from
    lam: float | None  # None: a baseline job (evaluate the unpruned baseline only)
    variant: Variant = Variant.FULL
    steps: int | None = None
    gates: tuple[tuple[str, Any], ...] = ()
    train: tuple[tuple[str, Any], ...] = ()  # recipe [train] overrides (evaluation cadence of the gating phase)
    split: str = "valid"
    max_tokens: int | None = None

    @property
    def is_baseline(self) -> bool:
        return self.lam is None

    @property
    def job_id(self) -> str:
        fam = FAMILY_SHORT[self.family]
        if self.is_baseline:
            return f"{fam}-baseline"
        return f"{fam}-lam{self.lam:g}-{self.variant.value}"

    def gate_overrides(self) -> dict[str, Any]:
        """The [gates] table overrides of this job: sweep-wide keys, its lambda and steps, its variant's switches."""
        out: dict[str, Any] = dict(self.gates)
        out["lambda"] = self.lam
        if self.steps is not None:
            out["steps"] = self.steps
        out.update(self.variant.gate_switches())
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "family": self.family.value, "baseline": self.baseline, "lambda": self.lam,
                "variant": self.variant.value if not self.is_baseline else "unpruned", "steps": self.steps,
                "gates": dict(self.gates), "train": dict(self.train), "split": self.split, "max_tokens": self.max_tokens}


def _atomic_json(path: Path, data: dict[str, Any]) -> None:
    from hwsim.sweep.store import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(data, indent=1).encode())


def read_result(job_dir: Path) -> dict[str, Any] | None:
    f = Path(job_dir) / RESULT
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # a damaged result is redone, never trusted


def _gated_done(gated: Path, total_steps: int) -> tuple[bool, bool]:
    """(finished, resumable) for a gated checkpoint directory."""
    from hwsim.errors import CheckpointError
    from hwsim.nn.checkpoint import STATE, load_checkpoint

    if not gated.is_dir():
        return False, False
    try:
        ckpt = load_checkpoint(gated)
    except CheckpointError:
        return False, False
    step = int(ckpt.train_state.get("step", 0))
    return step >= total_steps, (gated / STATE).is_file()


def _gating(job: TrainJob, job_dir: Path, device: str, progress: bool) -> tuple[Path, float]:
    """Run (or resume, or skip) the gating phase; returns the gated checkpoint and the seconds spent here."""
    from hwsim.nn.checkpoint import load_checkpoint
    from hwsim.nn.config import gate_config
    from hwsim.nn.train import train

    recipe = dict(load_checkpoint(job.baseline).recipe)
    gcfg = gate_config({**recipe.get("gates", {}), **job.gate_overrides()})
    gated = job_dir / GATED
    finished, resumable = _gated_done(gated, gcfg.steps)
    t0 = time.perf_counter()
    if not finished:
        overrides = {"gates": job.gate_overrides(), "train": dict(job.train)}
        if resumable:
            train(recipe, gated, resume=True, overrides=overrides, device=device, progress=progress)
        else:
            train(recipe, gated, gates=True, init_from=job.baseline, overrides=overrides, device=device,
                  progress=progress)
    return gated, time.perf_counter() - t0


def _history(gated: Path) -> list[dict[str, Any]]:
    """Gate history of the gating phase: per validation step, heads open per layer, perplexity, E[L0], lambda."""
    from hwsim.nn.checkpoint import load_checkpoint

    keep = ("step", "heads_open", "valid_perplexity", "expected_l0", "lambda", "train_loss", "tokens_per_s")
    return [{k: h[k] for k in keep if k in h} for h in load_checkpoint(gated).history]


def run_job(job: TrainJob, job_dir: str | Path, device: str = "cpu", progress: bool = False,
            torch_threads: int | None = None) -> dict[str, Any]:
    """Run one job to completion (resuming what is on disk) and return its result record (also in result.json)."""
    import torch

    from hwsim.nn.checkpoint import load_checkpoint
    from hwsim.nn.evaluate import evaluate
    from hwsim.nn.prune import prune_checkpoint

    if torch_threads:
        torch.set_num_threads(torch_threads)
    job_dir = Path(job_dir)
    done = read_result(job_dir)
    if done is not None and done.get("job", {}) == job.to_dict():
        return done
    job_dir.mkdir(parents=True, exist_ok=True)
    seconds, history, tokens_per_s = 0.0, [], None
    if job.is_baseline:
        model_path = Path(job.baseline)
        ckpt = load_checkpoint(model_path)
        heads = ckpt.heads_per_layer
        params = int(ckpt.build_model().param_count())
    else:
        gated, seconds = _gating(job, job_dir, device, progress)
        history = _history(gated)
        tokens_per_s = history[-1].get("tokens_per_s") if history else None
        pruned = prune_checkpoint(gated, job_dir / PRUNED)
        model_path, heads, params = pruned.path, pruned.heads_per_layer, int(pruned.params)
    result = evaluate(model_path, split=job.split, max_tokens=job.max_tokens, device=device)
    record = {
        "job": job.to_dict(),
        "checkpoint": str(model_path),
        "heads_per_layer": [int(h) for h in heads],
        "perplexity": float(result.perplexity),
        "bits_per_token": float(result.bits_per_token),
        "tokens": int(result.tokens),
        "model_params": params,
        "gating_seconds": seconds,
        "tokens_per_s": tokens_per_s,
        "device": device,
        "history": history,
    }
    _atomic_json(job_dir / RESULT, record)
    return record
