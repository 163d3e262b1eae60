"""Attention on CUDA runs torch's flash or memory-efficient kernel from the compiled code.

aten.scaled_dot_product_attention is captured whole where the code is for CUDA
(compiler/library_kernels.py) and becomes an extern call; the projections, masks and
everything around it stay mlirfuse's kernels. Where the extern call cannot take it, or the
code is for the CPU, it is captured in its math form as before. The first test needs no
GPU; the others skip without one.
"""

import pytest
import torch
import torch.nn.functional as F

import mlirfuse
from conftest import assert_same
from mlirfuse.compiler import capture as capture_mod
from mlirfuse.compiler import library_kernels

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (none on this machine)")

SDPA = torch.ops.aten.scaled_dot_product_attention.default


def attention_block(x, w_qkv, w_out):
    """A causal self-attention layer as GPT-2 writes it: one projection, heads, SDPA."""
    b, s, e = x.shape
    q, k, v = (x @ w_qkv).split(e, dim=-1)
    heads = [t.view(b, s, 4, e // 4).transpose(1, 2) for t in (q, k, v)]
    y = F.scaled_dot_product_attention(*heads, is_causal=True)
    return y.transpose(1, 2).reshape(b, s, e) @ w_out


def _targets(gm):
    return [n.target for n in gm.graph.nodes if n.op == "call_function"]


def test_attention_kept_whole_only_where_a_library_kernel_takes_it():
    """Captured with `keep`, the op stays one node; on the CPU no library kernel is
    preferred for it, so mark_kept says to capture again (then it is decomposed)."""
    x, w_qkv, w_out = (torch.randn(*s, device="cpu") for s in ((2, 8, 16), (16, 48), (16, 16)))
    kept = capture_mod.capture(attention_block, (x, w_qkv, w_out),
                               keep=library_kernels.KEPT_ON_CUDA).graph_module
    assert SDPA in _targets(kept)
    assert not library_kernels.mark_kept(kept, torch.device("cpu"),
                                         library_kernels.KEPT_ON_CUDA)
    assert SDPA not in _targets(capture_mod.capture(attention_block, (x, w_qkv, w_out))
                                .graph_module)
    compiled = mlirfuse.compile(attention_block)
    assert_same(compiled(x, w_qkv, w_out), attention_block(x, w_qkv, w_out))
    assert compiled.stats.extern_calls == 0 and compiled.stats.eager_ops == 0


def _cuda(*shape):
    return torch.randn(*shape, device="cuda")


@needs_cuda
def test_cuda_attention_is_an_extern_call(monkeypatch):
    """On CUDA the attention layer compiles whole with SDPA as its one extern call, and
    matches eager (TF32 off on both sides)."""
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    x, w_qkv, w_out = _cuda(2, 64, 32), _cuda(32, 96), _cuda(32, 32)
    compiled = mlirfuse.compile(attention_block)
    assert_same(compiled(x, w_qkv, w_out), attention_block(x, w_qkv, w_out),
                rtol=1e-4, atol=1e-4)
    assert compiled.stats.extern_calls == 1 and compiled.stats.eager_ops == 0
    assert [e.op for e in compiled._last.externs] == ["aten.scaled_dot_product_attention.default"]


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_attention_masks_and_grouped_heads_match_eager(dtype):
    """A float mask, a boolean mask, grouped-query heads (enable_gqa) and a scale: each
    an extern call, each eager's result."""
    q, k, v = (torch.randn(2, 8, 40, 16, device="cuda", dtype=dtype) for _ in range(3))
    kv = torch.randn(2, 2, 40, 16, device="cuda", dtype=dtype)
    mask = torch.randn(40, 40, device="cuda", dtype=dtype)
    keep = torch.rand(40, 40, device="cuda") > 0.3
    cases = [
        (lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), (q, k, v, mask)),
        (lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.3),
         (q, k, v, keep)),
        (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                        enable_gqa=True) * 2, (q, kv, kv)),
    ]
    tolerance = 1e-2 if dtype == torch.bfloat16 else 1e-4
    for fn, args in cases:
        compiled = mlirfuse.compile(fn)
        assert_same(compiled(*args), fn(*args), rtol=tolerance, atol=tolerance)
        assert compiled.stats.extern_calls == 1 and compiled.stats.eager_ops == 0


@needs_cuda
def test_cuda_attention_over_symbolic_lengths_compiles_twice(monkeypatch):
    """Over sequence lengths 64, 100, 37, 256: the second length compiles code for every
    length with the extern call over symbolic sizes (its result allocated per call)."""
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    w_qkv, w_out = _cuda(32, 96), _cuda(32, 32)
    compiled = mlirfuse.compile(attention_block)
    for s in (64, 100, 37, 256):
        x = _cuda(2, s, 32)
        assert_same(compiled(x, w_qkv, w_out), attention_block(x, w_qkv, w_out),
                    rtol=1e-4, atol=1e-4)
    assert compiled.stats.compilations == 2
    assert compiled._last.dynamic_dims is not None
    assert compiled.stats.extern_calls == 1 and compiled.stats.eager_ops == 0
