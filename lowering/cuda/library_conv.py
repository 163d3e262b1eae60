"""mlirfuse-library-conv: 2-D convolutions become calls of cuDNN (the CUDA target).

Matches: linalg.generic ops at the top level of the entry function (`mlirfuse.abi`) on
buffers, after mlirfuse-lower-guards (inside the guard's `scf.if` too), that compute a
2-D convolution as `linalg.conv_2d_nchw_fchw` does once generalized (any strides and
dilations; the batch loop may be gone, folded as a unit dimension):

  y[n, f, oh, ow] += x[n, c, oh * sh + kh * dh, ow * sw + kw * dw] * w[f, c, kh, kw]

with static shapes (but for the batch, read from the buffer per call) and strides, a
contiguous filter, and one element type cuDNN takes (f32, f16, bf16, f64). mlirfuse-form-fusion-groups{library-convolutions} left them
untiled, outside every kernel. The padding is the buffer the input was copied into
(torch-mlir's tensor.pad), so cuDNN sees none.
Rewrites: each into

  func.call @mlirfuse_conv2d(dtype, x: ptr, offset, n, c, h, w, strides..., w: ptr, offset,
                             f, kh, kw, y: ptr, offset, oh, ow, strides..., sh, sw, dh, dw,
                             workspace: ptr, bytes, accumulate)

of the CUDA runtime (runtime/cuda: cudnnConvolutionForward on the current stream,
TF32 as torch.backends.cudnn.allow_tf32 says, like eager). A zero fill of y right
before goes (the call overwrites); otherwise the call adds to y (the bias torch-mlir
broadcast into it). All convolutions of a function share one WORKSPACE_BYTES scratch
buffer (a memref.alloc: mlirfuse-workspace makes it part of the call's workspace).

Before:
  linalg.generic {(d0..d6) -> x[d0, d4, d2 + d5, d3 + d6], w[d1, d4, d5, d6], y[d0, d1, d2, d3]}
      ins(%x, %w : memref<8x64x30x30xf32>, memref<128x64x3x3xf32>) outs(%y) { mulf, addf }
After:
  func.call @mlirfuse_conv2d(%c0_i32, %px, %ox, %c8, %c64, %c30, %c30, ..., %c1_i32)
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import arith, func, memref

from ...compiler.passes import convolution
from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass
from ...compiler.passes.destination_style_abi import MARK
from ...compiler.passes.library_gemm import declare, zero_fill_of

CALLEE = "mlirfuse_conv2d"
# The element types as the runtime numbers them (convolution.ELEMENT_TYPES, in order).
DTYPES = {t: i for i, t in enumerate(convolution.ELEMENT_TYPES)}
# cuDNN's scratch space per call, shared by a function's convolutions: its heuristic's
# first choices for these shapes (implicit GEMMs) need far less; FFT and Winograd
# variants that need more are passed over.
WORKSPACE_BYTES = 32 << 20


def _strides(value: ir.Value) -> tuple[list[int], int] | None:
    table, offset = ir.MemRefType(value.type).get_strides_and_offset()
    dynamic = ir.ShapedType.get_dynamic_stride_or_offset()
    return None if dynamic in table else (table, offset)


def _nchw(value: ir.Value, present: list[bool]) -> tuple[list[int], list[int]]:
    """Sizes and strides of a 4-D view with absent (folded) dimensions as size 1."""
    shape = list(ir.MemRefType(value.type).shape)
    table, _ = _strides(value)
    sizes, strides = [], []
    for here in present:
        if here:
            sizes.append(shape.pop(0))
            strides.append(table.pop(0))
        else:
            sizes.append(1)
            strides.append(0)
    # A size-1 dimension's stride is any; cuDNN wants it consistent with the others.
    for i in reversed(range(4)):
        if sizes[i] == 1:
            strides[i] = sizes[i + 1] * strides[i + 1] if i < 3 else 1
    return sizes, strides


def _contiguous(sizes: list[int], strides: list[int]) -> bool:
    expected = 1
    for size, stride in zip(reversed(sizes), reversed(strides)):
        if size != 1 and stride != expected:
            return False
        expected *= size
    return True


@dataclasses.dataclass
class LibraryConv(Pass):
    """Turns the 2-D convolutions cuDNN can take into calls of the runtime's mlirfuse_conv2d."""

    ARGUMENT = "mlirfuse-library-conv"

    def run(self, module: ir.Operation) -> None:
        body = module.regions[0].blocks[0]
        for fn in st.functions(module, marked=MARK):
            self._workspace = None
            self._entry = fn.regions[0].blocks[0]
            self._region(fn.regions[0], body)

    def _region(self, region: ir.Region, module_body: ir.Block) -> None:
        for block in region.blocks:
            previous = None
            for op in [o.operation for o in block.operations]:
                if op.name == "scf.if":
                    for inner in op.regions:
                        self._region(inner, module_body)
                overwrite = len(op.operands) == 3 and zero_fill_of(op, previous)
                if self._call(op, overwrite, module_body):
                    if overwrite:
                        previous.erase()
                    op.erase()
                    previous = None
                    continue
                previous = op

    def _call(self, op: ir.Operation, overwrite: bool, module_body: ir.Block) -> bool:
        """Emits the call for `op` before it (overwriting y, or adding to it); False
        (nothing emitted) when cuDNN cannot take it."""
        if not convolution.library_takes(op) or any(not isinstance(v.type, ir.MemRefType)
                                or _strides(v) is None for v in op.operands):
            return False
        conv = convolution.match(op)
        x, w, y = op.operands
        x_sizes, x_strides = _nchw(x, [conv.n is not None, conv.c is not None, True, True])
        w_sizes, w_strides = _nchw(w, [True, conv.c is not None, True, True])
        y_sizes, y_strides = _nchw(y, [conv.n is not None, True, True, True])
        if not _contiguous(w_sizes, w_strides):
            return False
        # The rows and columns the window reaches (an input may hold more: cuDNN derives
        # the output size from the input's, so it is told only these).
        (sh, sw), (dh, dw) = conv.strides, conv.dilations
        x_sizes[2] = (y_sizes[2] - 1) * sh + (w_sizes[2] - 1) * dh + 1
        x_sizes[3] = (y_sizes[3] - 1) * sw + (w_sizes[3] - 1) * dw + 1
        if max(x_sizes + y_sizes + w_sizes + x_strides + y_strides) >= 2**31:
            return False
        i32, i64 = ir.IntegerType.get_signless(32), ir.IntegerType.get_signless(64)
        element = str(ir.MemRefType(y.type).element_type)
        if self._workspace is None:
            with ir.InsertionPoint.at_block_begin(self._entry), op.location:
                self._workspace = memref.AllocOp(
                    ir.MemRefType.get([WORKSPACE_BYTES], ir.IntegerType.get_signless(8)),
                    [], []).result

        def const(t, v):
            return arith.ConstantOp(t, v).result

        with ir.InsertionPoint(op), op.location:
            def pointer(value):
                meta = memref.ExtractStridedMetadataOp(value)
                address = memref.ExtractAlignedPointerAsIndexOp(meta.results[0]).result
                return [arith.IndexCastOp(i64, address).result,
                        arith.IndexCastOp(i64, meta.results[1]).result]
            def size(v, value, dim):  # a symbolic batch is read from the buffer per call
                if v != ir.ShapedType.get_dynamic_size():
                    return const(i64, v)
                return arith.IndexCastOp(i64, memref.DimOp(
                    value, arith.ConstantOp(ir.IndexType.get(), dim).result).result).result
            args = [const(i32, DTYPES[element])]
            args += pointer(x) + [size(x_sizes[0], x, 0)] + \
                [const(i64, v) for v in x_sizes[1:] + x_strides]
            args += pointer(w) + [const(i64, v) for v in (w_sizes[0], w_sizes[2], w_sizes[3])]
            args += pointer(y) + [const(i64, v) for v in y_sizes[2:] + y_strides]
            args += [const(i64, v) for v in (sh, sw, dh, dw)]
            args += pointer(self._workspace)[:1] + [const(i64, WORKSPACE_BYTES)]
            args.append(const(i32, 0 if overwrite else 1))
            declare(module_body, CALLEE, [a.type for a in args])
            func.CallOp([], ir.FlatSymbolRefAttr.get(CALLEE), args)
        return True
