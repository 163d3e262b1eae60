"""Decompositions of pooling and sampling ops that torch-mlir cannot lower
(decompositions.table merges table() after torch-mlir's and torch's own). Each returns
NotImplemented where it does not apply (the op then runs eager, as before).

aten.adaptive_max_pool2d (adaptive_max_pool1d too; torch-mlir lowers it through
    max_pool2d_with_indices, which fails): the windows of adaptive pooling (start
    floor(i*H/h), end ceil((i+1)*H/h)) gathered, padded to the longest window, max
    and flat index as eager's kernel scans them (the first max; a NaN wins, the last).
aten.avg_pool3d (failed in linalg-fold-unit-extent-dims): window sums along each dim
    in turn (k strided slices of the zero-padded tensor), divided by eager's counts
    (padding included or not, ceil_mode) or divisor_override.
aten._upsample_bilinear2d_aa (antialiased bilinear; no lowering): ATen's separable
    triangle-filter weights, rounded as eager's float kernel rounds them, applied as
    [out, in] matrices, width first.
aten.grid_sampler_3d (no lowering): trilinear or nearest sampling by gathers of the
    flattened volume, zeros/border/reflection padding as ATen's source index.
Accuracy against eager (max relative error where |eager| >= 1% of the largest):
adaptive_max_pool2d and grid_sampler_3d 0, avg_pool3d 4e-6 / 7e-15, bilinear aa
2e-6 / 5e-15.
"""

from __future__ import annotations

import math
import struct

import torch

from .decompositions_nn import real_float

aten = torch.ops.aten


def _window_index(size: int, out: int, device):
    """[out, k] positions of adaptive pooling's windows over `size` into `out` (window
    i is [floor(i*size/out), ceil((i+1)*size/out)); k is the longest), and which of
    them lie in their window (the others repeat its start)."""
    k = max(-(-(i + 1) * size // out) - i * size // out for i in range(out))
    i = torch.arange(out, device=device)
    start = i * size // out
    end = -torch.div(-(i + 1) * size, out, rounding_mode="floor")
    pos = start.unsqueeze(1) + torch.arange(k, device=device).unsqueeze(0)
    inside = pos < end.unsqueeze(1)
    return torch.where(inside, pos, start.unsqueeze(1)), inside, k


def adaptive_max_pool2d(x, output_size):
    """aten.adaptive_max_pool2d: (max, flat index ih*W+iw) per window, as eager's kernel
    scans it (row-major; a larger value or any NaN takes over: the first max, or the
    last NaN)."""
    if not real_float(x) or x.dim() not in (3, 4) or 0 in x.shape[-2:]:
        return NotImplemented
    h, w = x.shape[-2:]
    oh, ow = output_size
    lead = list(x.shape[:-2])
    if oh == 0 or ow == 0:
        shape = lead + [oh, ow]
        return x.new_empty(shape), x.new_empty(shape, dtype=torch.int64)
    rows, rows_inside, kh = _window_index(h, oh, x.device)  # [oh, kh]
    cols, cols_inside, kw = _window_index(w, ow, x.device)  # [ow, kw]
    k = kh * kw
    # flat[i, j, a*kw + b] = rows[i, a] * w + cols[j, b]
    flat = (rows[:, None, :, None] * w + cols[None, :, None, :]).reshape(oh, ow, k)
    inside = (rows_inside[:, None, :, None] & cols_inside[None, :, None, :]).reshape(oh, ow, k)
    values = x.reshape(lead + [h * w]).index_select(-1, flat.flatten())
    values = values.reshape(lead + [oh, ow, k])
    nan = torch.isnan(values) & inside
    position = torch.arange(k, device=x.device).expand(oh, ow, k)
    last_nan = torch.argmax(torch.where(nan, position, -1), -1, keepdim=True)
    ordered = torch.where(inside & ~nan, values, torch.full_like(values, -math.inf))
    first_max = torch.argmax(ordered, -1, keepdim=True)
    best = torch.where(nan.any(-1, keepdim=True), last_nan, first_max)
    out = values.gather(-1, best).squeeze(-1)
    index = flat.expand(lead + [oh, ow, k]).gather(-1, best).squeeze(-1)
    return out, index


def _pooling_output_size(n: int, k: int, pad: int, stride: int, ceil_mode: bool) -> int:
    """pooling_output_shape of ATen (dilation 1): a window starting in the right
    padding is dropped."""
    out = (n + 2 * pad - k + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= n + pad:
        out -= 1
    return out


def _window_sums(x, dim: int, k: int, stride: int, pad: int, out: int):
    """Sums over `dim` of the `out` windows of `k` elements at `stride` from -pad
    (zeros outside x): k strided slices of x padded with zeros, added."""
    n = x.shape[dim]
    right = max((out - 1) * stride + k - pad - n, 0)
    shape = list(x.shape)
    parts = [x]
    if pad:
        shape[dim] = pad
        parts.insert(0, x.new_zeros(shape))
    if right:
        shape[dim] = right
        parts.append(x.new_zeros(shape))
    padded = torch.cat(parts, dim) if len(parts) > 1 else x
    total = None
    for offset in range(k):
        part = padded.narrow(dim, offset, (out - 1) * stride + 1)
        if stride > 1:
            part = part[(slice(None),) * (dim % x.dim()) + (slice(None, None, stride),)]
        total = part if total is None else total + part
    return total


def _window_counts(n: int, k: int, stride: int, pad: int, out: int, include_pad: bool,
                   like):
    """[out] divisors of avg_pool's windows over one dim, as eager counts them: the
    window clipped to the padded extent (include_pad) or to the input."""
    start = torch.arange(out, device=like.device) * stride - pad
    end = torch.clamp_max(start + k, n + pad)
    if not include_pad:
        start, end = torch.clamp_min(start, 0), torch.clamp_max(end, n)
    return torch.clamp_min(end - start, 0).to(like.dtype)


_AVG_POOL_MAX_WINDOW = 64  # slices added per dimension; longer windows stay eager


def avg_pool3d(x, kernel_size, stride=(), padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """aten.avg_pool3d: window sums along each of the three dims in turn (the sum over
    a box is separable), divided by the box's count (a product of per-dim counts) or
    divisor_override; a window wholly in the padding is 0, as eager."""
    if not real_float(x) or x.dim() not in (4, 5) or x.numel() == 0:
        return NotImplemented
    def three(v):
        v = [v] if isinstance(v, int) else list(v)
        return v * 3 if len(v) == 1 else v
    kernel = three(kernel_size)
    strides = three(stride) if stride not in (None, [], ()) else kernel
    pads = three(padding)
    if max(kernel) > _AVG_POOL_MAX_WINDOW:
        return NotImplemented
    dtype = x.dtype
    y = x.float() if dtype in (torch.float16, torch.bfloat16) else x
    divisor = None
    for i in range(3):
        dim = x.dim() - 3 + i
        n = x.shape[dim]
        out = _pooling_output_size(n, kernel[i], pads[i], strides[i], ceil_mode)
        y = _window_sums(y, dim, kernel[i], strides[i], pads[i], out)
        counts = _window_counts(n, kernel[i], strides[i], pads[i], out, count_include_pad, y)
        counts = counts.reshape([out] + [1] * (2 - i))
        divisor = counts if divisor is None else divisor * counts
    if divisor_override:
        return (y / divisor_override).to(dtype)
    # Clipped to the input, a window in the padding counts 0 elements (its sum is 0).
    divisor = torch.where(divisor > 0, divisor, torch.ones_like(divisor))
    return (y / divisor).to(dtype)


def _aa_scale(n: int, out: int, align_corners: bool, scale):
    """area_pixel_compute_scale of ATen: input pixels per output pixel."""
    if align_corners:
        return (n - 1) / (out - 1) if out > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else n / out


def _rounded(value: float, dtype) -> float:
    """A Python float as `dtype` holds it (eager's scalar_t: float for float32)."""
    if dtype == torch.float64:
        return value
    return struct.unpack("f", struct.pack("f", value))[0]


def _aa_weights(n: int, out: int, scale: float, like):
    """[out, n] weights of antialiased bilinear interpolation over one dim, as
    ATen's _compute_indices_min_size_weights_aa (PIL's): a triangle filter widened
    to `scale` input pixels when shrinking, over the window [xmin, xmin + xsize)
    around each center, normalized to sum 1. Rounded as eager rounds them: its
    scalar_t (float for float32) with some steps in double."""
    dtype, device = like.dtype, like.device
    scale = _rounded(scale, dtype)
    support = scale if scale >= 1.0 else 1.0
    invscale = _rounded(1.0 / scale, dtype) if scale >= 1.0 else 1.0
    max_size = math.ceil(support) * 2 + 1
    i = torch.arange(out, device=device, dtype=torch.float64)
    center = ((i + 0.5) * scale).to(dtype).unsqueeze(1)  # [out, 1]
    xmin = torch.clamp_min(torch.trunc((center - support).double() + 0.5), 0)
    xmax = torch.clamp_max(torch.trunc((center + support).double() + 0.5), n)
    xmax = torch.minimum(xmax, xmin + max_size)  # as ATen clips xsize
    pos = torch.arange(n, device=device, dtype=dtype).unsqueeze(0)  # [1, n]
    distance = (((pos - center).double() + 0.5) * invscale).to(dtype)
    tri = torch.clamp_min(1.0 - distance.abs(), 0.0)
    pos = pos.double()
    w = torch.where((pos >= xmin) & (pos < xmax), tri, torch.zeros_like(tri))
    total = w.sum(1, keepdim=True)
    return torch.where(total != 0, w / torch.where(total != 0, total, 1.0), w)


def upsample_bilinear2d_aa(x, output_size, align_corners, scales_h=None, scales_w=None):
    """aten._upsample_bilinear2d_aa (F.interpolate bilinear, antialias=True; no
    lowering): separable, as ATen: the width resampled first, then the height (a dim
    of unchanged size is left), each a product with its [out, n] weight matrix (zero
    outside each window)."""
    if not real_float(x) or x.dim() != 4 or x.numel() == 0:
        return NotImplemented
    h, w = x.shape[-2:]
    oh, ow = output_size
    if 0 in (oh, ow):
        return NotImplemented
    dtype = x.dtype
    y = x.float() if dtype in (torch.float16, torch.bfloat16) else x
    if ow != w:
        weights = _aa_weights(w, ow, _aa_scale(w, ow, align_corners, scales_w), y)
        y = torch.matmul(y, weights.t())
    if oh != h:
        weights = _aa_weights(h, oh, _aa_scale(h, oh, align_corners, scales_h), y)
        y = torch.matmul(weights, y)
    return y.to(dtype) if y.dtype != dtype else y.clone()


def _grid_source_index(coord, size: int, padding_mode: int, align_corners: bool):
    """grid_sampler_compute_source_index of ATen: [-1, 1] to pixel coordinates,
    then clipped (border) or reflected and clipped (reflection)."""
    if align_corners:
        coord = (coord + 1) / 2 * (size - 1)
    else:
        coord = ((coord + 1) * size - 1) / 2
    if padding_mode == 0:
        return coord
    if padding_mode == 2:
        low, high = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        coord = _reflect(coord, low, high)
    return torch.clamp(coord, 0, size - 1)


def _reflect(coord, twice_low: int, twice_high: int):
    """reflect_coordinates of ATen: into [low, high] by reflections at the bounds."""
    if twice_low == twice_high:
        return torch.zeros_like(coord)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    coord = (coord - low).abs()
    extra = torch.fmod(coord, torch.full_like(coord, span))  # fmod.Scalar does not lower
    odd = torch.remainder(torch.floor(coord / span), 2) != 0
    return torch.where(odd, span - extra + low, extra + low)


def grid_sampler_3d(x, grid, interpolation_mode, padding_mode, align_corners):
    """aten.grid_sampler_3d (no lowering): trilinear (mode 0) or nearest (mode 1)
    sampling of [N, C, D, H, W] at grid [N, oD, oH, oW, 3] (x, y, z), by gathers of
    the flattened volume; corners outside it count 0, as eager's kernel adds them
    (trilinear: the eight corners in its order)."""
    if not real_float(x, grid) or x.dim() != 5 or interpolation_mode not in (0, 1):
        return NotImplemented
    n, c, d, h, w = x.shape
    od, oh, ow = grid.shape[1:4]
    if x.numel() == 0 or grid.numel() == 0:
        return NotImplemented
    sizes = (w, h, d)
    coords = [_grid_source_index(grid[..., k], sizes[k], padding_mode, align_corners)
              .reshape(n, 1, -1) for k in range(3)]  # ix, iy, iz: [N, 1, oD*oH*oW]
    volume = x.reshape(n, c, d * h * w)

    def corner(ixyz):
        inside = None
        for k, i in enumerate(ixyz):
            ok = (i >= 0) & (i <= sizes[k] - 1)
            inside = ok if inside is None else inside & ok
        ix, iy, iz = (torch.where(inside, i, torch.zeros_like(i)).to(torch.int64)
                      for i in ixyz)
        flat = (iz * h + iy) * w + ix
        values = volume.gather(2, flat.expand(n, c, flat.shape[-1]))
        return torch.where(inside, values, torch.zeros_like(values))

    if interpolation_mode == 1:
        out = corner([torch.round(i) for i in coords])
    else:
        ix, iy, iz = coords
        lo = [torch.floor(i) for i in (ix, iy, iz)]
        hi = [l + 1 for l in lo]
        out = None
        # eager's order: t(op)/b(ottom) in z, n(orth)/s(outh) in y, w(est)/e(ast) in x.
        for bz in (0, 1):
            for by in (0, 1):
                for bx in (0, 1):
                    wx = (ix - lo[0]) if bx else (hi[0] - ix)
                    wy = (iy - lo[1]) if by else (hi[1] - iy)
                    wz = (iz - lo[2]) if bz else (hi[2] - iz)
                    at = [hi[0] if bx else lo[0], hi[1] if by else lo[1],
                          hi[2] if bz else lo[2]]
                    term = corner(at) * (wx * wy * wz)
                    out = term if out is None else out + term
    return out.reshape(n, c, od, oh, ow)


def table() -> dict:
    """op overload -> decomposition (returns NotImplemented where it does not apply)."""
    return {
        aten.adaptive_max_pool2d.default: adaptive_max_pool2d,
        aten.avg_pool3d.default: avg_pool3d,
        aten._upsample_bilinear2d_aa.default: upsample_bilinear2d_aa,
        aten.grid_sampler_3d.default: grid_sampler_3d,
    }
