"""One numerics test per dtype: float32, float64, float16, bfloat16, bool, int8, int16,
int32, int64, uint8, then integer division and reductions per integer dtype.
Integer values span each dtype's whole range (sign bits, wrap-around on overflow);
integer and bool results must match eager exactly.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import mlirfuse
from conftest import assert_same


pytestmark = pytest.mark.usefixtures("no_grad")  # compiled code runs, not the eager fallback

FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
INTS = [torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8]


def _run(fn, *args):
    compiled = mlirfuse.compile(fn)
    out = compiled(*args)
    assert compiled.stats.compilations == 1 and compiled.stats.fallbacks == 0
    assert_same(out, fn(*args))
    return out


def _ints(dtype, shape, seed=0):
    """Integers over the whole range of `dtype` (int64: of int32, products then fit)."""
    info = torch.iinfo(dtype if dtype != torch.int64 else torch.int32)
    x = torch.randint(info.min, info.max + 1, shape,
                      generator=torch.Generator(torch.get_default_device()).manual_seed(seed), dtype=torch.int64)
    return x.to(dtype)


def float_ops(a, b):
    return (
        a * b + a - b,
        a / (b.abs() + 1),
        torch.exp(a * 0.5),
        torch.tanh(b),
        torch.sqrt(a.abs()),
        a.sum(dim=1),
        a.amax(dim=0),
        a @ b.transpose(0, 1),
        a > b,
        torch.where(a > 0, a, b),
        a.to(torch.float32),
    )


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_float_dtype(dtype):
    gen = torch.Generator(torch.get_default_device()).manual_seed(1)
    a = torch.randn(4, 6, generator=gen).to(dtype)
    b = torch.randn(4, 6, generator=gen).to(dtype)
    out = _run(float_ops, a, b)
    assert out[0].dtype == dtype and out[8].dtype == torch.bool


def int_ops(a, b):
    return (
        a + b,  # wraps around on overflow, as eager does
        a - b,
        a * b,
        a + 100,
        a & b,
        a | b,
        a ^ b,
        ~a,
        a >> 3,
        a << 2,
        torch.maximum(a, b),
        torch.minimum(a, b),
        a == b,
        a < b,
        a >= 3,
        torch.where(a > 0, a, b),
        a.amax(dim=1),
        a.argmax(dim=1),
        a.cumsum(dim=1),  # promotes to int64
        a.to(torch.int64),
        a.to(torch.float32) * 0.5,
    )


@pytest.mark.parametrize("dtype", INTS, ids=str)
def test_integer_dtype(dtype):
    a = _ints(dtype, (5, 7), seed=1)
    b = _ints(dtype, (5, 7), seed=2)
    out = _run(int_ops, a, b)
    assert out[0].dtype == dtype and out[12].dtype == torch.bool
    assert out[18].dtype == torch.int64 and out[20].dtype == torch.float32


def int_division(a, b):
    return (
        torch.div(a, b, rounding_mode="trunc"),
        torch.div(a, b, rounding_mode="floor"),
        a // 3,
        torch.remainder(a, b),  # Python's sign convention
        torch.fmod(a, b),  # C's sign convention
        a / b,  # true division: float32
    )


DIVISION = [
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,  # regression: floor division went through f64, wrong past 2**53
    torch.uint8,
]


@pytest.mark.parametrize("dtype", DIVISION, ids=str)
def test_integer_division(dtype):
    info = torch.iinfo(dtype)
    low, high = max(info.min, -(2**62)), min(info.max, 2**62)
    gen = torch.Generator(torch.get_default_device()).manual_seed(4)
    a = torch.randint(low, high, (6, 8), generator=gen, dtype=torch.int64).to(dtype)
    b = torch.randint(low, high, (6, 8), generator=gen, dtype=torch.int64).to(dtype)
    b[:, :4] = torch.tensor([3, 7, 2, 100]).to(dtype)  # small divisors too
    if dtype != torch.uint8:
        b[::2, :4] *= -1
    b[b == 0] = 5
    _run(int_division, a, b)


def int_reductions(a):
    return (
        a.sum(dim=1),  # int64
        a.sum(),
        a.abs(),
        torch.topk(a, 3, dim=1).values,
        a.to(torch.float32).mean(dim=0),
    )


@pytest.mark.parametrize("dtype", INTS, ids=str)
def test_integer_reductions(dtype):
    _run(int_reductions, _ints(dtype, (4, 9), seed=5))


def test_integer_extremes_int64():
    """Values that do not fit 32 bits, and the extremes of int64."""
    a = torch.tensor([2**40 + 3, -(2**62), 2**63 - 1, -5, 0])
    b = torch.tensor([3, 2**31, -1, 2, -(2**63)])
    _run(lambda a, b: (a + b, a * 2, a - b, a >> 33, torch.div(a, 7, rounding_mode="trunc"),
                       torch.maximum(a, b), a.sum(), a.to(torch.float64)), a, b)


def test_8bit_integer_times_python_scalar():
    """aten.mul.Scalar on si8/ui8 by a Python int once crashed the process (SIGSEGV in
    torch-mlir's convert-torch-to-linalg: convertScalarToDtype returned a null Value for
    8-bit types); run in a subprocess so a regression fails one test, not the suite."""
    code = (
        "import torch, mlirfuse\n"
        "for dtype in (torch.int8, torch.uint8):\n"
        "    a = torch.tensor([1, -2, 100, 50, 7]).to(dtype)\n"
        "    f = lambda a: (a * 3, a * -1, a + 300)\n"
        "    with torch.no_grad():\n"
        "        out = mlirfuse.compile(f)(a)\n"
        "    for o, r in zip(out, f(a)):\n"
        "        assert o.dtype == r.dtype and torch.equal(o, r), (o, r)\n"
        "print('OK')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "OK" in proc.stdout, (
        f"exit status {proc.returncode}\n{proc.stderr[-2000:]}")


def bool_ops(a, b, x):
    return (
        a & b,
        a | b,
        a ^ b,
        ~a,
        torch.logical_or(a, ~b),
        torch.logical_not(b),
        a == b,
        torch.where(a, x, -x),
        a.sum(),  # int64 count
        a.any(dim=1),
        b.all(dim=0),
        a.to(torch.float32) + x,
        x > 0,
    )


def test_bool_dtype():
    gen = torch.Generator(torch.get_default_device()).manual_seed(3)
    a = torch.rand(4, 5, generator=gen) > 0.5
    b = torch.rand(4, 5, generator=gen) > 0.3
    x = torch.randn(4, 5, generator=gen)
    out = _run(bool_ops, a, b, x)
    assert out[0].dtype == torch.bool and out[8].dtype == torch.int64


def test_mixed_dtype_promotion():
    """Ops mixing dtypes follow torch's promotion: int8 + uint8 -> int16, int + float -> float."""
    a = _ints(torch.int8, (3, 4), seed=1)
    b = _ints(torch.uint8, (3, 4), seed=2) // 2  # < 128: the promotion, not the sign, is tested
    c = torch.randn(3, 4, dtype=torch.float16)
    d = torch.randn(3, 4, dtype=torch.float64)
    out = _run(lambda a, b, c, d: (a + b, a * c, c + d, b.to(torch.int32) * 1000), a, b, c, d)
    assert [o.dtype for o in out] == [torch.int16, torch.float16, torch.float64, torch.int32]


@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons_of_two_dtypes_promote(op):
    """A float16 and a bfloat16 tensor compare in float32, as eager (torch-mlir compared
    them in bfloat16: `v == v.to(torch.bfloat16)` was all True; bench/fuzz.py seed 3114);
    also an int8 with a uint8 tensor."""
    cmp = getattr(torch, op)
    v = torch.randn(64).half()
    i8, u8 = _ints(torch.int8, (64,), seed=1), _ints(torch.uint8, (64,), seed=2)
    f = lambda v, i8, u8: (cmp(v, v.to(torch.bfloat16)), cmp(v.to(torch.bfloat16), v * 1),  # noqa
                           cmp(i8, u8))
    compiled = mlirfuse.compile(f)
    for got, want in zip(compiled(v, i8, u8), f(v, i8, u8)):
        assert torch.equal(got, want)
    assert compiled.stats.eager_ops == 0


def test_conversions_llvm_makes_library_calls_of():
    """torch.stack of a bool and a bf16 tensor: LLVM (-O2 and up) folds the integer
    rounding arith-expand makes back into a conversion it calls __truncsfbf2 for, which
    the JIT lacked (compiler-rt): runtime/cpu/mlirfuse_fp.c has them (bench/fuzz.py seed
    2651 ran partly eager). Its roundings match torch's on 3M floats."""
    x0 = torch.randn(2, 1, 16).to(torch.bfloat16)
    x1 = torch.randn(2, 1, 16) > 0
    f = lambda x0, x1: (torch.stack([x1, x0], 0), x1.to(torch.float16) - x0.half())  # noqa
    compiled = mlirfuse.compile(f)
    for got, want in zip(compiled(x0, x1), f(x0, x1)):
        assert torch.equal(got, want)
    assert compiled.stats.eager_ops == 0


@pytest.mark.parametrize("op", ["lt", "le", "gt", "ge"])
def test_bools_ordered_against_numbers(op):
    """A bool compared with a number compares as an integer (torch-mlir compared i1
    signed: True was -1, and `(x == x) > 0` was all False; bench/fuzz.py seed 3978)."""
    cmp = getattr(torch, op)
    x = _ints(torch.int64, (8, 5), seed=3)
    f = lambda x: tuple(cmp(x == x, s) for s in (0, -1, 1, 0.5, True))  # noqa: E731
    compiled = mlirfuse.compile(f)
    for got, want in zip(compiled(x), f(x)):
        assert torch.equal(got, want)
    assert compiled.stats.eager_ops == 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_precision_chain_rounds_once(dtype):
    """A fused chain of f16 or bf16 ops computes in f32 and rounds once at the store
    (mlirfuse-widen-half): at least as accurate as eager, which rounds after each op
    (compiled f16 was 40% further from the exact result before). The constants are exact
    in both types, so only the roundings differ."""
    def f(x):
        return torch.tanh(x * 1.25 + 0.5).exp() * 0.75 - torch.sigmoid(x) * x

    x = torch.randn(4096).to(dtype)
    exact = f(x.double())
    got, want = mlirfuse.compile(f)(x), f(x)
    assert got.dtype == dtype
    error = lambda y: (y.double() - exact).abs()  # noqa: E731
    assert error(got).max() <= error(want).max()
    assert error(got).mean() < error(want).mean()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_norms_and_numbers_of_small_values(dtype):
    """F.normalize of f16 values near 1e-6: the norm's squares underflowed in f16, the
    norm was 0 and the result inf (bench/fuzz.py seeds 8458, 9102); it accumulates in
    f32, as eager. And a half tensor times 1e6 was inf: torch-mlir rounded the number to
    f16 first (eager computes in f32 with the number as it is)."""
    x = (torch.randn(3, 3) * 1e-6).to(dtype)
    f = lambda x: (F.normalize(x, dim=0), torch.linalg.vector_norm(x, dim=1) * 1e6)  # noqa
    compiled = mlirfuse.compile(f)
    for got, want in zip(compiled(x), f(x)):
        torch.testing.assert_close(got, want, rtol=1e-2, atol=1e-3)
    assert compiled.stats.eager_ops == 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_double_to_half_compiles_and_rounds_as_eager(dtype):
    """float64 → f16/bf16 rounds through f32 as torch does; it ran eager before (the JIT
    lacked __truncdfbf2 and __truncdfhf2; the fuzzer's `.double()` programs, bf16 var)."""
    f = lambda x: (x * 3).to(dtype) + 1  # noqa: E731
    g = lambda x: x.var(0, keepdim=True)  # noqa: E731
    x = torch.randn(33, 8, dtype=torch.float64)
    for fn, arg in ((f, x), (g, x.to(dtype))):
        compiled = mlirfuse.compile(fn)
        got = compiled(arg)
        assert compiled.stats.eager_ops == 0
        assert torch.equal(got, fn(arg)) if fn is f else torch.allclose(
            got.float(), fn(arg).float(), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", ["cumsum", "sum", "prod"])
def test_half_precision_accumulates_in_f32(dtype, name):
    """Sums, products and scans of f16/bf16 accumulate in f32 as eager does (a bf16 cumsum
    of a cumsum was 31% off eager's, issue 15's second program; its JIT also failed)."""
    fns = {"cumsum": lambda x: torch.cumsum(torch.cumsum(x, -1), -1),
           "sum": lambda x: x.sum(-1) * 2, "prod": lambda x: (x * 0.01 + 1).prod(-1)}
    f = fns[name]
    x = torch.randn(2, 33).to(dtype)
    compiled = mlirfuse.compile(f)
    got, want, exact = compiled(x), f(x), f(x.double())
    assert compiled.stats.eager_ops == 0
    error = lambda y: (y.double() - exact).abs().max()  # noqa: E731
    assert error(got) <= error(want) * 1.01 + 1e-6
