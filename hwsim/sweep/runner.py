"""Run a sweep: resolve the space, cost every (pruning, accelerator) pair, measure perplexity, join, mark fronts.

Order of work: costs first (vectorised, seconds), then perplexity (one forward pass over the split per pruning
configuration, the slow part), then the join. Each finished unit is written to the store at once, so a sweep
killed at any point resumes with ``resume=True`` and recomputes nothing finished. A spec with a ``[search]`` runs
``hwsim.sweep.search_runner`` instead; both are made of the steps in ``hwsim.sweep.engine``.
"""

from __future__ import annotations

from hwsim.atomicio import check_output_dir, output_lock
from hwsim.errors import SweepError
from hwsim.sweep.engine import (
    ResolvedSweep,
    SweepOutcome,
    SweepRequest,
    evaluate_into_store,
    finish,
    open_store,
    perplexity_job,
    perplexity_runner,
    resolve_sweep,
    run_costs,
)
from hwsim.sweep.search_runner import run_search
from hwsim.sweep.store import ResultsStore, is_sweep_store

__all__ = ["ResolvedSweep", "SweepOutcome", "SweepRequest", "resolve_sweep", "run_sweep"]


def run_sweep(request: SweepRequest, resolved: ResolvedSweep | None = None) -> SweepOutcome:
    """Run (or resume) the sweep and write its results store; returns where the results are."""
    if request.workers < 1:
        raise SweepError(f"workers must be >= 1, got {request.workers}")
    sweep = resolved or resolve_sweep(request.spec)
    check_output_dir(request.out_dir, "sweep", is_sweep_store)
    with output_lock(request.out_dir, "sweep"):
        if sweep.spec.search is not None:
            return run_search(request, sweep)
        return _run_listed(request, sweep)


def _run_listed(request: SweepRequest, sweep: ResolvedSweep) -> SweepOutcome:
    """A sweep of a listed pruning space: every configuration costed, then every perplexity evaluated."""
    store, state = open_store(request, sweep)
    costed = run_costs(request, sweep, store, state.done_accels)
    evaluated = _run_perplexity(request, sweep, store, state.done_perplexity)
    return finish(store, sweep, state, evaluated, costed)


def _run_perplexity(request: SweepRequest, sweep: ResolvedSweep, store: ResultsStore,
                    done: frozenset[tuple[int, str]]) -> int:  # fmt: skip
    """Every configuration's perplexity once per distinct numerics of the accelerator grid (reused by every
    accelerator that shares it); returns how many evaluations ran."""
    if not sweep.spec.checkpoint:
        return 0
    evaluated = 0
    for label, numerics in sweep.distinct_numerics():
        ids = [i for i in range(len(sweep.configs)) if (i, label) not in done]
        if not ids:
            continue
        with perplexity_runner(request, perplexity_job(sweep.spec, numerics), len(ids)) as run:
            evaluate_into_store(run, store, ids, sweep.configs.heads[ids], request.workers, request.progress, label)
        evaluated += len(ids)
    return evaluated
