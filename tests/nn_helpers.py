"""Tiny specs and helpers shared by the hwsim.nn tests."""

from __future__ import annotations

from hwsim.spec import Family, ModelSpec


def tiny_spec(family: str = "all_attention", adaptive: bool = False, **over) -> ModelSpec:
    base = dict(
        name="tiny",
        family=Family(family),
        n_layers=3,
        d_model=32,
        n_heads=4,
        d_head=8,
        n_persistent=8 if family == "all_attention" else 0,
        d_ff=48 if family == "transformer_xl" else 0,
        segment_len=8,
        memory_len=8,
        pos_len=24,
        vocab_size=100,
        adaptive_cutoffs=(20, 60) if adaptive else (),
        adaptive_div=2,
    )
    base.update(over)
    return ModelSpec(**base)
