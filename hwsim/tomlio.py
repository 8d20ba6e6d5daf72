"""Reading TOML files with errors that name the file (stdlib tomllib; tomli on Python 3.10)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hwsim.errors import HwsimError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib


def load_toml(path: str | Path, error: type[HwsimError] = HwsimError) -> dict[str, Any]:
    """Parse a TOML file; raise ``error`` with the path in its message on any problem."""
    p = Path(path)
    if not p.is_file():
        raise error(f"file not found: {p}")
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"malformed TOML in {p}: {exc}") from None
    except OSError as exc:
        raise error(f"cannot read {p}: {exc.strerror}") from None
