"""Reading TOML files with errors that name the file (stdlib tomllib; tomli on Python 3.10)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable

from hwsim.errors import HwsimError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib


# Every hwsim TOML file (recipes, accelerators, sweep specs) is a few KB; a bigger one is not meant for us.
MAX_TOML_BYTES = 1 << 20


def load_toml(path: str | Path, error: type[HwsimError] = HwsimError) -> dict[str, Any]:
    """Parse a UTF-8 TOML file of at most :data:`MAX_TOML_BYTES`; raise ``error`` naming the path on any problem."""
    p = Path(path)
    if not p.is_file():
        raise error(f"file not found: {p}")
    try:
        with p.open("rb") as fh:
            data = fh.read(MAX_TOML_BYTES + 1)
    except OSError as exc:
        raise error(f"cannot read {p}: {exc.strerror}") from None
    if len(data) > MAX_TOML_BYTES:
        raise error(f"{p} is larger than {MAX_TOML_BYTES // 1024} KiB: not an hwsim TOML file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{p} is not a UTF-8 text file (invalid byte at offset {exc.start}): expected TOML") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"malformed TOML in {p}: {exc}") from None
    except RecursionError:
        raise error(f"malformed TOML in {p}: nested too deeply") from None


def check_keys(
    table: Any, known: Iterable[str], where: str, error: type[Exception] = HwsimError, what: str = "key"
) -> dict[str, Any]:
    """``table`` as a dict whose keys are all in ``known``; otherwise ``error`` naming the unknown and known keys.

    The one unknown-key check of every typed TOML table (model specs, accelerators, sweep and training-sweep specs):
    a misspelled key is an error, never silently ignored.
    """
    if not isinstance(table, dict):
        raise error(f"{where} must be a table, got {table!r}")
    allowed = list(known)
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise error(f"{where}: unknown {what}(s) {', '.join(map(str, unknown))} (known: {', '.join(allowed)})")
    return table
