"""save_checkpoint replaces a checkpoint with one on disk at every moment (issue 11: it said "atomically" but had a
window with none): an atomic directory exchange where the system has one, else a set-aside copy load_checkpoint
moves back."""

from __future__ import annotations

import os

import pytest

from hwsim.nn import checkpoint as ck
from hwsim.nn.model import build_model
from nn_helpers import tiny_spec


def _save(path, step):
    model = build_model(tiny_spec())
    return ck.save_checkpoint(path, model=model, recipe={"model": tiny_spec().to_dict()}, data={}, vocab=["a", "b"],
                              train_state={"step": step}, history=[])


def _has_exchange(tmp_path) -> bool:
    (tmp_path / "probe-a").mkdir()
    (tmp_path / "probe-b").mkdir()
    try:
        return ck._exchange(tmp_path / "probe-a", tmp_path / "probe-b")
    finally:
        (tmp_path / "probe-a").rmdir()
        (tmp_path / "probe-b").rmdir()


def test_exchange_swaps_two_directories(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("A")
    (b / "f").write_text("B")
    if not ck._exchange(a, b):
        pytest.skip("no atomic directory exchange on this system")
    assert ((a / "f").read_text(), (b / "f").read_text()) == ("B", "A")


@pytest.mark.parametrize("exchange", ["system", "fallback"])
def test_replacing_a_checkpoint_never_leaves_none(tmp_path, monkeypatch, exchange):
    path = tmp_path / "ckpt"
    _save(path, 1)
    if exchange == "fallback":
        monkeypatch.setattr(ck, "_exchange", lambda a, b: False)
    seen = []
    real_replace = os.replace

    def watching_replace(src, dst):  # the fallback's two moves: is there a checkpoint between them?
        seen.append(ck.is_checkpoint_dir(path) or any(ck.is_checkpoint_dir(p) for p in tmp_path.glob("ckpt.old-*")))
        return real_replace(src, dst)

    monkeypatch.setattr(ck.os, "replace", watching_replace)
    _save(path, 2)
    assert ck.load_checkpoint(path).train_state["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary or set-aside directory left
    assert all(seen)
    assert len(seen) == (0 if exchange == "system" and _has_exchange(tmp_path) else 2)  # atomic: no move at all
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary or set-aside directory left


def test_fallback_interrupted_between_its_moves_is_recovered(tmp_path, monkeypatch):
    path = tmp_path / "ckpt"
    _save(path, 1)
    monkeypatch.setattr(ck, "_exchange", lambda a, b: False)  # a system without an atomic exchange
    real_replace, calls = os.replace, []

    def killed_after_first_move(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the new checkpoint is not moved in: as if killed right after setting the old aside
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(ck.os, "replace", killed_after_first_move)
    with pytest.raises(KeyboardInterrupt):
        _save(path, 2)
    monkeypatch.setattr(ck.os, "replace", real_replace)
    assert not path.exists() and len(list(tmp_path.glob("ckpt.old-*"))) == 1
    assert ck.load_checkpoint(path).train_state["step"] == 1  # the old checkpoint, moved back
    assert path.is_dir() and not list(tmp_path.glob("ckpt.old-*"))
