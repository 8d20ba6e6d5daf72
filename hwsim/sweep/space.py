"""The sweep space: pruning configurations (heads-per-layer matrices) x an accelerator grid, from CLI or TOML.

Pruning sources, all resolved against a :class:`~hwsim.spec.ModelSpec` into one deduplicated ``(n, n_layers)``
matrix (the unpruned baseline is always included):

- explicit vectors (``"8,6,6,4"``; one value broadcasts to every layer);
- ratios: a global fraction of heads removed, either by gate score (the globally lowest gate log-alpha heads go
  first, as the paper's L0 gates rank them; needs a checkpoint) or uniformly (the same count per layer, the
  remainder spread evenly over the depth);
- per-layer ranges (``"lo:hi[:step]"`` per layer, cartesian product);
- random samples (uniform per layer in ``[min_heads, max_heads]``, seeded).

The accelerator grid is the cartesian product of parameter overrides applied to each preset.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from hwsim.errors import HeadsError, SweepError
from hwsim.heads import parse_heads, validate_heads
from hwsim.spec import ModelSpec

# A cartesian product of per-layer ranges above this many configs is refused: use random samples instead.
MAX_RANGE_CONFIGS = 1_000_000
# Random samples and accelerator grid points: a million of each is far more than a sweep can evaluate, and a
# (samples x layers) int64 matrix of that size is still small (a billion samples would need ~30 GB).
MAX_SAMPLES = 1_000_000
MAX_ACCEL_POINTS = 100_000
MAX_SEED = 2**63 - 1


class RatioMode(str, Enum):
    GATE = "gate"  # remove the heads with the lowest gate log-alpha (paper.md §2: kept iff log alpha >= 0)
    UNIFORM = "uniform"  # remove the same number of heads from every layer


@dataclass(frozen=True, kw_only=True)
class RandomSamples:
    samples: int = 0
    seed: int = 0
    min_heads: tuple[int, ...] = (0,)  # one value broadcasts to every layer
    max_heads: tuple[int, ...] = ()  # empty: n_heads

    def __post_init__(self) -> None:
        for name, limit in (("samples", MAX_SAMPLES), ("seed", MAX_SEED)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
                raise SweepError(f"random {name} must be an integer in 0..{limit:,}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class PruningSpace:
    heads: tuple[str, ...] = ()  # explicit vectors as text, "8,6,6,4" or "4"
    ratios: tuple[float, ...] = ()
    ratio_modes: tuple[RatioMode, ...] = (RatioMode.GATE, RatioMode.UNIFORM)
    ranges: tuple[str, ...] = ()  # per-layer "lo:hi[:step]" (inclusive), one entry broadcasts
    random: RandomSamples = field(default_factory=RandomSamples)

    def __post_init__(self) -> None:
        bad = [r for r in self.ratios if not (isinstance(r, (int, float)) and 0.0 <= r <= 1.0)]  # NaN fails too
        if bad:
            raise SweepError(f"pruning ratio {bad[0]!r} is outside 0..1")

    @property
    def is_empty(self) -> bool:
        return not (self.heads or self.ratios or self.ranges or self.random.samples)

    def to_dict(self) -> dict[str, Any]:
        return {
            "heads_per_layer": list(self.heads),
            "ratios": list(self.ratios),
            "ratio_modes": [m.value for m in self.ratio_modes],
            "ranges": list(self.ranges),
            "random": {
                "samples": self.random.samples,
                "seed": self.random.seed,
                "min_heads": list(self.random.min_heads),
                "max_heads": list(self.random.max_heads),
            },
        }


@dataclass(frozen=True, kw_only=True)
class PruningConfigs:
    """The resolved pruning configurations: one row per distinct heads-per-layer vector, with where it came from."""

    heads: np.ndarray  # (n_configs, n_layers) int64
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.heads.shape[0])


@dataclass(frozen=True, kw_only=True)
class AccelPoint:
    """One accelerator of the grid: a preset (name or TOML path) plus parameter overrides."""

    preset: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        if not self.overrides:
            return self.preset
        return self.preset + "[" + ",".join(f"{k}={v}" for k, v in self.overrides) + "]"

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "overrides": dict(self.overrides)}


@dataclass(frozen=True, kw_only=True)
class AccelGrid:
    presets: tuple[str, ...] = ()
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # parameter -> values, cartesian product

    def points(self) -> tuple[AccelPoint, ...]:
        if not self.presets:
            raise SweepError("empty accelerator space: give at least one accelerator preset")
        for key, values in self.grid:
            if not values:
                raise SweepError(f"empty accelerator space: grid parameter {key!r} has no values")
        keys = [k for k, _ in self.grid]
        expanded = [x for k in keys for x in (("rows", "cols") if k == "array" else (k,))]
        repeated = sorted({k for k in expanded if expanded.count(k) > 1})
        if repeated:
            raise SweepError(f"accelerator grid parameter {repeated[0]!r} is given more than once "
                             "(array=RxC sets rows and cols): give each parameter one list of values")
        total = len(self.presets) * math.prod(len(v) for _, v in self.grid)
        if total > MAX_ACCEL_POINTS:
            raise SweepError(f"the accelerator grid has {total:,} points (limit {MAX_ACCEL_POINTS:,})")
        combos = list(itertools.product(*(v for _, v in self.grid)))
        points = []
        for preset in self.presets:
            for combo in combos:
                points.append(AccelPoint(preset=preset, overrides=_expand_array(tuple(zip(keys, combo)))))
        seen: dict[str, AccelPoint] = {}
        for p in points:
            seen.setdefault(p.name, p)
        return tuple(seen.values())

    def to_dict(self) -> dict[str, Any]:
        return {"presets": list(self.presets), "grid": {k: list(v) for k, v in self.grid}}


def _expand_array(overrides: tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
    """``array = "32x16"`` is shorthand for ``rows = 32, cols = 16``."""
    out: list[tuple[str, Any]] = []
    for key, value in overrides:
        if key == "array":
            text = str(value).lower()
            try:
                rows, cols = (int(x) for x in text.split("x"))
            except ValueError:
                raise SweepError(f"array size {value!r} is not ROWSxCOLS like 32x32") from None
            out += [("rows", rows), ("cols", cols)]
        else:
            out.append((key, value))
    return tuple(out)


# ---- pruning configurations ------------------------------------------------------------------------------------
def _broadcast(values: tuple[int, ...], n_layers: int, what: str) -> np.ndarray:
    if len(values) == 1:
        return np.full(n_layers, values[0], dtype=np.int64)
    if len(values) != n_layers:
        raise HeadsError(f"{what} has {len(values)} entries but the model has {n_layers} layers")
    return np.asarray(values, dtype=np.int64)


def ratio_heads(spec: ModelSpec, ratio: float, mode: RatioMode, scores: np.ndarray | None) -> np.ndarray:
    """Heads kept per layer after removing ``round(ratio * total heads)`` heads (gate-score or uniform order)."""
    if not 0.0 <= ratio <= 1.0:
        raise SweepError(f"pruning ratio {ratio} is outside 0..1")
    L, H = spec.n_layers, spec.n_heads
    n_remove = int(round(ratio * L * H))
    if mode is RatioMode.UNIFORM:
        removed = np.full(L, n_remove // L, dtype=np.int64)
        extra = n_remove % L
        if extra:
            # Spread the remainder evenly over the depth, first and last layer included when extra >= 2.
            removed[np.round(np.linspace(0, L - 1, extra)).astype(int)] += 1
        return H - removed
    if scores is None:
        raise SweepError("gate-score ratios need a checkpoint; use ratio mode 'uniform' for cost-only sweeps")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (L, H):
        raise SweepError(f"gate scores have shape {scores.shape}, expected ({L}, {H})")
    # Stable order: ties broken by (layer, head) index so the configuration is reproducible.
    order = np.argsort(scores.ravel(), kind="stable")[:n_remove]
    removed = np.bincount(order // H, minlength=L)
    return (H - removed).astype(np.int64)


def _parse_range(text: str, n_heads: int) -> np.ndarray:
    parts = str(text).split(":")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise SweepError(f"per-layer range {text!r} is not lo:hi[:step] with integers") from None
    if len(nums) == 1:
        nums = [nums[0], nums[0]]
    if len(nums) not in (2, 3) or (len(nums) == 3 and nums[2] <= 0):
        raise SweepError(f"per-layer range {text!r} is not lo:hi[:step] with a positive step")
    lo, hi, step = nums[0], nums[1], nums[2] if len(nums) == 3 else 1
    if lo < 0 or hi > n_heads or lo > hi:
        raise SweepError(f"per-layer range {text!r} is outside 0..{n_heads} or empty")
    return np.arange(lo, hi + 1, step, dtype=np.int64)


def range_heads(spec: ModelSpec, ranges: tuple[str, ...]) -> np.ndarray:
    if len(ranges) not in (1, spec.n_layers):
        raise HeadsError(f"per-layer ranges have {len(ranges)} entries but the model has {spec.n_layers} layers")
    axes = [_parse_range(r, spec.n_heads) for r in ranges]
    if len(axes) == 1:
        axes = axes * spec.n_layers
    total = int(np.prod([a.size for a in axes], dtype=np.float64))
    if total > MAX_RANGE_CONFIGS:
        raise SweepError(
            f"per-layer ranges give {total:,} configurations (limit {MAX_RANGE_CONFIGS:,}); use random samples"
        )
    grids = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1)


def random_heads(spec: ModelSpec, rnd: RandomSamples) -> np.ndarray:
    lo = _broadcast(rnd.min_heads, spec.n_layers, "random min_heads")
    hi = _broadcast(rnd.max_heads or (spec.n_heads,), spec.n_layers, "random max_heads")
    if (lo < 0).any() or (hi > spec.n_heads).any() or (lo > hi).any():
        raise SweepError(f"random sample bounds must satisfy 0 <= min_heads <= max_heads <= {spec.n_heads}")
    rng = np.random.default_rng(rnd.seed)
    return rng.integers(lo, hi + 1, size=(rnd.samples, spec.n_layers), dtype=np.int64)


def expand_pruning(spec: ModelSpec, space: PruningSpace, scores: np.ndarray | None = None) -> PruningConfigs:
    """All pruning configurations of ``space`` for ``spec``: baseline first, then in source order, deduplicated."""
    if space.is_empty:
        raise SweepError("empty pruning space: give heads-per-layer vectors, ratios, per-layer ranges or samples")
    rows: list[np.ndarray] = [np.asarray(spec.full_heads(), dtype=np.int64)[None, :]]
    labels: list[str] = ["baseline"]
    for text in space.heads:
        rows.append(np.asarray(validate_heads(spec, parse_heads(text, spec.n_layers)), dtype=np.int64)[None, :])
        labels.append("explicit")
    modes = space.ratio_modes if scores is not None else tuple(m for m in space.ratio_modes if m is RatioMode.UNIFORM)
    if space.ratios and not modes:
        raise SweepError("ratio modes are empty (a cost-only sweep supports only 'uniform')")
    for ratio in space.ratios:
        for mode in modes:
            rows.append(ratio_heads(spec, float(ratio), mode, scores)[None, :])
            labels.append(f"{mode.value} {float(ratio):g}")
    if space.ranges:
        block = range_heads(spec, space.ranges)
        rows.append(block)
        labels += ["range"] * block.shape[0]
    if space.random.samples:
        block = random_heads(spec, space.random)
        rows.append(block)
        labels += ["random"] * block.shape[0]
    heads = np.concatenate(rows, axis=0)
    _, first = np.unique(heads, axis=0, return_index=True)
    keep = np.sort(first)
    return PruningConfigs(heads=heads[keep], labels=tuple(labels[i] for i in keep))

