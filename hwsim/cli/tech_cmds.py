"""``hwsim tech sram`` (one CACTI SRAM estimate) and ``hwsim tech --accel`` (an accelerator's energy/area table)."""

from __future__ import annotations

import json
from typing import Optional

import typer


def _sram_text(est) -> str:
    lines = [
        f"SRAM {est.size_bytes:,} B, {est.node_nm:g} nm, {est.width_bits}-bit access",
        f"  read_pj     {est.read_pj:.6g}   (per {est.width_bits}-bit access)",
        f"  write_pj    {est.write_pj:.6g}",
        f"  leakage_mw  {est.leakage_mw:.6g}",
        f"  area_mm2    {est.area_mm2:.6g}",
        f"  access_ns   {est.access_ns:.6g}",
    ]
    return "\n".join(lines + [f"  note: {n}" for n in est.notes])


def _component_text(c) -> str:
    energies = ", ".join(f"{action} {pj:.4g} pJ" for action, pj in c.energy_pj.items())
    attrs = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in c.attributes.items())
    head = f"{c.name:<12} area {c.area_mm2:10.4f} mm^2  leakage {c.leakage_mw:9.4g} mW  {energies}"
    return "\n".join([head, f"{'':12} {attrs}"] + [f"{'':12} note: {n}" for n in c.notes])


def register(app: typer.Typer) -> None:
    """Add the ``tech`` command group to ``app``."""
    tech_app = typer.Typer(invoke_without_command=True, no_args_is_help=False, add_completion=False)

    @tech_app.callback()
    def tech_cmd(
        ctx: typer.Context,
        accel: Optional[str] = typer.Option(None, "--accel", help="Preset name or accelerator TOML ([accel] table)."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object."),
    ) -> None:
        """Energy per action and area of every component of an accelerator (ERT/ART), or `tech sram ...`."""
        if ctx.invoked_subcommand is not None:
            return
        from hwsim.accel.config import load_accel
        from hwsim.accel.ert import components
        from hwsim.errors import HwsimError

        if accel is None:
            raise HwsimError("give --accel PRESET_OR_TOML, or `hwsim tech sram --bytes B --node-nm X --width-bits W`")
        config = load_accel(accel)
        parts = components(config)
        if as_json:
            print(json.dumps({"accel": config.to_dict(), "components": [c.to_dict() for c in parts]}))
            return
        total = sum(c.area_mm2 for c in parts)
        print(f"accelerator {config.name}: {config.tech_node_nm:g} nm, DRAM {config.dram_type}")
        print("\n".join(_component_text(c) for c in parts))
        print(f"total area {total:.4f} mm^2 (without the model-sized weight SRAM)")

    @tech_app.command("sram")
    def sram_cmd(
        size_bytes: int = typer.Option(..., "--bytes", help="SRAM capacity in bytes."),
        node_nm: float = typer.Option(..., "--node-nm", help="Technology node, nm (CACTI 22-90; 3-22 by rule)."),
        width_bits: int = typer.Option(64, "--width-bits", help="Bits per access (read_pj/write_pj are per access)."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object."),
    ) -> None:
        """Read/write energy per access, leakage, area and access time of one SRAM (CACTI 7, interpolated)."""
        import dataclasses

        from hwsim.accel.sram import sram_estimate

        est = sram_estimate(size_bytes, node_nm, width_bits)
        if as_json:
            print(json.dumps({**dataclasses.asdict(est), "notes": list(est.notes)}))
        else:
            print(_sram_text(est))

    app.add_typer(tech_app, name="tech")
