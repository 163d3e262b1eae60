"""f32 transcendental functions against eager (computed in f64, rounded): the CPU's own
exp, log, log1p and tanh (mlirfuse-expand-math) and what is built on them, within
3 ulp (mish, through mlirfuse-simplify-math: 5), with the special values (inf, -inf, NaN, 0, subnormals) as eager has them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import mlirfuse
from conftest import extern_calls_here


pytestmark = pytest.mark.usefixtures("no_grad")

SPECIALS = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-39, -1e-39, 1e-45,
            88.7, 88.8, -87.0, -86.9, -103.0, -0.999999, -1.0, -1.5, 3.4e38, -3.4e38]


def _inputs():
    gen = torch.Generator(torch.get_default_device()).manual_seed(0)
    return torch.cat([torch.linspace(-100, 100, 20001), torch.randn(20000, generator=gen) * 3,
                      torch.rand(2000, generator=gen) * 1e-3, torch.tensor(SPECIALS)])


FUNCTIONS = {
    "exp": torch.exp,
    "log": lambda x: torch.log(x.abs()),
    "log1p": torch.log1p,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
    "mish": lambda x: x * torch.tanh(F.softplus(x)),  # one exp, one division (simplify-math)
}
# Allowed error in ulp: one function, or a composition through mlirfuse-simplify-math.
ULPS = {"mish": 5}  # where e^x is subnormal (x < -87.3) eager is 12.7 ulp off


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_float32_function_matches_eager(name):
    fn = FUNCTIONS[name]
    x = _inputs()
    got = mlirfuse.compile(fn)(x)
    expected = fn(x.double()).float()
    assert torch.equal(torch.isnan(got), torch.isnan(expected))
    infinite = torch.isinf(expected)
    assert torch.equal(got[infinite], expected[infinite])
    normal = torch.isfinite(expected) & (expected.abs() > 1e-37)
    relative = ((got - expected).abs() / expected.abs())[normal]
    ulps = ULPS.get(name, 3)
    assert relative.max().item() <= ulps * 2.0**-23, f"max relative error {relative.max().item()}"
    tiny = torch.isfinite(expected) & ~normal  # results that exp may flush to zero
    assert (got - expected)[tiny].abs().max().item() <= 2e-38


@pytest.mark.parametrize("fn", [lambda x: torch.clamp(x, -0.5, 0.5),
                                lambda x: torch.clamp(x, min=0.1) * 2,
                                lambda x: F.hardtanh(x),
                                lambda x: F.relu6(x),
                                lambda x: torch.clamp(x, min=x.flip(0)),
                                lambda x: torch.maximum(x, x.flip(0)),
                                lambda x: torch.minimum(x, x.flip(0)),
                                lambda x: torch.where(x > x.flip(0), x, x.flip(0))],
                         ids=["clamp", "clamp_min", "hardtanh", "relu6", "tensor_bound",
                              "maximum", "minimum", "where"])
def test_nan_in_clamps_and_extremes(fn):
    """torch-mlir's clamps took the bound for a NaN input (cmpf ult), and maximum and
    minimum the other operand for a NaN first one: eager returns NaN (mlirfuse-clamp-nan,
    capture's decompositions). A `where` keeps eager's ordered compare."""
    x = torch.tensor(SPECIALS + [0.2, -0.3, 2.0])
    torch.testing.assert_close(mlirfuse.compile(fn)(x), fn(x), equal_nan=True, rtol=0, atol=0)


def test_hypot_and_float64_erf_compile():
    """hypot has no torch-mlir lowering (the fuzzer found it eager in 87 of 10,000
    programs): max * sqrt(1 + (min/max)^2) is within 2 ulp of eager, and neither
    overflows nor underflows where the squares would. An f64 erf failed in
    refback-expand-ops-for-llvm (it expands f32 only): on the CPU it calls libm's erf."""
    a = torch.tensor(SPECIALS + [3.0, 1e30, 1e-30, -5.0, 0.0])
    b = torch.tensor(SPECIALS[::-1] + [4.0, 1e30, 1e-30, 12.0, -0.0])
    hypot = mlirfuse.compile(lambda a, b: torch.hypot(a, b[:, None]))
    torch.testing.assert_close(hypot(a, b), torch.hypot(a, b[:, None]), equal_nan=True,
                               rtol=2.5e-7, atol=0)
    for x in (torch.linspace(-6, 6, 1001, dtype=torch.float64),
              torch.randn(3, 1, 8, dtype=torch.float64)):  # a 2-D vector (seed 205)
        erf = mlirfuse.compile(lambda x: torch.erf(x) * 2)
        torch.testing.assert_close(erf(x), torch.erf(x) * 2, rtol=1e-15, atol=1e-15)
        assert erf.stats.eager_ops == 0
    assert hypot.stats.eager_ops == 0


@pytest.mark.parametrize("fn", [lambda x: x == x, torch.isfinite,
                                lambda x: torch.where(x == x, x, 0.0) * 2],
                         ids=["eq-self", "isfinite", "nan-to-zero"])
def test_nan_is_not_equal_to_itself(fn):
    """torch-mlir folds `x == x` to true, NaN included: isfinite (written with it) said
    NaN was finite, and a user's NaN test never fired (found by the Chebyshev
    decompositions, whose NaN degrees came out NaN instead of eager's 0)."""
    x = torch.tensor(SPECIALS + [0.2, -0.3, 2.0])
    compiled = mlirfuse.compile(fn)
    torch.testing.assert_close(compiled(x), fn(x), equal_nan=True, rtol=0, atol=0)
    assert compiled.stats.eager_ops == 0


_NAN_ROWS = [[3.0, float("nan"), 1.0, float("inf"), -2.0, float("nan"), float("inf")],
             [1.0, 2.0, 2.0, -1.0, 0.5, 2.0, -3.0]]


@pytest.mark.parametrize("fn", [
    # stable: CUDA's eager sort orders equal values its own way otherwise
    lambda x: torch.sort(x, dim=1, stable=True),
    lambda x: torch.sort(x, dim=1, descending=True, stable=True),
    lambda x: torch.argsort(x, dim=1, stable=True), lambda x: torch.sort(x.t(), dim=0, stable=True),
    lambda x: torch.topk(x, 3, dim=1).values, lambda x: torch.topk(x, 2, largest=False),
    lambda x: x.max(1), lambda x: x.min(1, keepdim=True), lambda x: x.argmax(1),
    lambda x: x.argmin(), lambda x: x.int().max(1), lambda x: torch.kthvalue(x[:, [0, 1, 3, 4, 6]], 5, dim=1),
    lambda x: torch.kthvalue(x, 2, dim=1, keepdim=True)],
    ids=["sort", "descending", "argsort", "sort-dim0", "topk", "topk-smallest", "max",
         "min", "argmax", "argmin-all", "int-max", "kthvalue-nan", "kthvalue"])
def test_nan_orders_as_eager(fn):
    """NaN ranks above +inf in eager's orderings; tm_tensor's sort and the arg-reductions
    compare with ordered predicates: NaNs sorted among the numbers, argmax of a row
    holding a NaN was 0, kthvalue's NaN came out inf (found beside the decompositions of
    median and cummax). kthvalue's index among equal values is eager's selection's: the
    rows here have none at k."""
    x = torch.tensor(_NAN_ROWS)
    compiled = mlirfuse.compile(fn)
    torch.testing.assert_close(compiled(x), fn(x), equal_nan=True, rtol=0, atol=0)
    assert compiled.stats.eager_ops == 0


def test_long_sorts_run_torchs_kernel():
    """tm_tensor's sort and top-k are quadratic: a topk over a 32000-word vocabulary took
    32 s compiled (eager: 1 ms). Rows past hazards.SORT_LIMIT run torch's kernel: an extern
    call from the compiled code (the eager op with extern_calls=False)."""
    x = torch.randn(2, 32000)
    fn = lambda x: torch.topk(x.softmax(-1), 5)  # noqa: E731
    compiled = mlirfuse.compile(fn)
    torch.testing.assert_close(compiled(x), fn(x))
    assert compiled.stats.extern_calls + compiled.stats.eager_ops == 1
    assert compiled.stats.extern_calls == extern_calls_here()
    assert "quadratic" in str(compiled.explain())
    compiled = mlirfuse.compile(fn, extern_calls=False)
    torch.testing.assert_close(compiled(x), fn(x))
    assert compiled.stats.eager_ops == 1


@pytest.mark.parametrize("fn", [torch.log1p, torch.expm1,
                                lambda x: 1.1447298858494002 - x,
                                lambda x: torch.rsub(x, 0.1, alpha=3)],
                         ids=["log1p", "expm1", "rsub", "rsub-alpha"])
def test_float64_small_values_and_numbers(fn):
    """In f64, convert-math-to-llvm made log1p log(1 + x) and expm1 exp(x) - 1 on the CPU
    (log1p(1e-17) was 0) and torch-mlir rounded the number of `number - x` to f32 (3.3e-8
    off): found by the gamma-function decompositions, which compute in f64."""
    x = torch.tensor([1e-17, -1e-12, 1e-10, 0.5, -0.3, 0.0, 3.0, float("inf"), float("nan")],
                     dtype=torch.float64)
    compiled = mlirfuse.compile(fn)
    torch.testing.assert_close(compiled(x), fn(x), rtol=2e-16, atol=0, equal_nan=True)
    assert compiled.stats.eager_ops == 0
