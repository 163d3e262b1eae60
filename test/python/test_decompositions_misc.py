"""Bit-level pointwise ops, order statistics and scatters compiled natively through
compiler/decompositions_bits.py, decompositions_misc.py and decompositions_scatter.py,
against eager: bit-exact for the pointwise ops (the sign of zeros included), exact values
and indices for the order statistics and the scatters that do not add (those within a
few ulp: another summation order)."""

from __future__ import annotations

import math

import pytest
import torch

import mlirfuse
from conftest import DEVICE

pytestmark = pytest.mark.usefixtures("no_grad")

NAN, INF = math.nan, math.inf
SPECIALS = [0.0, -0.0, INF, -INF, NAN, 1e-45, -1e-45, 1.1754944e-38, -1.1754942e-38, 3e-39,
            1.0, -1.0, 0.5, 2.0, 0.75, 3.4028235e38, -3.4028235e38, 1e-300, 5e-324,
            2.2250738585072014e-308, 1.7976931348623157e308]
# Where each special value goes in nextafter: up, down, to itself, to zero.
TOWARD = [1.0, -1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, -2.0, 0.0, 0.0, 1.0, INF,
          -INF, 0.0, 0.0, 1.0, 0.0]


def _compiled(fn):
    compiled = mlirfuse.compile(fn)

    def call(*args):
        result = compiled(*args)
        assert compiled.stats.eager_ops == 0, compiled.explain()
        return result
    return call


def _assert_exact(actual, expected):
    """Same dtype, shape and values; NaN where eager has NaN; zeros of the same sign."""
    if isinstance(expected, (tuple, list)):
        for a, e in zip(actual, expected, strict=True):
            _assert_exact(a, e)
        return
    torch.testing.assert_close(actual, expected, rtol=0, atol=0, equal_nan=True)
    if expected.dtype.is_floating_point:
        zero = expected == 0
        assert torch.equal(torch.signbit(actual[zero]), torch.signbit(expected[zero]))


def _pointwise_inputs(dtype):
    gen = torch.Generator(torch.get_default_device()).manual_seed(0)
    spread = torch.randn(3000, generator=gen, dtype=dtype) * torch.exp(
        torch.randn(3000, generator=gen, dtype=dtype) * 20)
    x = torch.cat([torch.tensor(SPECIALS, dtype=dtype), spread,
                   torch.linspace(-10, 10, 2001, dtype=dtype)])
    y = x[torch.randperm(x.numel(), generator=gen, device=x.device)]
    y[:len(TOWARD)] = torch.tensor(TOWARD, dtype=dtype)
    return x, y


def _bit_level(x, y):
    mantissa, exponent = torch.frexp(x)
    return (torch.signbit(x), torch.copysign(x, y), torch.copysign(y, -0.0), mantissa,
            exponent, torch.nextafter(x, y), torch.nextafter(y, x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bit_level_ops_are_exact(dtype):
    """signbit, copysign, frexp and nextafter: torch's decompositions reinterpret bits
    (view(int32)), which torch-mlir does not lower; the arithmetic forms are bit-exact,
    on zeros of both signs, infinities, NaN, subnormals and the largest numbers."""
    x, y = _pointwise_inputs(dtype)
    _assert_exact(_compiled(_bit_level)(x, y), _bit_level(x, y))


def test_bit_level_ops_of_half_and_integer_tensors():
    """frexp and nextafter of float16 (subnormals of its own), copysign of integers (the
    default float dtype, as eager)."""
    x = torch.tensor([0.0, -0.0, 6e-8, -6e-8, 1e-5, 1.0, 65504.0, -65504.0, INF, 3.0],
                     dtype=torch.float16)
    y = torch.tensor([1.0, -1.0, 0.0, 1.0, -1.0, 2.0, INF, 0.0, 0.0, 3.0], dtype=torch.float16)
    i = torch.tensor([3, -4, 0, 7])

    def fn(x, y, i):
        return torch.frexp(x) + (torch.nextafter(x, y), torch.copysign(i, -i))
    _assert_exact(_compiled(fn)(x, y, i), fn(x, y, i))


def _cumulative(x, ints):
    return (torch.cummax(x, 0) + torch.cummin(x, 0) + torch.cummax(x, 1) + torch.cummin(x, -1)
            + torch.cummax(ints, 1) + torch.cummin(ints, 0))


def test_cummax_cummin_ties_and_nan():
    """The running extreme and the index of its last occurrence; from the first NaN on,
    NaN and the last NaN's index, as eager."""
    gen = torch.Generator(torch.get_default_device()).manual_seed(1)
    x = torch.randint(0, 4, (9, 11), generator=gen).to(torch.float32)
    x[2, 3], x[5, 3], x[4, 7], x[:, 9], x[6, :] = NAN, NAN, NAN, NAN, INF
    ints = torch.randint(-3, 3, (9, 11), generator=gen)
    _assert_exact(_compiled(_cumulative)(x, ints), _cumulative(x, ints))


def _medians(x, mask):
    return (torch.median(x, 0) + torch.median(x, 1, keepdim=True) + torch.nanmedian(x, 0)
            + torch.nanmedian(x, -1) + (torch.nanmedian(x), torch.masked.median(x, 1, mask=mask)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_median_nanmedian(dtype):
    """The lower median of each slice and its index; median: NaN and the first NaN's
    index; nanmedian: of the numbers (NaN, index 0 if a slice of up to 3 is all NaN:
    past 3 eager's index is its selection algorithm's)."""
    gen = torch.Generator(torch.get_default_device()).manual_seed(2)
    x = torch.randn(7, 6, generator=gen, dtype=dtype)
    x[1, 2], x[3, 0], x[3, 4], x[6, 5], x[5, :] = NAN, NAN, NAN, -INF, INF
    x[:3, 1] = NAN  # a column all NaN (3 elements)
    mask = torch.rand(7, 6, generator=gen) > 0.3
    got, expected = _compiled(_medians)(x, mask), _medians(x, mask)
    if DEVICE == "cpu":
        _assert_exact(got, expected)
        return
    # CUDA's eager median picks its own index among equal values: the values are exact,
    # and each index holds its value.
    dims = (0, 1, 0, -1)
    for i, dim in enumerate(dims):
        value, index = got[2 * i], got[2 * i + 1]
        _assert_exact(value, expected[2 * i])
        held = torch.gather(x, dim, index if index.dim() == x.dim() else index.unsqueeze(dim))
        torch.testing.assert_close(held.reshape(value.shape), value, rtol=0, atol=0,
                                   equal_nan=True)
    _assert_exact(got[8:], expected[8:])


def test_mode():
    """The most frequent value (the smallest of equally frequent ones) and, on the CPU,
    the index of its last occurrence (eager's stable sort of up to 16 elements; elsewhere
    the index need only hold the value)."""
    gen = torch.Generator(torch.get_default_device()).manual_seed(3)
    x = torch.randint(0, 4, (5, 12, 9), generator=gen).to(torch.float32)
    x[0, 0, 0] = -0.0

    def fn(x):
        return torch.mode(x, 1) + torch.mode(x, -1, keepdim=True) + torch.mode(x.long(), 0)
    got, expected = _compiled(fn)(x), fn(x)
    for i, dim in enumerate((1, 2, 0)):
        value, index = got[2 * i], got[2 * i + 1]
        source = x.long() if i == 2 else x
        if DEVICE == "cpu":
            _assert_exact(value, expected[2 * i])
        else:  # CUDA's eager mode picks its own among equally frequent values
            count = (source == value.reshape(expected[2 * i].shape).unsqueeze(dim)
                     if value.dim() < source.dim() else source == value).sum(dim)
            most = (source.unsqueeze(dim + 1 if dim >= 0 else dim)
                    == source.unsqueeze(dim)).sum(dim).amax(dim)
            assert torch.equal(count.reshape(most.shape), most)
        held = torch.gather(source, dim, index if index.dim() == 3 else index.unsqueeze(dim))
        assert torch.equal(held.squeeze(dim), value.reshape(held.squeeze(dim).shape))
        if DEVICE == "cpu":
            _assert_exact(index, expected[2 * i + 1])


def _search_and_count(sequence, batched, values, unsorted, sorter, data, grid):
    return (torch.searchsorted(sequence, values), torch.searchsorted(sequence, values, right=True),
            torch.searchsorted(batched, values[:4], side="right", out_int32=True),
            torch.searchsorted(unsorted, values, sorter=sorter),
            torch.histc(data, bins=7, min=-3, max=10), torch.histc(data[1:], bins=13),
            torch.histc(grid, bins=10, min=0, max=1))


def test_searchsorted_and_histc():
    """searchsorted is eager's binary search, unrolled (so a NaN in the sequence sends it
    where eager's goes); histc is eager's linear bin selection in the input's dtype."""
    gen = torch.Generator(torch.get_default_device()).manual_seed(4)
    sequence = torch.sort(torch.randint(0, 10, (21,), generator=gen).float())[0]
    sequence[17:] = NAN
    batched = torch.sort(torch.randn(4, 9, generator=gen))[0]
    values = torch.randint(-1, 12, (4, 6), generator=gen).float()
    values[0, 0] = NAN
    unsorted = torch.randn(11, generator=gen)
    data = torch.randn(1000, generator=gen) * 3
    data[0], data[1], data[2] = NAN, 10.0, -3.0
    # The grid is an input: a compiled linspace rounds some points otherwise than eager's.
    args = (sequence, batched, values, unsorted, torch.argsort(unsorted), data,
            torch.linspace(0, 1, 1001))
    _assert_exact(_compiled(_search_and_count)(*args), _search_and_count(*args))


def _scatters(x, index, src, small_index, source, flat_index):
    out = (x.scatter(0, index, src, reduce="add"), x.scatter(0, index, src, reduce="multiply"),
           x.scatter(1, index % 5, 2.5, reduce="multiply"))
    for reduce in ("prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            out += (x.index_reduce(0, small_index, source, reduce, include_self=include_self),)
    return out + (x.put(flat_index, src[0], accumulate=True), x.put(flat_index[:3], src[0, :3]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scatters(dtype):
    """scatter with reduce, index_reduce (with and without self, a NaN in the source) and
    put (accumulating, and negative indices)."""
    gen = torch.Generator(torch.get_default_device()).manual_seed(5)
    x = torch.randn(10, 5, generator=gen, dtype=dtype)
    index = torch.randint(0, 10, (5, 5), generator=gen)
    src = torch.randn(5, 5, generator=gen, dtype=dtype)
    source = torch.randn(6, 5, generator=gen, dtype=dtype)
    source[1, 1] = NAN
    small_index = torch.tensor([0, 2, 2, 9, 0, 2])
    flat_index = torch.tensor([0, -1, 7, 7, 12])
    args = (x, index, src, small_index, source, flat_index)
    torch.testing.assert_close(_compiled(_scatters)(*args), _scatters(*args), equal_nan=True,
                               rtol=4 * torch.finfo(dtype).eps, atol=0)


def _segments(x, src, diagonal, data, lengths, offsets):
    out = (torch.diagonal_scatter(x, diagonal), torch.diagonal_scatter(x, diagonal[1:], 1),
           torch.as_strided_scatter(x, src, (2, 2), (1, 3), 1))
    for reduce in ("max", "min", "sum", "mean", "prod"):
        out += (torch.segment_reduce(data, reduce, lengths=lengths),
                torch.segment_reduce(data, reduce, lengths=lengths, initial=7.0),
                torch.segment_reduce(data, reduce, offsets=offsets, initial=2))
    return out


def test_diagonal_scatter_as_strided_scatter_segment_reduce():
    """diagonal_scatter and as_strided_scatter (no torch-mlir lowering), and segment_reduce
    by lengths and offsets: empty segments (initial, or 0, 1, -inf, inf, NaN for mean) and
    a NaN in a segment, as eager."""
    gen = torch.Generator(torch.get_default_device()).manual_seed(6)
    x = torch.randn(5, 5, generator=gen)
    data = torch.tensor([1.0, NAN, 3.0, 4.0, -2.0, 5.0])
    args = (x, torch.randn(2, 2, generator=gen), torch.randn(5, generator=gen), data,
            torch.tensor([2, 0, 3, 1]), torch.tensor([0, 2, 2, 5, 6]))
    torch.testing.assert_close(_compiled(_segments)(*args), _segments(*args), equal_nan=True,
                               rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_logcumsumexp(dtype):
    """torch-mlir's log(cumsum(exp(x))) overflowed from x = 89 on (it ran eager as a
    hazard): a scan of log-add-exp, with infinities and NaN as eager's."""
    gen = torch.Generator(torch.get_default_device()).manual_seed(4)
    x = torch.randn(4, 37, generator=gen, dtype=dtype) * 50
    x[0, 3], x[1, 5], x[2, 7] = INF, -INF, NAN
    x[1, :3] = -INF
    x[3, 10:] = 100.0

    def fn(x):
        return torch.logcumsumexp(x, 1), torch.logcumsumexp(x, 0)
    rtol = 1e-6 if dtype == torch.float32 else 1e-14
    torch.testing.assert_close(_compiled(fn)(x), fn(x), rtol=rtol, atol=0, equal_nan=True)
