"""Run a training sweep: one resumable job per (family, lambda, variant) plus one per unpruned baseline, in parallel
(local process pool or Ray, on the GPU when there is one), then cost every model on the accelerator grid and join.

Results directory ``OUT/``::

    manifest.json     inputs (sweep spec, baseline checkpoints' SHA-256, accelerators, hwsim version) and their hash
    jobs/<job_id>/    gated/ and pruned/ checkpoints and result.json of each job (hwsim.trainsweep.job)
    results.parquet, results.csv   one row per (job, accelerator), with the Pareto columns (written last)

The manifest and the joined tables live in the sweeps' one results store (``hwsim.sweep.store.ResultsStore``, kind
``train-sweep``); they and each result.json are written atomically. A rerun with the same inputs resumes (finished
jobs are kept, an interrupted gating phase continues exactly); different inputs are refused unless ``force``, which
deletes the old jobs.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.atomicio import check_output_dir, output_lock
from hwsim.errors import SweepError
from hwsim.nn.config import resolve_device
from hwsim.sweep.backend import Backend, RunOptions
from hwsim.sweep.pool import as_finished, process_pool
from hwsim.trainsweep.job import TrainJob, run_job
from hwsim.trainsweep.spec import TrainSweepSpec, check_train_sweep

MANIFEST = "manifest.json"
JOBS = "jobs"


@dataclass(frozen=True, kw_only=True)
class TrainSweepRequest(RunOptions):
    spec: TrainSweepSpec
    device: str = "auto"  # auto: cuda when torch sees a GPU, else cpu


@dataclass(frozen=True, kw_only=True)
class TrainSweepOutcome:
    out_dir: Path
    results_path: Path
    n_jobs: int
    ran_jobs: int  # jobs that did work in this run (the rest were already finished)
    n_points: int
    device: str


def plan_jobs(spec: TrainSweepSpec) -> tuple[TrainJob, ...]:
    """Baselines first, then every (family, lambda, variant) of the main grid, then the ablation's extra jobs."""
    bases = spec.baselines()
    if not bases:
        raise SweepError("a training sweep needs a baseline checkpoint: --init-from CKPT (and/or --txl-init-from)")
    if not spec.lambdas:
        raise SweepError("a training sweep needs lambda values: --train-lambdas 0.005,0.01")
    common = dict(steps=spec.steps, gates=spec.gates, train=spec.train, split=spec.split, max_tokens=spec.max_tokens)
    jobs = [TrainJob(family=f, baseline=p, lam=None, split=spec.split, max_tokens=spec.max_tokens)
            for f, p in bases.items()]
    for f, p in bases.items():
        for variant in spec.variants:
            jobs += [TrainJob(family=f, baseline=p, lam=lam, variant=variant, **common) for lam in spec.lambdas]
    for f in spec.ablation.families if spec.ablation.variants and spec.ablation.lambdas else ():
        if f not in bases:
            raise SweepError(f"the ablation asks for {f.value} but the sweep has no {f.value} baseline checkpoint")
        for variant in spec.ablation.variants:
            jobs += [TrainJob(family=f, baseline=bases[f], lam=lam, variant=variant, **common)
                     for lam in spec.ablation.lambdas]
    return tuple({j.job_id: j for j in jobs}.values())


def _check_baselines(spec: TrainSweepSpec) -> dict[str, Any]:
    """Load each baseline (CheckpointError on anything wrong); returns family -> (model spec, SHA-256)."""
    from hwsim.errors import CheckpointError
    from hwsim.nn.checkpoint import load_checkpoint
    from hwsim.sweep.store import path_sha256

    out = {}
    for family, path in spec.baselines().items():
        ckpt = load_checkpoint(path)
        if ckpt.spec.family is not family:
            raise CheckpointError(f"{path} is a {ckpt.spec.family.value} checkpoint, expected {family.value}")
        if ckpt.gated or ckpt.heads_per_layer != ckpt.spec.full_heads():
            raise CheckpointError(f"{path} is gated or pruned: start the gating phase from the converged baseline")
        out[family.value] = {"model_spec": ckpt.spec.to_dict(), "sha256": path_sha256(path)}
    return out


# Settings that change what an existing job computes; lambdas, variants, the ablation grid, the accelerators and the
# costed batch only add jobs or change the (recomputed) cost join, so a sweep may be extended with them.
_JOB_SETTINGS = ("steps", "gates", "train", "split", "max_tokens")


def _conflicts(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed between two sweeps' inputs that would invalidate finished jobs."""
    out = [k for k in _JOB_SETTINGS if old.get("train_sweep", {}).get(k) != json.loads(json.dumps(new["train_sweep"].get(k)))]
    for fam, base in old.get("baselines", {}).items():
        if fam in new["baselines"] and new["baselines"][fam]["sha256"] != base.get("sha256"):
            out.append(f"{fam} baseline checkpoint")
    if old.get("hwsim_version") != new["hwsim_version"]:
        out.append("hwsim version")
    return out


TRAIN_SWEEP_KIND = "train-sweep"


def store_inputs(spec: TrainSweepSpec) -> dict[str, Any]:
    """The inputs a training sweep's store is keyed by; loads every baseline checkpoint and accelerator, so a bad
    one is refused here, before the output directory exists."""
    from hwsim import __version__
    from hwsim.accel.config import load_accel, with_overrides

    return {
        "train_sweep": {k: v for k, v in spec.to_dict().items() if k not in ("init_from", "txl_init_from")},
        "baselines": _check_baselines(spec),
        "accelerators": [{"name": p.name, **with_overrides(load_accel(p.preset), dict(p.overrides)).to_dict()}
                         for p in spec.accel.points()],
        "hwsim_version": __version__,
    }


def open_store(request: TrainSweepRequest, inputs: dict[str, Any]) -> dict[str, Any]:
    """Open the sweep's results store (hwsim.sweep.store.ResultsStore) for ``inputs`` (:func:`store_inputs`): write
    its manifest, or check the one a rerun finds; returns the manifest."""
    from hwsim.sweep.store import ResultsStore, inputs_hash

    spec = request.spec
    accels = spec.accel.points()
    digest = inputs_hash(inputs)
    store = ResultsStore(request.out_dir, kind=TRAIN_SWEEP_KIND)
    if store.root.exists() and not store.root.is_dir():
        raise SweepError(f"results path {store.root} exists and is not a directory")
    old = store.read_manifest()
    if old is not None and old.get("input_hash") != digest:
        conflicts = _conflicts(old.get("inputs", {}), inputs)
        if conflicts and not request.force:
            raise SweepError(f"{store.root} holds a training sweep whose jobs were made from different inputs "
                             f"(changed: {', '.join(conflicts)}); pass --force to overwrite it or --out for a new "
                             "directory")
        if conflicts:
            shutil.rmtree(store.root / JOBS, ignore_errors=True)
        old = None  # an extension (more lambdas, variants, a family, other accelerators) keeps the finished jobs
    if old is None:
        return store.new_manifest(inputs, digest, spec=spec.to_dict(),
                                  accels=[{"name": p.name, **p.to_dict()} for p in accels])
    return old


def _torch_threads(workers: int) -> int:
    import os

    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _run_local(todo: list[TrainJob], root: Path, device: str, workers: int, progress: bool):
    """Run the jobs in this process (one worker) or in the sweeps' process pool (``hwsim.sweep.pool``: on an error
    or Ctrl-C the queued jobs are dropped and the running ones finish; a rerun resumes them)."""
    threads = _torch_threads(workers)
    if workers <= 1 or len(todo) <= 1:
        import torch

        before = torch.get_num_threads()
        try:
            for job in todo:
                yield run_job(job, root / JOBS / job.job_id, device, progress, threads)
        finally:
            torch.set_num_threads(before)
        return
    with process_pool(workers) as pool:
        args = [(job, root / JOBS / job.job_id, device, False, threads) for job in todo]
        yield from (record for _, record in as_finished(pool, run_job, args))


def _run_ray(todo: list[TrainJob], root: Path, device: str, address: str | None):
    from hwsim.sweep import ray_backend

    options = {"num_cpus": 1, "num_gpus": 1 if device.startswith("cuda") else 0}
    args = [(job, str(root / JOBS / job.job_id), device, False, 1) for job in todo]
    yield from (record for _, record in ray_backend.as_finished(run_job, args, address, options=options))


def run_train_sweep(request: TrainSweepRequest) -> TrainSweepOutcome:
    """Run (or resume) every job of the sweep, then cost and join; returns where the results are."""
    if request.workers < 1:
        raise SweepError(f"workers must be >= 1, got {request.workers}")
    check_train_sweep(request.spec)
    jobs = plan_jobs(request.spec)
    device = resolve_device(request.device)  # the one device resolver (hwsim.nn.config)
    check_output_dir(request.out_dir, "training sweep", is_train_sweep_store)
    inputs = store_inputs(request.spec)  # every refusal before the output directory is created
    with output_lock(request.out_dir, "training sweep"):
        return _run_locked(request, jobs, device, inputs)


def is_train_sweep_store(path: Path) -> bool:
    """Whether ``path`` holds a training sweep (its manifest says so): the only non-empty directory it writes into."""
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("kind") == TRAIN_SWEEP_KIND


def _run_locked(request: TrainSweepRequest, jobs: tuple[TrainJob, ...], device: str,
                inputs: dict[str, Any]) -> TrainSweepOutcome:
    from tqdm import tqdm

    from hwsim.trainsweep.job import read_result
    from hwsim.trainsweep.results import join_results, write_results

    manifest = open_store(request, inputs)
    root = Path(request.out_dir)
    todo = [j for j in jobs if (r := read_result(root / JOBS / j.job_id)) is None or r.get("job") != j.to_dict()]
    if request.backend is Backend.RAY:
        stream = _run_ray(todo, root, device, request.ray_address)
    else:
        stream = _run_local(todo, root, device, request.workers, request.progress and request.workers <= 1)
    with tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="train-sweep jobs", unit="job", file=sys.stderr,
              disable=not request.progress, dynamic_ncols=True) as bar:
        for record in stream:
            bar.update(1)
            bar.write(f"{record['job']['job_id']}: heads {record['heads_per_layer']}  "
                      f"perplexity {record['perplexity']:.2f}", file=sys.stderr)
    records = [read_result(root / JOBS / j.job_id) for j in jobs]
    missing = [j.job_id for j, r in zip(jobs, records) if r is None]
    if missing:
        raise SweepError(f"jobs without a result: {', '.join(missing)}")
    frame = join_results(records, manifest, request.spec)
    path = write_results(root, frame, manifest, records)
    return TrainSweepOutcome(out_dir=root, results_path=path, n_jobs=len(jobs), ran_jobs=len(todo),
                             n_points=len(frame), device=device)


__all__ = ["TrainSweepRequest", "TrainSweepOutcome", "plan_jobs", "run_train_sweep"]
