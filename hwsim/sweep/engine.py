"""The steps every pruning sweep is made of (a listed space in ``hwsim.sweep.runner``, a search in
``hwsim.sweep.search_runner``): resolve the spec against its model, open the results store, cost every
(pruning, accelerator) pair, evaluate perplexity chunks on a backend (in process, local pool, Ray), join the parts
and mark the fronts.
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwsim.errors import HwsimError, SweepError
from hwsim.heads import format_heads
from hwsim.limits import check_batch, check_model_on_accels
from hwsim.spec import ModelSpec
from hwsim.sweep.backend import Backend, RunOptions
from hwsim.sweep.config import SweepSpec
from hwsim.sweep.evaluate import (
    PPL_COLUMNS,
    cost_configs,
    evaluate_configs,
    load_model_inputs,
    release_evaluators,
)
from hwsim.sweep.job import PerplexityJob
from hwsim.sweep.pareto import fronts_for, objective_matrix, pareto_mask
from hwsim.sweep.pool import as_finished, process_pool
from hwsim.sweep.space import AccelPoint, PruningConfigs, expand_pruning
from hwsim.sweep.store import ResultsStore, StoreState

# Pruning configs per perplexity task: small enough that a kill loses little work and the bar moves, large enough
# that task overhead (pickling, one process round trip) stays negligible next to a forward pass over the split.
MAX_CHUNK = 8
# One torch thread per evaluation, parallelism across processes instead: the sweep's models are small, and on a
# shared, loaded 2-core machine a small sweep took 31 s with two intra-op threads and 3.7 s with one.
TORCH_THREADS = 1


@dataclass(frozen=True, kw_only=True)
class SweepRequest(RunOptions):
    spec: SweepSpec
    resume: bool = False  # keep the finished parts of a store made from the same inputs


def open_store(request: SweepRequest, sweep: "ResolvedSweep") -> tuple[ResultsStore, StoreState]:
    """The results store of ``request.out_dir``, opened (new, resumed or forced) for ``sweep``'s inputs."""
    store = ResultsStore(request.out_dir)
    state = store.open(inputs=sweep.inputs(), spec=sweep.spec.to_dict(), configs=configs_frame(sweep.configs),
                       accels=[{"name": p.name, **p.to_dict()} for p in sweep.accels],
                       resume=request.resume, force=request.force)
    return store, state


@dataclass(frozen=True, kw_only=True)
class SweepOutcome:
    results_path: Path
    out_dir: Path
    n_configs: int
    n_accels: int
    n_points: int
    has_perplexity: bool
    resumed: bool
    evaluated_configs: int  # perplexities computed in this run
    costed_accels: int  # accelerators costed in this run
    hypervolumes: dict[str, dict[str, Any]] | None = None  # per front (hwsim.sweep.hypervolume.front_hypervolumes)
    repaired: tuple[str, ...] = ()  # damaged store files found on resume, rewritten or recomputed


@dataclass(frozen=True, kw_only=True)
class ResolvedSweep:
    """A sweep spec resolved against its model: everything needed to run it and to hash its inputs."""

    spec: SweepSpec
    model: ModelSpec
    configs: PruningConfigs
    accels: tuple[AccelPoint, ...]
    accel_dicts: tuple[dict[str, Any], ...]  # resolved AccelConfig.to_dict() of each point
    checkpoint_sha256: str | None
    gate_scores: np.ndarray | None = None  # (n_layers, n_heads) of the checkpoint; seeds a search
    head_choices: np.ndarray | None = None  # --align: the head counts allowed in every layer (None: 0..n_heads)
    numerics: tuple = ()  # per accelerator point: the hwsim.numerics.Numerics its perplexity is measured at

    def numerics_label(self, accel_id: int) -> str:
        n = self.numerics[accel_id] if self.numerics else None
        return "float" if n is None else n.label

    def distinct_numerics(self) -> list:
        """Each distinct numerics of the grid once, in accelerator order: perplexity is evaluated once per each. When
        the grid varies the bit widths, the float32 model is evaluated too, as the reference of what bits cost."""
        seen: dict[str, Any] = {}
        for n in self.numerics or (None,):
            seen.setdefault("float" if n is None else n.label, n)
        if len(seen) > 1:
            seen.setdefault("float", None)
        return list(seen.items())

    @property
    def decode_context(self) -> int | None:
        """Cached tokens of the decode step costed per point; None without the decode phase."""
        from hwsim.accel.generation import default_context

        if not self.spec.decode:
            return None
        return default_context(self.model) if self.spec.context is None else self.spec.context

    def inputs(self) -> dict[str, Any]:
        from hwsim import __version__

        spec = self.spec.to_dict()
        return {
            "sweep": {k: v for k, v in spec.items() if k not in ("checkpoint", "model")},
            "model_spec": self.model.to_dict(),
            "accelerators": list(self.accel_dicts),  # resolved AccelConfig fields; the grid names are in the spec
            "checkpoint_sha256": self.checkpoint_sha256,
            "hwsim_version": __version__,
        }


def resolve_sweep(spec: SweepSpec) -> ResolvedSweep:
    """Load the model, expand the space and check every accelerator; raises HwsimError on any bad input."""
    from hwsim.accel.config import load_accel, with_overrides

    check_batch(spec.batch, "batch")
    if spec.finetune_steps < 0:
        raise SweepError(f"finetune steps must be >= 0, got {spec.finetune_steps}")
    if spec.finetune_steps and not spec.checkpoint:
        raise SweepError("--finetune-steps needs a checkpoint")
    accels = spec.accel.points()
    accel_configs = tuple(with_overrides(load_accel(p.preset), dict(p.overrides)) for p in accels)
    accel_dicts = tuple(a.to_dict() for a in accel_configs)
    model, scores, digest = load_model_inputs(spec.checkpoint, spec.model)
    check_model_on_accels(model, accel_configs, spec.batch)
    numerics = tuple(accel_numerics(a, model, spec.scheme) for a in accel_configs)
    if spec.context is not None:
        from hwsim.workload import check_step, decode_step

        check_step(model, decode_step(spec.context))
    choices = None
    if spec.align:
        from hwsim.sweep.folds import aligned_on_all

        choices = aligned_on_all(model, list(accel_configs), spec.batch)
    if spec.search is not None:
        if not spec.checkpoint:
            raise SweepError("--search needs a checkpoint: it searches for low perplexity (a cost-only sweep "
                             "has nothing to search for)")
        spec.search.check(model, choices)
        labels = {"float" if n is None else n.label for n in numerics}
        if len(labels) > 1:
            raise SweepError(f"a search measures one perplexity per configuration: its accelerator grid must share "
                             f"one numerics, got {', '.join(sorted(labels))} (sweep the bit widths without --search)")
        # The store starts with the baseline only; the search appends each generation's configurations.
        configs = PruningConfigs(heads=np.asarray([model.full_heads()], dtype=np.int64), labels=("baseline",))
    else:
        configs = expand_pruning(model, spec.pruning, scores)
        if choices is not None:  # --align: drop every config with a head count that leaves a partly empty fold
            keep = np.isin(configs.heads, choices).all(axis=1)
            configs = PruningConfigs(heads=configs.heads[keep],
                                     labels=tuple(lab for lab, k in zip(configs.labels, keep) if k))
    return ResolvedSweep(spec=spec, model=model, configs=configs, accels=accels, accel_dicts=accel_dicts,
                         checkpoint_sha256=digest, gate_scores=scores, head_choices=choices, numerics=numerics)


def accel_numerics(accel, model: ModelSpec, scheme: str):
    """The numerics an accelerator computes the model at (None for float32 evaluation); refused here, before any
    evaluation, when the array cannot compute it (widths it cannot pack, an accumulator too narrow for K)."""
    from hwsim.numerics import Numerics, max_reduction

    if scheme == "float":
        return None
    try:
        numerics = Numerics(weight_bits=accel.for_model(model).weight_bits, act_bits=accel.input_bits,
                            acc_bits=accel.acc_bits, scheme=scheme)  # fmt: skip
        numerics.check_accumulator(max_reduction(model), f"model {model.name!r}")
    except HwsimError as exc:
        raise SweepError(f"accelerator {accel.name!r}: {exc}") from None
    return numerics


def configs_frame(configs: PruningConfigs) -> pd.DataFrame:
    frame = pd.DataFrame({
        "config_id": np.arange(len(configs), dtype=np.int64),
        "heads_per_layer": [format_heads(r) for r in configs.heads],
        "label": list(configs.labels),
    })
    for layer in range(configs.heads.shape[1]):
        frame[f"h{layer}"] = configs.heads[:, layer]
    return frame


def _bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="cfg" if "perplexity" in desc else "accel", file=sys.stderr,
                disable=not enabled, dynamic_ncols=True, leave=False)


@contextmanager
def perplexity_runner(request: SweepRequest, job: PerplexityJob, n_configs: int):
    """A function ``chunks -> iterator of row lists`` that evaluates perplexity chunks on the request's backend.

    The local process pool (or the in-process evaluator) lives as long as the context, so a search that evaluates
    one generation at a time loads the checkpoint once per worker, not once per generation."""
    if request.backend is Backend.RAY:
        from hwsim.sweep import ray_backend

        yield lambda chunks: (rows for _, rows in ray_backend.as_finished(
            evaluate_configs, [(job, ids, heads) for ids, heads in chunks], request.ray_address))
        return
    workers = max(1, min(request.workers, n_configs))
    if workers <= 1:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(job.torch_threads)
        try:
            yield lambda chunks: (evaluate_configs(job, ids, heads) for ids, heads in chunks)
        finally:
            torch.set_num_threads(threads)
            release_evaluators()
        return
    with process_pool(workers) as pool:
        yield lambda chunks: (rows for _, rows in as_finished(
            pool, evaluate_configs, [(job, ids, heads) for ids, heads in chunks]))


def perplexity_job(spec: SweepSpec, numerics=None) -> PerplexityJob:
    return PerplexityJob(checkpoint=spec.checkpoint, split=spec.split, max_tokens=spec.max_tokens,
                         finetune_steps=spec.finetune_steps, torch_threads=TORCH_THREADS, numerics=numerics)


def evaluate_into_store(run, store: ResultsStore, ids: list[int], heads: np.ndarray, workers: int,
                        progress: bool, label: str = "") -> list[dict[str, Any]]:
    """Evaluate the configs ``ids`` (rows ``heads``) in chunks with ``run``; write one part per finished chunk."""
    size = max(1, min(MAX_CHUNK, math.ceil(len(ids) / (4 * max(1, workers)))))
    chunks = [(ids[i:i + size], [tuple(int(h) for h in row) for row in heads[i:i + size]])
              for i in range(0, len(ids), size)]
    out: list[dict[str, Any]] = []
    with _bar(len(ids), f"perplexity {label}".strip(), progress) as bar:
        for rows in run(chunks):
            store.write_perplexity_part(pd.DataFrame(rows))
            out += rows
            bar.update(len(rows))
    return out


def run_costs(request: SweepRequest, sweep: ResolvedSweep, store: ResultsStore, done: frozenset[int]) -> int:
    todo = [(aid, p.preset, dict(p.overrides)) for aid, p in enumerate(sweep.accels) if aid not in done]
    args = [(preset, ov, sweep.spec.batch, sweep.decode_context) for _, preset, ov in todo]
    if request.backend is Backend.RAY:
        from hwsim.sweep import ray_backend

        stream = ray_backend.as_finished(cost_configs, args, request.ray_address,
                                         shared=(sweep.model, sweep.configs.heads))
    else:
        stream = ((i, cost_configs(sweep.model, sweep.configs.heads, *a)) for i, a in enumerate(args))
    with _bar(len(todo), "cost", request.progress) as bar:
        for index, columns in stream:
            aid = todo[index][0]
            frame = pd.DataFrame({"config_id": np.arange(len(sweep.configs), dtype=np.int64),
                                  "accel_id": np.full(len(sweep.configs), aid, dtype=np.int64)})
            for name, values in columns.items():
                frame[name] = values
            store.write_cost_part(aid, frame)
            bar.update(1)
    return len(todo)


def join_results(store: ResultsStore, sweep: ResolvedSweep) -> pd.DataFrame:
    """One row per (pruning, accelerator) point with the Pareto columns, ordered by (config_id, accel_id)."""
    configs = store.read_configs()
    costs = store.read_costs()
    accel_frame = pd.DataFrame({"accel_id": np.arange(len(sweep.accels), dtype=np.int64),
                                "accel": [p.name for p in sweep.accels],
                                "accel_preset": [p.preset for p in sweep.accels],
                                "numerics": [sweep.numerics_label(i) for i in range(len(sweep.accels))]})
    frame = costs.merge(configs, on="config_id").merge(accel_frame, on="accel_id")
    ppl = store.read_perplexity()
    if sweep.spec.checkpoint:  # each point's perplexity at its accelerator's numerics
        frame = frame.merge(ppl[["config_id", "numerics", *PPL_COLUMNS]], on=["config_id", "numerics"], how="left")
        reference = ppl[ppl["numerics"] == "float"]
        if len(reference) and (frame["numerics"] != "float").any():  # the float32 model, what bits are compared to
            frame = frame.merge(reference[["config_id", "perplexity"]].rename(columns={"perplexity":
                                                                                     "perplexity_float"}),
                                on="config_id", how="left")  # fmt: skip
    else:
        for name in PPL_COLUMNS:
            frame[name] = np.nan
    frame = frame.sort_values(["config_id", "accel_id"], kind="stable").reset_index(drop=True)
    frame["is_baseline"] = frame["heads_per_layer"] == format_heads(sweep.model.full_heads())
    has_ppl = bool(sweep.spec.checkpoint)
    for front in fronts_for(has_ppl, sweep.spec.decode):
        frame[front.column] = pareto_mask(objective_matrix(frame, front.objectives))
    lead = ["config_id", "accel_id", "heads_per_layer", "accel", "perplexity", "params", "macs", "latency_s",
            "area_mm2", "energy_pj"]
    return frame[lead + [c for c in frame.columns if c not in lead]]


def finish(store: ResultsStore, sweep: ResolvedSweep, state: StoreState, evaluated: int, costed: int) -> SweepOutcome:
    """Join the parts, mark the fronts, measure their hypervolume and write the results table."""
    from hwsim.sweep.hypervolume import front_hypervolumes

    frame = join_results(store, sweep)
    volumes = front_hypervolumes(frame, bool(sweep.spec.checkpoint))
    store.write_results(frame, extra={"hypervolume": volumes, "n_configs": len(sweep.configs)})
    return SweepOutcome(results_path=store.results_path, out_dir=store.root, n_configs=len(sweep.configs),
                        n_accels=len(sweep.accels), n_points=len(frame), has_perplexity=bool(sweep.spec.checkpoint),
                        resumed=state.resumed, evaluated_configs=evaluated, costed_accels=costed, hypervolumes=volumes,
                        repaired=state.repaired)
