"""Evaluation at an accelerator's bit widths (hwsim.nn.quant, hwsim.numerics): the integer path against an int64
numpy reference, quantisation of a known tensor by hand, the shipped model's perplexity at W8A8 and W4A8, and
bad numerics refused with one error line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import ROOT, assert_one_line_error
from hwsim.errors import SpecError
from hwsim.nn.quant import integer_matmul, qmatmul, quantize
from hwsim.numerics import Numerics


def _reference(a: np.ndarray, b: np.ndarray, a_bits: int, b_bits: int):
    """Independent: numpy, int64 accumulation, the scales computed from the definition (in float32, the width the
    operands have, so that values on a rounding boundary round alike)."""
    qa_max, qb_max = 2 ** (a_bits - 1) - 1, 2 ** (b_bits - 1) - 1
    sa = np.abs(a).max(axis=-1, keepdims=True) / np.float32(qa_max)
    sb = np.abs(b).max(axis=-2, keepdims=True) / np.float32(qb_max)
    sa, sb = np.where(sa > 0, sa, np.float32(1)), np.where(sb > 0, sb, np.float32(1))
    qa = np.clip(np.rint(a / sa), -qa_max, qa_max).astype(np.int64)
    qb = np.clip(np.rint(b / sb), -qb_max, qb_max).astype(np.int64)
    return qa, qb, qa @ qb, sa, sb


@pytest.mark.parametrize("shape", [(1, 7, 5), (9, 64, 33), (3, 130, 1), (16, 256, 48)])
@pytest.mark.parametrize("bits", [(8, 8), (8, 4), (16, 4), (16, 16)])
def test_integers_equal_an_int64_reference(shape, bits):
    m, k, n = shape
    act_bits, weight_bits = bits
    rng = np.random.default_rng(m * k + n)
    a = (rng.standard_normal((m, k)) * rng.choice([1e-3, 1.0, 40.0], size=(m, 1))).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    a[0, 0], b[-1, 0] = 50.0, -7.5  # extremes: these map to +-(2^(b-1) - 1) exactly
    qa, sa = quantize(torch.from_numpy(a), act_bits, dim=-1)
    qb, sb = quantize(torch.from_numpy(b), weight_bits, dim=-2)
    ref_qa, ref_qb, ref_acc, ref_sa, ref_sb = _reference(a, b, act_bits, weight_bits)
    assert np.array_equal(qa.numpy().astype(np.int64), ref_qa) and np.array_equal(qb.numpy().astype(np.int64), ref_qb)
    acc = integer_matmul(qa, qb).numpy()
    assert np.array_equal(acc.astype(np.int64), ref_acc) and np.all(acc == np.rint(acc))  # identical integers
    assert qa.abs().max() == 2 ** (act_bits - 1) - 1 and qa.min() >= -(2 ** (act_bits - 1) - 1)  # saturates at +-max
    assert qb.min() == -(2 ** (weight_bits - 1) - 1)
    numerics = Numerics(weight_bits=weight_bits, act_bits=act_bits)
    out = qmatmul(torch.from_numpy(a), torch.from_numpy(b), numerics, b_is_weight=True).double().numpy()
    expected = ref_acc * ref_sa.astype(np.float64) * ref_sb.astype(np.float64)
    assert np.allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_quantisation_error_of_a_known_tensor_by_hand():
    """4 bits: max |x| = 1.4 -> scale 0.2; 0.5 / 0.2 = 2.5 rounds half to even (2), 0.3 / 0.2 = 1.5 -> 2,
    -1.4 -> -7, 0.07 / 0.2 = 0.35 -> 0: dequantised [0.4, 0.4, -1.4, 0.0], errors [0.1, 0.1, 0, 0.07]."""
    x = torch.tensor([[0.5, 0.3, -1.4, 0.07]])
    q, scale = quantize(x, 4, dim=-1)
    assert q.tolist() == [[2.0, 2.0, -7.0, 0.0]] and scale.item() == pytest.approx(0.2)
    assert (q * scale - x).abs().tolist()[0] == pytest.approx([0.1, 0.1, 0.0, 0.07], abs=1e-6)
    zero_q, zero_scale = quantize(torch.zeros(1, 3), 8, dim=-1)  # an all-zero row: scale 1, no division by zero
    assert zero_q.abs().sum() == 0 and zero_scale.item() == 1.0


def test_group_scheme_rescales_each_group_of_128():
    rng = np.random.default_rng(5)
    a = torch.from_numpy(rng.standard_normal((4, 300)).astype(np.float32))
    b = torch.from_numpy(rng.standard_normal((300, 6)).astype(np.float32))
    b[:128] *= 100.0  # one group of large weights: per-channel scales would crush the other groups
    exact = (a.double() @ b.double()).numpy()
    grouped = qmatmul(a, b, Numerics(weight_bits=4, scheme="g128"), b_is_weight=True).double().numpy()
    channel = qmatmul(a, b, Numerics(weight_bits=4), b_is_weight=True).double().numpy()
    assert np.abs(grouped - exact).mean() < np.abs(channel - exact).mean()


def test_shipped_model_at_w8a8_and_w4a8(cli):
    """W8A8 within 2 % of float; 4-bit weights cost perplexity (measured on the first 4,000 validation tokens)."""
    from hwsim.nn.evaluate import MaskedEvaluator

    evaluator = MaskedEvaluator(ROOT / "models" / "ptb-small.ckpt", max_tokens=4000)
    heads = (8, 8, 4, 7)  # the checkpoint's open gates
    base = evaluator.perplexity(heads).perplexity
    w8a8 = evaluator.perplexity(heads, Numerics()).perplexity
    w4a8 = evaluator.perplexity(heads, Numerics(weight_bits=4)).perplexity
    assert abs(w8a8 / base - 1) < 0.02 and w4a8 >= w8a8
    assert evaluator.perplexity(heads).perplexity == base  # the float model is restored after each evaluation
    result = cli("eval", ROOT / "models" / "ptb-small.ckpt", "--weight-bits", "4", "--max-tokens", "4000", "--json")
    assert result.code == 0 and result.json()["numerics"] == "W4A8"
    assert result.json()["perplexity"] == pytest.approx(w4a8, rel=1e-9)


def test_bad_numerics():
    for kwargs, fragment in (({"weight_bits": 3}, "weight_bits"), ({"act_bits": 0}, "act_bits"),
                             ({"scheme": "gptq"}, "scheme"), ({"acc_bits": 4}, "acc_bits")):  # fmt: skip
        with pytest.raises(SpecError, match=fragment):
            Numerics(**kwargs)
    with pytest.raises(SpecError, match="overflows"):
        Numerics(acc_bits=16).check_accumulator(128)
    Numerics(acc_bits=32).check_accumulator(2048 * 16)


@pytest.mark.parametrize("args,fragment", [
    (("--weight-bits", "3"), "weight_bits"), (("--act-bits", "0"), "act_bits"), (("--acc-bits", "16"), "overflows"),
    (("--scheme", "gptq"), "scheme"),
])  # fmt: skip
def test_cli_bad_numerics_one_line(cli, args, fragment):
    assert_one_line_error(cli("eval", ROOT / "models" / "ptb-small.ckpt", *args), fragment)
