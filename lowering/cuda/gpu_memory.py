"""Where a kernel's tile temporaries live in mlirfuse-map-to-gpu: shared memory (workgroup
attributions) when they fit, else a slice per block of one global buffer; views of them
follow their memory space."""

from __future__ import annotations

import math

from torch_mlir import ir
from torch_mlir.dialects import arith, memref

from ...compiler.passes import structured as st

_VIEWS = ("memref.subview", "memref.cast", "memref.expand_shape", "memref.collapse_shape")


def workgroup_type(alloc: ir.Operation, tiles: int = 1) -> ir.MemRefType:
    """Shared memory for a tile temporary; with several tiles per block, one each."""
    t = ir.MemRefType(alloc.results[0].type)
    space = ir.Attribute.parse("#gpu.address_space<workgroup>")
    shape = ([tiles] if tiles > 1 else []) + list(t.shape)
    return ir.MemRefType.get(shape, t.element_type, memory_space=space)


def nbytes(t: ir.MemRefType) -> int:
    return math.prod(t.shape) * st.element_bytes(t.element_type)


def retype_views(buffer: ir.Value) -> None:
    """Views of a tile temporary that now lives elsewhere (shared memory, or a slice of a
    global buffer at an offset known only per block) take its memory space and offset."""
    base = ir.MemRefType(buffer.type)
    dynamic_offset = base.get_strides_and_offset()[1] == ir.ShapedType.get_dynamic_stride_or_offset()
    for use in list(buffer.uses):
        owner = st.owner_op(use)
        if owner.name not in _VIEWS:
            continue
        for result in owner.results:
            t = ir.MemRefType(result.type)
            layout = t.layout
            if dynamic_offset:
                strides, _ = t.get_strides_and_offset()
                layout = ir.StridedLayoutAttr.get(
                    offset=ir.ShapedType.get_dynamic_stride_or_offset(), strides=strides)
            result.set_type(ir.MemRefType.get(t.shape, t.element_type, layout=layout,
                                              memory_space=base.memory_space))
            retype_views(result)


def hoist(allocs: list[ir.Operation], forall: ir.Operation, blocks: int) -> list[ir.Value]:
    """Tile temporaries too large for shared memory: one global buffer each, a slice
    per block (allocated on the host, where mlirfuse-workspace places it)."""
    out = []
    for a in allocs:
        t = ir.MemRefType(a.results[0].type)
        big = ir.MemRefType.get([blocks] + list(t.shape), t.element_type)
        with ir.InsertionPoint(forall), forall.location:
            # Symbolic sizes: the alloc's size operands, defined before the loop.
            out.append(memref.AllocOp(big, list(a.operands), []).result)
    return out

def block_slice(big: ir.Value, bx: ir.Value) -> ir.Value:
    """Block `bx`'s slice of a hoisted temporary (its sizes read from the buffer where
    they are symbolic)."""
    shape = ir.MemRefType(big.type).shape[1:]
    t = ir.MemRefType(big.type)
    dyn = ir.ShapedType.get_dynamic_stride_or_offset()
    dyn_size = ir.ShapedType.get_dynamic_size()
    strides = [dyn if dyn_size in shape[i + 1:] else math.prod(shape[i + 1:])
               for i in range(len(shape))]
    layout = ir.StridedLayoutAttr.get(offset=dyn, strides=strides)
    view = ir.MemRefType.get(shape, t.element_type, layout=layout,
                             memory_space=t.memory_space)
    rank = len(shape)
    sizes = [memref.DimOp(big, arith.ConstantOp(ir.IndexType.get(), i + 1).result).result
             for i, s in enumerate(shape) if s == dyn_size]
    return memref.SubViewOp(view, big, [bx], sizes, [], [dyn] + [0] * rank,
                            [1] + list(shape), [1] * (rank + 1)).result
