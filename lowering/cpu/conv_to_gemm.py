"""mlirfuse-conv-to-gemm: 2-D convolutions as an image-to-column copy and a matmul.

Matches: `linalg.conv_2d_nchw_fchw` (what torch-mlir makes of `F.conv2d` with groups=1,
any strides and dilations; padding is a tensor.pad before it) and
`linalg.conv_2d_nhwc_hwcf`, on tensors.
Rewrites: each into a `linalg.generic` that gathers every output pixel's receptive field
into a column ([n, c*kh*kw, oh*ow]: im2col) and a contraction of the filters
[f, c*kh*kw] with it (transform dialect: `convert_conv2d_to_img2col`). The contraction
is then a BLAS call (mlirfuse-library-gemm: one per image, MKL), where the direct
convolution was a 7-deep scalar loop nest; the gather is a parallel kernel.
Leaves alone: grouped and depthwise convolutions, 1-D and 3-D ones (generated code), and
convolutions with a symbolic size (a batch or image dimension `?`): upstream's im2col
rewrites static shapes only (the transform fails, the op is unchanged: a direct
convolution).

Before:
  %y = linalg.conv_2d_nchw_fchw ins(%x, %w : tensor<8x64x30x30xf32>, tensor<128x64x3x3xf32>)
                                outs(%acc : tensor<8x128x28x28xf32>)
After:
  %col = linalg.generic {(n, k, p) -> x[n, k floordiv 9, ...]} -> tensor<8x576x784xf32>
  %y = linalg.generic {(n, f, p, k): acc[n, f, p] += w[f, k] * col[n, k, p]}
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir

from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass
from ...compiler.passes.tile_kernels import TARGET_ATTR, transform_op

OPS = ("linalg.conv_2d_nchw_fchw", "linalg.conv_2d_nhwc_hwcf")

_IMG2COL = """
    %conv = transform.structured.match attributes {{{attr}}} in %fn
        : (!transform.any_op) -> !transform.any_op
    %col, %gemm = transform.structured.convert_conv2d_to_img2col %conv
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)"""


@dataclasses.dataclass
class ConvToGemm(Pass):
    """Rewrites 2-D convolutions into an im2col gather and a matmul."""

    ARGUMENT = "mlirfuse-conv-to-gemm"

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module):
            for op in [o for o in st.walk(fn) if o.name in OPS]:
                # One at a time; a convolution the transform rejects stays as it was.
                transform_op(op, _IMG2COL.format(attr=TARGET_ATTR))
