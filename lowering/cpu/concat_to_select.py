"""mlirfuse-concat-to-select: a concatenation becomes one elementwise op over padded pieces.

Matches: `tensor.concat` with a static result shape.
Rewrites: each piece is `tensor.pad`ded with zeros to the full result shape at
its offset along the concatenated dimension, and one `linalg.generic` over the
result picks, by its index along that dimension, the piece that owns it. The
pads and the pieces' producers then fuse into that generic's kernel like any
elementwise producer (a pad tiles into "compute the piece's slice" or "zeros"),
so `cat([x + y, x * y])` is one kernel that writes the result once, where
concatenating would cost a kernel per piece plus copies.
Leaves alone: concatenations with dynamic shapes.

Before:
  %r = tensor.concat dim(0) %a, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<8x8xf32>
After:
  %pa = tensor.pad %a low[0, 0] high[4, 0] { tensor.yield %zero }
  %pb = tensor.pad %b low[4, 0] high[0, 0] { tensor.yield %zero }
  %r = linalg.generic ins(%pa, %pb) outs(%empty) {
    %i = linalg.index 0 ; %in_a = arith.cmpi ult, %i, %c4
    linalg.yield (arith.select %in_a, %va, %vb)
  }
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import arith, linalg, tensor

from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass


def _zero(element: ir.Type) -> ir.Value:
    if isinstance(element, ir.IntegerType):
        return arith.ConstantOp(element, 0).result
    return arith.ConstantOp(element, ir.FloatAttr.get(element, 0.0)).result


def rewrite(concat: ir.Operation) -> None:
    result_type = concat.results[0].type
    if not result_type.has_static_shape:
        return
    dim = ir.IntegerAttr(concat.attributes["dim"]).value
    rank, total = result_type.rank, result_type.shape[dim]
    element = result_type.element_type
    index = ir.IndexType.get()
    with ir.InsertionPoint(concat), concat.location:
        zero = _zero(element)
        pads, offsets, offset = [], [], 0
        for piece in concat.operands:
            size = piece.type.shape[dim]
            low, high = [0] * rank, [0] * rank
            low[dim], high[dim] = offset, total - offset - size
            pad = tensor.PadOp(result_type, piece, [], [], low, high)
            block = pad.region.blocks.append(*[index] * rank)
            with ir.InsertionPoint(block):
                tensor.YieldOp(zero)
            pads.append(pad.result)
            offsets.append(offset)
            offset += size
        empty = tensor.EmptyOp(list(result_type.shape), element).result
        identity = ir.AffineMapAttr.get(ir.AffineMap.get_identity(rank))
        parallel = ir.Attribute.parse("#linalg.iterator_type<parallel>")
        generic = linalg.GenericOp([result_type], pads, [empty],
                                   ir.ArrayAttr.get([identity] * (len(pads) + 1)),
                                   ir.ArrayAttr.get([parallel] * rank))
        body = generic.regions[0].blocks.append(*[element] * (len(pads) + 1))
        with ir.InsertionPoint(body):
            position = linalg.IndexOp(dim).result
            value = body.arguments[len(pads) - 1]
            for k in range(len(pads) - 2, -1, -1):
                bound = arith.ConstantOp(index, offsets[k + 1]).result
                inside = arith.CmpIOp(arith.CmpIPredicate.ult, position, bound).result
                value = arith.SelectOp(inside, body.arguments[k], value).result
            linalg.YieldOp([value])
    concat.results[0].replace_all_uses_with(generic.results[0])
    concat.erase()


@dataclasses.dataclass
class ConcatToSelect(Pass):
    """Rewrites tensor.concat into one select over zero-padded pieces (fusible, one kernel)."""

    ARGUMENT = "mlirfuse-concat-to-select"

    def run(self, module: ir.Operation) -> None:
        for op in [op for op in st.walk(module) if op.name == "tensor.concat"]:
            rewrite(op)
