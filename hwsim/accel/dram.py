"""Off-chip DRAM energy per bit by technology (``AccelConfig.dram_type``), each figure with its source and the access
pattern it assumes. DRAM energy is charged per byte moved and is not scaled with the accelerator's node.

The figures are not measured under one common pattern: a per-access figure that includes a row activation for
every 32/64-bit access (DDR3) is a worst case for streaming tiles, while the device-power averages (GDDR6, HBM2,
LPDDR4) assume the interface runs at full bandwidth with mostly row hits, which is closer to how a systolic
array's tile transfers behave. The table says which is which.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.errors import TechError


@dataclass(frozen=True, kw_only=True)
class DramTech:
    name: str
    pj_per_bit: float
    source: str
    access_pattern: str

    @property
    def pj_per_byte(self) -> float:
        return self.pj_per_bit * 8


DRAM_TECHS: dict[str, DramTech] = {
    t.name: t
    for t in (
        # Han et al., NIPS 2015 (arXiv 1506.02626) Table 1: 640 pJ per 32-bit DRAM read (45 nm) = 20 pJ/bit, the low
        # end of Horowitz ISSCC 2014's 1.3-2.6 nJ per 64-bit DRAM access (hardware.md §3). hwsim's value before
        # dram_type existed.
        DramTech(name="DDR3", pj_per_bit=20.0, source="Han et al. NIPS 2015 Table 1; Horowitz ISSCC 2014",
                 access_pattern="isolated 32/64-bit random read: row activation + column access + off-chip I/O"),
        # Derived: DDR3's 20 pJ/bit x 0.5, the DDR4/DDR3 energy-per-bit ratio of Vogelsang, "Understanding the
        # Energy Consumption of DRAMs", MICRO 2010 (IDD7 interleaved read/write: 4.5 pJ/bit projected DDR4 vs 9 pJ/bit
        # DDR3), as tabulated in github.com/Dongyunkam/DRAM_info. UNVERIFIED against the paper itself.
        DramTech(name="DDR4", pj_per_bit=10.0, source="derived: DDR3 x 0.5 (Vogelsang MICRO 2010 DDR4/DDR3 ratio)",
                 access_pattern="as DDR3 (random access incl. activation), scaled by the IDD7 device ratio"),
        # hwcomponents-cacti 1.0.40 (the DRAM table of Accelergy/AccelForge, hwcomponents_cacti.py
        # _DRAM.type2energylatency["LPDDR4"] = 8 pJ/bit, citing public LPDDR data). LPDDR4X lowers VDDQ from 1.1 V
        # to 0.6 V (JEDEC); that I/O saving is not modelled, so LPDDR4X uses the LPDDR4 figure.
        DramTech(name="LPDDR4", pj_per_bit=8.0, source="hwcomponents-cacti 1.0.40 (AccelForge) LPDDR4",
                 access_pattern="per bit transferred at full bandwidth (streaming), device + interface"),
        DramTech(name="LPDDR4X", pj_per_bit=8.0, source="as LPDDR4 (hwcomponents-cacti 1.0.40); VDDQ drop not modelled",
                 access_pattern="per bit transferred at full bandwidth (streaming), device + interface"),
        # Derived: LPDDR4's 8 pJ/bit x 0.7, Samsung's announced "up to 30% lower power" for LPDDR5 vs LPDDR4X
        # (Samsung 8Gb LPDDR5 announcement, 2018). Vendor claim, not a measured energy per bit.
        DramTech(name="LPDDR5", pj_per_bit=5.6, source="derived: LPDDR4 x 0.7 (Samsung: LPDDR5 up to 30% lower power)",
                 access_pattern="as LPDDR4 (streaming), scaled by the vendor's power claim"),
        # Micron, "Ultra-Bandwidth Solutions" memory comparison (micron.com/products/ultra-bandwidth-solutions):
        # average device power 6.0 pJ/bit for HBM2E (GDDR6 7.5, GDDR6X 7.25). O'Connor et al. MICRO 2017 quote
        # ~3.9 pJ/bit for HBM2 (hardware.md §3, UNVERIFIED); hwcomponents-cacti uses 6.25.
        DramTech(name="HBM2", pj_per_bit=6.0, source="Micron Ultra-Bandwidth Solutions table (HBM2E)",
                 access_pattern="average device power per bit at rated bandwidth (streaming), 2.5D interposer I/O"),
        DramTech(name="GDDR6", pj_per_bit=7.5, source="Micron Ultra-Bandwidth Solutions table (GDDR6)",
                 access_pattern="average device power per bit at rated bandwidth (streaming), PCB I/O"),
    )
}


def dram_tech(name: str) -> DramTech:
    """The DRAM technology called ``name`` (case-insensitive); unknown names are a :class:`TechError`."""
    key = str(name).upper()
    if key not in DRAM_TECHS:
        raise TechError(f"unknown dram_type {name!r} (choose {', '.join(DRAM_TECHS)})")
    return DRAM_TECHS[key]
