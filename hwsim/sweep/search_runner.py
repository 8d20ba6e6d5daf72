"""``hwsim sweep --search``: NSGA-II over heads-per-layer vectors, every evaluation written to the results store.

Each generation's new vectors are appended to ``configs.parquet`` (atomically, before they are evaluated), their
perplexities measured with the sweep's own perplexity runner (local pool or Ray) into ``perplexity/part-*``, and
each vector costed on every accelerator of the grid (``cost_many``, one call per accelerator); the search sees
log perplexity and the best latency, area and energy over the accelerators. After the search the usual cost parts,
join, fronts and hypervolumes are written as for any sweep.

Resume: a killed search is replayed with the same seed. Every vector already in the store is looked up instead of
evaluated (its perplexity read back from its part), so the search retraces its steps to where it was killed and
evaluates only what is missing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from hwsim.errors import SweepError
from hwsim.heads import format_heads
from hwsim.sweep.engine import (
    ResolvedSweep,
    SweepOutcome,
    SweepRequest,
    configs_frame,
    evaluate_into_store,
    finish,
    open_store,
    perplexity_job,
    perplexity_runner,
    run_costs,
)
from hwsim.sweep.evaluate import cost_configs
from hwsim.sweep.search import gate_seeds, nsga2_search
from hwsim.sweep.space import PruningConfigs
from hwsim.sweep.store import ResultsStore

# What the search minimises for each vector: log perplexity, then the best cost over the accelerator grid.
SEARCH_COSTS = ("latency_s", "area_mm2", "energy_pj")


class StoreEvaluator:
    """``evaluate(heads, labels) -> objectives`` for the search, backed by the results store."""

    def __init__(self, request: SweepRequest, sweep: ResolvedSweep, store: ResultsStore, run) -> None:
        self.request, self.sweep, self.store, self.run = request, sweep, store, run
        self.configs = store.read_configs()
        self.ids = {text: int(cid) for text, cid in zip(self.configs["heads_per_layer"], self.configs["config_id"])}
        self.label, self.numerics = sweep.distinct_numerics()[0]  # a search's grid shares one numerics
        ppl = store.read_perplexity()
        ppl = ppl[ppl["numerics"] == self.label] if len(ppl) else ppl
        self.perplexity = dict(zip(ppl["config_id"].astype(int), ppl["perplexity"])) if len(ppl) else {}
        self.evaluated = 0  # perplexities computed in this run

    def _register(self, heads: np.ndarray, labels: list[str]) -> list[int]:
        texts = [format_heads(r) for r in heads]
        new = [(t, r, lab) for t, r, lab in zip(texts, heads, labels) if t not in self.ids]
        if new:
            start = len(self.configs)
            block = configs_frame(PruningConfigs(heads=np.stack([r for _, r, _ in new]),
                                                 labels=tuple(lab for _, _, lab in new)))
            block["config_id"] += start
            self.configs = pd.concat([self.configs, block], ignore_index=True)
            self.store.replace_configs(self.configs)  # on disk before any of them is evaluated
            self.ids.update({t: start + i for i, (t, _, _) in enumerate(new)})
        return [self.ids[t] for t in texts]

    def __call__(self, heads: np.ndarray, labels: list[str]) -> np.ndarray:
        ids = self._register(heads, labels)
        todo = [i for i, cid in enumerate(ids) if cid not in self.perplexity]
        if todo:
            rows = evaluate_into_store(self.run, self.store, [ids[i] for i in todo], heads[todo],
                                       self.request.workers, self.request.progress, self.label)
            self.perplexity.update({int(r["config_id"]): r["perplexity"] for r in rows})
            self.evaluated += len(rows)
        ppl = np.array([self.perplexity[cid] for cid in ids], dtype=np.float64)
        return np.column_stack([np.log(ppl), *self._best_costs(heads)])

    def _best_costs(self, heads: np.ndarray) -> list[np.ndarray]:
        best = {name: np.full(len(heads), np.inf) for name in SEARCH_COSTS}
        for point in self.sweep.accels:
            cols = cost_configs(self.sweep.model, heads, point.preset, dict(point.overrides), self.sweep.spec.batch)
            for name in SEARCH_COSTS:
                best[name] = np.minimum(best[name], np.asarray(cols[name], dtype=np.float64))
        return [best[name] for name in SEARCH_COSTS]


def run_search(request: SweepRequest, sweep: ResolvedSweep) -> SweepOutcome:
    """Run (or resume) the search of ``sweep.spec.search`` and write the results store."""
    search = sweep.spec.search
    if search is None:
        raise SweepError("run_search needs a sweep spec with a search")
    store, state = open_store(request, sweep)
    full = np.asarray([sweep.model.full_heads()], dtype=np.int64)
    seeds, labels = gate_seeds(sweep.model, sweep.gate_scores, search.population_size())
    with perplexity_runner(request, perplexity_job(sweep.spec, sweep.distinct_numerics()[0][1]),
                           request.workers) as run:  # fmt: skip
        evaluate = StoreEvaluator(request, sweep, store, run)
        known: dict[tuple[int, ...], Any] = {tuple(int(h) for h in full[0]): evaluate(full, ["baseline"])[0]}
        order = nsga2_search(sweep.model, search, seeds, labels, evaluate, known, sweep.head_choices)
    configs = store.read_configs()
    ids = {t: i for i, t in enumerate(configs["heads_per_layer"])}
    missing = [format_heads(v) for v in order if format_heads(v) not in ids]
    if missing or len(configs) != len(order) + 1:
        raise SweepError(f"search store {store.root} is inconsistent ({len(configs)} configurations for "
                         f"{len(order)} searched + baseline); rerun with --force")
    final = replace(sweep, configs=PruningConfigs(heads=configs[[f"h{i}" for i in range(sweep.model.n_layers)]]
                                                  .to_numpy(dtype=np.int64), labels=tuple(configs["label"])))
    all_ids = frozenset(range(len(configs)))
    done = frozenset(a for a in state.done_accels if store.cost_part_config_ids(a) == all_ids)
    costed = run_costs(request, final, store, done)
    return finish(store, final, state, evaluate.evaluated, costed)
