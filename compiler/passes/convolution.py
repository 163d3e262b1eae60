"""A 2-D convolution recognized in a linalg.generic, and whether a library can run it.

Not a pass: mlirfuse-form-fusion-groups{library-convolutions} keeps the convolutions a
library takes out of kernels, and the CUDA target's mlirfuse-library-conv and
mlirfuse-conv-bias-epilogue rewrite them. A generic computes a convolution as
`linalg.conv_2d_nchw_fchw` does once generalized (any strides and dilations; the batch
and channel loops may be gone, folded as unit dimensions):

  y[n, f, oh, ow] += x[n, c, oh * sh + kh * dh, ow * sw + kw * dw] * w[f, c, kh, kw]
"""

from __future__ import annotations

import os

import dataclasses

from torch_mlir import ir

from . import structured as st

# The element types convolution libraries (cuDNN) take.
ELEMENT_TYPES = ("f32", "f16", "bf16", "f64")


def _term(expr) -> tuple[int, int] | None:
    """(loop, coefficient) of `d` or `d * c`."""
    if isinstance(expr, ir.AffineDimExpr):
        return expr.position, 1
    if isinstance(expr, ir.AffineMulExpr) and isinstance(expr.lhs, ir.AffineDimExpr) \
            and isinstance(expr.rhs, ir.AffineConstantExpr):
        return expr.lhs.position, expr.rhs.value
    return None


def _window(expr) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The two terms of `o * s + k * d` (in either order), or None."""
    if not isinstance(expr, ir.AffineAddExpr):
        return None
    lhs, rhs = _term(expr.lhs), _term(expr.rhs)
    return None if lhs is None or rhs is None else (lhs, rhs)


@dataclasses.dataclass
class Conv:
    """A generic's convolution loops: n (None when folded), f, c (None when folded), the
    output's (oh, ow), the filter's (kh, kw), strides (sh, sw) and dilations (dh, dw)."""

    n: int | None
    f: int
    c: int | None
    out: tuple[int, int]
    window: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]


def match(op: ir.Operation) -> Conv | None:
    """The convolution `op` computes (NCHW input, FCHW filter, NFHW output), or None."""
    if op.name != "linalg.generic" or len(op.operands) != 3 or not st.is_mul_add(op):
        return None
    xmap, wmap, ymap = st.indexing_maps(op)
    ydims, wdims = st.dim_positions(ymap), st.dim_positions(wmap)
    if None in ydims or None in wdims or len(ydims) not in (3, 4) or len(wdims) not in (3, 4):
        return None
    n = ydims[0] if len(ydims) == 4 else None
    f, oh, ow = ydims[-3:]
    if wdims[0] != f:
        return None
    c = wdims[1] if len(wdims) == 4 else None
    kh, kw = wdims[-2:]
    xres = list(xmap.results)
    leading = [d for d in (n, c) if d is not None]
    if len(xres) != len(leading) + 2 or st.dim_positions(xmap)[:len(leading)] != leading:
        return None
    strides, dilations = [], []
    for expr, o, k in zip(xres[-2:], (oh, ow), (kh, kw)):
        terms = _window(expr)
        if terms is None:
            return None
        coeffs = dict(terms)
        if set(coeffs) != {o, k}:
            return None
        strides.append(coeffs[o])
        dilations.append(coeffs[k])
    loops = {d for d in (n, f, c, oh, ow, kh, kw) if d is not None}
    if len(loops) != st.loop_count(op):
        return None
    return Conv(n, f, c, (oh, ow), (kh, kw), tuple(strides), tuple(dilations))


# cuDNN calls over a symbolic batch (the batch read from the buffer per call; the
# runtime's plan table keys on it, reusing its oldest entry past 256 shapes): checked on
# the H200 (session 30: the CUDA suites, 300 batch sizes against eager). On by default;
# MLIRFUSE_CUDNN_SYMBOLIC_BATCH=0 turns it off, and then such a convolution's sizes
# specialize.
SYMBOLIC_BATCH = os.environ.get("MLIRFUSE_CUDNN_SYMBOLIC_BATCH", "1") != "0"


def library_needs_static_sizes(op: ir.Operation) -> bool:
    """Whether `op` is a convolution cuDNN would take but for its symbolic sizes (an image
    size that varies; a batch too unless SYMBOLIC_BATCH): mlirfuse_conv2d's calls are
    planned for static ones, and the generated direct convolution would be 130x eager's
    time."""
    return _library_types(op) and not library_takes(op)


def _library_types(op: ir.Operation) -> bool:
    """A convolution on ranked operands of one element type cuDNN takes."""
    if match(op) is None:
        return False
    types = [v.type for v in op.operands]
    if not all(isinstance(t, (ir.RankedTensorType, ir.MemRefType)) for t in types):
        return False
    elements = {str(ir.ShapedType(t).element_type) for t in types}
    return len(elements) == 1 and elements.pop() in ELEMENT_TYPES


def library_takes(op: ir.Operation) -> bool:
    """Whether a convolution library (cuDNN) can run `op` (tensors or buffers): a
    convolution whose operands all have one element type cuDNN takes, of static shape but
    for the batch where SYMBOLIC_BATCH (the call reads it at run time)."""
    if not _library_types(op):
        return False
    conv = match(op)
    x, w, y = (ir.ShapedType(v.type) for v in op.operands)
    if not w.has_static_shape:
        return False
    dynamic = ir.ShapedType.get_dynamic_size()
    for t in (x, y):
        symbolic = [d for d, n in enumerate(t.shape) if n == dynamic]
        if symbolic and (not SYMBOLIC_BATCH or conv.n is None or symbolic != [0]):
            return False
    return True
