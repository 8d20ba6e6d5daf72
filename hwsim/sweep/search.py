"""Multi-objective search over heads-per-layer vectors with pymoo's NSGA-II, under a budget of evaluations.

The search proposes integer vectors (0..n_heads per layer); ``evaluate`` turns each *new distinct* vector into one
row of objectives (all minimised). A vector proposed again (by a later generation, or the unpruned baseline, which
the caller evaluates outside the budget) reuses its cached objectives and costs nothing, so the budget counts
exactly the distinct vectors handed to ``evaluate``. The last generation is cut to the budget that is left.

Determinism: NSGA-II draws from ``np.random.default_rng(seed)`` (pymoo's ``Algorithm.setup(seed=...)``), and its
decisions depend only on the objectives it is told. With the same seed and the same objective values (read back
from a results store on ``--resume``) it proposes the same vectors in the same order, which is what makes a killed
search resumable without re-evaluating anything.

The first population is seeded with the gate-score ratios (``ratio_heads(..., RatioMode.GATE)`` at ratios
1/P .. P/P of all heads removed, P the population size): the search starts from the paper's own ranking of heads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.errors import SweepError
from hwsim.spec import ModelSpec

ALGORITHMS = ("nsga2",)
# A generation that proposes nothing new this many times in a row means the population has collapsed onto evaluated
# vectors (a small space nearly exhausted): the rest of the budget is spent on uniform random unevaluated vectors.
MAX_STALE_GENERATIONS = 10
# Population size when none is given: a quarter of the budget, between 4 and 20 (pymoo's NSGA-II default is 100,
# far too many when each evaluation is a pass over the validation split).
MIN_POPULATION, MAX_POPULATION = 4, 20

Evaluate = Callable[[np.ndarray, list[str]], np.ndarray]


@dataclass(frozen=True, kw_only=True)
class SearchSpec:
    """``hwsim sweep --search nsga2 --budget N --seed S`` or a ``[search]`` table of a sweep spec."""

    algorithm: str = "nsga2"
    budget: int = 0  # distinct pruning configurations whose perplexity is measured (the baseline not counted)
    seed: int = 0
    population: int = 0  # 0: a quarter of the budget, within MIN_POPULATION..MAX_POPULATION

    def to_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "budget": self.budget, "seed": self.seed, "population": self.population}

    def check(self, spec: ModelSpec, choices: np.ndarray | None = None) -> None:
        if self.algorithm not in ALGORITHMS:
            raise SweepError(f"search algorithm {self.algorithm!r} is not one of {', '.join(ALGORITHMS)}")
        n_choices = spec.n_heads + 1 if choices is None else len(choices)
        space = n_choices ** spec.n_layers - 1  # every vector but the baseline
        if not 1 <= self.budget <= space:
            raise SweepError(f"search budget {self.budget} must be between 1 and {space:,} (the distinct pruned "
                             f"configurations of {spec.n_layers} layers x {n_choices} head counts)")
        if self.population < 0 or self.population == 1:
            raise SweepError(f"search population {self.population} must be 0 (automatic) or at least 2")

    def population_size(self) -> int:
        return self.population or int(np.clip(self.budget // 4, MIN_POPULATION, MAX_POPULATION))


def gate_seeds(spec: ModelSpec, scores: np.ndarray | None, n: int) -> tuple[np.ndarray, list[str]]:
    """Distinct pruned vectors of the gate-score ratios k/n (k = 1..n) of all heads removed, with their labels.

    Uniform ratios stand in when there are no gate scores."""
    from hwsim.sweep.space import RatioMode, ratio_heads

    mode = RatioMode.GATE if scores is not None else RatioMode.UNIFORM
    full = np.asarray(spec.full_heads(), dtype=np.int64)
    rows, labels, seen = [], [], {tuple(full)}
    for k in range(1, n + 1):
        row = ratio_heads(spec, k / n, mode, scores)
        if tuple(row) not in seen:
            seen.add(tuple(row))
            rows.append(row)
            labels.append(f"search seed: {mode.value} {k / n:.3g}")
    return np.asarray(rows, dtype=np.int64).reshape(-1, spec.n_layers), labels


def _random_unseen(rng: np.random.Generator, n_layers: int, choices: np.ndarray, seen: set, n: int) -> np.ndarray:
    """``n`` distinct uniform random vectors of ``choices`` not in ``seen`` (the caller guarantees that many exist)."""
    out: list[tuple[int, ...]] = []
    while len(out) < n:
        row = tuple(int(x) for x in choices[rng.integers(0, len(choices), size=n_layers)])
        if row not in seen:
            seen.add(row)
            out.append(row)
    return np.asarray(out, dtype=np.int64).reshape(-1, n_layers)


def _algorithm(pop_size: int, initial: np.ndarray):
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair

    # Integer variables the way pymoo's documentation handles them: real-coded SBX / polynomial mutation, rounded.
    return NSGA2(pop_size=pop_size, sampling=initial.astype(float), eliminate_duplicates=True,
                 crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                 mutation=PM(eta=20, vtype=float, repair=RoundingRepair()))


def snap(heads: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """Each head count moved to the nearest allowed one (the larger on a tie)."""
    idx = np.clip(np.searchsorted(choices, heads), 1, len(choices) - 1) if len(choices) > 1 else np.zeros_like(heads)
    low, high = choices[idx - 1] if len(choices) > 1 else choices[idx], choices[idx]
    return np.where(heads - low < high - heads, low, high)


def _initial_population(search: SearchSpec, values: np.ndarray, n_layers: int, seeds: np.ndarray,
                        seed_labels: list[str], known: set, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Genes of the first population (seeds snapped to ``values``, deduplicated, padded with random vectors) and
    the label of each seed vector."""
    if len(seeds):
        snapped = snap(seeds, values)
        keep = [i for i, r in enumerate(snapped) if tuple(int(x) for x in r) not in known]
        _, first = np.unique(snapped[keep], axis=0, return_index=True)
        idx = [keep[i] for i in sorted(first)]
        seeds, seed_labels = snapped[idx], [seed_labels[i] for i in idx]
    pop_size = search.population_size()
    seen = known | {tuple(int(x) for x in r) for r in seeds}
    pad = _random_unseen(rng, n_layers, values, seen, max(0, min(pop_size, search.budget) - len(seeds)))
    initial = np.concatenate([seeds[:pop_size].reshape(-1, n_layers), pad])
    labels = {tuple(int(x) for x in r): lab for r, lab in zip(seeds, seed_labels)}
    return np.searchsorted(values, initial), labels


def nsga2_search(spec: ModelSpec, search: SearchSpec, seeds: np.ndarray, seed_labels: list[str],
                 evaluate: Evaluate, known: dict[tuple[int, ...], np.ndarray],
                 choices: np.ndarray | None = None) -> list[tuple[int, ...]]:
    """Run NSGA-II until ``search.budget`` distinct new vectors were evaluated; returns them in evaluation order.

    ``seeds`` start the first population (padded with random vectors, cut to the population size); ``known`` maps
    vectors evaluated outside the budget (the baseline) to their objectives and is updated in place. ``choices``
    (``--align``) restricts every layer's head count to those values: the search's genes index into it."""
    from pymoo.core.evaluator import Evaluator
    from pymoo.core.problem import Problem
    from pymoo.problems.static import StaticProblem

    search.check(spec, choices)
    values = np.arange(spec.n_heads + 1) if choices is None else np.asarray(choices, dtype=np.int64)
    L, H, pop_size = spec.n_layers, len(values) - 1, search.population_size()
    rng = np.random.default_rng(search.seed)
    initial_genes, labels = _initial_population(search, values, L, seeds, seed_labels, set(known), rng)
    n_obj = len(next(iter(known.values()))) if known else None
    order: list[tuple[int, ...]] = []
    algorithm, problem = None, None
    stale, generation = 0, 0
    while len(order) < search.budget:
        generation += 1
        if algorithm is None:
            genes = initial_genes
        else:
            pop = algorithm.ask()
            genes = np.clip(np.rint(pop.get("X")), 0, H).astype(np.int64)
        X = values[genes]
        new = [t for t in dict.fromkeys(tuple(int(x) for x in r) for r in X) if t not in known]
        new = new[: search.budget - len(order)]
        if new:
            stale = 0
            F = np.asarray(evaluate(np.asarray(new, dtype=np.int64),
                                    [labels.get(t, f"nsga2 generation {generation}") for t in new]), dtype=float)
            known.update({t: f for t, f in zip(new, F)})
            order += new
        else:
            stale += 1
        if len(order) >= search.budget:
            break
        if stale >= MAX_STALE_GENERATIONS:  # collapsed: spend what is left on random unevaluated vectors
            rest = _random_unseen(rng, L, values, set(known), search.budget - len(order))
            F = np.asarray(evaluate(rest, ["random fill"] * len(rest)), dtype=float)
            known.update({tuple(int(x) for x in r): f for r, f in zip(rest, F)})
            order += [tuple(int(x) for x in r) for r in rest]
            break
        if algorithm is None:
            n_obj = n_obj or len(known[order[0]])
            problem = Problem(n_var=L, n_obj=n_obj, xl=0, xu=H, vtype=int)
            algorithm = _algorithm(pop_size, initial_genes)
            algorithm.setup(problem, termination=("n_gen", 10**9), seed=search.seed, verbose=False)
            pop = algorithm.ask()  # the initial population: exactly ``initial``
        pop.set("X", genes.astype(float))
        F = np.stack([known[tuple(int(x) for x in r)] for r in X])
        Evaluator().eval(StaticProblem(problem, F=F), pop)
        algorithm.tell(infills=pop)
    return order
