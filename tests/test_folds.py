"""Fold-aware pruning numbers against folds derived by hand for a tiny spec on small arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwsim.accel.config import load_accel, with_overrides
from hwsim.accel.cost import model_cost
from hwsim.spec import ModelSpec, load_recipe
from hwsim.sweep.folds import aligned_heads, aligned_on_all, fold_table, layer_rows
from hwsim.workload import build_workload

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny():
    """2 layers x 4 heads of width d_head 8, d_model 32, 16-token segments with a 16-token memory."""
    raw = load_recipe(ROOT / "models" / "ptb-small.toml")["model"]
    raw.update(name="fold-tiny", n_layers=2, d_model=32, n_heads=4, d_head=8, n_persistent=8, segment_len=16,
               memory_len=16)
    return ModelSpec.from_dict(raw)


def _array(rows, cols, dataflow):
    return with_overrides(load_accel("edge-soc-32x32"), {"rows": rows, "cols": cols, "dataflow": dataflow})


def _ceil(a, b):
    return -(-a // b)


def test_ws_folds_by_hand(tiny):
    # ws puts K on the rows and N on the columns. q/k/v/r_proj: K = d_model = 32, N = 8h; out_proj: K = 8h, N = 32.
    # On 16 x 16: projections 2 row folds x ceil(8h/16) column folds each (4 of them), out_proj ceil(8h/16) x 2.
    accel = _array(16, 16, "ws")
    table = fold_table(tiny, accel)
    hand = [4 * 2 * _ceil(8 * h, 16) + _ceil(8 * h, 16) * 2 for h in range(5)]
    assert table.width_folds.tolist() == hand == [0, 10, 10, 20, 20]
    assert table.aligned.tolist() == [True, False, True, False, True]  # 8h a multiple of 16: even h
    # An 8-row x 16-col array: the columns need even h (projections), the rows any h (out_proj: 8h % 8 == 0).
    assert aligned_heads(tiny, _array(8, 16, "ws")).tolist() == [True, False, True, False, True]
    # 16 rows x 8 cols: projections fill 8-wide columns at any h, out_proj's 8h rows need even h.
    assert aligned_heads(tiny, _array(16, 8, "ws")).tolist() == [True, False, True, False, True]
    assert aligned_heads(tiny, _array(8, 8, "ws")).all()


def test_os_and_is_by_hand(tiny):
    # os: M on the rows, N on the columns; only the projections' N = 8h is head-dependent on the array.
    # q_proj M = 16, k/v_proj M = 32 (memory + segment), r_proj M = 32, out_proj M = 16, N = 32 (no head width).
    table = fold_table(tiny, _array(16, 16, "os"))
    c = [_ceil(8 * h, 16) for h in range(5)]
    hand = [0] + [1 * c[h] + 2 * c[h] + 2 * c[h] + 2 * c[h] + 1 * 2 for h in range(1, 5)]
    assert table.width_folds.tolist() == hand
    assert table.aligned.tolist() == [True, False, True, False, True]
    # is: K on the rows, M on the columns; only out_proj's K = 8h lands on the array. 32 rows: h = 4 only.
    assert aligned_heads(tiny, _array(32, 16, "is")).tolist() == [True, False, False, False, True]
    assert aligned_on_all(tiny, [_array(16, 16, "ws"), _array(32, 16, "is")]).tolist() == [0, 4]


def test_savings_and_lost_cycles_against_the_scalar_model(tiny):
    accel = _array(16, 16, "ws")
    table = fold_table(tiny, accel)
    # An independent path: the scalar per-layer cost of layer 0 with h heads kept (layer 1 unpruned).
    cycles = np.array([model_cost(build_workload(tiny, (h, 4)), accel).layers[0].cycles for h in range(5)])
    macs = np.array([model_cost(build_workload(tiny, (h, 4)), accel).layers[0].macs for h in range(5)])
    assert table.cycles.tolist() == cycles.tolist() and table.macs.tolist() == macs.tolist()
    # Anchors 0, 2, 4: the odd counts sit above the straight line between their neighbours by exactly this much.
    lost = [0.0, cycles[1] - (cycles[0] + cycles[2]) / 2, 0.0, cycles[3] - (cycles[2] + cycles[4]) / 2, 0.0]
    assert table.lost_cycles.tolist() == pytest.approx(lost)
    assert lost[1] > 0 and lost[3] > 0  # a half-empty fold costs cycles the MACs do not explain
    rows = layer_rows(tiny, accel, (3, 4))
    assert rows[0]["mac_saving"] == pytest.approx(1 - macs[3] / macs[4])
    assert rows[0]["cycle_saving"] == pytest.approx(1 - cycles[3] / cycles[4])
    assert rows[0]["aligned"] is False and rows[1]["aligned"] is True and rows[1]["lost_cycles"] == 0.0
    assert (rows[0]["width_folds"], rows[0]["full_width_folds"]) == (20, 20)  # 3 heads take the folds of 4


def test_align_drops_configs_that_leave_a_partly_empty_fold(cli, tmp_path):
    # ptb-small: d_head 16; on 32 columns (ws) a head count fills whole folds iff 16h % 32 == 0: even counts.
    res = cli("sweep", "--model", ROOT / "models" / "ptb-small.toml", "--heads-per-layer", "8,6,4,2",
              "--heads-per-layer", "8,7,4,2", "--heads-per-layer", "2", "--heads-per-layer", "3",
              "--accel", "edge-soc-32x32", "--align", "--out", tmp_path / "res", "--no-progress")
    assert res.code == 0, res.err
    import pandas as pd

    frame = pd.read_parquet(tmp_path / "res" / "results.parquet")
    assert frame["heads_per_layer"].tolist() == ["8,8,8,8", "8,6,4,2", "2,2,2,2"]
