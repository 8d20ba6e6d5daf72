"""Hand-off to the Timeloop/Accelergy flow as AccelForge carries it on: ``hwsim export --format accelforge``.

Two YAML files AccelForge's ``Spec.from_yaml(arch, workload)`` reads (its own example layout, SI units):

``arch.yaml``: off-chip ``MainMemory`` (the preset's DRAM: energy per bit of its ``dram_type``, bandwidth), the
three buffers as ``Scratchpad`` (ifmap: keeps the input operand), ``WeightBuffer`` (filter: the B operand) and
``Accumulator`` (ofmap), then the R x C array as a ``ProcessingElement`` container (columns reuse the input, rows
reduce into the output, as hwsim's weight-stationary mapping), a weight ``Register`` per PE and the ``MAC``.
Every action's energy is hwsim's own (``hwsim tech --accel``): CACTI 7 read and write energy of each buffer, the
DRAM technology's energy per bit, the MAC energy of tech.py; areas and leakage from the same tables.

AccelForge nests its memories in the order they are listed, which fixes which operand's tile loops sit outside the
others'; hwsim's three buffers are peers under one loop nest of six possible orders. ``buffer_order`` lists them
in another order (``--buffer-order filter,ifmap,ofmap``), so running AccelForge on each order and keeping the best
searches the loop orders hwsim does (docs/validation.md, "hwsim's mapper and AccelForge on the export").

Buffer sizes are the **usable half** of each buffer: hwsim's mapping rule double-buffers every operand (a tile
fits in half its buffer), so AccelForge then searches the same tiles. Outputs are acc_bits values (the accumulator's
width), so AccelForge weighs partial sums that leave the accumulator as hwsim does; hwsim writes the finished
outputs at input_bits, which only shifts both objectives by the same constant (every output is written once). ``MainMemory`` keeps every tensor: no fusion across GEMMs, as hwsim costs a
layer's GEMMs without ``activations_on_chip``.

``workload.yaml``: every GEMM of every layer as one einsum ``<layer>_<gemm>`` over ranks r (repeat, when > 1),
m, k, n: A[r, m, k] (input), B[r, k, n] (weight: the operand hwsim puts in the filter buffer), C[r, m, n]
(output), bit widths from the accelerator. A layer's fused attention is exported as its separate GEMMs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hwsim.accel import ert, tech
from hwsim.accel.config import AccelConfig
from hwsim.atomicio import atomic_write_bytes
from hwsim.errors import AccelConfigError
from hwsim.workload import Gemm, Workload

# Energies in joules per bit accessed, areas in m^2, leakage in W: AccelForge's units (its tpu_v4i.yaml example).
PJ, MM2, MW = 1e-12, 1e-6, 1e-3


@dataclass(frozen=True, kw_only=True)
class AccelForgeFiles:
    arch: Path
    workload: Path
    einsums: tuple[str, ...]  # in workload order, one per GEMM


def einsum_name(layer: str, gemm: Gemm) -> str:
    return f"{layer}_{gemm.name}"


def _memory(name: str, size_bits, read_j: float, write_j: float, throughput: str, area_m2: float, leak_w: float,
            keep: str, comment: str) -> str:  # fmt: skip
    return (f"  - !Memory  # {comment}\n    name: {name}\n    size: {size_bits}\n    leak_power: {leak_w:.6g}\n"
            f"    area: {area_m2:.6g}\n    tensors: {{keep: {keep}}}\n    actions:\n"
            f"    - {{name: read, energy: {read_j:.6g}, throughput: {throughput}}}\n"
            f"    - {{name: write, energy: {write_j:.6g}, throughput: {throughput}}}\n")


BUFFER_ORDER = ("ifmap", "filter", "ofmap")


def arch_yaml(accel: AccelConfig, buffer_order: tuple[str, ...] = BUFFER_ORDER) -> str:
    """The accelerator as AccelForge's ``arch`` (module docstring), the buffers listed in ``buffer_order``."""
    if sorted(buffer_order) != sorted(BUFFER_ORDER):
        raise AccelConfigError(f"buffer order must list ifmap, filter and ofmap once each, got {list(buffer_order)}")
    ib, ab = accel.input_bits, accel.acc_bits
    dram_j = ert.dram_pj_per_byte(accel) / 8 * PJ
    dram_bps = accel.dram_bandwidth_bytes_per_s * 8
    parts = [f"# hwsim export of accelerator {accel.name!r}: {accel.rows}x{accel.cols} {accel.dataflow.value}, "
             f"{accel.clock_hz / 1e6:g} MHz, {accel.tech_node_nm:g} nm, DRAM {accel.dram_type}\n"
             "# Buffer sizes are the usable half of each buffer (hwsim's double-buffering rule).\narch:\n  nodes:\n",
             _memory("MainMemory", "inf", dram_j, dram_j, f"{dram_bps:.6g}", 0.0, 0.0, "All",
                     f"off-chip {accel.dram_type}, {accel.dram_bandwidth_bytes_per_s / 1e9:g} GB/s")]  # fmt: skip
    buffers = {"ifmap": ("Scratchpad", "input", accel.ifmap_sram_bytes // 2 * 8, ib),
               "filter": ("WeightBuffer", "weight", accel.filter_sram_bytes // 2 * 8, ib),
               "ofmap": ("Accumulator", "output", accel.ofmap_sram_bytes // 2 * 8, ab)}  # fmt: skip
    if accel.unified_scratchpad:  # inputs and weights in one scratchpad: one memory keeps both
        buffers["ifmap"] = ("Scratchpad", "input | weight", accel.ifmap_sram_bytes // 2 * 8, ib)
    for buffer in buffer_order:
        if buffer == "filter" and accel.unified_scratchpad:
            continue
        name, keep, bits, width = buffers[buffer]
        total = ert.buffer_size_bytes(accel, buffer)
        parts.append(_memory(
            name, bits, ert.sram_pj_per_byte(accel, buffer) / 8 * PJ, ert.sram_write_pj_per_byte(accel, buffer) / 8 * PJ,
            "inf", ert.sram_area_mm2(accel, buffer) * MM2, ert.sram_leakage_mw(accel, buffer) * MW, keep,
            f"{buffer} SRAM, {total:,} bytes ({width}-bit words; CACTI 7 via hwsim)"))  # fmt: skip
    pe_area = tech.pe_area_um2(ib, ab, accel.tech_node_nm) * 1e-12
    mac_j = tech.mac_energy_pj(ib, ab, accel.tech_node_nm) * PJ
    parts.append(
        f"  - !Container  # the {accel.rows} x {accel.cols} systolic array\n    name: ProcessingElement\n"
        f"    spatial:\n    - {{name: columns, fanout: {accel.cols}, reuse: input}}\n"
        f"    - {{name: rows, fanout: {accel.rows}, reuse: output}}\n"
        "  - !Memory  # the PE's stationary weight\n    name: Register\n"
        "    size: weight.bits_per_value if weight else 0\n    leak_power: 0\n    area: 0\n"
        "    tensors: {keep: weight}\n    actions:\n    - {name: read, energy: 0, throughput: inf}\n"
        "    - {name: write, energy: 0, throughput: inf}\n"
        f"  - !Compute  # {ib}-bit multiply, {ab}-bit accumulate (hwsim tech.py)\n    name: MAC\n"
        f"    leak_power: 0\n    area: {pe_area:.6g}\n    actions:\n"
        f"    - {{name: compute, energy: {mac_j:.6g}, throughput: {accel.clock_hz:.6g}}}\n")
    return "".join(parts)


def workload_yaml(workload: Workload, accel: AccelConfig) -> tuple[str, tuple[str, ...]]:
    """(AccelForge ``workload`` text, einsum names): every GEMM of every layer (module docstring)."""
    header = (f"# hwsim export of model {workload.spec.name!r}, heads per layer "
              f"{','.join(map(str, workload.heads_per_layer))}, batch {workload.batch}"
              f"{'' if workload.step is None else f', {workload.step.kind} pass'}\n")
    return gemms_yaml([(layer.name, g) for layer in workload.all_layers for g in layer.gemms], accel, header)


def gemms_yaml(gemms: list[tuple[str, Gemm]], accel: AccelConfig, header: str = "") -> tuple[str, tuple[str, ...]]:
    """(AccelForge ``workload`` text, einsum names) of (layer name, GEMM) pairs."""
    shape, einsums, names = [], [], []
    for layer_name, g in gemms:
        e = einsum_name(layer_name, g)
        names.append(e)
        ranks = {"r": int(g.repeat), "m": int(g.m), "k": int(g.k), "n": int(g.n)}
        if ranks["r"] == 1:
            del ranks["r"]
        shape += [f"    {e}_{rank}: 0 <= {e}_{rank} < {size}" for rank, size in ranks.items()]
        lead = [f"{e}_r"] if "r" in ranks else []

        def proj(*dims: str) -> str:
            return "[" + ", ".join(lead + [f"{e}_{d}" for d in dims]) + "]"

        einsums.append(f"  - name: {e}  # {g.name}: {g.m} x {g.k} @ {g.k} x {g.n}, repeat {g.repeat}\n"
                       f"    tensor_accesses:\n    - {{name: {e}_A, projection: {proj('m', 'k')}}}\n"
                       f"    - {{name: {e}_B, projection: {proj('k', 'n')}}}\n"
                       f"    - {{name: {e}_C, projection: {proj('m', 'n')}, output: True}}\n"
                       f"    renames: {{input: {e}_A, weight: {e}_B, output: {e}_C}}\n")  # fmt: skip
    text = (header + "workload:\n  iteration_space_shape:\n" + "\n".join(shape) + "\n"
            f"  bits_per_value: {{input: {accel.input_bits}, weight: {accel.input_bits}, output: {accel.acc_bits}}}\n"
            "  einsums:\n" + "".join(einsums))  # fmt: skip
    return text, tuple(names)


def export(workload: Workload | list[tuple[str, Gemm]], accel: AccelConfig, out_dir: Path,
           buffer_order: tuple[str, ...] = BUFFER_ORDER) -> AccelForgeFiles:
    """Write ``arch.yaml`` and ``workload.yaml`` into ``out_dir`` (atomically, each): a model's workload, or a list
    of (layer name, GEMM) pairs."""
    text, names = workload_yaml(workload, accel) if isinstance(workload, Workload) else gemms_yaml(workload, accel)
    arch_text = arch_yaml(accel, buffer_order)  # refused orders before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    arch, work = out_dir / "arch.yaml", out_dir / "workload.yaml"
    atomic_write_bytes(arch, arch_text.encode())
    atomic_write_bytes(work, text.encode())
    return AccelForgeFiles(arch=arch, workload=work, einsums=names)
