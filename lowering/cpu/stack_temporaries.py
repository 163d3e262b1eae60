"""mlirfuse-stack-temporaries: a tile's small temporaries on the stack, not the heap.

A kernel's tiles run as the iterations of an OpenMP loop (convert-scf-to-openmp), each
body a `memref.alloca_scope`; a row reduction's partial sums and its result are
temporaries of the tile, allocated and freed at every iteration: rmsnorm over 4096 rows
made 8192 malloc/free pairs a call. The heap was chosen because an alloca inside a loop
grows the stack at every iteration until it overflows; inside an alloca scope it does
not (the scope gives its allocas back at each iteration's end).

Matches: `memref.alloc` of a static shape of at most MAX_BYTES whose parent op is a
`memref.alloca_scope` (directly: not inside a loop nested in it), whose value does
not leave the scope (no use by the scope's return).
Rewrites: each into a `memref.alloca` of the same type and alignment; its
`memref.dealloc`s go.
Leaves alone: allocations of dynamic or larger shapes, and those outside alloca scopes
(the entry function's temporaries, allocations in a loop).

Before:
  memref.alloca_scope {
    %p = memref.alloc() {alignment = 64 : i64} : memref<1x16xf32>
    ...
    memref.dealloc %p : memref<1x16xf32>
  }
After:
  memref.alloca_scope {
    %p = memref.alloca() {alignment = 64 : i64} : memref<1x16xf32>
    ...
  }
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import memref

from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass

MAX_BYTES = 4096  # a tile's partial sums and statistics; not a row buffer's copy


def _candidate(op: ir.Operation) -> bool:
    if op.name != "memref.alloc" or len(op.operands):
        return False
    parent = op.parent
    if parent is None or parent.operation.name != "memref.alloca_scope":
        return False
    t = ir.MemRefType(op.results[0].type)
    if not t.has_static_shape:
        return False
    count = 1
    for n in t.shape:
        count *= n
    if count * st.element_bytes(t.element_type) > MAX_BYTES:
        return False
    return all(st.owner_op(use).name != "memref.alloca_scope.return"
               for use in op.results[0].uses)


@dataclasses.dataclass
class StackTemporaries(Pass):
    """Small per-iteration temporaries of alloca scopes become stack allocations."""

    ARGUMENT = "mlirfuse-stack-temporaries"

    def run(self, module: ir.Operation) -> None:
        for op in [o for o in st.walk(module) if _candidate(o)]:
            value = op.results[0]
            with ir.InsertionPoint(op), op.location:
                stack = memref.AllocaOp(value.type, [], [])
                if "alignment" in op.attributes:
                    stack.attributes["alignment"] = op.attributes["alignment"]
            for use in list(value.uses):
                owner = st.owner_op(use)
                if owner.name == "memref.dealloc":
                    owner.erase()
            value.replace_all_uses_with(stack.result)
            op.erase()
