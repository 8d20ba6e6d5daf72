"""Heads-per-layer vectors (one integer per layer, 0..n_heads): the one place that parses, validates and formats
their text form ``"8,6,6,4"`` (CLI options, sweep specs, results tables, reports)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from hwsim.errors import HeadsError
from hwsim.spec import ModelSpec


# ASCII digits only: int() would also take full-width or Arabic-Indic digits and "0_4". At most 18 significant
# digits (int64), so a megabyte of digits is refused instead of converted.
_COUNT = re.compile(r"0*([0-9]{1,18})")


def _shown(text: str, limit: int = 40) -> str:
    """``text`` quoted, shortened for an error line (a 10,000-entry list must not make a 40 KB message)."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text):,} characters)"


def parse_heads(text: str, n_layers: int | None = None) -> tuple[int, ...]:
    """Parse ``"8,6,6,4"``; a single value (``"4"``) broadcasts to every layer when ``n_layers`` is given."""
    text = str(text)
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(p == "" for p in parts):
        raise HeadsError(f"malformed --heads-per-layer {_shown(text)}: expected comma-separated integers like 8,6,6,4")
    bad = next((p for p in parts if not _COUNT.fullmatch(p)), None)
    if bad is not None:
        kind = "negative" if bad.startswith("-") else "not a head count (digits 0-9)"
        raise HeadsError(f"malformed --heads-per-layer {_shown(text)}: {_shown(bad)} is {kind}")
    values = tuple(int(p) for p in parts)
    if len(values) == 1 and n_layers is not None:
        values = values * n_layers
    return values


def format_heads(heads: Sequence[int] | np.ndarray) -> str:
    """The text form of a heads vector, ``(8, 6, 6, 4)`` -> ``"8,6,6,4"`` (the inverse of :func:`parse_heads`)."""
    return ",".join(str(int(h)) for h in heads)


def heads_text(value: object, error: type[Exception] = HeadsError, where: str = "heads_per_layer") -> str:
    """A heads entry of a TOML file as text: ``"8,6,6,4"``, ``[8, 6, 6, 4]`` or one integer for every layer."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return format_heads(value)
    raise error(f"{where} entry {value!r} is not '8,6,6,4', [8,6,6,4] or an integer")


def validate_heads(spec: ModelSpec, heads: Sequence[int]) -> tuple[int, ...]:
    """Check a heads vector against the spec: right length, each entry in 0..n_heads."""
    heads = tuple(int(h) for h in heads)
    if len(heads) != spec.n_layers:
        raise HeadsError(
            f"heads-per-layer has {len(heads)} entries but model '{spec.name}' has {spec.n_layers} layers"
        )
    for layer, h in enumerate(heads):
        if h < 0 or h > spec.n_heads:
            raise HeadsError(
                f"heads-per-layer entry {h} for layer {layer} is outside 0..{spec.n_heads} (model '{spec.name}')"
            )
    return heads


def resolve_heads(spec: ModelSpec, text: str | None) -> tuple[int, ...]:
    """CLI helper: parse and validate, defaulting (None: option not given) to all heads kept."""
    if text is None:
        return spec.full_heads()
    return validate_heads(spec, parse_heads(text, spec.n_layers))


def validate_heads_matrix(spec: ModelSpec, heads: np.ndarray) -> np.ndarray:
    """Vectorised check of a (n_configs, n_layers) integer matrix; returns it as int64."""
    arr = np.asarray(heads)
    if arr.ndim != 2 or arr.shape[1] != spec.n_layers:
        raise HeadsError(f"heads matrix must have shape (n_configs, {spec.n_layers}), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise HeadsError("heads matrix must hold integers")
    if arr.size and (arr.min() < 0 or arr.max() > spec.n_heads):
        raise HeadsError(f"heads matrix has entries outside 0..{spec.n_heads}")
    return arr.astype(np.int64)
