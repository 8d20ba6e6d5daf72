"""Off-chip DRAM energy per bit by technology (``AccelConfig.dram_type``), each figure with its source and the access
pattern it assumes. DRAM energy is charged per byte moved and is not scaled with the accelerator's node.

The figures are not measured under one common pattern: a per-access figure that includes a row activation for
every 32/64-bit access (DDR3) is a worst case for streaming tiles, while the device-power averages (GDDR6, HBM2,
LPDDR4) assume the interface runs at full bandwidth with mostly row hits, which is closer to how a systolic
array's tile transfers behave. The table (``data/dram.toml``, each row citing its source) says which is which.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from hwsim.errors import TechError
from hwsim.tomlio import check_keys, load_toml


@dataclass(frozen=True, kw_only=True)
class DramTech:
    name: str
    pj_per_bit: float
    source: str
    access_pattern: str

    @property
    def pj_per_byte(self) -> float:
        return self.pj_per_bit * 8


DRAM_TABLE = Path(__file__).resolve().parent / "data" / "dram.toml"


def _load_techs() -> dict[str, DramTech]:
    """The technologies of :data:`DRAM_TABLE` (each row with its source and access pattern), by name."""
    rows = load_toml(DRAM_TABLE, TechError).get("dram", [])
    fields = [f.name for f in dataclasses.fields(DramTech)]
    techs = [DramTech(**check_keys(row, fields, str(DRAM_TABLE), TechError, what="field")) for row in rows]
    return {t.name: t for t in techs}


DRAM_TECHS: dict[str, DramTech] = _load_techs()


def dram_tech(name: str) -> DramTech:
    """The DRAM technology called ``name`` (case-insensitive); unknown names are a :class:`TechError`."""
    key = str(name).upper()
    if key not in DRAM_TECHS:
        raise TechError(f"unknown dram_type {name!r} (choose {', '.join(DRAM_TECHS)})")
    return DRAM_TECHS[key]
