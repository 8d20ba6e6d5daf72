"""Run a sweep's work units on a Ray cluster: the same functions as the local pool, as Ray tasks.

``ray.init`` connects to ``address`` (``"auto"`` or ``ray://host:port``) or, with no address, starts a local
instance; an already initialised Ray (a test, a notebook) is used as is. Ray is imported only here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from hwsim.errors import SweepError
from hwsim.spec import ModelSpec
from hwsim.sweep.evaluate import PerplexityJob, cost_configs, evaluate_configs


def _ray(address: str | None):
    try:
        import ray
    except ImportError:
        raise SweepError("--backend ray needs the 'ray' package: pip install 'hwsim[ray]'") from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except Exception as exc:  # ray raises ConnectionError, RuntimeError, ValueError...
            raise SweepError(f"cannot start or reach Ray (address {address or 'local'}): {exc}") from None
    return ray


def perplexity_chunks(job: PerplexityJob, chunks: list[tuple[list[int], list[tuple[int, ...]]]],
                      address: str | None) -> Iterator[list[dict[str, Any]]]:
    """Evaluate each chunk as one Ray task; yield the rows of each chunk as it finishes."""
    ray = _ray(address)
    task = ray.remote(evaluate_configs)
    pending = [task.remote(job, ids, heads) for ids, heads in chunks]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


def cost_accels(spec: ModelSpec, heads: np.ndarray, todo: list[tuple[int, str, dict[str, Any]]], batch: int,
                address: str | None) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Cost every config on each accelerator as one Ray task; yield (accel_id, columns) as they finish."""
    ray = _ray(address)
    task = ray.remote(cost_configs)
    spec_ref, heads_ref = ray.put(spec), ray.put(heads)
    refs = {task.remote(spec_ref, heads_ref, preset, overrides, batch): aid for aid, preset, overrides in todo}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield refs[done[0]], ray.get(done[0])
