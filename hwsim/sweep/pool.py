"""The one local process pool of every sweep (pruning sweeps, searches, training sweeps) and its cancellation rule.

Processes are spawned, not forked: torch's thread pools do not survive fork. On an error or Ctrl-C the pool drops
the tasks still queued and waits for the running ones: every finished unit is already on disk (each sweep writes
its results store as units finish), so a rerun resumes from there and nothing is left running in the background.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any


@contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes; on leaving (normally, on an error or on Ctrl-C) queued tasks are
    cancelled and running ones finish."""
    pool = ProcessPoolExecutor(max_workers=max(1, workers), mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def as_finished(pool: ProcessPoolExecutor, fn: Callable[..., Any], args: Iterable[tuple[Any, ...]]
                ) -> Iterator[tuple[int, Any]]:
    """Submit ``fn(*a)`` for every ``a`` of ``args``; yield ``(index, result)`` in the order the tasks finish."""
    futures = {pool.submit(fn, *a): i for i, a in enumerate(args)}
    for fut in as_completed(futures):
        yield futures[fut], fut.result()
