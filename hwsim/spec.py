"""Typed model spec shared by the cost model and the torch models: one recipe describes both sides.

A recipe is a TOML file with a ``[model]`` table (this module) and optional ``[train]``, ``[gates]`` and ``[data]``
tables that only ``hwsim.nn`` reads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from hwsim.errors import SpecError
from hwsim.tomlio import check_keys, load_toml


class Family(str, Enum):
    """Which architecture a spec describes."""

    ALL_ATTENTION = "all_attention"  # Sukhbaatar et al. 2019: persistent vectors replace the FF block
    TRANSFORMER_XL = "transformer_xl"  # Dai et al. 2019 baseline: attention + FF block per layer


# Largest accepted size of each integer field: far beyond any real model (the paper's WT103 model: 16 layers,
# d_model 512, 8 heads, vocabulary 267,735) yet small enough that sizes multiply without overflowing int64 counts
# (workload counts are checked again against hwsim.limits.MAX_COUNT for a given accelerator and batch).
SIZE_LIMITS = {
    "n_layers": 1024, "d_model": 65_536, "n_heads": 1024, "d_head": 4096, "n_persistent": 65_536,
    "d_ff": 262_144, "segment_len": 65_536, "memory_len": 65_536, "pos_len": 131_072, "vocab_size": 16_777_216,
    "adaptive_div": 64, "weight_bits": 64, "act_bits": 64, "clamp_len": 131_072,
}  # fmt: skip
NAME_MAX_CHARS = 100


def check_name(name: Any, what: str, error: type[Exception] = SpecError) -> None:
    """A name that also names files (SCALE-Sim export): no path separators, no control characters, not ``..``."""
    if not isinstance(name, str) or not name.strip():
        raise error(f"{what} name must be a non-empty string, got {name!r}")
    if len(name) > NAME_MAX_CHARS:
        raise error(f"{what} name is longer than {NAME_MAX_CHARS} characters")
    if any(c in name for c in "/\\") or name in (".", "..") or not name.isprintable():
        raise error(f"{what} name {name!r} must not contain path separators or control characters")
STYLES = ("s2", "nnlib")  # ModelSpec.style


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """Architecture of an All-Attention or Transformer-XL language model (pre-LN, relative attention as in Shim et al.).

    Every size is a count (tokens, vectors, channels); bits are storage widths used by the cost model.
    """

    name: str
    family: Family = Family.ALL_ATTENTION
    n_layers: int
    d_model: int
    n_heads: int
    d_head: int
    n_persistent: int = 0  # N persistent key/value vectors *per head* (paper.md §4.5); 0 for Transformer-XL
    d_ff: int = 0  # feed-forward width; 0 for All-Attention
    segment_len: int  # T, tokens predicted per segment
    memory_len: int  # M, cached hidden states of the previous segment
    pos_len: int = 0  # rows of the learned position table R (S2: 512); 0 means segment_len + memory_len
    vocab_size: int
    adaptive_cutoffs: tuple[int, ...] = ()  # e.g. (20000, 40000, 200000) for WT103; empty = plain softmax
    adaptive_div: int = 4  # each tail cluster's width is d_model / div**i (paper.md: div 4)
    weight_bits: int = 8  # stored width of every parameter (param_bytes, weight SRAM, weight traffic)
    act_bits: int = 8  # width of every activation: must equal the accelerator's input_bits (hwsim.limits)
    # "s2": the authors' All-Attention scaffold (learned position table R, u/v per layer, no final LayerNorm);
    # "nnlib": Transformer-XL as nnlib's MemoryTransformer builds it, the authors' TXL baseline (paper.md, "The authors'
    # Transformer-XL baseline"): sinusoidal relative positions, distances clamped at clamp_len, one u/v shared by all
    # layers, a final LayerNorm. Both omitted from to_dict() at their defaults, so existing specs hash as before.
    style: str = "s2"
    clamp_len: int = 0  # nnlib style: distances above clamp_len use clamp_len's sinusoid (0: no clamp)

    def __post_init__(self) -> None:
        check_name(self.name, "model spec")
        try:  # accept the plain string too (ModelSpec(family="transformer_xl")); `is` comparisons need the enum
            object.__setattr__(self, "family", Family(self.family))
        except ValueError:
            choices = ", ".join(f.value for f in Family)
            raise SpecError(f"model spec '{self.name}': unknown family {self.family!r} (choose {choices})") from None
        for field, limit in SIZE_LIMITS.items():
            value = getattr(self, field)
            low = 0 if field in ("n_persistent", "d_ff", "memory_len", "pos_len", "clamp_len") else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                kind = "a non-negative" if low == 0 else "a positive"
                raise SpecError(f"model spec '{self.name}': {field} must be {kind} integer, got {value!r}")
            if value > limit:
                raise SpecError(f"model spec '{self.name}': {field} = {value} exceeds the limit {limit:,}")
        cutoffs = self.adaptive_cutoffs
        if not isinstance(cutoffs, tuple) or not all(isinstance(c, int) and not isinstance(c, bool) for c in cutoffs):
            raise SpecError(f"model spec '{self.name}': adaptive_cutoffs must be a list of integers, got {cutoffs!r}")
        if self.style not in STYLES:
            raise SpecError(f"model spec '{self.name}': style must be one of {', '.join(STYLES)}, got {self.style!r}")
        if self.family is Family.ALL_ATTENTION and self.n_persistent == 0:
            raise SpecError(f"model spec '{self.name}': an all_attention model needs n_persistent > 0")
        if self.family is Family.TRANSFORMER_XL and self.d_ff == 0:
            raise SpecError(f"model spec '{self.name}': a transformer_xl model needs d_ff > 0")
        if self.pos_len and self.pos_len < self.segment_len + self.memory_len:
            raise SpecError(
                f"model spec '{self.name}': pos_len {self.pos_len} is shorter than segment_len + memory_len "
                f"({self.segment_len + self.memory_len})"
            )
        if cutoffs:
            if list(cutoffs) != sorted(set(cutoffs)) or cutoffs[0] <= 0 or cutoffs[-1] >= self.vocab_size:
                raise SpecError(
                    f"model spec '{self.name}': adaptive_cutoffs must be strictly increasing and inside "
                    f"(0, vocab_size={self.vocab_size}), got {list(cutoffs)}"
                )
            for i in range(1, len(cutoffs) + 1):
                if self.d_model // self.adaptive_div**i < 1:
                    raise SpecError(f"model spec '{self.name}': d_model / adaptive_div**{i} is below 1")

    # ---- derived sizes -------------------------------------------------------------------------------------------
    @property
    def context_len(self) -> int:
        """L = T + M: keys/values each query attends to (memory plus current segment)."""
        return self.segment_len + self.memory_len

    @property
    def pos_rows(self) -> int:
        """Rows of the learned relative-position table R."""
        return self.pos_len or self.context_len

    @property
    def nnlib(self) -> bool:
        """nnlib-style Transformer-XL: sinusoidal positions (no table R), shared u/v, final LayerNorm."""
        return self.style == "nnlib"

    @property
    def total_heads(self) -> int:
        return self.n_layers * self.n_heads

    @property
    def adaptive_clusters(self) -> tuple[tuple[int, int, int], ...]:
        """(start, end, width) of each adaptive cluster; one cluster (0, V, d) for a plain softmax."""
        edges = (0, *self.adaptive_cutoffs, self.vocab_size)
        return tuple(
            (edges[i], edges[i + 1], self.d_model // self.adaptive_div**i if self.adaptive_cutoffs else self.d_model)
            for i in range(len(edges) - 1)
        )

    def full_heads(self) -> tuple[int, ...]:
        return (self.n_heads,) * self.n_layers

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["family"] = self.family.value
        out["adaptive_cutoffs"] = list(self.adaptive_cutoffs)
        for key, default in (("style", "s2"), ("clamp_len", 0)):
            if out[key] == default:
                del out[key]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "spec") -> "ModelSpec":
        check_keys(raw, [f.name for f in dataclasses.fields(cls)], source, SpecError, what="model field")
        missing = sorted(
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in raw and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        if missing:
            raise SpecError(f"{source}: missing model field(s): {', '.join(missing)}")
        values = dict(raw)
        try:
            values["family"] = Family(values.get("family", Family.ALL_ATTENTION.value))
        except ValueError:
            choices = ", ".join(f.value for f in Family)
            raise SpecError(f"{source}: unknown family {raw.get('family')!r} (choose {choices})") from None
        cutoffs = values.get("adaptive_cutoffs", ())
        if not isinstance(cutoffs, (list, tuple)):
            raise SpecError(f"{source}: adaptive_cutoffs must be a list of integers, got {cutoffs!r}")
        values["adaptive_cutoffs"] = tuple(cutoffs)
        return cls(**values)


RECIPE_TABLES = ("model", "train", "gates", "data")


def load_recipe(path: str | Path) -> dict[str, Any]:
    """The whole recipe TOML as a dict (``model`` plus optional ``train``, ``gates``, ``data`` tables)."""
    raw = load_toml(path, SpecError)
    if "model" not in raw or not isinstance(raw["model"], dict):
        raise SpecError(f"{path}: recipe has no [model] table")
    check_tables(raw, RECIPE_TABLES, f"{path}: recipe", SpecError)
    return raw


def check_tables(raw: dict[str, Any], known: tuple[str, ...], where: str, error: type[Exception] = SpecError) -> None:
    """Every top-level key of a TOML document is one of ``known`` and a table (a misspelled ``[trian]`` is an error)."""
    check_keys(raw, known, where, error, what="table")
    for key in known:
        if key in raw and not isinstance(raw[key], dict):
            raise error(f"{where}: {key} must be a table ([{key}]), got {raw[key]!r}")


def load_spec(path: str | Path) -> ModelSpec:
    """The ``[model]`` table of a recipe as a validated :class:`ModelSpec`."""
    raw = load_recipe(path)
    return ModelSpec.from_dict(raw["model"], source=str(path))
