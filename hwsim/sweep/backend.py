"""Where a sweep's work units run (kept in its own light module so the CLI can import it without numpy)."""

from enum import Enum


class Backend(str, Enum):
    LOCAL = "local"  # this machine: a process pool of `workers` processes
    RAY = "ray"  # a Ray cluster (a local instance or `--ray-address`)
