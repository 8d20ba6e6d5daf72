"""Map an hwsim AccelForge export with AccelForge and print, per arch file and einsum, the bits each tensor moves
to and from MainMemory (JSON on stdout). Run with the Python that has AccelForge (>= 3.12), never by hwsim itself:

    python3.12 tools/accelforge_map.py OUT/workload.yaml OUT/arch.yaml [OTHER_ORDER/arch.yaml ...]

The objective is AccelForge's energy with every on-chip action free and MainMemory at 1 per bit, i.e. DRAM bits,
which is what hwsim's mapper minimises (tests/test_accelforge.py compares the two).
"""

import json
import os
import sys
import tempfile

import accelforge.mapper.FFM.mappings as mappings
from accelforge.frontend.spec import Spec
from accelforge.mapper import Metrics
from accelforge.mapper.FFM.main import map_workload_to_arch

# The detail pass writes an SVG of the mapping through graphviz; not needed for the numbers.
mappings.Mappings.render = lambda self, **kwargs: ""


def dram_bits(arch: str, workload: str) -> dict:
    spec = Spec.from_yaml(arch, workload)
    for node in spec.arch.nodes:  # DRAM bits only: every on-chip action free, MainMemory 1 per bit
        for action in getattr(node, "actions", []) or []:
            action.energy = 1 if node.name == "MainMemory" else 0
    spec.mapper.metrics = Metrics.ENERGY
    result = map_workload_to_arch(spec, print_progress=False)
    out: dict = {}
    for column in result.data.columns:
        parts = column.split("<SEP>")
        if len(parts) == 5 and parts[1] == "action" and parts[2] == "MainMemory":
            einsum, tensor, action = parts[0], parts[3], parts[4]
            out.setdefault(einsum, {}).setdefault(tensor, {})[action] = float(result.data[column].iloc[0])
    return out


if __name__ == "__main__":
    workload_path, archs = os.path.abspath(sys.argv[1]), [os.path.abspath(a) for a in sys.argv[2:]]
    os.chdir(tempfile.mkdtemp())  # the mapper writes scratch files into the working directory
    json.dump({arch: dram_bits(arch, workload_path) for arch in archs}, sys.stdout)
