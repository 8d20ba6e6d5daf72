"""SRAM read/write energy, leakage, area and access time from CACTI 7, interpolated; a cited rule below 22 nm.

The table ``data/cacti_sram.csv`` holds CACTI 7 runs (tools/cacti_sweep.py: the configuration that hwcomponents-cacti
1.0.40, the SRAM model behind Accelergy/AccelForge, writes; only size, node and access width vary) for nodes 22, 28,
32, 36, 40, 45, 50, 55, 60, 65, 90 nm x access widths 32..512 bit. Each (node, width) is a column of sizes from 4 KiB
to 64 MiB: powers of two, 1.5 x 2^k from 24 KiB to 6 MiB, 1.25/1.75 x 2^k from 20 to 56 KiB, and, in the columns
of 22-65 nm x 64-256 bit, every size the sweep's refinement added between 16 KiB and 8 MiB. CACTI re-optimises its
array organisation at every size, so its outputs step where the organisation changes (by up to ~50% between 16 and
17 KiB) and are nearly affine in size in between; the refinement runs the roundest size inside every interval and
keeps it where interpolation misses it by more than 2%, down to intervals of 1/64 of the size, so each step sits
in a window of <= 1.6% of the size. ``data/cacti_sram_heldout.csv`` holds CACTI runs off the table (off-grid sizes,
random sizes and nodes between table nodes), for tests and docs/validation.md.

**Interpolation** (every quantity, in log space): piecewise linear in log(size) along each (node, width) column,
then linear in log(width) and in log(node) between the bracketing columns, with weights that do not depend on size.
**Monotone in size**: read/write energy, leakage and area of each column are first made non-decreasing
(``_monotone_fit``: in 16 KiB-8 MiB the closest such curve in the max norm, which keeps every point where CACTI itself
does not dip and splits each dip evenly; outside, fitted under/over the band's ends), and a positively weighted sum of
non-decreasing functions is non-decreasing. Access time is left as CACTI gives it.

**Outside the table** (each case named in :attr:`SramEstimate.notes`):
- size < 4 KiB: energy per access and access time of the 4 KiB macro; leakage and area in proportion to size.
- size > 64 MiB: built from 64 MiB banks, one bank per access: energy and access time of one bank, leakage and area
  x (size / 64 MiB). The bank-select wiring is not modelled.
- width < 32 bit: CACTI is run at 32 bit and energy scaled by (0.7 w/32 + 0.3), the empirical rule of
  hwcomponents-cacti 1.0.40 (``_Memory._interp_size``); width > 512 bit: w/512 accesses of 512 bits.
- node < 22 nm (down to 3 nm): anchored at CACTI's 22 nm. Energy x (node/22)^0.5 and access time x node/22, the rule
  of hwcomponents-cacti 1.0.40 (``_interp_tech_node``, citing IRDS 2022 via WikiChip "IEDM 2022: Did we just witness
  the death of SRAM?"); leakage x (node/22)^0.5 x 0.79 (same source: FinFETs leak ~21% less, Parvais et al.,
  VLSI-TSA 2009); area x bitcell(node) / bitcell(22 nm) with the high-density bitcells of
  shared/reference/hardware.md §3 (log-log between entries). Nodes above 90 nm or below 3 nm are errors.
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np

from hwsim.errors import TechError

QUANTITIES = ("read_pj", "write_pj", "leakage_mw", "area_mm2", "access_ns")
MONOTONE = ("read_pj", "write_pj", "leakage_mw", "area_mm2")  # never smaller for a larger SRAM (see _table)
CACTI_MIN_NODE_NM = 22.0
CACTI_MAX_NODE_NM = 90.0
MIN_NODE_NM = 3.0  # smallest node with a published bitcell (hardware.md §3)
MAX_CACTI_WIDTH_BITS = 512
# Sizes where the monotone fit stays closest to CACTI (every preset's buffers and issue 12's accuracy band)
FIT_BAND_BYTES = (16 * 1024, 8 * 1024 * 1024)
MIN_CACTI_WIDTH_BITS = 32

# Below-22 nm rule (hwcomponents-cacti 1.0.40, see the module docstring)
SUB22_ENERGY_EXPONENT = 0.5
FINFET_LEAKAGE_FACTOR = 0.79  # Parvais et al., VLSI-TSA 2009: FinFET ~21% less leakage than planar
# High-density 6T bitcell, um^2 (hardware.md §3): Intel 22 nm HD 0.092 (WikiChip 22 nm); TSMC 16 nm 0.070 (ISSCC
# 2014); Samsung 10 nm HD 0.040 (JSSC); TSMC 7 nm 0.027 (ISSCC 2017, Chang et al.); TSMC N5 0.021 (WikiChip IEDM
# 2022); TSMC N3B 0.0199 (same article).
BITCELL_UM2: dict[float, float] = {22: 0.092, 16: 0.070, 10: 0.040, 7: 0.027, 5: 0.021, 3: 0.0199}


@dataclass(frozen=True, kw_only=True)
class SramEstimate:
    """One SRAM macro: energies per access of ``width_bits``, leakage (standby, whole macro), area, access time."""

    size_bytes: int
    node_nm: float
    width_bits: int
    read_pj: float
    write_pj: float
    leakage_mw: float
    area_mm2: float
    access_ns: float
    notes: tuple[str, ...]  # how the figure was obtained ("CACTI 7 table point", interpolation, scaling rules)

    @property
    def read_pj_per_byte(self) -> float:
        return self.read_pj / (self.width_bits / 8)

    @property
    def write_pj_per_byte(self) -> float:
        return self.write_pj / (self.width_bits / 8)


@dataclass(frozen=True)
class _Column:
    """One (node, width) of the table: its own CACTI sizes (refined where CACTI changes organisation)."""

    log_sizes: np.ndarray  # (S,) natural log of bytes, increasing
    log_values: np.ndarray  # (S, Q) natural log of QUANTITIES, MONOTONE ones made non-decreasing (_monotone_fit)
    adjusted: np.ndarray  # (S,) bool: a MONOTONE quantity differs from CACTI's own output at this size


@dataclass(frozen=True)
class _Table:
    nodes: np.ndarray  # (N,) nm
    widths: np.ndarray  # (W,) bits
    columns: dict[tuple[int, int], _Column]  # (node index, width index) -> column
    min_bytes: float
    max_bytes: float


def _read_csv(name: str) -> list[dict[str, float]]:
    text = resources.files("hwsim.accel").joinpath("data", name).read_text()
    return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(text.splitlines())]


def _minimax_monotone(log_v: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence closest to ``log_v`` in the max norm: (running max + reverse running min) / 2.
    It keeps every point where the sequence does not dip (running max == running min == the value) and splits each
    dip evenly, so its largest error is half the largest dip, the least any non-decreasing sequence can achieve."""
    return (np.maximum.accumulate(log_v) + np.minimum.accumulate(log_v[::-1])[::-1]) / 2


def _monotone_fit(sizes: np.ndarray, log_v: np.ndarray) -> np.ndarray:
    """One table column made non-decreasing in size, closest to CACTI where buffers are sized (FIT_BAND_BYTES).

    CACTI re-optimises the organisation at each size and its output dips as size grows, most of all just below a
    power of two (22 nm, 256-bit: 124 KiB 0.137 mm^2, 128 KiB 0.113 mm^2): in the band the minimax fit splits each dip
    evenly (largest in-band dips: read energy 21%, area 29%, so errors <= 10% and 14%); below the band the column is
    fitted under the band's first value, above it over the band's last, so a dip outside the band (15.875 KiB vs
    16 KiB at 45 nm, 128-bit: 39%) cannot move the band."""
    band = (sizes >= FIT_BAND_BYTES[0]) & (sizes <= FIT_BAND_BYTES[1])
    lo, hi = int(np.argmax(band)), len(sizes) - int(np.argmax(band[::-1]))  # band = [lo, hi)
    out = log_v.copy()
    out[lo:hi] = _minimax_monotone(log_v[lo:hi])
    out[:lo] = _minimax_monotone(np.minimum(log_v[:lo], out[lo]))
    out[hi:] = _minimax_monotone(np.maximum(log_v[hi:], out[hi - 1]))
    return out


@functools.lru_cache(maxsize=None)
def _table() -> _Table:
    rows = _read_csv("cacti_sram.csv")
    nodes = np.array(sorted({r["node_nm"] for r in rows}))
    widths = np.array(sorted({r["width_bits"] for r in rows}))
    by_column: dict[tuple[int, int], list[dict]] = {}
    for r in rows:
        key = (int(np.searchsorted(nodes, r["node_nm"])), int(np.searchsorted(widths, r["width_bits"])))
        by_column.setdefault(key, []).append(r)
    if len(by_column) != len(nodes) * len(widths):
        raise TechError("data/cacti_sram.csv lacks a (node, width) column of its node x width grid")
    columns, lows, highs = {}, set(), set()
    for key, col in by_column.items():
        col.sort(key=lambda r: r["size_bytes"])
        sizes = np.array([r["size_bytes"] for r in col])
        if np.any(np.diff(sizes) <= 0):
            raise TechError("data/cacti_sram.csv repeats a size in one (node, width) column")
        raw = np.log(np.array([[r[q] for q in QUANTITIES] for r in col]))
        fitted = raw.copy()
        for q in (QUANTITIES.index(name) for name in MONOTONE):
            fitted[:, q] = _monotone_fit(sizes, raw[:, q])
        columns[key] = _Column(log_sizes=np.log(sizes), log_values=fitted, adjusted=(fitted != raw).any(axis=1))
        lows.add(sizes[0])
        highs.add(sizes[-1])
    if len(lows) != 1 or len(highs) != 1:
        raise TechError("data/cacti_sram.csv: every (node, width) column must span the same sizes")
    return _Table(nodes=nodes, widths=widths, columns=columns, min_bytes=lows.pop(), max_bytes=highs.pop())


def heldout_points() -> list[dict[str, float]]:
    """CACTI 7 runs at sizes and nodes that are not in the table (data/cacti_sram_heldout.csv)."""
    return _read_csv("cacti_sram_heldout.csv")


def table_points() -> list[dict[str, float]]:
    return _read_csv("cacti_sram.csv")


def _bracket(axis: np.ndarray, x: float) -> tuple[int, int, float]:
    """Indices (lo, hi) around x on a sorted axis and the weight of hi, linear in log(x); x must be inside."""
    hi = int(np.searchsorted(axis, x))
    if axis[min(hi, len(axis) - 1)] == x:
        return hi, hi, 0.0
    lo = hi - 1
    t = (math.log(x) - math.log(axis[lo])) / (math.log(axis[hi]) - math.log(axis[lo]))
    return lo, hi, t


def _log_at_size(column: _Column, size: float) -> np.ndarray:
    """log of every quantity of one table column, log-log in size (size inside the column)."""
    x = math.log(size)
    return np.array([np.interp(x, column.log_sizes, column.log_values[:, q]) for q in range(len(QUANTITIES))])


def _cacti_interpolated(size: float, node: float, width: float) -> np.ndarray:
    """QUANTITIES at a point inside the table's size, node and width ranges."""
    t = _table()
    n0, n1, tn = _bracket(t.nodes, node)
    w0, w1, tw = _bracket(t.widths, width)
    logs = np.zeros(len(QUANTITIES))
    for i, wn in ((n0, 1 - tn), (n1, tn)):
        for j, ww in ((w0, 1 - tw), (w1, tw)):
            if wn * ww:
                logs = logs + wn * ww * _log_at_size(t.columns[(i, j)], size)
    return np.exp(logs)


def _table_note(size: float, node: float, width: float) -> str:
    """How a figure inside the table's ranges was obtained: a CACTI point of the table, or interpolated."""
    t = _table()
    (i, i_hi, _), (j, j_hi, _) = _bracket(t.nodes, node), _bracket(t.widths, width)
    if i == i_hi and j == j_hi:  # a table column, not a blend of two
        column = t.columns[(i, j)]
        k = int(np.searchsorted(column.log_sizes, math.log(size)))
        if k < len(column.log_sizes) and np.isclose(column.log_sizes[k], math.log(size), rtol=0, atol=1e-12):
            if column.adjusted[k]:
                return "CACTI 7 table point (made monotone in size where CACTI dips, see hwsim.accel.sram)"
            return "CACTI 7 table point"
    return "CACTI 7 table, log-log interpolated"


def check_node(node_nm: float) -> None:
    if not MIN_NODE_NM <= node_nm <= CACTI_MAX_NODE_NM:
        raise TechError(
            f"technology node {node_nm:g} nm is outside the supported range {MIN_NODE_NM:g}-{CACTI_MAX_NODE_NM:g} nm "
            f"(CACTI 7 covers {CACTI_MIN_NODE_NM:g}-{CACTI_MAX_NODE_NM:g} nm; below that a bitcell/energy scaling rule)"
        )


def _check(size_bytes: int, node_nm: float, width_bits: int) -> None:
    if isinstance(size_bytes, bool) or not isinstance(size_bytes, (int, np.integer)) or size_bytes <= 0:
        raise TechError(f"SRAM size must be a positive integer number of bytes, got {size_bytes!r}")
    integer = isinstance(width_bits, (int, np.integer)) and not isinstance(width_bits, bool)
    if not integer or width_bits < 8 or width_bits % 8:
        raise TechError(f"SRAM access width must be a positive multiple of 8 bits, got {width_bits!r}")
    if not isinstance(node_nm, (int, float)) or isinstance(node_nm, bool) or not math.isfinite(node_nm):
        raise TechError(f"technology node must be a number of nm, got {node_nm!r}")
    check_node(node_nm)


def bitcell_um2(node_nm: float) -> float:
    """High-density bitcell area at ``node_nm`` (3..22 nm), log-log between the published entries."""
    nodes = sorted(BITCELL_UM2)
    if not nodes[0] <= node_nm <= nodes[-1]:
        raise TechError(f"no bitcell area for {node_nm:g} nm (table covers {nodes[0]:g}-{nodes[-1]:g} nm)")
    xs = [math.log(n) for n in nodes]
    ys = [math.log(BITCELL_UM2[n]) for n in nodes]
    return float(math.exp(np.interp(math.log(node_nm), xs, ys)))


@functools.lru_cache(maxsize=4096)
def sram_estimate(size_bytes: int, node_nm: float, width_bits: int) -> SramEstimate:
    """Read/write energy per ``width_bits`` access, leakage, area and access time of one SRAM (module docstring)."""
    _check(size_bytes, node_nm, width_bits)
    t = _table()
    notes: list[str] = []
    energy_factor = 1.0
    w = width_bits
    if width_bits < MIN_CACTI_WIDTH_BITS:
        w = MIN_CACTI_WIDTH_BITS
        energy_factor = 0.7 * width_bits / MIN_CACTI_WIDTH_BITS + 0.3
        notes.append(f"{width_bits}-bit access: 32-bit CACTI macro, energy x (0.7 w/32 + 0.3) (hwcomponents rule)")
    elif width_bits > MAX_CACTI_WIDTH_BITS:
        w = MAX_CACTI_WIDTH_BITS
        energy_factor = width_bits / MAX_CACTI_WIDTH_BITS
        notes.append(f"{width_bits}-bit access = {energy_factor:g} accesses of 512 bits")
    s = float(min(max(size_bytes, t.min_bytes), t.max_bytes))
    capacity_factor = size_bytes / s
    if size_bytes < t.min_bytes:
        notes.append("below CACTI's 4 KiB: energy of the 4 KiB macro, leakage and area in proportion to size")
    elif size_bytes > t.max_bytes:
        notes.append(f"above 64 MiB: {capacity_factor:.3g} banks of 64 MiB, one bank per access")
    n = max(float(node_nm), CACTI_MIN_NODE_NM)
    read, write, leak, area, access = _cacti_interpolated(s, n, float(w))
    if node_nm < CACTI_MIN_NODE_NM:
        scale = node_nm / CACTI_MIN_NODE_NM
        read, write = read * scale**SUB22_ENERGY_EXPONENT, write * scale**SUB22_ENERGY_EXPONENT
        leak = leak * scale**SUB22_ENERGY_EXPONENT * FINFET_LEAKAGE_FACTOR
        area = area * bitcell_um2(node_nm) / bitcell_um2(CACTI_MIN_NODE_NM)
        access = access * scale
        notes.append(f"{node_nm:g} nm < 22 nm: scaled from CACTI 22 nm (energy (n/22)^0.5, leakage x0.79 FinFET, "
                     f"area by bitcell {bitcell_um2(node_nm):.4g}/{BITCELL_UM2[22]} um^2)")  # fmt: skip
    notes.insert(0, _table_note(s, n, float(w)))
    return SramEstimate(
        size_bytes=int(size_bytes), node_nm=float(node_nm), width_bits=int(width_bits),
        read_pj=float(read * energy_factor), write_pj=float(write * energy_factor),
        leakage_mw=float(leak * capacity_factor), area_mm2=float(area * capacity_factor), access_ns=float(access),
        notes=tuple(notes),
    )  # fmt: skip
