"""uint8 and int8: exact eager results (computed in int16, wrapped back after every op).

Regressions: uint8 values read as signed (200 as -56) in division, conversion to
float, sums and sorting; int8 floor division and multiplication by a Python int
crashed torch-mlir's lowering (SIGSEGV).
"""

import pytest
import torch

import mlirfuse

VALUES = [200, 100, 3, 255, 0, 128, 127, 1]
OTHERS = [7, 100, 3, 2, 9, 255, 128, 1]

OPS = {
    "add_floordiv": lambda a, b: (a + b) // 2,
    "to_float": lambda a, b: a.float() / 255,
    "sum": lambda a, b: a.sum(),
    "mul_wraps": lambda a, b: a * b,
    "floordiv": lambda a, b: a // b,
    "remainder": lambda a, b: a % b,
    "compare": lambda a, b: a > b,
    "max": lambda a, b: a.max(),
    "sort": lambda a, b: torch.sort(a)[0],
    "sub_wraps": lambda a, b: a - b,
    "not": lambda a, b: ~a,
    "mul_scalar": lambda a, b: a * 3,
    "identity": lambda a, b: a,
    "abs": lambda a, b: a.abs(),
    "widen": lambda a, b: a.to(torch.int32) * 1000,
    "topk": lambda a, b: torch.topk(a, 2),
    "float_roundtrip": lambda a, b: (a.float() * 0.5).to(a.dtype),
    "cat": lambda a, b: torch.cat([a, b]) + 1,
    "cumsum": lambda a, b: a.cumsum(0),
}


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8], ids=str)
@pytest.mark.parametrize("name", sorted(OPS))
def test_exact(name, dtype):
    fn = OPS[name]
    a = torch.tensor(VALUES, dtype=torch.uint8).to(dtype)
    b = torch.tensor(OTHERS, dtype=torch.uint8).to(dtype)
    if name in ("floordiv", "remainder"):
        b = torch.where(b == 0, torch.ones_like(b), b)
    # The reference is eager on the same device: `x / 255` divides on the CPU and
    # multiplies by 1/255 on CUDA (one ulp apart in places); compiled code does the same.
    out, expected = mlirfuse.compile(fn, (a, b))(a, b), fn(a, b)
    out = out if isinstance(out, tuple) else (out,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    for got, want in zip(out, expected):
        assert got.dtype == want.dtype
        assert torch.equal(got, want), (got, want)
