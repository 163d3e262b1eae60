"""Numerics against eager for the 27 modules of DESIGN.md item 7 and more functions.

Each case is compiled without example inputs, called twice (the second call
must be a cache hit of the same specialization), and compared with eager on
the same module and arguments: same result structure, dtype, shape, device,
values within the dtype's tolerance. Compiled code must not write into its inputs.
"""

from __future__ import annotations

import pytest
import torch

import mlirfuse
from mlirfuse.compiler import api
import models
from conftest import assert_same


pytestmark = pytest.mark.usefixtures("no_grad")  # compiled code runs, not the eager fallback

CASES = {**models.IMPORT_SPOT_CHECK, **models.MORE}


def _clone(tree):
    return torch.utils._pytree.tree_map(
        lambda x: x.clone() if isinstance(x, torch.Tensor) else x, tree)


def check_against_eager(fn, args):
    """Compiles `fn`, runs it twice on `args`, compares with eager; returns the compiled fn."""
    before = _clone(args)
    compiled = mlirfuse.compile(fn)
    out = compiled(*args)
    assert compiled.stats.compilations == 1 and compiled.stats.fallbacks == 0
    assert_same(args, before, path="arguments after the compiled call")
    expected = fn(*args)
    assert_same(out, expected)
    again = compiled(*args)
    assert compiled.stats.compilations == 1 and compiled.stats.cache_hits == 1
    assert_same(again, expected)
    return compiled


@pytest.mark.parametrize("name", list(models.IMPORT_SPOT_CHECK))
def test_import_spot_check(name):
    fn, args = models.IMPORT_SPOT_CHECK[name]()
    check_against_eager(fn, args)


@pytest.mark.parametrize("name", list(models.MORE))
def test_more_functions(name):
    fn, args = models.MORE[name]()
    check_against_eager(fn, args)


@pytest.mark.parametrize("name", ["cumsum", "topk", "sort", "scatter", "scatter_add"])
def test_tm_tensor_ops_are_exercised(name):
    """These functions lower through the tm_tensor dialect (scan, topk, sort, scatter)."""
    fn, args = CASES[name]()
    compiled = mlirfuse.compile(fn)
    assert_same(compiled(*args), fn(*args))
    assert "tm_tensor." in compiled.ir("linalg")


@pytest.mark.parametrize("dynamic", [False, None])
def test_mlp_dynamic_batch(dynamic):
    """Two batch sizes: the second compiles a specialization of its own (dynamic=False)
    or code for every batch size (the default: automatic dynamic); calling either size
    again reuses what was compiled, and under automatic dynamic so does a third size."""
    m, (x3,) = models.mlp_dynamic_batch()
    x7 = models.randn(7, 8, seed=2)
    compiled = mlirfuse.compile(m, dynamic=dynamic)
    assert_same(compiled(x3), m(x3))
    assert_same(compiled(x7), m(x7))
    assert compiled.stats.compilations == 2
    assert compiled.stats.guard_failures == 1
    assert_same(compiled(x3), m(x3))
    assert_same(compiled(x7), m(x7))
    assert compiled.stats.compilations == 2
    assert compiled.stats.cache_hits == 2 and compiled.stats.fallbacks == 0
    # The last call's specialization (code for symbolic sizes on CUDA tensors only where
    # MLIRFUSE_CUDA_DYNAMIC is on).
    symbolic = dynamic is None and (torch.get_default_device().type == "cpu" or api.CUDA_DYNAMIC)
    assert ("tensor<?x8xf32>" if symbolic else "tensor<7x8xf32>") in compiled.ir("linalg")
    if symbolic:
        x11 = models.randn(11, 8, seed=3)
        assert_same(compiled(x11), m(x11))
        assert compiled.stats.compilations == 2


def test_transformer_block_batch_first_false():
    """nn.TransformerEncoderLayer in eval, sequence-first, with a key padding mask."""
    layer = models._init(torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0)).eval()
    x = models.randn(5, 2, 16)
    mask = torch.tensor([[False, False, False, True, True], [False] * 5])

    def f(x, mask):
        return layer(x, src_key_padding_mask=mask)

    check_against_eager(f, (x, mask))


def test_cuda_fused_lstm_cell_kernel_decomposes():
    """nn.LSTMCell on CUDA traces to aten._thnn_fused_lstm_cell, a CUDA kernel that
    torch-mlir does not lower (here called directly: export needs only its meta
    function); it becomes the cell's pointwise math."""
    def f(ig, hg, cx, ib, hb):
        hy, cy, _ = torch.ops.aten._thnn_fused_lstm_cell(ig, hg, cx, ib, hb)
        return hy, cy

    ig, hg, cx = models.randn(3, 32, seed=1), models.randn(3, 32, seed=2), models.randn(3, 8)
    ib, hb = models.randn(32, seed=3), models.randn(32, seed=4)
    hy, cy = mlirfuse.compile(f)(ig, hg, cx, ib, hb)
    i, f_, g, o = (ig + hg + ib + hb).chunk(4, 1)
    expected_cy = torch.sigmoid(f_) * cx + torch.sigmoid(i) * torch.tanh(g)
    torch.testing.assert_close(cy, expected_cy)
    torch.testing.assert_close(hy, torch.sigmoid(o) * torch.tanh(expected_cy))


# Regression: one sequential f32 accumulator over 2**20 elements was 2.3e-5 off;
# mlirfuse-split-reductions makes it blocked partial sums.
def test_large_reduction_accuracy():
    x = torch.rand(1 << 20, generator=torch.Generator(torch.get_default_device()).manual_seed(0))

    def f(x):
        return x.sum(), x.reshape(16, -1).mean(dim=1)

    check_against_eager(f, (x,))
