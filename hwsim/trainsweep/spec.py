"""A training sweep as one typed value (:class:`TrainSweepSpec`): which gating runs to make and where to cost them.

The paper's experiment (Shim et al. 2021, paper.md §2): for each sparsity coefficient lambda, run the gating phase from
the converged baseline, prune the closed heads physically and evaluate. A training sweep does that for every
(family, lambda, ablation variant) and costs each pruned model on an accelerator grid.

TOML form (a ``[train]`` table next to the ``[accel]`` table of a sweep spec; paths relative to the file)::

    [train]
    lambdas = [0.005, 0.01, 0.015, 0.02]
    init_from = "../models/ptb-small.ckpt"        # converged All-Attention baseline
    txl_init_from = "../models/ptb-small-txl.ckpt" # optional: Transformer-XL baseline of equal size
    variants = ["full"]                            # training methods of every job (see VARIANTS)
    steps = 600                                    # gating steps (default: the checkpoint recipe's [gates] steps)
    split = "valid"
    max_tokens = 0                                 # 0: the whole split
    batch = 1                                      # batch of the costed workload
    [train.gates]                                  # any other [gates] key of the recipe, for every job
    lr = 1e-3
    [train.recipe_train]                           # evaluation cadence of the gating phase (recipe [train] keys)
    eval_every = 100
    eval_tokens = 8000
    [train.ablation]                               # extra jobs: these variants at these lambdas and families
    lambdas = [0.015]
    families = ["all_attention"]
    variants = ["no-warmup", "no-init", "no-scaling"]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from hwsim.errors import SweepError
from hwsim.spec import Family
from hwsim.sweep.space import AccelGrid
from hwsim.tomlio import check_keys


class Variant(str, Enum):
    """Training-method switches of the gating phase (paper.md §2: the three methods of Shim et al.).

    ``full`` uses all three; each ``no-*`` turns exactly one off; ``none`` turns all three off.
    """

    FULL = "full"
    NO_WARMUP = "no-warmup"  # method 1 off: lambda from the first step, no linear ramp
    NO_INIT = "no-init"  # method 2 off: log alpha starts at 0 (P(open) ~ 0.5) instead of 2.0
    NO_SCALING = "no-scaling"  # method 3 off: surviving heads are not rescaled by H / heads open
    NONE = "none"

    def gate_switches(self) -> dict[str, bool]:
        """The [gates] booleans (hwsim.nn.config.GateConfig) this variant sets."""
        off = {Variant.FULL: (), Variant.NO_WARMUP: ("sparsity_warmup",), Variant.NO_INIT: ("proper_init",),
               Variant.NO_SCALING: ("output_scaling",),
               Variant.NONE: ("sparsity_warmup", "proper_init", "output_scaling")}[self]
        return {name: name not in off for name in ("sparsity_warmup", "proper_init", "output_scaling")}


FAMILY_SHORT = {Family.ALL_ATTENTION: "aa", Family.TRANSFORMER_XL: "txl"}


@dataclass(frozen=True, kw_only=True)
class Ablation:
    lambdas: tuple[float, ...] = ()
    families: tuple[Family, ...] = (Family.ALL_ATTENTION,)
    variants: tuple[Variant, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"lambdas": list(self.lambdas), "families": [f.value for f in self.families],
                "variants": [v.value for v in self.variants]}


@dataclass(frozen=True, kw_only=True)
class TrainSweepSpec:
    lambdas: tuple[float, ...] = ()
    init_from: str | None = None  # All-Attention baseline checkpoint
    txl_init_from: str | None = None  # Transformer-XL baseline checkpoint (optional)
    variants: tuple[Variant, ...] = (Variant.FULL,)
    ablation: Ablation = field(default_factory=Ablation)
    steps: int | None = None  # gating steps; None: the baseline recipe's [gates] steps
    gates: tuple[tuple[str, Any], ...] = ()  # further [gates] overrides for every job
    train: tuple[tuple[str, Any], ...] = ()  # recipe [train] overrides of the gating phase (eval_every, eval_tokens...)
    split: str = "valid"
    max_tokens: int | None = None
    batch: int = 1
    accel: AccelGrid = field(default_factory=lambda: AccelGrid(presets=("gemmini-like", "edge-soc-32x32")))

    def baselines(self) -> dict[Family, str]:
        """Family -> baseline checkpoint, for the families this sweep trains."""
        out = {}
        if self.init_from:
            out[Family.ALL_ATTENTION] = self.init_from
        if self.txl_init_from:
            out[Family.TRANSFORMER_XL] = self.txl_init_from
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "lambdas": list(self.lambdas), "init_from": self.init_from, "txl_init_from": self.txl_init_from,
            "variants": [v.value for v in self.variants], "ablation": self.ablation.to_dict(), "steps": self.steps,
            "gates": dict(self.gates), "train": dict(self.train), "split": self.split, "max_tokens": self.max_tokens, "batch": self.batch,
            "accel": self.accel.to_dict(),
        }

    def with_overrides(self, **changes: Any) -> "TrainSweepSpec":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_TRAIN_KEYS = {"lambdas", "init_from", "txl_init_from", "variants", "steps", "split", "max_tokens", "batch", "gates",
               "ablation", "recipe_train"}
# recipe [train] keys a sweep may change for its gating phases: evaluation cadence and size only, so that the
# weights a job trains depend on the baseline, lambda, variant and [gates] alone.
_RECIPE_TRAIN_KEYS = {"eval_every", "eval_tokens", "eval_batch_size"}
_ABLATION_KEYS = {"lambdas", "families", "variants"}
# [gates] keys a sweep may not override: they are set per job by the sweep itself.
_RESERVED_GATE_KEYS = {"lambda", "steps", "sparsity_warmup", "proper_init", "output_scaling"}


def parse_lambdas(values: Any, source: str) -> tuple[float, ...]:
    """A list of numbers, or the CLI text ``0.005,0.01``; every lambda must be >= 0; duplicates removed in order."""
    if isinstance(values, str):
        items = [t.strip() for t in values.split(",") if t.strip()]
        try:
            values = [float(t) for t in items]
        except ValueError:
            raise SweepError(f"{source}: {values!r} is not a comma-separated list of numbers") from None
    if not isinstance(values, (list, tuple)) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise SweepError(f"{source}: lambdas must be a list of numbers, got {values!r}")
    if not values:
        raise SweepError(f"{source}: no lambda values given")
    bad = [v for v in values if not 0 <= v < float("inf")]  # NaN fails too
    if bad:
        raise SweepError(f"{source}: lambda must be >= 0 and finite, got {bad[0]!r}")
    return tuple(dict.fromkeys(float(v) for v in values))


def parse_variants(values: Any, source: str) -> tuple[Variant, ...]:
    if isinstance(values, str):
        values = [t.strip() for t in values.split(",") if t.strip()]
    if not isinstance(values, (list, tuple)) or not values:
        raise SweepError(f"{source}: variants must be a non-empty list")
    try:
        return tuple(dict.fromkeys(Variant(v) for v in values))
    except ValueError:
        raise SweepError(f"{source}: variants must be drawn from {[v.value for v in Variant]}, got {values!r}") from None


def parse_families(values: Any, source: str) -> tuple[Family, ...]:
    if isinstance(values, str):
        values = [t.strip() for t in values.split(",") if t.strip()]
    short = {v: k for k, v in FAMILY_SHORT.items()}
    try:
        return tuple(dict.fromkeys(short[v] if v in short else Family(v) for v in values))
    except (ValueError, TypeError):
        raise SweepError(f"{source}: families must be all_attention (aa) or transformer_xl (txl), got {values!r}") from None


def _check(table: Any, allowed: set[str], where: str, source: str) -> dict[str, Any]:
    return check_keys(table, sorted(allowed), f"{source}: [{where}]", SweepError)


def _int(value: Any, what: str, source: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise SweepError(f"{source}: {what} must be an integer >= {minimum}, got {value!r}")
    return value


def _path(value: Any, base: Path, what: str, source: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise SweepError(f"{source}: {what} must be a path string")
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def parse_train_table(raw: dict[str, Any], accel: AccelGrid | None, base: Path, source: str) -> TrainSweepSpec:
    """The ``[train]`` table of a sweep spec file (plus its already parsed ``[accel]`` grid)."""
    table = _check(raw, _TRAIN_KEYS, "train", source)
    gates = _check(table.get("gates", {}), set(table.get("gates", {})) - _RESERVED_GATE_KEYS, "train.gates", source)
    abl = _check(table.get("ablation", {}), _ABLATION_KEYS, "train.ablation", source)
    recipe_train = _check(table.get("recipe_train", {}), _RECIPE_TRAIN_KEYS, "train.recipe_train", source)
    ablation = Ablation()
    if abl:
        ablation = Ablation(
            lambdas=parse_lambdas(abl.get("lambdas", []), f"{source}: train.ablation.lambdas"),
            families=parse_families(abl.get("families", ["all_attention"]), f"{source}: train.ablation.families"),
            variants=parse_variants(abl.get("variants", []), f"{source}: train.ablation.variants"),
        )
    max_tokens = table.get("max_tokens", 0)
    steps = table.get("steps")
    spec = TrainSweepSpec(
        lambdas=parse_lambdas(table.get("lambdas", []), f"{source}: train.lambdas"),
        init_from=_path(table.get("init_from"), base, "train.init_from", source),
        txl_init_from=_path(table.get("txl_init_from"), base, "train.txl_init_from", source),
        variants=parse_variants(table.get("variants", ["full"]), f"{source}: train.variants"),
        ablation=ablation,
        steps=_int(steps, "train.steps", source, 1) if steps is not None else None,
        gates=tuple(sorted(gates.items())),
        train=tuple(sorted(recipe_train.items())),
        split=str(table.get("split", "valid")),
        max_tokens=_int(max_tokens, "train.max_tokens", source, 0) or None,
        batch=_int(table.get("batch", 1), "train.batch", source, 1),
    )
    return replace(spec, accel=accel) if accel is not None and accel.presets else spec


def check_train_sweep(spec: TrainSweepSpec) -> None:
    """Everything a training sweep's jobs will read, checked before the first job trains (SweepError)."""
    from hwsim.errors import HwsimError
    from hwsim.limits import check_batch
    from hwsim.nn.config import gate_config, train_config
    from hwsim.sweep.config import MAX_STEPS, check_split

    try:
        check_split(spec.split)
        check_batch(spec.batch, "batch")
        if spec.steps is not None and (isinstance(spec.steps, bool) or not 1 <= spec.steps <= MAX_STEPS):
            raise SweepError(f"gating steps must be in 1..{MAX_STEPS:,}, got {spec.steps!r}")
        if spec.max_tokens is not None and (isinstance(spec.max_tokens, bool) or spec.max_tokens < 1):
            raise SweepError(f"max_tokens must be a positive number of tokens, got {spec.max_tokens!r}")
        parse_lambdas(list(spec.lambdas) or [0.0], "lambdas")
        parse_lambdas(list(spec.ablation.lambdas) or [0.0], "ablation lambdas")
        gate_config({**dict(spec.gates), "lambda": 0.0})  # types and ranges of the [gates] overrides
        train_config(dict(spec.train))
        spec.accel.points()
    except HwsimError as exc:
        raise SweepError(str(exc)) from None


def load_train_sweep_spec(path: str | Path) -> TrainSweepSpec:
    """Read a sweep spec file that has a ``[train]`` table (its ``[accel]`` table is the sweep engine's format)."""
    from hwsim.tomlio import load_toml

    p = Path(path)
    raw = load_toml(p, SweepError)
    if "train" not in raw:
        raise SweepError(f"{p}: no [train] table (a training sweep needs lambdas and a baseline checkpoint)")
    _check(raw, {"train", "accel", "sweep", "pruning"}, "top level", str(p))
    accel = _check(raw.get("accel", {}), {"presets", "grid"}, "accel", str(p))
    grid = accel.get("grid", {})
    if not isinstance(grid, dict) or not all(isinstance(v, list) for v in grid.values()):
        raise SweepError(f"{p}: [accel.grid] must map parameter names to lists of values")
    presets = accel.get("presets", [])
    if not isinstance(presets, list):
        raise SweepError(f"{p}: accel.presets must be a list")
    accel_grid = AccelGrid(presets=tuple(str(x) for x in presets), grid=tuple((str(k), tuple(v)) for k, v in grid.items()))
    return parse_train_table(raw["train"], accel_grid, p.resolve().parent, str(p))
