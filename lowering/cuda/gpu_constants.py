"""Constants of the graph that kernels read: device globals of the kernel's module.

Bufferization turns a constant tensor the compiler made (an index table of a
decomposition: group_norm's, as_strided's) into a `memref.global` of the host
module, read through `memref.get_global`. A kernel given that buffer would get a
host address: on an H200 the driver's heterogeneous memory management made such
reads work by accident (the kernel read the JIT's pages of the host process), on
other GPUs it is an illegal address. Instead the kernel reads its own copy: the
`memref.get_global` (and the views of it) are cloned into the launch body, and
gpu-kernel-outlining copies the global into the kernel's gpu.module, where it
becomes a global of device memory, initialized when the module loads.

Before (host code of the entry function):
  %g = memref.get_global @__constant_2x6xi64 : memref<2x6xi64>
  gpu.launch ... { ... memref.load %g[%i, %j] ... }
After:
  gpu.launch ... {
    %g = memref.get_global @__constant_2x6xi64 : memref<2x6xi64>
    ... memref.load %g[%i, %j] ...
  }

A library call (cuBLAS, cuDNN) cannot take such a buffer: `check_library_calls` says so
(the compile fails, and the op runs eager). Extern calls have their own way
(mlirfuse-bridge-extern-calls marks the operand `host`; the runtime copies it).
"""

from __future__ import annotations

from torch_mlir import ir

from ...compiler.passes import structured as st
from ...compiler.passes.base import PassError

# Ops that make a view of their first operand: a view of a global is still host memory.
VIEWS = ("memref.subview", "memref.cast", "memref.reinterpret_cast", "memref.view",
         "memref.expand_shape", "memref.collapse_shape", "memref.transpose",
         "memref.assume_alignment")
# Ops that turn a buffer into the address a library call takes.
_ADDRESS = ("memref.extract_aligned_pointer_as_index", "arith.index_cast",
            "arith.index_castui", "memref.extract_strided_metadata")


def global_chain(value: ir.Value) -> list[ir.Operation] | None:
    """The ops from a `memref.get_global` to `value` through views (get_global first), or
    None when `value` is not a view of a global."""
    chain = []
    op = st.defining_op(value)
    while op is not None and op.name in VIEWS:
        chain.append(op)
        op = st.defining_op(op.operands[0])
    if op is None or op.name != "memref.get_global":
        return None
    return [op] + chain[::-1]


def into_kernels(fn: ir.Operation) -> int:
    """Clones every global a launch of `fn` reads (with its views) into the launch body;
    returns how many values were replaced."""
    replaced = 0
    for launch in [o for o in st.walk(fn) if o.name == "gpu.launch"]:
        body = launch.regions[0].blocks[0]
        clones: list[tuple[ir.Value, ir.Value]] = []
        for op in list(st.walk(launch))[1:]:
            for i, value in enumerate(op.operands):
                owner = st.defining_op(value)
                if owner is None or st.is_nested_in(owner, launch):
                    continue
                chain = global_chain(value)
                if chain is None:
                    continue
                new = next((n for old, n in clones if old == value), None)
                if new is None:
                    new = _clone_chain(chain, body, clones)
                op.operands[i] = new
                replaced += 1
    return replaced


def _clone_chain(chain: list[ir.Operation], body: ir.Block,
                 clones: list[tuple[ir.Value, ir.Value]]) -> ir.Value:
    """Clones `chain` (get_global, then views) at the start of `body`, reusing clones made
    for this launch already; returns the clone of the chain's last value."""
    first = body.operations[0]
    source = None
    for op in chain:
        old = op.results[0]
        new = next((n for o, n in clones if o == old), None)
        if new is None:
            copy = op.clone(ir.InsertionPoint(first))
            if source is not None:
                copy.operands[0] = source
            new = copy.results[0]
            clones.append((old, new))
        source = new
    return source


def check_library_calls(fn: ir.Operation) -> None:
    """Raises PassError when a runtime library call (cuBLAS gemm, cuDNN convolution) would
    be given the address of a host global."""
    for op in st.walk(fn):
        if op.name != "func.call":
            continue
        callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
        if not callee.startswith("mlirfuse_") or callee.startswith("mlirfuse_extern"):
            continue
        for value in op.operands:
            owner = st.defining_op(value)
            while owner is not None and owner.name in _ADDRESS:
                value = owner.operands[0]
                owner = st.defining_op(value)
            if global_chain(value) is not None:
                raise PassError(f"'{callee}' would read a constant of the graph from host "
                                "memory; the GPU target cannot run it", op.location)
