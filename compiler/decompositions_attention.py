"""mlirfuse's own decompositions of softmax and attention (decompositions.table() registers
them beside own_decompositions.py's): the CPU softmax over the last dimension as eager's
kernel computes it, and scaled_dot_product_attention (and the CPU flash kernel's op) as
the math backend computes it, over symbolic sizes. Each returns NotImplemented where it
does not apply.
"""

from __future__ import annotations

import math

import torch


def _row_max(x, dim):
    """The max softmax subtracts, as this torch's own decomposition takes it: newer ones
    through _softmax_unbacked_safe_amax (sizes that may be 0), older ones (the H200's
    torch, which lacks it) amax."""
    try:
        from torch._decomp.decompositions import _softmax_unbacked_safe_amax
    except ImportError:
        return torch.amax(x, dim, keepdim=True)
    return _softmax_unbacked_safe_amax(x, dim)


def softmax_lastdim_cpu(x, dim, half_to_float):
    """aten._softmax over the last dimension of an f32 or f64 tensor on the CPU as eager's
    kernel computes it (ATen's _vec_softmax_lastdim): exp(x - max) times the reciprocal of
    its sum, not divided by the sum per element (torch-mlir's lowering). Division is the
    slow instruction of a vector loop (4096 x 1024 f32: softmax was 1.5-1.8x the copy's
    time); the reciprocal is once per row. Elsewhere (other dimensions, half types, CUDA,
    whose kernel divides) NotImplemented: the op lowers as before."""
    if x.device.type != "cpu" or half_to_float or x.dtype not in (torch.float32, torch.float64) \
            or x.dim() == 0 or dim not in (-1, x.dim() - 1):
        return NotImplemented
    x = x.contiguous()
    unnormalized = torch.exp(x - _row_max(x, dim))
    return unnormalized * torch.reciprocal(torch.sum(unnormalized, dim, keepdim=True))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, *, enable_gqa=False):
    """aten.scaled_dot_product_attention without dropout, on symbolic sizes: the math
    backend's computation (scores, masks, a softmax whose rows of only masked scores are
    0, the weighted sum of the values), in f32 for half inputs. torch's decomposition
    (torch-mlir's table holds it) is C++ that reads the sizes as numbers: a symbolic
    sequence length became the example's, so every causal attention (nanoGPT's, a 1-layer
    GPT-2 block) specialized each length."""
    if dropout_p != 0.0:  # the math backend draws the dropout mask: torch's, then
        return NotImplemented
    output, _ = _attention(query, key, value, attn_mask, is_causal, scale)
    return output.to(query.dtype)


def flash_attention_for_cpu(query, key, value, dropout_p=0.0, is_causal=False, *,
                            attn_mask=None, scale=None):
    """aten._scaled_dot_product_flash_attention_for_cpu, as the kernel computes it (see
    scaled_dot_product_attention); the second result is the log-sum-exp of each row of
    scores [N, H, L], which only a backward reads. torch's decomposition returned the
    attention weights [N, H, L, S] there (the gradients of every layer below a GPT-2
    attention were wrong) and specialized symbolic sizes. The output's layout is the
    kernel's ([N, L, H, E] in memory)."""
    if dropout_p != 0.0:
        return NotImplemented
    output, scores = _attention(query, key, value, attn_mask, is_causal, scale)
    output = output.to(query.dtype).permute(2, 0, 1, 3).contiguous().permute(1, 2, 0, 3)
    return output, torch.logsumexp(scores, dim=-1)


def _attention(query, key, value, attn_mask, is_causal, scale):
    """(softmax(scores) @ value, scores) in f32 for half inputs; key and value heads
    repeated for grouped-query attention."""
    acc = torch.float32 if query.dtype in (torch.float16, torch.bfloat16) else query.dtype
    q, k, v = query.to(acc), key.to(acc), value.to(acc)
    if q.dim() == 4 and q.shape[1] != k.shape[1]:  # grouped-query: a key head per group
        k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
        v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale
    if is_causal:
        keep = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool,
                          device=q.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask.to(acc)
    weights = torch.softmax(scores, dim=-1)
    if is_causal or attn_mask is not None:  # rows of only masked scores: 0, not NaN
        weights = torch.where((scores == float("-inf")).all(-1, keepdim=True),
                              torch.zeros((), dtype=acc, device=q.device), weights)
    return torch.matmul(weights, v), scores
