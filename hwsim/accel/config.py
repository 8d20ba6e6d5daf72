"""Accelerator configuration: one systolic array, three SRAM buffers, a DRAM link and a vector unit.

Validated once in ``__post_init__`` (every error names the field); loadable from a TOML file with an ``[accel]``
table; presets in :data:`PRESETS`. Sizes are bytes, bandwidth is bytes per second, clock is Hz.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Mapping

from hwsim.accel.dram import dram_tech
from hwsim.accel.sram import check_node
from hwsim.errors import AccelConfigError, TechError
from hwsim.spec import check_name, check_tables
from hwsim.tomlio import check_keys, load_toml

KIB = 1024
# Accepted ranges, far outside any real design yet inside what the counts can hold (hwsim.limits): a 65,536 x 65,536
# array, 2^50 bytes (1 PiB) of SRAM or lanes, clocks from 1 kHz to 1 THz, DRAM from 1 B/s to 1 PB/s, nodes 1-1000 nm.
MAX_ARRAY_SIDE = 65_536
MAX_INT_FIELD = 2**50
MAX_WORD_BITS = 64
FLOAT_RANGES = {
    "dram_bandwidth_bytes_per_s": (1.0, 1e15),
    "clock_hz": (1e3, 1e12),
    "tech_node_nm": (1.0, 1000.0),
}


class Dataflow(str, Enum):
    """Which operand stays in the PEs (SCALE-Sim's names)."""

    OS = "os"  # output stationary
    WS = "ws"  # weight stationary
    IS = "is"  # input stationary


class CostMode(str, Enum):
    """How a GEMM is counted (see ``hwsim.accel.gemm``)."""

    PHYSICAL = "physical"  # overlapped weight preload, partial sums read back, no spurious OS writes
    SCALESIM = "scalesim"  # reproduces SCALE-Sim v3 compute cycles and SRAM counts exactly


class Schedule(str, Enum):
    """Who picks a GEMM's tiles and how the array's cycles are counted in physical mode."""

    SEARCH = "search"  # hwsim's mapping search (fewest DRAM bytes) and fold timing (hwsim.accel.mapping)
    GEMMINI = "gemmini"  # Gemmini's software tiling and execute-pipeline timing, from its sources (hwsim.accel.gemmini)


class MappingObjective(str, Enum):
    """What the mapping search minimises first (physical mode, schedule = search)."""

    DRAM = "dram"  # fewest DRAM bytes, then fewest compute cycles (the optimum of the tiling rule)
    LATENCY = "latency"  # fewest total cycles under the bandwidth model, then fewest DRAM bytes


@dataclass(frozen=True, kw_only=True)
class AccelConfig:
    """A systolic-array accelerator. SRAM sizes in bytes; ``ofmap`` is the accumulator buffer (acc_bits words)."""

    name: str
    rows: int  # R, PE rows
    cols: int  # C, PE columns
    dataflow: Dataflow
    ifmap_sram_bytes: int
    filter_sram_bytes: int
    ofmap_sram_bytes: int
    dram_bandwidth_bytes_per_s: float
    clock_hz: float
    input_bits: int = 8  # ifmap / filter word width
    acc_bits: int = 32  # accumulator (partial-sum) word width
    vector_lanes: int = 16  # elements per cycle of the softmax / layernorm unit
    vector_overlap: bool = True  # vector ops run concurrently with the array (layer time = max) or serially (sum)
    tech_node_nm: float = 22.0
    weights_on_chip: bool = False  # add a weight SRAM sized to hold every layer's parameters
    activations_on_chip: bool = False  # GEMM activations stay in the ifmap buffer (when they fit in half of it)
    mode: CostMode = CostMode.PHYSICAL
    # Run each head's scores, softmax and values as one on-chip kernel (online softmax; hwsim.accel.fusion).
    # Physical mode only: scalesim mode costs the separate GEMMs as SCALE-Sim would.
    fuse_attention: bool = False
    dram_type: str = "DDR3"  # off-chip DRAM technology (hwsim.accel.dram.DRAM_TECHS): its energy per bit
    # Width of every weight operand (4, 8 or 16; 4-bit weights pack two to a byte in DRAM and SRAM, so a buffer
    # holds twice as many); None: the model's weight_bits (hwsim.spec), resolved by for_model when costing.
    # input_bits is the activation width.
    weight_bits: int | None = None
    # One scratchpad for inputs and weights (Gemmini's layout): ifmap_sram_bytes is its size, filter_sram_bytes must
    # be 0, and a GEMM's A and B tiles share its half (the mapper, fused attention and residency respect it).
    unified_scratchpad: bool = False
    # search: hwsim's mapper; gemmini: tiles and cycles as ucb-bar/gemmini schedules a weight-stationary GEMM
    # (needs ws, a square array, a unified scratchpad, physical mode, no fused attention).
    schedule: Schedule = Schedule.SEARCH
    # dram: the search minimises DRAM bytes (energy), cycles break ties; latency: total cycles first, and tiles may
    # also be whole multiples of the array (a compute-bound GEMM keeps the array full at the price of some bytes).
    mapping_objective: MappingObjective = MappingObjective.DRAM

    def __post_init__(self) -> None:
        check_name(self.name, "accelerator", AccelConfigError)
        try:
            object.__setattr__(self, "dataflow", Dataflow(self.dataflow))
        except ValueError:
            choices = ", ".join(d.value for d in Dataflow)
            message = f"accel '{self.name}': unknown dataflow {self.dataflow!r} (choose {choices})"
            raise AccelConfigError(message) from None
        try:
            object.__setattr__(self, "mode", CostMode(self.mode))
        except ValueError:
            raise AccelConfigError(
                f"accel '{self.name}': unknown mode {self.mode!r} (choose {', '.join(m.value for m in CostMode)})"
            ) from None
        try:
            object.__setattr__(self, "schedule", Schedule(self.schedule))
        except ValueError:
            raise AccelConfigError(f"accel '{self.name}': unknown schedule {self.schedule!r} "
                                   f"(choose {', '.join(s.value for s in Schedule)})") from None
        try:
            object.__setattr__(self, "mapping_objective", MappingObjective(self.mapping_objective))
        except ValueError:
            raise AccelConfigError(f"accel '{self.name}': unknown mapping_objective {self.mapping_objective!r} "
                                   f"(choose {', '.join(o.value for o in MappingObjective)})") from None
        if self.mapping_objective is not MappingObjective.DRAM and (
                self.schedule is not Schedule.SEARCH or self.mode is not CostMode.PHYSICAL):
            raise AccelConfigError(f"accel '{self.name}': mapping_objective applies to hwsim's mapping search "
                                   f"(mode = physical, schedule = search)")
        for field in ("rows", "cols", "ifmap_sram_bytes", "ofmap_sram_bytes", "vector_lanes"):
            _check_int(self, field, minimum=1)
        if not isinstance(self.unified_scratchpad, bool):
            raise AccelConfigError(f"accel '{self.name}': unified_scratchpad must be true or false, got "
                                   f"{self.unified_scratchpad!r}")
        _check_int(self, "filter_sram_bytes", minimum=0 if self.unified_scratchpad else 1)
        if self.unified_scratchpad and self.filter_sram_bytes:
            raise AccelConfigError(f"accel '{self.name}': a unified scratchpad holds the weights in "
                                   f"ifmap_sram_bytes; set filter_sram_bytes = 0")
        if self.unified_scratchpad and CostMode(self.mode) is CostMode.SCALESIM:
            raise AccelConfigError(f"accel '{self.name}': SCALE-Sim has separate buffers: a unified scratchpad "
                                   f"needs mode = physical")
        for field in ("input_bits", "acc_bits"):
            _check_int(self, field, minimum=1)
            if getattr(self, field) > MAX_WORD_BITS:
                raise AccelConfigError(f"accel '{self.name}': {field} must be at most {MAX_WORD_BITS}")
            if getattr(self, field) % 8:
                value = getattr(self, field)
                raise AccelConfigError(f"accel '{self.name}': {field} must be a multiple of 8, got {value}")
        for field, (low, high) in FLOAT_RANGES.items():
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
                raise AccelConfigError(f"accel '{self.name}': {field} must be a positive number, got {value!r}")
            if not low <= value <= high:
                raise AccelConfigError(f"accel '{self.name}': {field} = {value:g} is outside the accepted range "
                                       f"{low:g}..{high:g}")
            object.__setattr__(self, field, float(value))
        for field in ("vector_overlap", "weights_on_chip", "activations_on_chip", "fuse_attention"):
            value = getattr(self, field)
            if not isinstance(value, bool):
                raise AccelConfigError(f"accel '{self.name}': {field} must be true or false, got {value!r}")
        if self.weight_bits is not None:
            check_weight_bits(self.weight_bits, f"accel '{self.name}'")
        if self.acc_bits < self.input_bits:
            raise AccelConfigError(f"accel '{self.name}': acc_bits ({self.acc_bits}) is narrower than input_bits")
        if self.schedule is Schedule.GEMMINI:
            _check_gemmini(self)
        try:
            check_node(self.tech_node_nm)
            object.__setattr__(self, "dram_type", dram_tech(self.dram_type).name)
        except TechError as exc:
            raise AccelConfigError(f"accel '{self.name}': {exc}") from None

    # ---- derived ------------------------------------------------------------------------------------------------
    @property
    def input_bytes(self) -> int:
        return self.input_bits // 8

    @property
    def acc_bytes(self) -> int:
        return self.acc_bits // 8

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram_bandwidth_bytes_per_s / self.clock_hz

    @property
    def ifmap_sram_words(self) -> int:
        return self.ifmap_sram_bytes // self.input_bytes

    @property
    def filter_sram_words(self) -> int:
        return self.filter_sram_bytes // self.input_bytes

    @property
    def ofmap_sram_words(self) -> int:
        return self.ofmap_sram_bytes // self.acc_bytes

    @property
    def peak_macs_per_s(self) -> float:
        return self.rows * self.cols * self.clock_hz

    @property
    def array_weight_bits(self) -> int:
        """The multiplier's weight width (input_bits until :meth:`for_model` resolves weight_bits)."""
        return self.weight_bits or self.input_bits

    def for_model(self, spec) -> "AccelConfig":
        """This design with ``weight_bits`` taken from the model spec when it does not set its own."""
        if self.weight_bits is not None:
            return self
        check_weight_bits(spec.weight_bits, f"model '{spec.name}'")
        return dataclasses.replace(self, weight_bits=spec.weight_bits)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["dataflow"] = self.dataflow.value
        out["mode"] = self.mode.value
        if out["weight_bits"] is None:  # omitted at its default, so that existing sweeps hash as before
            del out["weight_bits"]
        if not out["unified_scratchpad"]:
            del out["unified_scratchpad"]
        out["schedule"], out["mapping_objective"] = self.schedule.value, self.mapping_objective.value
        if self.schedule is Schedule.SEARCH:
            del out["schedule"]
        if self.mapping_objective is MappingObjective.DRAM:
            del out["mapping_objective"]
        return out

    @property
    def weight_buffer_bytes(self) -> int:
        """Where weights live on chip: the filter buffer, or the unified scratchpad."""
        return self.ifmap_sram_bytes if self.unified_scratchpad else self.filter_sram_bytes


WEIGHT_WIDTHS = (4, 8, 16)  # what the array packs into bytes (hwsim.numerics.WEIGHT_BITS)


def check_weight_bits(bits: Any, where: str) -> None:
    if isinstance(bits, bool) or bits not in WEIGHT_WIDTHS:
        raise AccelConfigError(f"{where}: weight_bits must be one of {', '.join(map(str, WEIGHT_WIDTHS))} (widths the "
                               f"array packs into bytes), got {bits!r}")


def _check_gemmini(cfg: AccelConfig) -> None:
    """What Gemmini's schedule assumes (hwsim.accel.gemmini): its mesh, its memories, room for one tile of blocks."""
    needs = []
    if cfg.dataflow is not Dataflow.WS:
        needs.append("dataflow = ws")
    if cfg.rows != cfg.cols:
        needs.append("a square array (rows = cols: Gemmini's DIM)")
    if not cfg.unified_scratchpad:
        needs.append("unified_scratchpad = true")
    if cfg.mode is not CostMode.PHYSICAL:
        needs.append("mode = physical")
    if cfg.fuse_attention:
        needs.append("fuse_attention = false (Gemmini runs attention as GEMMs)")
    dim = cfg.rows
    # Double-buffered halves: one DIM x DIM block of A and one of B in half the scratchpad, one of C in half the
    # accumulator (gemmini-rocc-tests include/gemmini.h l. 1145-1165).
    block_in, block_acc = dim * dim * cfg.input_bytes, dim * dim * cfg.acc_bytes
    if cfg.ifmap_sram_bytes // 2 < 2 * block_in or cfg.ofmap_sram_bytes // 2 < block_acc:
        needs.append(f"room for one {dim} x {dim} block of A and B in half the scratchpad and of C in half the "
                     f"accumulator")
    if needs:
        raise AccelConfigError(f"accel '{cfg.name}': schedule = gemmini needs {'; '.join(needs)}")


def _check_int(cfg: AccelConfig, field: str, minimum: int) -> None:
    value = getattr(cfg, field)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AccelConfigError(f"accel '{cfg.name}': {field} must be an integer >= {minimum}, got {value!r}")
    limit = MAX_ARRAY_SIDE if field in ("rows", "cols") else MAX_INT_FIELD
    if value > limit:
        raise AccelConfigError(f"accel '{cfg.name}': {field} = {value} exceeds the limit {limit:,}")


FIELDS = tuple(f.name for f in dataclasses.fields(AccelConfig))

def accel_from_dict(raw: Mapping[str, Any], source: str = "accel") -> AccelConfig:
    """Build a config from a plain dict (a TOML ``[accel]`` table); unknown or missing keys are errors."""
    check_keys(dict(raw), FIELDS, source, AccelConfigError, what="accel field")
    required = [f.name for f in dataclasses.fields(AccelConfig) if f.default is dataclasses.MISSING]
    missing = [name for name in required if name not in raw]
    if missing:
        raise AccelConfigError(f"{source}: missing accel field(s): {', '.join(missing)}")
    return AccelConfig(**dict(raw))


def scalesim_array(*, rows: int, cols: int, dataflow: Dataflow | str, ifmap_sram_kib: int, filter_sram_kib: int,
                   ofmap_sram_kib: int, dram_words_per_cycle: float, word_bytes: int, clock_hz: float,
                   mode: CostMode | str = CostMode.SCALESIM) -> AccelConfig:
    """An array described as SCALE-Sim describes one (``hwsim gemm``): SRAM in KiB, DRAM bandwidth in words per
    cycle, one word width for every operand (accumulators included, as SCALE-Sim counts them)."""
    return AccelConfig(
        name="gemm", rows=rows, cols=cols, dataflow=dataflow, ifmap_sram_bytes=ifmap_sram_kib * KIB,
        filter_sram_bytes=filter_sram_kib * KIB, ofmap_sram_bytes=ofmap_sram_kib * KIB,
        dram_bandwidth_bytes_per_s=dram_words_per_cycle * word_bytes * clock_hz, clock_hz=clock_hz,
        input_bits=8 * word_bytes, acc_bits=8 * word_bytes, mode=mode,
    )


# ---- presets: accelerator TOML files shipped in hwsim/accel/presets/ (each cites its sources) ------------------------
PRESET_DIR = Path(__file__).resolve().parent / "presets"
PRESET_ORDER = ("gemmini-like", "tpu-v1-like", "edge-soc-32x32", "gemmini")


def _load_presets() -> dict[str, AccelConfig]:
    presets = {}
    for name in PRESET_ORDER:
        path = PRESET_DIR / f"{name}.toml"
        raw = load_toml(path, AccelConfigError)
        check_tables(raw, ("accel",), str(path), AccelConfigError)
        presets[name] = accel_from_dict(raw["accel"], source=str(path))
    return presets


PRESETS: dict[str, AccelConfig] = _load_presets()


def load_accel(name_or_path: str | Path) -> AccelConfig:
    """A preset name (see :data:`PRESETS`) or a TOML file with an ``[accel]`` table.

    A TOML table may set ``base = "<preset>"`` and override only some fields.
    """
    text = str(name_or_path)
    if text in PRESETS:
        return PRESETS[text]
    path = Path(text)
    if path.suffix.lower() != ".toml" and not path.exists():
        raise AccelConfigError(f"unknown accelerator preset {text!r} (choose {', '.join(PRESETS)} or a .toml file)")
    raw = load_toml(path, AccelConfigError)
    table = raw.get("accel")
    if not isinstance(table, dict):
        raise AccelConfigError(f"{path}: no [accel] table")
    check_tables(raw, ("accel",), str(path), AccelConfigError)
    table = dict(table)
    base = table.pop("base", None)
    if base is None:
        table.setdefault("name", path.stem)
        return accel_from_dict(table, source=str(path))
    if not isinstance(base, str) or base not in PRESETS:
        raise AccelConfigError(f"{path}: unknown base preset {base!r} (choose {', '.join(PRESETS)})")
    return with_overrides(PRESETS[base], {"name": path.stem, **table})


def with_overrides(accel: AccelConfig, overrides: Mapping[str, Any]) -> AccelConfig:
    """A copy of ``accel`` with some fields replaced (validated again); an unknown field is an error naming it."""
    check_keys(dict(overrides), FIELDS, f"accel '{accel.name}'", AccelConfigError, what="accel parameter")
    try:
        return dataclasses.replace(accel, **dict(overrides))
    except TypeError as exc:  # pragma: no cover - replace() only raises TypeError for unknown names, handled above
        raise AccelConfigError(str(exc)) from None
