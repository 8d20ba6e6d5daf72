"""Run a sweep's work units on a Ray cluster: the same functions as the local pool (``hwsim.sweep.pool``), as Ray
tasks.

``ray.init`` connects to ``address`` (``"auto"`` or ``ray://host:port``) or, with no address, starts a local
instance; an already initialised Ray (a test, a notebook) is used as is. Ray is imported only here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from hwsim.errors import SweepError


def connect(address: str | None):
    """The ``ray`` module, initialised (connected to ``address`` or a local instance) once per process."""
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


def as_finished(fn: Callable[..., Any], args: Iterable[tuple[Any, ...]], address: str | None,
                shared: tuple[Any, ...] = (), options: dict[str, Any] | None = None) -> Iterator[tuple[int, Any]]:
    """Run ``fn(*shared, *a)`` as one Ray task per ``a`` of ``args``; yield ``(index, result)`` as tasks finish.

    ``shared`` arguments (a model spec, a heads matrix) are put in the object store once, not once per task;
    ``options`` are Ray task options (``num_gpus``...)."""
    ray = connect(address)
    task = ray.remote(fn) if not options else ray.remote(**options)(fn)
    refs = tuple(ray.put(x) for x in shared)
    index = {task.remote(*refs, *a): i for i, a in enumerate(args)}
    pending = list(index)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield index[done[0]], ray.get(done[0])
