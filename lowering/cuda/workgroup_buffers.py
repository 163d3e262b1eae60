"""mlirfuse-workgroup-buffers: a kernel's shared memory declared 16-byte aligned, or dropped.

mlirfuse-map-to-gpu keeps a tile's temporaries in workgroup buffers (shared memory) and
reads and writes them with 16-byte vectors (gpu_vectors.aligned counts on
WORKGROUP_ALIGN), but a gpu.func's workgroup attribution is declared at its element's
alignment (`.shared .align 4` for f32): this pass declares each one 16-byte aligned
(`llvm.align`, which convert-gpu-to-nvvm gives the global it makes). A buffer every
read of which was forwarded from registers (gpu_registers.drop_unread erased its
stores) has no use left; declared anyway it would still take its bytes of every
block's shared memory: it is dropped.

Matches: each gpu.func in a gpu.module, after gpu-kernel-outlining.
Rewrites: its workgroup attributions; nothing else.

Before:
  gpu.func @k(%a: memref<8xf32>) workgroup(%m : memref<8x1xf32, #wg>,
                                           %unused : memref<8x1x1024xf32, #wg>) kernel
After:
  gpu.func @k(%a: memref<8xf32>) workgroup(%m : memref<8x1xf32, #wg> {llvm.align = 16 : i64})
      kernel
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir

from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass
from .gpu_vectors import WORKGROUP_ALIGN

_COUNT = "workgroup_attributions"
_ATTRS = "workgroup_attrib_attrs"


@dataclasses.dataclass
class WorkgroupBuffers(Pass):
    """Aligns every kernel's workgroup buffers; drops those nothing uses."""

    ARGUMENT = "mlirfuse-workgroup-buffers"

    def run(self, module: ir.Operation) -> None:
        for op in st.walk(module):
            if op.name == "gpu.func" and _COUNT in op.attributes:
                self._kernel(op)

    @staticmethod
    def _kernel(func: ir.Operation) -> None:
        count = ir.IntegerAttr(func.attributes[_COUNT]).value
        inputs = len(ir.FunctionType(ir.TypeAttr(func.attributes["function_type"]).value).inputs)
        block = func.regions[0].blocks[0]
        # From the last, so that erasing one leaves the others' positions as they were.
        for position in reversed(range(inputs, inputs + count)):
            if not list(block.arguments[position].uses):
                block.erase_argument(position)
                count -= 1
        i64 = ir.IntegerType.get_signless(64)
        func.attributes[_COUNT] = ir.IntegerAttr.get(i64, count)
        align = ir.DictAttr.get({"llvm.align": ir.IntegerAttr.get(i64, WORKGROUP_ALIGN)})
        if count:
            func.attributes[_ATTRS] = ir.ArrayAttr.get([align] * count)
        elif _ATTRS in func.attributes:
            del func.attributes[_ATTRS]
