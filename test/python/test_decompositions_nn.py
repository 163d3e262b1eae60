"""compiler/decompositions_nn.py, decompositions_linalg.py and decompositions_sampling.py
against eager: distances, norms, determinants, pooling, antialiased resizing, 3-D grid
sampling, chunked linear cross-entropy and the allocation ops, each compiled whole
(stats.eager_ops == 0)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import mlirfuse
from conftest import assert_same, extern_calls_here

pytestmark = pytest.mark.usefixtures("no_grad")

# Eager's algorithms, summed in another order: f32 within a few ulp of the terms' size.
TOLERANCES = {torch.float32: dict(rtol=2e-5, atol=2e-5),
              torch.float64: dict(rtol=1e-12, atol=1e-12)}


def _gen():
    return torch.Generator(torch.get_default_device()).manual_seed(0)


def _compiled_matches(fn, *args, dtype=torch.float32):
    compiled = mlirfuse.compile(fn)
    got, expected = compiled(*args), fn(*args)
    torch.testing.assert_close(got, expected, equal_nan=True, **TOLERANCES[dtype])
    assert compiled.stats.eager_ops == 0, compiled.explain()
    return got


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_distances(dtype):
    """cdist's p-norms of differences (and eager's matmul form for p=2 past 25 rows),
    pdist's pairs i < j, with repeated rows (distance 0) and broadcast batches."""
    gen = _gen()
    a = torch.randn(2, 1, 6, 4, generator=gen, dtype=dtype)
    b = torch.randn(3, 7, 4, generator=gen, dtype=dtype)
    b[:, 0] = a[0, 0, 0]  # a distance of exactly 0
    big = torch.randn(30, 4, generator=gen, dtype=dtype)
    rows = torch.randn(8, 5, generator=gen, dtype=dtype).round()
    rows[3] = rows[1]

    def distances(a, b, big, rows):
        return ([torch.cdist(a, b, p) for p in (0.0, 1.0, 1.5, 2.0, math.inf)]
                + [torch.cdist(big, a[0, 0]),
                   torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist")]
                + [F.pdist(rows, p) for p in (0.0, 1.0, 2.0, 0.5, math.inf)])

    _compiled_matches(distances, a, b, big, rows, dtype=dtype)


def test_norms():
    """linalg.norm's vector norms and the matrix norms that need no SVD, with keepdim,
    negative dims, a dtype and empty matrices."""
    gen = _gen()
    x = torch.randn(3, 4, 5, generator=gen)
    v = torch.randn(7, generator=gen)
    v[2] = 0.0
    empty = torch.randn(0, 0)

    def norms(x, v, empty):
        matrix = [torch.linalg.norm(x, ord, dim=dim, keepdim=keep)
                  for ord, dim in (("fro", (0, 2)), (1, (1, 2)), (-1, (2, 1)),
                                   (math.inf, (-1, 0)), (-math.inf, (1, 2)))
                  for keep in (False, True)]
        vector = [torch.linalg.norm(v, ord) for ord in (None, 0, 0.5, 1, 2, 3.5, math.inf,
                                                       -math.inf)]
        return (matrix + vector + [torch.linalg.norm(x), torch.linalg.norm(x, dim=1),
                                   torch.linalg.norm(x, 3, dim=-1, dtype=torch.float64),
                                   torch.linalg.norm(empty, math.inf),
                                   torch.linalg.norm(empty, 1), torch.linalg.norm(empty)])

    _compiled_matches(norms, x, v, empty)


def test_determinants():
    """det, slogdet and logdet by LU with partial pivoting: random batches, a matrix
    whose first pivot is 0 (torch-mlir's unpivoted lowering aborted the process), a
    singular one, a transposed (non-contiguous) one, 1x1 and 0x0 and empty batches;
    _linalg_det's LU factors and pivots are eager's; float64 too."""
    gen = _gen()
    a = torch.randn(4, 5, 5, generator=gen)
    special = torch.stack([
        torch.tensor([[0., 1., 0.], [1., 0., 0.], [0., 0., 2.]]),
        torch.ones(3, 3),  # singular
        torch.tensor([[0., 2., 1.], [3., 0., 0.], [1., 1., 0.]])])
    one = torch.randn(3, 1, 1, generator=gen)
    wide = torch.randn(2, 4, 4, generator=gen, dtype=torch.float64)

    def determinants(a, special, one):
        empty = (torch.zeros(2, 0, 0), torch.zeros(0, 4, 4))
        return ([torch.linalg.det(m) for m in (a, special, one, a.mT) + empty]
                + [torch.linalg.slogdet(m) for m in (special,) + empty]
                + [torch.logdet(special), torch.ops.aten._linalg_det(a.mT)[1:]])

    _compiled_matches(determinants, a, special, one)
    _compiled_matches(lambda m: (torch.linalg.det(m), torch.linalg.slogdet(m)), wide,
                      dtype=torch.float64)


def test_pooling():
    """adaptive_max_pool1d/2d (uneven windows, NaN and ties: eager's first max, last
    NaN) and avg_pool3d with padding, ceil_mode, count_include_pad and a divisor."""
    gen = _gen()
    x = torch.randn(2, 3, 7, 9, generator=gen).round()  # ties
    x[0, 0, 1, 1] = x[0, 0, 2, 2] = float("nan")
    x[1, 2, 3, 3] = -math.inf
    volume = torch.randn(2, 3, 6, 7, 8, generator=gen)

    def pools(x, volume):
        return (F.adaptive_max_pool2d(x, (3, 4), True), F.adaptive_max_pool1d(x[0], 4, True),
                F.avg_pool3d(volume[0], 3, stride=2, padding=1, ceil_mode=True,
                             count_include_pad=False),
                F.avg_pool3d(volume, (2, 3, 4), stride=(1, 2, 2), padding=(1, 1, 2),
                             ceil_mode=True, divisor_override=3),
                )

    _compiled_matches(pools, x, volume)


def test_resampling():
    """Antialiased bilinear resizing (down and up, scale factors, align_corners) and
    grid_sampler_3d in both modes, all three paddings and both corner conventions, with
    grid points outside the volume."""
    gen = _gen()
    image = torch.randn(2, 3, 10, 20, generator=gen)
    volume = torch.randn(2, 3, 5, 6, 7, generator=gen)
    grid = torch.randn(2, 4, 3, 5, 3, generator=gen) * 1.5

    def resample(image, volume, grid):
        return ([F.interpolate(image, size=(3, 5), mode="bilinear", antialias=True),
                 F.interpolate(image, scale_factor=(1.7, 0.45), mode="bilinear",
                               antialias=True),
                 F.interpolate(image, size=(4, 30), mode="bilinear", antialias=True,
                               align_corners=True)]
                + [torch.grid_sampler_3d(volume, grid, mode, padding, corners)
                   for mode, padding, corners in ((0, 0, False), (0, 2, True), (1, 1, False),
                                                  (1, 2, False))])

    _compiled_matches(resample, image, volume, grid)


@pytest.mark.skipif(not hasattr(F, "linear_cross_entropy"),
                    reason="torch before 2.12 has no F.linear_cross_entropy")
def test_chunked_linear_cross_entropy():
    """F.linear_cross_entropy with options (its chunked custom ops): mean with a bias
    and class weights, sum, none with an ignored class, and an unbatched input."""
    from torch.nn.modules.linear_cross_entropy_options import LinearCrossEntropyOptions

    gen = _gen()
    options = LinearCrossEntropyOptions(allow_retain_graph=True, batch_chunk_size=2)
    x = torch.randn(8, 6, generator=gen)
    w = torch.randn(5, 6, generator=gen)
    target = torch.randint(0, 5, (8,), generator=gen)
    bias = torch.randn(5, generator=gen)
    weight = torch.rand(5, generator=gen)

    def losses(x, w, target, bias, weight):
        return (F.linear_cross_entropy(x, w, target, linear_bias=bias, weight=weight,
                                       options=options),
                F.linear_cross_entropy(x, w, target, reduction="sum", options=options),
                F.linear_cross_entropy(x, w, target, reduction="none", ignore_index=1,
                                       options=options),
                F.linear_cross_entropy(x[0], w, target[0], options=options))

    _compiled_matches(losses, x, w, target, bias, weight)


def test_indices_and_allocations():
    """nonzero_static (fewer and more rows than nonzeros, a fill value, 0-d), resize_as_
    to its own size and to fewer elements; empty_permuted and new_empty_strided of
    non-contiguous strides give eager's shapes and dtypes."""
    gen = _gen()
    x = torch.randn(5, 1, 6, generator=gen)
    x[x < 0.3] = 0
    y = torch.randn(4, 5, generator=gen)

    def indices(x, y):
        return (torch.nonzero_static(x, size=3), torch.nonzero_static(x, size=40, fill_value=-7),
                torch.nonzero_static(x[0, 0, 0], size=2), y.clone().resize_as_(y),
                y.clone().resize_as_(x[:2, 0, :]))

    _compiled_matches(indices, x, y)

    def allocations(y):
        return (torch.empty_permuted((2, 3, 4), (2, 0, 1), dtype=torch.float64),
                y.new_empty_strided((3, 2), (1, 3)), y * 2)

    compiled = mlirfuse.compile(allocations)
    for got, expected in zip(compiled(y), allocations(y)):
        assert (got.shape, got.dtype, got.device) == (expected.shape, expected.dtype,
                                                      expected.device)
    torch.testing.assert_close(compiled(y)[2], y * 2)
    assert compiled.stats.eager_ops == 0, compiled.explain()


def test_large_permuted_determinant_runs_torchs_kernel():
    """torch-mlir's determinant eliminates without pivoting and aborted the process on a
    zero pivot; past the decomposition's 16x16 the op never reaches it (hazards.py): it
    runs torch's kernel, an extern call from the compiled code (eager with
    extern_calls=False)."""
    x = torch.eye(20)
    x[[0, 1]] = x[[1, 0]]
    compiled = mlirfuse.compile(torch.linalg.det)
    torch.testing.assert_close(compiled(x), torch.linalg.det(x))
    assert compiled.stats.extern_calls + compiled.stats.eager_ops == 1
    assert compiled.stats.extern_calls == extern_calls_here()
    compiled = mlirfuse.compile(torch.linalg.det, extern_calls=False)
    torch.testing.assert_close(compiled(x), torch.linalg.det(x))
    assert compiled.stats.eager_ops == 1


@pytest.mark.parametrize("offsets,last,padding", [([0, 4], False, None), ([0, 4, 8], True, None),
                                                  ([0, 0, 5], False, 4)],
                         ids=["bags", "include-last-offset", "empty-bag-and-padding"])
def test_embedding_bag_with_per_sample_weights(offsets, last, padding):
    """torch-mlir's embedding_bag ignores per_sample_weights (it ran eager as a hazard):
    the weighted sum of each bag's rows, empty bags and padding_idx as eager's."""
    gen = _gen()
    weight = torch.randn(10, 3, generator=gen)
    indices = torch.tensor([1, 2, 4, 5, 4, 3, 2, 9])
    weights = torch.rand(8, generator=gen)

    def fn(weight, indices, offsets, weights):
        return F.embedding_bag(indices, weight, offsets, mode="sum", per_sample_weights=weights,
                               include_last_offset=last, padding_idx=padding)
    args = (weight, indices, torch.tensor(offsets), weights)
    compiled = mlirfuse.compile(fn)
    torch.testing.assert_close(compiled(*args), fn(*args))
    assert compiled.stats.eager_ops == 0


@pytest.mark.cpu_only("eager CUDA's softmax divides, and so does the compiled code there")
def test_cpu_softmax_multiplies_by_the_sums_reciprocal():
    """Softmax over the last dimension of f32 on the CPU is captured as eager's kernel
    computes it: exp(x - max) times the reciprocal of the row's sum (a division per
    element before: 5-8% of the BENCH softmax); over another dimension it stays whole.
    Both match eager."""
    from mlirfuse.compiler import capture
    aten = torch.ops.aten
    x = torch.randn(6, 40)
    last = capture.capture(lambda t: torch.softmax(t, -1), (x,)).graph_module
    targets = {n.target for n in last.graph.nodes if n.op == "call_function"}
    assert aten.reciprocal.default in targets and aten._softmax.default not in targets
    first = capture.capture(lambda t: torch.softmax(t, 0), (x,)).graph_module
    assert aten._softmax.default in {n.target for n in first.graph.nodes}
    for dim in (-1, 0):
        fn = lambda t, d=dim: torch.softmax(t, d)  # noqa: E731
        assert_same(mlirfuse.compile(fn)(x), fn(x), rtol=1e-6, atol=1e-7)
