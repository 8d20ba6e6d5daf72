"""Where a sweep's work units run, and the run options every kind of sweep shares (kept in its own light module so
the CLI can import it without numpy)."""

from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class Backend(str, Enum):
    LOCAL = "local"  # this machine: a process pool of `workers` processes
    RAY = "ray"  # a Ray cluster (a local instance or `--ray-address`)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How and where any sweep runs (hwsim.sweep.engine.SweepRequest, hwsim.trainsweep.runner.TrainSweepRequest)."""

    out_dir: Path  # the results store (hwsim.sweep.store.ResultsStore)
    workers: int = 1  # local worker processes (hwsim.sweep.pool)
    backend: Backend = Backend.LOCAL
    ray_address: str | None = None  # --backend ray: the cluster (None: a local Ray)
    force: bool = False  # overwrite a store made from other inputs
    progress: bool = True  # progress bars on stderr
