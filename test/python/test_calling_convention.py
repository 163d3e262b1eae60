"""Arguments and results: nesting, namedtuples, aliasing, Python scalars, 0-d,
zero-element and non-contiguous tensors, shared parameters, repeated results."""

from __future__ import annotations

import collections

import pytest
import torch
import torch.nn as nn

import mlirfuse
import models
from conftest import assert_same


pytestmark = pytest.mark.usefixtures("no_grad")  # compiled code runs, not the eager fallback

Pair = collections.namedtuple("Pair", ["low", "high"])
Stats = collections.namedtuple("Stats", ["mean", "spread", "count"])


def compile_and_compare(fn, *args, **kwargs):
    compiled = mlirfuse.compile(fn)
    out = compiled(*args)
    assert compiled.stats.compilations == 1 and compiled.stats.fallbacks == 0
    assert_same(out, fn(*args), **kwargs)
    return compiled, out


def test_nested_dict_list_tuple_arguments_and_results():
    def f(inputs, scale):
        x, (y, z) = inputs["pair"][0], inputs["pair"][1]
        w = inputs["extra"]["w"]
        return {
            "sum": x + y * scale,
            "nested": [z * w, (x.relu(), {"deep": y - z})],
            "tag": "constant",
            "n": 3,
        }

    args = ({"pair": [models.randn(2, 3, seed=1), (models.randn(2, 3, seed=2),
                                                   models.randn(2, 3, seed=3))],
             "extra": {"w": models.randn(1, 3, seed=4)}}, 0.5)
    compiled, out = compile_and_compare(f, *args)
    assert list(out) == ["sum", "nested", "tag", "n"]


def test_namedtuple_arguments_and_results():
    def f(p: Pair):
        d = p.high - p.low
        return Stats(mean=(p.low + p.high) / 2, spread=d.abs().amax(dim=1), count=d.numel())

    p = Pair(models.randn(3, 4, seed=1), models.randn(3, 4, seed=2))
    _, out = compile_and_compare(f, p)
    assert isinstance(out, Stats) and out.count == 12


def test_structseq_results():
    """torch.return_types (max, topk, sort) come back as the same structseq type."""
    def f(x):
        return x.max(dim=1), torch.topk(x, 2), torch.sort(x, dim=0)

    _, out = compile_and_compare(f, models.randn(4, 5))
    assert type(out[0]) is torch.return_types.max
    assert out[1].indices.dtype == torch.int64


def test_one_tensor_passed_twice():
    def f(a, b):
        return a * b + a, (a - b).abs().sum()

    x = models.randn(3, 4)
    compiled, _ = compile_and_compare(f, x, x)
    assert_same(compiled(x, x), f(x, x))
    assert compiled.stats.compilations == 1


@pytest.mark.parametrize("aliased_first", [True, False])
def test_aliased_and_distinct_arguments(aliased_first):
    """The alias pattern is part of the dispatch key, whichever call comes first."""
    def f(a, b):
        return a * b + a

    x, y = models.randn(3, 4), models.randn(3, 4, seed=5)
    calls = [(x, x), (x, y)] if aliased_first else [(x, y), (x, x)]
    compiled = mlirfuse.compile(f)
    for args in calls:
        assert_same(compiled(*args), f(*args))


def test_one_tensor_passed_twice_and_mutated():
    def f(a, b):
        a.add_(b)
        return a * b

    x, x_ref = models.randn(3, 4), models.randn(3, 4)
    out = mlirfuse.compile(f)(x, x)
    expected = f(x_ref, x_ref)
    assert_same(out, expected)
    assert_same(x, x_ref)


def test_same_value_returned_twice():
    """Results that are one FX node: the same tensor object twice, as eager."""
    def f(x):
        y = x * 2
        return y, y, {"again": y}

    compiled, out = compile_and_compare(f, models.randn(3))
    assert out[0] is out[1] and out[2]["again"] is out[0]


def test_equal_results_after_cse():
    def f(x, a, b):
        return x * 2, x * 2, a & b, torch.logical_and(a, b)

    x = models.randn(3, 4)
    compile_and_compare(f, x, x > 0, x < 0.5)


class ReturnsState(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(models.randn(3))
        self.register_buffer("b", models.randn(3, seed=1))

    def forward(self, x):
        return x, torch.arange(4), torch.zeros(2, 2), x + self.w, self.b * 1


def test_results_that_are_inputs_and_constants():
    m = ReturnsState()
    x = models.randn(3, seed=2)
    _, out = compile_and_compare(m, x)
    assert out[0] is x  # an input returned as is is the caller's tensor


def test_results_that_are_weights():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(models.randn(3))
            self.register_buffer("b", models.randn(3, seed=1))

        def forward(self, x):
            return x * 2, self.w, self.b

    m = M()
    out = mlirfuse.compile(m)(models.randn(3))
    assert out[1] is m.w and out[2] is m.b


@pytest.mark.parametrize("scalar", [2, 0.5, True], ids=["int", "float", "bool"])
def test_python_scalar_arguments(scalar):
    def f(x, s):
        return x * s + s, x.sum() > s

    x = models.randn(2, 3)
    compile_and_compare(f, x, scalar)


def test_python_scalars_new_values_are_honoured():
    def f(x, alpha: float, n: int, flag: bool):
        y = x * alpha + n
        if flag:
            y = y.relu()
        return y, n * 2

    x = models.randn(3, 4)
    compiled = mlirfuse.compile(f)
    calls = [(1.5, 2, True), (-0.25, 7, False), (1.5, 2, True), (-0.25, 7, True), (1.5, 3, True)]
    for alpha, n, flag in calls:
        assert_same(compiled(x, alpha, n, flag), f(x, alpha, n, flag))
    assert compiled.stats.compilations == 4
    assert compiled.stats.cache_hits == 1


def test_zero_dim_tensors():
    def f(s, x, t):
        return s * x + s.exp(), (x * t).sum(), s + t, torch.stack([s, t])

    s, t = torch.tensor(1.5), torch.tensor(-2.0)
    _, out = compile_and_compare(f, s, models.randn(2, 3), t)
    assert out[1].dim() == 0 and out[2].shape == ()


@pytest.mark.cpu_only("a tensor's value used as an index by host code: the GPU target raises "
                      "CompileError (it would need a device-to-host read and a synchronization)")
def test_zero_dim_integer_index():
    def f(x, i):
        return x[i], x.sum(0)[i] * 2

    compile_and_compare(f, models.randn(5, 3), torch.tensor(2))


def test_zero_element_tensors():
    def f(x, y):
        return x * 2 + 1, x.sum(dim=0), torch.cat([x, y], dim=0), x.t(), x.amax(dim=1)

    x = torch.empty(0, 4)
    y = models.randn(2, 4)
    _, out = compile_and_compare(f, x, y)
    assert out[0].shape == (0, 4) and torch.equal(out[1], torch.zeros(4))


def test_zero_element_matmul():
    def f(a, b):
        return a @ b, a.sum()

    compile_and_compare(f, torch.empty(3, 0), torch.empty(0, 4))


@pytest.mark.parametrize("view", ["transposed", "sliced", "expanded", "offset", "permuted"])
def test_non_contiguous_arguments(view):
    base = models.randn(6, 8)
    x = {
        "transposed": base.t(),
        "sliced": base[1:5, ::2],
        "expanded": models.randn(1, 8).expand(6, 8),
        "offset": base[2:],
        "permuted": models.randn(2, 3, 4).permute(2, 0, 1),
    }[view]
    assert not x.is_contiguous() or x.storage_offset() > 0

    def f(x, y):
        flat = x.flatten(1)
        return x * y + x.sum(dim=0), x.softmax(dim=-1), flat.t() @ (flat * 2), x.exp().mean()

    y = models.randn(*x.shape, seed=3)
    compiled, _ = compile_and_compare(f, x, y)
    # A contiguous tensor of the same shape: results still right.
    assert_same(compiled(x.contiguous(), y), f(x, y))


def test_non_contiguous_bmm_and_conv():
    def f(a, b, img, w):
        return torch.bmm(a.transpose(1, 2), b), torch.nn.functional.conv2d(img, w)

    a = models.randn(2, 5, 3)
    b = models.randn(4, 2, 5, seed=1).permute(1, 2, 0)
    img = models.randn(1, 8, 8, 3, seed=2).permute(0, 3, 1, 2)  # channels-last layout
    w = models.randn(4, 3, 3, 3, seed=3)
    compile_and_compare(f, a, b, img, w)


def test_parameter_shared_by_two_layers():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(6, 6)
            self.b = nn.Linear(6, 6)
            self.b.weight = self.a.weight  # tied

        def forward(self, x):
            return self.b(torch.tanh(self.a(x)))

    m = models._init(Tied())
    m.b.weight = m.a.weight
    x = models.randn(2, 6)
    compiled, _ = compile_and_compare(m, x)
    with torch.no_grad():
        m.a.weight.mul_(-0.5)  # both layers see it
    assert_same(compiled(x), m(x))
    assert compiled.stats.compilations == 1


def test_bound_method_and_closure():
    lin = models._init(nn.Linear(4, 3))

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def double(self, x):
            return self.lin(x) * 2

    h = Holder()
    x = models.randn(5, 4)
    compiled, _ = compile_and_compare(h.double, x)
    with torch.no_grad():
        lin.bias.fill_(3.0)  # a bound method's module weights are runtime arguments too
    assert_same(compiled(x), h.double(x))
    assert compiled.stats.compilations == 1


@pytest.mark.cpu_only("the CPU kernels' OpenMP threads")
def test_cpu_kernels_run_on_as_many_threads_as_torch(no_grad):
    """The kernels' parallel loops run on torch's own OpenMP runtime (libgomp), as many
    threads as torch.get_num_threads()."""
    from mlirfuse.runtime import openmp

    compiled = mlirfuse.compile(lambda x: x * 2)
    before = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            compiled(torch.ones(64, 64))
            assert openmp.last_team() == n
    finally:
        torch.set_num_threads(before)


def test_none_among_results():
    """None is a pytree leaf of its own: it was taken for a tensor leaf, and a result
    holding one (a backward graph's gradient of an input that needs none) failed."""
    def f(x):
        return x + 1, None, {"y": x * 2, "z": None}

    x = torch.randn(3)
    out = mlirfuse.compile(f)(x)
    assert out[1] is None and out[2]["z"] is None
    assert_same(out[0], x + 1)
    assert_same(out[2]["y"], x * 2)
