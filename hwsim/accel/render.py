"""Text renderings of a :class:`~hwsim.accel.cost.ModelCost`: a readable per-layer table and a CSV."""

from __future__ import annotations

import csv
import io

from hwsim.accel.cost import LayerCost, ModelCost, OpCost

_COLUMNS = (
    ("layer", 8, lambda c: c.name),
    ("heads", 5, lambda c: str(c.heads)),
    ("MMACs", 10, lambda c: f"{c.macs / 1e6:.2f}"),
    ("params", 10, lambda c: f"{c.params:,}"),
    ("cycles", 12, lambda c: f"{c.cycles:,}"),
    ("latency_ms", 10, lambda c: f"{c.latency_s * 1e3:.3f}"),
    ("SRAM_MB", 9, lambda c: f"{c.sram_bytes / 1e6:.2f}"),
    ("DRAM_MB", 9, lambda c: f"{c.dram_bytes / 1e6:.2f}"),
    ("weights", 8, lambda c: f"{c.dram_weight_bytes / 1e6:.2f}"),  # DRAM MB by operand
    ("acts", 8, lambda c: f"{c.dram_activation_bytes / 1e6:.2f}"),
    ("psums", 7, lambda c: f"{c.dram_psum_bytes / 1e6:.2f}"),
    ("energy_uJ", 10, lambda c: f"{c.energy_pj / 1e6:.2f}"),
    ("area_mm2", 9, lambda c: f"{c.area_mm2:.3f}"),
)


def _row(cost: LayerCost) -> str:
    return "  ".join(fmt(cost).rjust(width) for _, width, fmt in _COLUMNS)


def cost_table(cost: ModelCost) -> str:
    a = cost.accel
    lines = [
        f"accelerator {a.name}: {a.rows}x{a.cols} {a.dataflow.value}, {a.clock_hz / 1e6:g} MHz, "
        f"{a.tech_node_nm:g} nm, mode {a.mode.value}, batch {cost.batch}",
        "  ".join(name.rjust(width) for name, width, _ in _COLUMNS),
    ]
    lines += [_row(layer) for layer in cost.layers]
    lines.append(_row(cost.total))
    ar = cost.area
    t = cost.total
    lines += [
        f"energy: MAC {t.energy_mac_pj / 1e6:.2f} uJ, SRAM {t.energy_sram_pj / 1e6:.2f} uJ, "
        f"DRAM {t.energy_dram_pj / 1e6:.2f} uJ ({a.dram_type}), vector {t.energy_vector_pj / 1e6:.2f} uJ, "
        f"SRAM leakage {t.energy_leak_pj / 1e6:.2f} uJ",
        "leakage: " + ", ".join(f"{k.replace('_sram', '')} {v / 1e6:.2f}" for k, v in cost.leakage_pj.items())
        + " uJ",
        f"area: PE array {ar.pe_array_mm2:.3f}, ifmap SRAM {ar.ifmap_sram_mm2:.3f}, "
        f"filter SRAM {ar.filter_sram_mm2:.3f}, ofmap SRAM {ar.ofmap_sram_mm2:.3f}, "
        f"vector unit {ar.vector_unit_mm2:.3f}, weight SRAM {ar.weight_sram_mm2:.3f}, "
        f"total {ar.total_mm2:.3f} mm^2",
        f"parameters: {t.params:,} non-embedding ({t.param_bytes:,} bytes, "
        f"{'fit' if cost.fits_on_chip else 'do not fit'} on chip), {cost.embedding_params:,} embedding",
    ]
    return "\n".join(lines)


def _mapping_text(op: OpCost) -> str:
    mp = op.mapping
    if mp is None:
        return "fixed order (scalesim mode)"
    if op.kind == "attention":
        return (f"fused: {mp['query_blocks']} query block(s) of {mp['query_block']}, {mp['key_blocks']} key blocks "
                f"of {mp['key_block']}")  # fmt: skip
    text = (f"{mp['loop_order']} tiles {mp['tile_m']}x{mp['tile_n']}x{mp['tile_k']} refetch "
            f"A{mp['refetch_a']} B{mp['refetch_b']} C{mp['refetch_c']}")  # fmt: skip
    return text + (f", psum spill {mp['psum_spill_words']:,} words" if mp["psum_spill_words"] else "")


def gemm_table(cost: ModelCost) -> str:
    """Every layer's GEMMs (or fused attention): shape, operands on chip, DRAM bytes per operand, cycles, mapping."""
    head = (f"{'layer':>8} {'op':>18} {'M x N x K':>20} {'x':>4} {'on_chip':>9} {'A_MB':>8} {'B_MB':>8} "
            f"{'C_MB':>8} {'cycles':>12}  mapping")  # fmt: skip
    lines = [head]
    for layer, ops in zip(cost.layers, cost.ops):
        for op in ops:
            c = op.counts
            shape = f"{op.m}x{op.n}x{op.k}"
            lines.append(
                f"{layer.name:>8} {op.name:>18} {shape:>20} {op.repeat:>4} {op.on_chip or '-':>9} "
                f"{c['dram_ifmap_bytes'] / 1e6:>8.3f} {c['dram_filter_bytes'] / 1e6:>8.3f} "
                f"{c['dram_ofmap_bytes'] / 1e6:>8.3f} {c['array_cycles']:>12,}  {_mapping_text(op)}"
            )
    return "\n".join(lines)


def cost_csv(cost: ModelCost) -> str:
    rows = [layer.to_dict() for layer in cost.layers] + [cost.total.to_dict()]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def summary_lines(summary: dict) -> list[str]:
    """Per-token figures of a decode step or a generation (``hwsim.accel.generation``), one line each."""
    lines = []
    if "time_to_first_token_s" in summary:
        lines.append(f"generation: prompt {summary['prompt']} tokens, {summary['new_tokens']} new tokens "
                     f"({summary['policy']} policy), time to first token {summary['time_to_first_token_s'] * 1e3:.3f} "
                     f"ms, total {summary['total_latency_s'] * 1e3:.3f} ms")  # fmt: skip
    else:
        lines.append(f"decode step: {summary['context']} cached tokens, batch {summary['batch']}; bounds: bandwidth "
                     f"{summary['bandwidth_bound_s'] * 1e3:.3f} ms, compute {summary['compute_bound_s'] * 1e3:.3f} ms")
    lines.append(f"per token: latency {summary['latency_per_token_s'] * 1e3:.3f} ms, {summary['tokens_per_s']:.1f} "
                 f"tokens/s, energy {summary['energy_per_token_pj'] / 1e6:.2f} uJ, DRAM "
                 f"{summary['dram_bytes_per_token'] / 1e6:.3f} MB")  # fmt: skip
    classes = ", ".join(f"{k} {v / 1e6:.3f}" for k, v in summary["dram_bytes_per_token_by_class"].items())
    lines.append(f"DRAM MB per token by class: {classes}")
    lines.append(f"weights {'stay on chip' if summary['weights_on_chip'] else 'stream from DRAM'} across tokens; "
                 f"cache {summary['cache_bytes'] / 1e6:.3f} MB in {summary['cache_location']}")
    return lines
