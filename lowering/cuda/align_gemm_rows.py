"""mlirfuse-align-gemm-rows: a GEMM's temporary result gets rows 16 bytes apart.

A matmul into N columns whose rows are not a multiple of 16 bytes apart (GPT-2's LM
head: 50257 f32 columns, 201028 bytes) rules out cuBLAS's tensor-core kernels for
its output: eager (bf16, 100514 bytes a row) runs GPT-2 124M 2.3x slower than inductor,
which pads such matmuls (torch/_inductor/fx_passes/pad_mm.py). Here nothing is copied:
the result is computed into a buffer of N' >= N columns, N' * element bytes a multiple
of 16, and read through its [.., :N] view. Its readers (kernels) take it at that stride,
16-byte aligned rows (their vector loads need them too).

Matches: on tensors, before bufferization, a contraction cuBLAS takes
(structured.is_contraction, half inputs summed in f32 too) whose result is static, has
a last dimension of that kind, and is a temporary only kernels read (every use a
linalg.generic or a tensor.extract_slice: never the function's result, a reshape or an
insert_slice), whose accumulator is a fill (a linalg.fill or a generic yielding a
constant) of a tensor.empty used once, or that tensor.empty itself.
Option `enabled=false` (the CUDA pipeline's with MLIRFUSE_CUDA_ALIGN_GEMM_ROWS=0):
nothing changes. Aligned rows alone do not bring the tensor cores back when N is not a multiple
of 8 (cuBLAS's vector): the runtime's mlirfuse_gemm then splits the call in two, the
first N - N % 8 columns and the rest (runtime/cuda/mlirfuse_cuda.c).
Rewrites: the tensor.empty becomes an extract_slice of a wider one; bufferization makes
it a view of the wider allocation (no canonicalize runs between: it would fold the
slice of an empty tensor back into a narrow one).

Before:
  %e = tensor.empty() : tensor<2048x50257xf32>
  %z = linalg.fill ins(%zero) outs(%e)
  %c = linalg.generic {contraction} ins(%x, %w : ..bf16..) outs(%z)
After:
  %w = tensor.empty() : tensor<2048x50260xf32>
  %e = tensor.extract_slice %w[0, 0] [2048, 50257] [1, 1]
  %z = linalg.fill ins(%zero) outs(%e)
  %c = linalg.generic {contraction} ins(%x, %w : ..bf16..) outs(%z)
"""

from __future__ import annotations

import dataclasses
import os

from torch_mlir import ir
from torch_mlir.dialects import tensor

from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass

# The row alignment cuBLAS's tensor-core kernels need of an operand.
ROW_BYTES = 16
# On unless MLIRFUSE_CUDA_ALIGN_GEMM_ROWS=0: on the H200 (session 38) GPT-2 124M in bf16
# took 4.32 ms a call with aligned rows and the runtime's split GEMM (its LM head on an
# nvjet kernel, 0.29 ms) against 5.86 ms without (the LM head on cutlass's align1 kernel,
# 1.68 ms); aligned rows alone, without the split, gained nothing (session 37).
ENABLED = os.environ.get("MLIRFUSE_CUDA_ALIGN_GEMM_ROWS", "1") != "0"
_READERS = ("linalg.generic", "tensor.extract_slice")


def _fill(op: ir.Operation | None) -> bool:
    """A linalg.fill, or a generic of no inputs yielding a value defined outside it."""
    if op is None:
        return False
    if op.name == "linalg.fill":
        return True
    if op.name != "linalg.generic" or len(op.operands) != 1:
        return False
    block = op.regions[0].blocks[0]
    body = [o.operation for o in block.operations]
    return len(body) == 1 and all(v not in list(block.arguments) for v in body[0].operands)


def _empty_of(op: ir.Operation) -> ir.Operation | None:
    """The tensor.empty (used once) the contraction's accumulator starts from."""
    init = st.defining_op(op.operands[2])
    if _fill(init):
        if len(list(init.results[0].uses)) != 1:
            return None
        init = st.defining_op(init.operands[-1])
    if init is None or init.name != "tensor.empty" or init.operands \
            or len(list(init.results[0].uses)) != 1:
        return None
    return init


def padded_columns(result: ir.RankedTensorType) -> int | None:
    """The columns a row of `result` takes to start 16-byte aligned, None when it does
    already (or is not static)."""
    if not result.has_static_shape or result.rank < 2 or result.shape[0] == 0:
        return None
    element = st.element_bytes(result.element_type)
    per_row = ROW_BYTES // element if ROW_BYTES % element == 0 else 0
    columns = result.shape[-1]
    if not per_row or columns % per_row == 0 or columns == 1:
        return None
    return -(-columns // per_row) * per_row


@dataclasses.dataclass
class AlignGemmRows(Pass):
    """Computes misaligned GEMM results into a buffer of 16-byte aligned rows."""

    ARGUMENT = "mlirfuse-align-gemm-rows"
    enabled: bool = True

    def run(self, module: ir.Operation) -> None:
        if not self.enabled:
            return
        for fn in st.functions(module):
            for op in [o for o in st.walk(fn) if st.is_contraction(o, widening=True)]:
                if not isinstance(op.results[0].type, ir.RankedTensorType) \
                        or any(st.owner_op(u).name not in _READERS
                               for u in op.results[0].uses):
                    continue
                result = ir.RankedTensorType(op.results[0].type)
                columns = padded_columns(result)
                empty = _empty_of(op)
                if columns is None or empty is None:
                    continue
                rank = result.rank
                with ir.InsertionPoint(empty), empty.location:
                    wide = ir.RankedTensorType.get([*result.shape[:-1], columns],
                                                   result.element_type)
                    buffer = tensor.EmptyOp(wide.shape, wide.element_type).result
                    view = tensor.ExtractSliceOp(
                        result, buffer, [], [], [],
                        ir.DenseI64ArrayAttr.get([0] * rank),
                        ir.DenseI64ArrayAttr.get(list(result.shape)),
                        ir.DenseI64ArrayAttr.get([1] * rank)).result
                empty.results[0].replace_all_uses_with(view)
                empty.erase()
