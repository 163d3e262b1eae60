"""mlirfuse-workspace: place the host's temporary buffers in one workspace the caller passes.

Matches: `memref.alloc` ops of static shape in the entry function (`mlirfuse.abi`)
outside any `gpu.launch`: buffers between kernels, and tile temporaries too
large for shared memory.
Rewrites: the function gets a last argument `memref<?xi8>`, the workspace, and
each allocation becomes a `memref.view` of it at its own 256-byte aligned
offset (its deallocations go). The workspace's size in bytes is recorded as
`mlirfuse.workspace` on the function: the runtime allocates it with torch's
caching allocator for each call (device memory for GPU kernels; the compiled
code never allocates). Functions without such allocations are left alone.

Before:
  func.func @main(%x: memref<...>, %out: memref<...>) -> i32 attributes {mlirfuse.abi} {
    %t = memref.alloc() : memref<64x16xf32>
    ...
  }
After:
  func.func @main(%x: memref<...>, %out: memref<...>, %ws: memref<?xi8>) -> i32
      attributes {mlirfuse.abi, mlirfuse.workspace = 4096 : i64} {
    %t = memref.view %ws[%c0][] : memref<?xi8> to memref<64x16xf32>
    ...
  }
"""

from __future__ import annotations

import dataclasses
import math

from torch_mlir import ir
from torch_mlir.dialects import arith, memref

from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass, PassError
from ...compiler.passes.destination_style_abi import MARK

ATTR = "mlirfuse.workspace"
ALIGN = 256


def _host_allocs(op: ir.Operation) -> list[ir.Operation]:
    found = []
    for region in op.regions:
        for block in region.blocks:
            for child in block.operations:
                child = child.operation
                if child.name == "memref.alloc":
                    found.append(child)
                elif child.name != "gpu.launch":
                    found += _host_allocs(child)
    return found


@dataclasses.dataclass
class Workspace(Pass):
    """Turns the entry function's host allocations into views of one workspace argument."""

    ARGUMENT = "mlirfuse-workspace"

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module, marked=MARK):
            allocs = _host_allocs(fn)
            if allocs:
                with fn.location:
                    self._place(fn, allocs)

    @staticmethod
    def _place(fn: ir.Operation, allocs: list[ir.Operation]) -> None:
        entry = fn.regions[0].blocks[0]
        bytes_type = ir.MemRefType.get([ir.ShapedType.get_dynamic_size()],
                                       ir.IntegerType.get_signless(8))
        workspace = entry.add_argument(bytes_type, fn.location)
        ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
        fn.attributes["function_type"] = ir.TypeAttr.get(
            ir.FunctionType.get(list(ftype.inputs) + [bytes_type], list(ftype.results)))
        if "arg_attrs" in fn.attributes:
            attrs = list(ir.ArrayAttr(fn.attributes["arg_attrs"]))
            fn.attributes["arg_attrs"] = ir.ArrayAttr.get(attrs + [ir.DictAttr.get({})])
        offset = 0
        for alloc in allocs:
            t = ir.MemRefType(alloc.results[0].type)
            if not t.has_static_shape or ir.AffineMapAttr(t.layout).value != ir.AffineMap.get_identity(t.rank):
                raise PassError("a temporary buffer of dynamic shape or non-identity layout: "
                                f"{t}", alloc.location)
            with ir.InsertionPoint(alloc), alloc.location:
                at = arith.ConstantOp(ir.IndexType.get(), offset).result
                view = memref.ViewOp(t, workspace, at, []).result
            for use in list(alloc.results[0].uses):
                if st.owner_op(use).name == "memref.dealloc":
                    st.owner_op(use).erase()
            alloc.results[0].replace_all_uses_with(view)
            alloc.erase()
            size = math.prod(t.shape) * st.element_bytes(t.element_type)
            offset += -(-size // ALIGN) * ALIGN
        fn.attributes[ATTR] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), offset)
