"""mlirfuse-share-kernels: each distinct kernel compiled once, called where it runs.

A transformer's layers are the same kernels again and again, on other buffers of the same
types; inlined into the entry function (mlirfuse-tile-kernels' loops), each copy was
vectorized, lowered and compiled by LLVM again: GPT-2's 12 layers (n_embd 256) spent
6.5 s in the JIT, 2 layers 0.6 s. This pass moves every kernel into a function of its
own and lets identical ones share it, so the rest of the pipeline and the JIT see each
distinct kernel once.

Matches: in functions with bodies, the kernels on buffers: each `scf.parallel` (a tiled
kernel's tiles) and each `linalg.generic` (an untiled kernel) not nested in another, with
no results.
Rewrites: each into a `func.call` of a private function `@mlirfuse_kernel_<n>` whose body
is the kernel, taking the values it reads from outside (buffers, sizes) as arguments in
the order it first reads them; constants and globals it uses are copied in, so its code
knows them. Two kernels whose functions print the same (the same ops on arguments of the
same types: static shapes and strides included) call one function. The functions are
`noinline`: LLVM would otherwise copy a kernel back into every caller. Each kernel
function gets `mlirfuse.code`, a hash of its text and of the globals and declarations it
names (none when it names a function with a body), by which runtime/shared_kernels.py
shares its machine code with other modules.

Before:
  func.func @main(%a: memref<8x64xf32>, %b: memref<8x64xf32>, %c: memref<8x64xf32>) {
    %c0 = arith.constant 0 : index
    scf.parallel (%i) = (%c0) to (%c8) step (%c1) { ...relu of %a row %i into %b... }
    scf.parallel (%i) = (%c0) to (%c8) step (%c1) { ...relu of %b row %i into %c... }
  }
After:
  func.func @main(...) {
    call @mlirfuse_kernel_0(%a, %b) : (memref<8x64xf32>, memref<8x64xf32>) -> ()
    call @mlirfuse_kernel_0(%b, %c) : (memref<8x64xf32>, memref<8x64xf32>) -> ()
  }
  func.func private @mlirfuse_kernel_0(%arg0: memref<8x64xf32>, %arg1: memref<8x64xf32>)
      attributes {passthrough = ["noinline"]} {
    %c0 = arith.constant 0 : index
    scf.parallel (%i) = (%c0) to (%c8) step (%c1) { ...relu of %arg0 row %i into %arg1... }
    return
  }
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

from torch_mlir import ir
from torch_mlir.dialects import func, memref

from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass

KERNEL_OPS = ("scf.parallel", "linalg.generic")
# Ops with no operands whose value a kernel's code should know: copied into each kernel.
COPIED = ("arith.constant", "memref.get_global")
PREFIX = "mlirfuse_kernel_"
CALL_PREFIX = "mlirfuse_call_"  # a library call's function (not a kernel: not counted)
# Integer arguments a call passes in registers (x86-64); the others are stores to the stack.
REGISTERS = 6
# The hash of a kernel function's code, which runtime/shared_kernels.py names it by (the
# rest of the pipeline lowers a kernel function alone: the same text, the same code).
CODE = "mlirfuse.code"
_SYMBOL = re.compile(r"@([\w.$-]+)")
_DYNAMIC = ir.ShapedType.get_dynamic_stride_or_offset()


def _kernels(op: ir.Operation, found: list, declared: set[str]) -> list:
    """The kernel ops nested in `op`, outermost only, in order: kernels, and calls of
    declared functions with more arguments than registers (library calls: the GEMM's)."""
    for region in op.regions:
        for block in region.blocks:
            for child in block.operations:
                child = child.operation
                if not len(child.results) and (child.name in KERNEL_OPS or (
                        child.name == "func.call" and len(child.operands) > REGISTERS
                        and ir.FlatSymbolRefAttr(child.attributes["callee"]).value in declared)):
                    found.append(child)
                else:
                    _kernels(child, found, declared)
    return found


def _outside_values(kernel: ir.Operation) -> list[ir.Value]:
    """The values `kernel` reads that are defined outside it, in first-read order."""
    inside, outside, seen = set(), [], set()
    for op in st.walk(kernel):
        for region in op.regions:
            for block in region.blocks:
                inside.update(block.arguments)
        for value in op.operands:
            if value not in inside and value not in seen:
                seen.add(value)
                outside.append(value)
        inside.update(op.results)
    return outside


def _slim(t: ir.Type) -> tuple[list[int], int] | None:
    """(strides, offset) of a memref type whose sizes and strides are static (its offset
    may be symbolic): such a buffer is passed as its base and offset only."""
    if not isinstance(t, ir.MemRefType) or not t.has_static_shape or t.memory_space:
        return None
    strides, offset = t.get_strides_and_offset()
    if any(s == _DYNAMIC for s in strides):
        return None
    return strides, offset


def _outline(kernel: ir.Operation, module_block: ir.Block) -> tuple[ir.Operation, list]:
    """A new function holding a copy of `kernel` (appended to the module) and the values
    to call it with (made before `kernel`).

    A buffer of static sizes and strides is passed as its base buffer (0-d) and, when not
    static, its offset, and viewed again inside: a memref argument is 3 + 2 x rank scalars
    in LLVM's calling convention, passed on the stack past the sixth, and GPT-2's 12 layers
    made LLVM's instruction selection for the entry function take 4 s (its store merging
    is quadratic in the stores of one block)."""
    outside = _outside_values(kernel)
    copied = [v for v in outside
              if st.defining_op(v) is not None and st.defining_op(v).name in COPIED]
    args = [v for v in outside if v not in set(copied)]
    layouts = [_slim(v.type) for v in args]
    operands = []
    with ir.InsertionPoint(kernel), kernel.location:
        for value, layout in zip(args, layouts):
            if layout is None:
                operands.append(value)
                continue
            parts = memref.ExtractStridedMetadataOp(value).results
            operands.append(parts[0])
            if layout[1] == _DYNAMIC:
                operands.append(parts[1])
    with ir.InsertionPoint(module_block), kernel.location:
        fn = func.FuncOp(PREFIX, ([v.type for v in operands], []), visibility="private")
        fn.attributes["llvm.no_inline"] = ir.UnitAttr.get()
        block = fn.add_entry_block()
    mapping = {}
    with ir.InsertionPoint(block), kernel.location:
        params = iter(block.arguments)
        for value, layout in zip(args, layouts):
            if layout is None:
                mapping[value] = next(params)
                continue
            strides, offset = layout
            base = next(params)
            dynamic = offset == _DYNAMIC
            mapping[value] = memref.ReinterpretCastOp(
                value.type, base, [next(params)] if dynamic else [], [], [],
                [offset], ir.MemRefType(value.type).shape, strides).result
        for value in copied:
            mapping[value] = st.defining_op(value).clone().results[0]
        body = kernel.clone()
        func.ReturnOp([])
    for op in st.walk(body):
        for i, value in enumerate(op.operands):
            if value in mapping:
                op.operands[i] = mapping[value]
    return fn.operation, operands


def _code(text: str, symbols: dict[str, ir.Operation],
          texts: dict[str, str | None]) -> str | None:
    """A hash of a kernel function's code: its text (`text`, named @(kernel) there) and
    the text of each global or declaration it names (`texts` keeps them per name); None
    when it names a function with a body (its code is not the kernel's alone)."""
    digest = hashlib.sha256(re.sub(r"@\w+\(", "@(", text, count=1).encode())
    for used in sorted(set(_SYMBOL.findall(text))):
        op = symbols.get(used)
        if op is None:
            continue
        if used not in texts:
            body = op.name == "func.func" and len(op.regions[0].blocks) > 0
            texts[used] = None if body else op.get_asm(assume_verified=True)
        if texts[used] is None:
            return None
        digest.update(f"\0{used}\0{texts[used]}".encode())
    return digest.hexdigest()[:32]


@dataclasses.dataclass
class ShareKernels(Pass):
    """Moves each kernel (on buffers) into a function, one per distinct kernel."""

    ARGUMENT = "mlirfuse-share-kernels"

    def run(self, module: ir.Operation) -> None:
        module_block = module.regions[0].blocks[0]
        by_text: dict[str, str] = {}
        counts = {PREFIX: 0, CALL_PREFIX: 0}
        declared = {ir.StringAttr(o.operation.attributes["sym_name"]).value
                    for o in module_block.operations if o.operation.name == "func.func"
                    and not len(o.operation.regions[0].blocks)}
        symbols = {ir.StringAttr(o.operation.attributes["sym_name"]).value: o.operation
                   for o in module_block.operations if "sym_name" in o.operation.attributes}
        texts: dict[str, str | None] = {}
        for fn in st.functions(module):
            if ir.StringAttr(fn.attributes["sym_name"]).value.startswith((PREFIX, CALL_PREFIX)):
                continue  # a kernel's own function (the pass ran before)
            for kernel in _kernels(fn, [], declared):
                new, args = _outline(kernel, module_block)
                # A local scope: names and aliases of this function alone (else the printer
                # numbers the whole module for every kernel).
                text = new.get_asm(use_local_scope=True, assume_verified=True)
                name = by_text.get(text)
                if name is None:
                    prefix = CALL_PREFIX if kernel.name == "func.call" else PREFIX
                    name = by_text[text] = f"{prefix}{counts[prefix]}"
                    counts[prefix] += 1
                    new.attributes["sym_name"] = ir.StringAttr.get(name)
                    code = _code(text, symbols, texts)
                    if prefix == PREFIX and code is not None:
                        new.attributes[CODE] = ir.StringAttr.get(code)
                else:
                    new.erase()
                with ir.InsertionPoint(kernel), kernel.location:
                    func.CallOp([], ir.FlatSymbolRefAttr.get(name), args)
                kernel.erase()
