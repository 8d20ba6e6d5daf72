"""A whole sweep as one typed value (:class:`SweepSpec`), read from ``sweeps/*.toml`` or built by the CLI.

TOML layout (every table optional except that the space must not be empty; paths are relative to the file)::

    [sweep]      checkpoint, model, split, max_tokens, finetune_steps, batch, align,
                 phases = ["segment", "decode"], context (decode: cached tokens; default M + (T-1)//2)
    [pruning]    heads_per_layer = ["8,6,6,4", "4"], ratios = [0, 0.25], ratio_modes = ["gate", "uniform"],
                 ranges = ["2:8:2"]
    [pruning.random]  samples, seed, min_heads = [1], max_heads = [8]
    [accel]      presets = ["gemmini-like", "tpu-v1-like"]
    [accel.grid] array = ["16x16", "32x32"], dataflow = ["os", "ws"], <any accelerator parameter> = [values]
    [search]     algorithm = "nsga2", budget, seed, population   (instead of [pruning]: configurations searched)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from hwsim.errors import SweepError
from hwsim.heads import heads_text
from hwsim.sweep.search import SearchSpec
from hwsim.sweep.space import AccelGrid, PruningSpace, RandomSamples, RatioMode
from hwsim.tomlio import check_keys, load_toml

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC_PATH = ROOT / "sweeps" / "default.toml"


@dataclass(frozen=True, kw_only=True)
class SweepSpec:
    checkpoint: str | None = None  # trained checkpoint: perplexity measured, spec taken from it
    model: str | None = None  # model spec TOML for a cost-only sweep (used when there is no checkpoint)
    split: str = "valid"
    max_tokens: int | None = None  # evaluate on the first max_tokens tokens of the split (None: all)
    finetune_steps: int = 0
    batch: int = 1
    align: bool = False  # only head counts that fill whole folds on every accelerator (hwsim.sweep.folds)
    pruning: PruningSpace = field(default_factory=PruningSpace)
    accel: AccelGrid = field(default_factory=AccelGrid)
    search: SearchSpec | None = None  # a search replaces the pruning space (configurations proposed by NSGA-II)
    # What is costed: the segment pass always; "decode" adds one decode step per point (per-token columns, fronts)
    phases: tuple[str, ...] = ("segment",)
    context: int | None = None  # decode: cached tokens (None: hwsim.accel.generation.default_context)
    # Perplexity at each accelerator's bit widths (hwsim.numerics): rtn or g128 quantisation, or float (float32)
    scheme: str = "rtn"

    def __post_init__(self) -> None:
        check_split(self.split)
        if not isinstance(self.phases, tuple) or not set(self.phases) <= set(PHASES) or "segment" not in self.phases \
                or len(set(self.phases)) != len(self.phases):
            raise SweepError(f"phases must be segment, or segment and decode (the segment pass is always costed), "
                             f"got {list(self.phases) if isinstance(self.phases, tuple) else self.phases!r}")
        from hwsim.numerics import SCHEMES

        if self.scheme not in SCHEMES:
            raise SweepError(f"unknown quantisation scheme {self.scheme!r} (choose {', '.join(SCHEMES)})")
        if self.context is not None and "decode" not in self.phases:
            raise SweepError("context applies to the decode phase: add phases = [\"segment\", \"decode\"]")
        if self.max_tokens is not None and (isinstance(self.max_tokens, bool) or self.max_tokens < 1):
            raise SweepError(f"max_tokens must be a positive number of tokens, got {self.max_tokens!r}")
        if isinstance(self.finetune_steps, bool) or not 0 <= self.finetune_steps <= MAX_STEPS:
            raise SweepError(f"finetune steps must be in 0..{MAX_STEPS:,}, got {self.finetune_steps!r}")

    def to_dict(self) -> dict[str, Any]:
        # Absent unless used, so that the input hash of every sweep without them is unchanged.
        extra = {} if self.search is None else {"search": self.search.to_dict()}
        if self.align:
            extra["align"] = True
        if self.decode:
            extra.update(phases=list(self.phases), context=self.context)
        extra["scheme"] = self.scheme  # perplexity at the accelerators' numerics (float32 before this field)
        return {**extra,
            "checkpoint": self.checkpoint,
            "model": self.model,
            "split": self.split,
            "max_tokens": self.max_tokens,
            "finetune_steps": self.finetune_steps,
            "batch": self.batch,
            "pruning": self.pruning.to_dict(),
            "accel": self.accel.to_dict(),
        }

    def with_overrides(self, **changes: Any) -> "SweepSpec":
        return replace(self, **changes)

    @property
    def decode(self) -> bool:
        return "decode" in self.phases


SPLITS = ("train", "valid", "test")
PHASES = ("segment", "decode")
MAX_STEPS = 1_000_000_000


def check_split(split: Any) -> str:
    if split not in SPLITS:
        raise SweepError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return split


_SWEEP_KEYS = {"checkpoint", "model", "split", "max_tokens", "finetune_steps", "batch", "align", "phases", "context",
               "scheme"}
_PRUNING_KEYS = {"heads_per_layer", "ratios", "ratio_modes", "ranges", "random"}
_RANDOM_KEYS = {"samples", "seed", "min_heads", "max_heads"}
_ACCEL_KEYS = {"presets", "grid"}
_SEARCH_KEYS = {"algorithm", "budget", "seed", "population"}


def _check_keys(table: Any, allowed: set[str], where: str, source: str) -> dict[str, Any]:
    return check_keys(table, sorted(allowed), f"{source}: [{where}]", SweepError)


def _list(value: Any, what: str, source: str) -> list[Any]:
    if not isinstance(value, list):
        raise SweepError(f"{source}: {what} must be a list, got {value!r}")
    return value


def _ints(value: Any, what: str, source: str) -> tuple[int, ...]:
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise SweepError(f"{source}: {what} must be integers, got {value!r}")
    return tuple(values)


def _bool(value: Any, what: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise SweepError(f"{source}: {what} must be true or false, got {value!r}")
    return value


def _ratio_modes(values: list[Any], source: str) -> tuple[RatioMode, ...]:
    try:
        return tuple(RatioMode(v) for v in values)
    except ValueError:
        choices = [m.value for m in RatioMode]
        raise SweepError(f"{source}: ratio_modes must be drawn from {choices}, got {values!r}") from None


def _resolve_path(value: Any, base: Path, what: str, source: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SweepError(f"{source}: {what} must be a path string")
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def parse_sweep_spec(raw: dict[str, Any], base: Path, source: str) -> SweepSpec:
    """Validate the TOML dict of a sweep spec; relative paths resolve against ``base``."""
    _check_keys(raw, {"sweep", "pruning", "accel", "search"}, "top level", source)
    sweep = _check_keys(raw.get("sweep", {}), _SWEEP_KEYS, "sweep", source)
    pruning = _check_keys(raw.get("pruning", {}), _PRUNING_KEYS, "pruning", source)
    rnd = _check_keys(pruning.get("random", {}), _RANDOM_KEYS, "pruning.random", source)
    accel = _check_keys(raw.get("accel", {}), _ACCEL_KEYS, "accel", source)
    grid = _check_keys(accel.get("grid", {}), set(accel.get("grid", {})), "accel.grid", source)

    ratios = _list(pruning.get("ratios", []), "pruning.ratios", source)
    if not all(isinstance(r, (int, float)) and not isinstance(r, bool) for r in ratios):
        raise SweepError(f"{source}: pruning.ratios must be numbers, got {ratios!r}")
    max_tokens = sweep.get("max_tokens")
    space = PruningSpace(
        heads=tuple(heads_text(h, SweepError, f"{source}: heads_per_layer")
                    for h in _list(pruning.get("heads_per_layer", []), "heads_per_layer", source)),
        ratios=tuple(float(r) for r in ratios),
        ratio_modes=_ratio_modes(_list(pruning.get("ratio_modes", ["gate", "uniform"]), "ratio_modes", source), source),
        ranges=tuple(str(r) for r in _list(pruning.get("ranges", []), "pruning.ranges", source)),
        random=RandomSamples(
            samples=_ints(rnd.get("samples", 0), "pruning.random.samples", source)[0],
            seed=_ints(rnd.get("seed", 0), "pruning.random.seed", source)[0],
            min_heads=_ints(rnd.get("min_heads", [0]), "pruning.random.min_heads", source),
            max_heads=_ints(rnd.get("max_heads", []), "pruning.random.max_heads", source),
        ),
    )
    search = _parse_search(raw, source)
    return SweepSpec(
        search=search,
        checkpoint=_resolve_path(sweep.get("checkpoint"), base, "sweep.checkpoint", source),
        model=_resolve_path(sweep.get("model"), base, "sweep.model", source),
        split=str(sweep.get("split", "valid")),
        max_tokens=_ints(max_tokens, "sweep.max_tokens", source)[0] if max_tokens else None,
        finetune_steps=_ints(sweep.get("finetune_steps", 0), "sweep.finetune_steps", source)[0],
        batch=_ints(sweep.get("batch", 1), "sweep.batch", source)[0],
        align=_bool(sweep.get("align", False), "sweep.align", source),
        phases=tuple(str(x) for x in _list(sweep.get("phases", ["segment"]), "sweep.phases", source)),
        context=_ints(sweep["context"], "sweep.context", source)[0] if "context" in sweep else None,
        scheme=str(sweep.get("scheme", "rtn")),
        pruning=space,
        accel=AccelGrid(
            presets=tuple(str(p) for p in _list(accel.get("presets", []), "accel.presets", source)),
            grid=tuple((str(k), tuple(_list(v, f"accel.grid.{k}", source))) for k, v in grid.items()),
        ),
    )


def _parse_search(raw: dict[str, Any], source: str) -> SearchSpec | None:
    if "search" not in raw:
        return None
    if "pruning" in raw:
        raise SweepError(f"{source}: [search] and [pruning] exclude each other (a search proposes its own "
                         "pruning configurations); remove one of them")
    table = _check_keys(raw["search"], _SEARCH_KEYS, "search", source)
    if "budget" not in table:
        raise SweepError(f"{source}: [search] needs budget = N (perplexity evaluations)")
    algorithm = table.get("algorithm", "nsga2")
    if not isinstance(algorithm, str):
        raise SweepError(f"{source}: search.algorithm must be a string, got {algorithm!r}")
    return SearchSpec(algorithm=algorithm, budget=_ints(table["budget"], "search.budget", source)[0],
                      seed=_ints(table.get("seed", 0), "search.seed", source)[0],
                      population=_ints(table.get("population", 0), "search.population", source)[0])


def load_sweep_spec(path: str | Path) -> SweepSpec:
    p = Path(path)
    return parse_sweep_spec(load_toml(p, SweepError), p.resolve().parent, str(p))


def parse_grid_option(text: str) -> tuple[str, tuple[Any, ...]]:
    """CLI ``--grid rows=16,32`` -> ("rows", (16, 32)); numbers become int or float, the rest stay strings."""
    if "=" not in text:
        raise SweepError(f"--grid {text!r} is not PARAM=V1,V2,... (for example rows=16,32 or dataflow=os,ws)")
    key, _, values = text.partition("=")
    items = [v.strip() for v in values.split(",")]
    if not key.strip() or not all(items):
        raise SweepError(f"--grid {text!r} has no parameter name or an empty value")
    return key.strip(), tuple(_scalar(v) for v in items)


def _scalar(text: str) -> Any:
    if text.isascii() and "_" not in text:  # int() also reads full-width digits and "1_0"
        for kind in (int, float):
            try:
                value = kind(text)
                return value if kind is int or math.isfinite(value) else text
            except ValueError:
                pass
    return {"true": True, "false": False}.get(text.lower(), text)


@dataclass(frozen=True, kw_only=True)
class CliOverrides:
    """Sweep settings given on the command line; None / empty means "keep the spec file's value"."""

    heads: tuple[str, ...] = ()
    ratios: str | None = None
    ratio_modes: tuple[str, ...] = ()
    samples: int | None = None
    seed: int | None = None
    accels: tuple[str, ...] = ()
    grid: tuple[str, ...] = ()
    checkpoint: str | None = None
    model: str | None = None
    split: str | None = None
    max_tokens: int | None = None
    finetune_steps: int | None = None
    batch: int | None = None
    search: str | None = None  # --search nsga2
    budget: int | None = None  # --budget N
    align: bool | None = None  # --align
    phases: str | None = None  # --phases segment,decode
    context: int | None = None  # --context
    scheme: str | None = None  # --scheme rtn|g128|float

    @property
    def pruning_given(self) -> bool:
        return bool(self.heads or self.ratios is not None or self.samples is not None or self.ratio_modes)


def parse_ratios(text: str) -> tuple[float, ...]:
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        raise SweepError(f"--ratios {text!r} has an empty entry: give fractions like 0,0.25,0.5")
    try:
        values = tuple(float(t) for t in items if t.isascii() and "_" not in t)
        if len(values) != len(items):
            raise ValueError
    except ValueError:
        raise SweepError(f"--ratios {text!r} is not a comma-separated list of numbers") from None
    bad = [v for v in values if not 0.0 <= v <= 1.0]
    if bad:
        raise SweepError(f"--ratios {text!r}: {bad[0]:g} is outside 0..1")
    return values


def apply_cli(base: SweepSpec, cli: CliOverrides) -> SweepSpec:
    """The spec with command-line settings applied.

    Any pruning option replaces the whole pruning space of ``base`` (so ``--heads-per-layer 8,6,6,4`` sweeps that
    vector, not the default space plus it); likewise any accelerator option replaces the accelerator grid. A
    ``--model`` without ``--checkpoint`` makes the sweep cost-only.
    """
    spec = base
    if cli.search is not None or cli.budget is not None or base.search is not None:
        return _apply_common(_apply_search(base, cli), cli)
    if cli.heads or cli.ratios is not None or cli.samples is not None:
        spec = replace(spec, pruning=PruningSpace(
            heads=cli.heads,
            ratios=parse_ratios(cli.ratios) if cli.ratios is not None else (),
            ratio_modes=(_ratio_modes(list(cli.ratio_modes), "--ratio-mode") if cli.ratio_modes
                         else base.pruning.ratio_modes),
            random=RandomSamples(samples=cli.samples or 0, seed=cli.seed or 0),
        ))
    elif cli.ratio_modes or cli.seed is not None:
        pruning = base.pruning
        if cli.ratio_modes:
            pruning = replace(pruning, ratio_modes=_ratio_modes(list(cli.ratio_modes), "--ratio-mode"))
        if cli.seed is not None:
            pruning = replace(pruning, random=replace(pruning.random, seed=cli.seed))
        spec = replace(spec, pruning=pruning)
    return _apply_common(spec, cli)


def _apply_search(base: SweepSpec, cli: CliOverrides) -> SweepSpec:
    """A search spec: ``--search``/``--budget``/``--seed`` over the spec file's [search] table (or the defaults)."""
    if cli.pruning_given:
        raise SweepError("--search explores the pruning space itself: drop --heads-per-layer, --ratios, "
                         "--ratio-mode and --samples")
    if base.search is None and cli.search is None:
        raise SweepError("--budget applies to a search: add --search nsga2")
    old = base.search or SearchSpec()
    budget = cli.budget if cli.budget is not None else old.budget
    if base.search is None and cli.budget is None:
        raise SweepError("--search needs --budget N (the number of pruning configurations to evaluate)")
    search = SearchSpec(algorithm=cli.search or old.algorithm, budget=budget,
                        seed=cli.seed if cli.seed is not None else old.seed, population=old.population)
    return replace(base, search=search, pruning=PruningSpace())


def _apply_common(spec: SweepSpec, cli: CliOverrides) -> SweepSpec:
    base = spec
    if cli.accels or cli.grid:
        spec = replace(spec, accel=AccelGrid(
            presets=cli.accels or base.accel.presets,
            grid=tuple(parse_grid_option(g) for g in cli.grid),
        ))
    if cli.model is not None:
        spec = replace(spec, model=cli.model, checkpoint=None)
    if cli.checkpoint is not None:
        spec = replace(spec, checkpoint=cli.checkpoint)
    for name in ("split", "max_tokens", "finetune_steps", "batch", "align"):
        value = getattr(cli, name)
        if value is not None:
            spec = replace(spec, **{name: value})
    if cli.phases is not None:
        phases = tuple(x.strip() for x in cli.phases.split(","))
        spec = replace(spec, phases=phases, context=spec.context if "decode" in phases else None)
    if cli.context is not None:
        spec = replace(spec, context=cli.context)
    if cli.scheme is not None:
        spec = replace(spec, scheme=cli.scheme)
    return spec


class SweepKind(str, Enum):
    """What ``hwsim sweep`` runs: a pruning x accelerator sweep, or a training sweep (``hwsim train-sweep``)."""

    PRUNING = "pruning"
    TRAINING = "training"


# `hwsim sweep` options that start a training sweep, options only a training sweep honours, and options only a
# pruning sweep honours. A sweep of the other kind refuses them by name instead of dropping them.
TRAINING_STARTERS = ("--train-lambdas", "--init-from", "--txl-init-from")
TRAINING_ONLY = (*TRAINING_STARTERS, "--ablation-variants", "--gate-steps", "--device")
PRUNING_ONLY = ("--heads-per-layer", "--ratios", "--ratio-mode", "--samples", "--seed", "--search", "--budget",
                "--checkpoint", "--model", "--finetune-steps", "--align", "--max-perplexity",
                "--max-perplexity-increase", "--max-latency-ms", "--max-area-mm2", "--max-energy-uj", "--phases",
                "--context", "--max-latency-per-token-ms", "--max-energy-per-token-uj", "--scheme")


def is_train_sweep_file(path: str | Path | None) -> bool:
    """Whether a sweep spec file describes a training sweep (it has a ``[train]`` table)."""
    if path is None or not Path(path).is_file():
        return False
    return "train" in load_toml(path, SweepError)


def sweep_kind(spec_file: str | Path | None, given: Iterable[str]) -> SweepKind:
    """The kind of sweep ``hwsim sweep SPEC_FILE`` with the options ``given`` runs.

    A spec file with a ``[train]`` table or a training option (:data:`TRAINING_STARTERS`) makes it a training
    sweep. Options the chosen kind does not honour are an error naming them, never silently dropped (a training
    sweep has no ``--seed``: its jobs take their seeds from the recipes)."""
    given = set(given)
    training = is_train_sweep_file(spec_file) or bool(given & set(TRAINING_STARTERS))
    kind, foreign = ((SweepKind.TRAINING, PRUNING_ONLY) if training else (SweepKind.PRUNING, TRAINING_ONLY))
    refused = [opt for opt in foreign if opt in given]
    if refused:
        why = (f"{spec_file or ' '.join(sorted(given & set(TRAINING_STARTERS)))} makes this a training sweep"
               if training else "this is a pruning sweep (no [train] table, no --train-lambdas/--init-from)")
        raise SweepError(f"{why}: {', '.join(refused)} do(es) not apply to it")
    return kind
