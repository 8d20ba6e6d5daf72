"""Energy and area reference table of an accelerator (in the manner of Accelergy's ERT/ART): every component, its
energy per action, its leakage and its area. ``hwsim tech --accel`` prints it and the cost model
(:mod:`hwsim.accel.cost`) charges exactly these figures.

SRAM buffers: CACTI 7 macros (:mod:`hwsim.accel.sram`) whose access width is one array edge of words per cycle
(:func:`buffer_width_bits`): the ifmap buffer feeds R rows of ``input_bits`` words, the filter and weight buffers
C columns of ``input_bits`` words, the accumulator (ofmap) C columns of ``acc_bits`` words, as Gemmini's scratchpad
(16 x 8 = 128-bit rows) and accumulator (16 x 32 = 512-bit rows) are organised (hardware.md §1). Bytes read from a
buffer are charged CACTI's read energy per byte, bytes written (fills from DRAM, partial sums and outputs, vector
results) its write energy per byte, which is 0.67-3.6x the read energy over 16 KiB-8 MiB, 64-256 bit (docs/tech.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hwsim.accel import tech
from hwsim.accel.config import AccelConfig
from hwsim.accel.dram import dram_tech
from hwsim.accel.sram import SramEstimate, sram_estimate

BUFFERS = ("ifmap", "filter", "ofmap")


@dataclass(frozen=True, kw_only=True)
class Component:
    """One row of the table: energies in pJ per named action, leakage in mW, area in mm^2."""

    name: str
    kind: str  # "pe_array", "sram", "vector_unit", "dram"
    energy_pj: dict[str, float] = field(default_factory=dict)  # action -> pJ per action
    leakage_mw: float = 0.0
    area_mm2: float = 0.0
    attributes: dict[str, object] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "energy_pj": dict(self.energy_pj),
                "leakage_mw": self.leakage_mw, "area_mm2": self.area_mm2, "attributes": dict(self.attributes),
                "notes": list(self.notes)}  # fmt: skip


def buffer_width_bits(accel: AccelConfig, buffer: str) -> int:
    """Access width of a buffer: one array edge of words per cycle (module docstring)."""
    widths = {
        "ifmap": accel.rows * accel.input_bits,
        "filter": accel.cols * accel.input_bits,
        "weight": accel.cols * accel.input_bits,
        "ofmap": accel.cols * accel.acc_bits,
    }
    return widths[buffer]


def buffer_size_bytes(accel: AccelConfig, buffer: str) -> int:
    """A buffer's size; with a unified scratchpad the filter's accesses go to the scratchpad (its size here), while
    its area and leakage are the scratchpad's alone (:func:`owns_macro`)."""
    return {"ifmap": accel.ifmap_sram_bytes, "filter": accel.weight_buffer_bytes, "ofmap": accel.ofmap_sram_bytes}[buffer]


def owns_macro(accel: AccelConfig, buffer: str) -> bool:
    """Whether ``buffer`` is an SRAM macro of its own (not the filter's share of a unified scratchpad)."""
    return not (buffer == "filter" and accel.unified_scratchpad)


def buffer_sram(accel: AccelConfig, buffer: str, size_bytes: int | None = None) -> SramEstimate:
    """The CACTI estimate of one buffer (``size_bytes`` given for the model-sized weight SRAM)."""
    size = buffer_size_bytes(accel, buffer) if size_bytes is None else size_bytes
    return sram_estimate(int(size), accel.tech_node_nm, buffer_width_bits(accel, buffer))


def sram_pj_per_byte(accel: AccelConfig, buffer: str, size_bytes: int | None = None) -> float:
    """Energy per byte read from a buffer: CACTI read energy per access / bytes per access."""
    return buffer_sram(accel, buffer, size_bytes).read_pj_per_byte


def sram_write_pj_per_byte(accel: AccelConfig, buffer: str, size_bytes: int | None = None) -> float:
    """Energy per byte written to a buffer: CACTI write energy per access / bytes per access."""
    return buffer_sram(accel, buffer, size_bytes).write_pj_per_byte


def sram_leakage_mw(accel: AccelConfig, buffer: str, size_bytes: int | None = None) -> float:
    if size_bytes is None and not owns_macro(accel, buffer):
        return 0.0
    return buffer_sram(accel, buffer, size_bytes).leakage_mw


def sram_area_mm2(accel: AccelConfig, buffer: str, size_bytes: int | None = None) -> float:
    if size_bytes is None and not owns_macro(accel, buffer):
        return 0.0
    return buffer_sram(accel, buffer, size_bytes).area_mm2


def dram_pj_per_byte(accel: AccelConfig) -> float:
    return dram_tech(accel.dram_type).pj_per_byte


def _sram_component(accel: AccelConfig, buffer: str, size_bytes: int | None = None) -> Component:
    est = buffer_sram(accel, buffer, size_bytes)
    return Component(
        name=f"{buffer}_sram", kind="sram",
        energy_pj={"read": est.read_pj, "write": est.write_pj, "read_per_byte": est.read_pj_per_byte,
                   "write_per_byte": est.write_pj_per_byte},
        leakage_mw=est.leakage_mw, area_mm2=est.area_mm2,
        attributes={"size_bytes": est.size_bytes, "width_bits": est.width_bits, "node_nm": est.node_nm,
                    "access_ns": est.access_ns},
        notes=est.notes,
    )  # fmt: skip


def components(accel: AccelConfig, weight_sram_bytes: int = 0) -> tuple[Component, ...]:
    """Every component of ``accel`` (a weight SRAM only when ``weight_sram_bytes`` > 0)."""
    node = accel.tech_node_nm
    pe = Component(
        name="pe_array", kind="pe_array",
        energy_pj={"mac": tech.mac_energy_pj(accel.input_bits, accel.acc_bits, node, accel.weight_bits)},
        area_mm2=tech.pe_array_area_mm2(accel.rows, accel.cols, accel.input_bits, accel.acc_bits, node,
                                        accel.weight_bits),
        attributes={"rows": accel.rows, "cols": accel.cols, "input_bits": accel.input_bits,
                    "acc_bits": accel.acc_bits, "node_nm": node},
        notes=("Horowitz ISSCC 2014 45 nm MAC energy; TPUv1 per-MAC area anchor; CSET logic-density scaling",),
    )  # fmt: skip
    srams = [_sram_component(accel, b) for b in BUFFERS if owns_macro(accel, b)]  # one macro for a unified pad
    if weight_sram_bytes > 0:
        srams.append(_sram_component(accel, "weight", weight_sram_bytes))
    vector = Component(
        name="vector_unit", kind="vector_unit",
        energy_pj={f"{kind}_element": tech.vector_energy_pj_per_element(kind, accel.acc_bits, node)
                   for kind in tech.VECTOR_OPS_PER_ELEMENT},
        area_mm2=tech.vector_unit_area_mm2(accel.vector_lanes, accel.acc_bits, node),
        attributes={"lanes": accel.vector_lanes, "acc_bits": accel.acc_bits, "node_nm": node},
        notes=("Horowitz ISSCC 2014 45 nm add/mult energies and areas, CSET logic-density scaling",),
    )  # fmt: skip
    d = dram_tech(accel.dram_type)
    dram = Component(
        name="dram", kind="dram", energy_pj={"read_per_byte": d.pj_per_byte, "write_per_byte": d.pj_per_byte},
        attributes={"dram_type": d.name, "pj_per_bit": d.pj_per_bit,
                    "bandwidth_bytes_per_s": accel.dram_bandwidth_bytes_per_s},
        notes=(d.source, d.access_pattern),
    )  # fmt: skip
    return (pe, *srams, vector, dram)
