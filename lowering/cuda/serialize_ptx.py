"""mlirfuse-serialize-ptx: compile each `gpu.module` (already NVVM) to PTX and embed it.

Matches: `gpu.module` ops whose bodies are in the LLVM and NVVM dialects
(after `convert-gpu-to-nvvm`).
Rewrites: the body is translated to LLVM IR, compiled by llc to PTX for `chip`
(nvptx.py: libdevice linked when needed, results cached on disk), and
the module is replaced by a `gpu.binary` holding the PTX, which `gpu-to-llvm`
embeds in the host code (the CUDA driver JIT-compiles it at load).

Before:
  gpu.module @main_kernel [#nvvm.target<chip = "sm_90">] {
    llvm.func @main_kernel(...) attributes {gpu.kernel, nvvm.kernel} { ... }
  }
After:
  gpu.binary @main_kernel [#gpu.object<#nvvm.target<chip = "sm_90">, assembly = "...PTX...">]
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os

from torch_mlir import ir
from torch_mlir.dialects import llvm

from ...compiler import timings
from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass, PassError
from . import nvptx


def _escape(text: str) -> str:
    return "".join(c if c.isprintable() and c not in '"\\' else f"\\{ord(c):02X}"
                   for c in text)


@dataclasses.dataclass
class SerializePtx(Pass):
    """Replaces each gpu.module by a gpu.binary of its PTX (llc as a subprocess)."""

    ARGUMENT = "mlirfuse-serialize-ptx"
    chip: str = "sm_90"

    def run(self, module: ir.Operation) -> None:
        modules = [o.operation for o in module.regions[0].blocks[0].operations
                   if o.operation.name == "gpu.module"]
        sources = [self._llvm_ir(op) for op in modules]
        # llc runs are subprocesses: several at once (GPT-2 124M's 94 took 15 s one after
        # another on the H200), each distinct kernel once.
        distinct = {}
        for op, source in zip(modules, sources):
            distinct.setdefault(source, op)
        with timings.phase("llc"), concurrent.futures.ThreadPoolExecutor(
                max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
            futures = {source: pool.submit(nvptx.to_ptx, source, self.chip, _name(op))
                       for source, op in distinct.items()}
            ptx = {}
            for source, future in futures.items():
                try:
                    ptx[source] = future.result()
                except nvptx.ToolError as e:
                    op = distinct[source]
                    raise PassError(f"gpu.module @{_name(op)}: {e}", op.location) from e
        target = f'#nvvm.target<chip = "{self.chip}">'
        for op, source in zip(modules, sources):
            binary = ir.Operation.parse(f'gpu.binary @{_name(op)} '
                                        f'[#gpu.object<{target}, assembly = "{_escape(ptx[source])}">]')
            ir.InsertionPoint(op).insert(binary)
            op.erase()

    @staticmethod
    def _llvm_ir(gpu_module: ir.Operation) -> str:
        """The LLVM IR of a gpu.module's body."""
        name = _name(gpu_module)
        for op in st.walk(gpu_module):
            if op is not gpu_module and not op.name.startswith(("llvm.", "nvvm.")):
                # Translating an op that is not LLVM or NVVM crashes the process.
                raise PassError(f"gpu.module @{name}: '{op.name}' was not lowered to NVVM "
                                "(the GPU target does not support it yet)", op.location)
        # Cloned, not printed and parsed: a constant table's dense_resource data lives in
        # the context and is not in an op's text (parsed again, the table was empty).
        device = ir.Module.create(gpu_module.location)
        device.operation.attributes["llvm.target_triple"] = ir.StringAttr.get(
            "nvptx64-nvidia-cuda")
        for o in gpu_module.regions[0].blocks[0].operations:
            o.operation.clone(ir.InsertionPoint(device.body))
        try:
            return llvm.translate_module_to_llvmir(device.operation)
        except Exception as e:
            raise PassError(f"gpu.module @{name} did not translate to LLVM IR: {e}",
                            gpu_module.location) from e


def _name(gpu_module: ir.Operation) -> str:
    return ir.StringAttr(gpu_module.attributes["sym_name"]).value
