"""docs/validation.md is exactly what the code computes now, and its SCALE-Sim reference figures are SCALE-Sim's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from hwsim.accel.validation import (HARDWARE_GROUPS, SCALESIM_REFERENCE, checks, hardware_mechanism,
                                    heldout_error_summary, monotone_fit_summary, render_markdown)

ROOT = Path(__file__).resolve().parents[1]


def test_validation_page_is_current():
    """Every hwsim figure on the page is recomputed; regenerate with `python tools/gen_validation.py`."""
    assert (ROOT / "docs" / "validation.md").read_text() == render_markdown()


def test_validation_rows_cover_every_source_and_hold():
    rows = checks()
    assert {c.group for c in rows} == {"CACTI 7 SRAM", "TPUv1", "TPUv1 apps", "Gemmini RTL", "Gemmini", "SCALE-Sim v3",
                                       "Mapper vs AccelForge", "Mapper vs ZigZag", "Paper"}  # fmt: skip
    for c in rows:
        if c.group in ("SCALE-Sim v3", "Mapper vs AccelForge"):
            assert c.hwsim == pytest.approx(c.reference, rel=1e-9), c  # exact by construction
        if c.group == "Mapper vs ZigZag":
            assert c.hwsim <= c.reference, c  # the optimum of the rule: ZigZag never finds less traffic
        if c.group == "CACTI 7 SRAM":
            assert abs(c.error) <= 0.15, c
        if c.group == "TPUv1 apps" and c.quantity.split()[0] in ("MLP0", "MLP1", "LSTM0") and "TOPS" in c.quantity:
            assert abs(c.error) <= 0.15, c  # issue 17: within 15 % of the measured TOPS (CNN0: explained on the page)
        if c.group == "Gemmini RTL":
            assert abs(c.error) <= 0.05, c  # issue 17: within 5 % of Gemmini's RTL compute cycles
        if c.quantity.startswith("gemmini preset, 512³"):
            assert c.error == 0, c  # gemmini.h's tiling, as buddy-mlir's port of it reports
        if c.group in HARDWARE_GROUPS and abs(c.error) > 0.05:
            assert hardware_mechanism(c.quantity), c  # every error above 5 % against hardware has its mechanism
    summary, native = heldout_error_summary(), heldout_error_summary(nodes=(22, 32, 45, 65))
    assert summary["points"] >= 600 and summary["read_pj"] <= 0.20 and summary["area_mm2"] <= 0.20
    assert native["points"] >= 400 and native["read_pj"] <= 0.15 and native["area_mm2"] <= 0.15
    fit = monotone_fit_summary()
    assert fit["band_read_pj"] < 0.15 and fit["band_area_mm2"] < 0.15 and 0 < fit["adjusted"] < fit["points"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.skipif(importlib.util.find_spec("scalesim") is None, reason="scalesim not installed")
def test_scalesim_reference_is_scalesims_output():
    spec = importlib.util.spec_from_file_location("gen_validation", ROOT / "tools" / "gen_validation.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for dataflow, reference in SCALESIM_REFERENCE.items():
        assert gen.scalesim_counts(dataflow) == reference, dataflow
