"""Hypervolume (moocore) against hand-computed 2-D and 3-D cases, and the normalised front volume of a sweep."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hwsim.errors import SweepError
from hwsim.sweep.hypervolume import REFERENCE, front_hypervolumes, hypervolume, normalised_hypervolume
from hwsim.sweep.pareto import FRONTS


def test_2d_staircase_by_hand():
    # Points (1,3), (2,2), (3,1) up to reference (4,4): slabs [1,2]x[3,4] + [2,3]x[2,4] + [3,4]x[1,4] = 1 + 2 + 3.
    assert hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4]) == pytest.approx(6.0)
    # A dominated point and a duplicate add nothing; a point outside the reference box is ignored.
    assert hypervolume([[1, 3], [2, 2], [3, 1], [3, 3], [2, 2], [5, 0]], [4, 4]) == pytest.approx(6.0)
    assert hypervolume([[0, 0]], [2, 3]) == pytest.approx(6.0)
    assert hypervolume(np.empty((0, 2)), [1, 1]) == 0.0


def test_3d_union_of_boxes_by_hand():
    # Boxes to reference (2,2,2): a=(0,0,1) -> 2x2x1 = 4, b=(1,1,0) -> 1x1x2 = 2, overlap [1,2]^2 x [1,2] = 1.
    assert hypervolume([[0, 0, 1], [1, 1, 0]], [2, 2, 2]) == pytest.approx(4 + 2 - 1)
    # Three corner points of the unit cube's far faces: inclusion-exclusion 3*(1*2*2) - 3*(1*1*2) + 1*1*1 = 12-6+1.
    pts = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert hypervolume(pts, [2, 2, 2]) == pytest.approx(7.0)
    assert hypervolume([[1, 1, 1]], [1, 2, 2]) == 0.0  # on the reference plane: no volume


def test_bad_shapes_raise():
    with pytest.raises(SweepError, match="reference"):
        hypervolume([[1, 2]], [1, 2, 3])


def _frame(ppl, lat, area, energy):
    return pd.DataFrame({"perplexity": ppl, "latency_s": lat, "area_mm2": area, "energy_pj": energy,
                         "pareto_latency": True, "pareto_area": True, "pareto_3d": True, "pareto_energy": True})


def test_normalised_volume_uses_log_perplexity_and_bounds():
    # Two points: log ppl {0, 1} (ppl 1 and e), latency {2, 1}: scaled (0,1) and (1,0), reference 1.1:
    # boxes 1.1 x 0.1 and 0.1 x 1.1 overlapping in 0.1 x 0.1 -> 0.11 + 0.11 - 0.01.
    frame = _frame([1.0, np.e], [2.0, 1.0], [1.0, 1.0], [5.0, 5.0])
    front = next(f for f in FRONTS if f.column == "pareto_latency")
    assert normalised_hypervolume(frame, front) == pytest.approx(0.21)
    # Bounds taken from a wider table shrink the same points' volume: latency bounds 0..2 -> scaled 1 and 0.5.
    low, high = np.array([0.0, 0.0]), np.array([1.0, 2.0])
    expected = (1.1 - 0.0) * (1.1 - 1.0) + (1.1 - 1.0) * (1.1 - 0.5) - (1.1 - 1.0) * (1.1 - 1.0)
    assert normalised_hypervolume(frame, front, (low, high)) == pytest.approx(expected)
    volumes = front_hypervolumes(frame, has_perplexity=True)
    assert set(volumes) == {f.column for f in FRONTS}
    assert volumes["pareto_3d"]["max_possible"] == pytest.approx(REFERENCE**3)
