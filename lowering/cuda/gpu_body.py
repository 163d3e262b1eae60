"""A linalg op on buffers as the GPU code generator reads it, and its body cloned at a point.

Not a pass: the shared vocabulary of gpu_codegen (scalar code over a launch's
threads) and gpu_vectors (the same with vector loads and stores), which both
import it: an op's outputs and their maps, its reduction loops, index constants
and arithmetic (delinearize, apply_map), and `Body`, which re-emits the op's
body at given loop indices with its block arguments read through the
registers of `gpu_registers` (a value a thread already holds is not loaded again).
"""

from __future__ import annotations

import math
import struct

from torch_mlir import ir
from torch_mlir.dialects import _gpu_ops_gen as gpu_ops
from torch_mlir.dialects import _nvvm_ops_gen as nvvm
from torch_mlir.dialects import affine, arith

from ...compiler.passes import structured as st
from . import gpu_registers as rg


MAX_THREADS = 256  # a block's threads
MAX_BLOCKS = 1 << 20  # a launch's blocks over an op's whole grid


def outputs(op: ir.Operation) -> list[ir.Value]:
    """The `outs` buffers of a structured op on buffers (it has no results to count)."""
    return list(op.opview.outputs)


def output_maps(op: ir.Operation) -> list[ir.AffineMap]:
    return st.indexing_maps(op)[-len(outputs(op)):]


def reduction_loops(op: ir.Operation) -> list[int]:
    used = {p for m in output_maps(op) for p in st.dim_positions(m) if p is not None}
    return [d for d in range(st.loop_count(op)) if d not in used]


def index(value: int) -> ir.Value:
    return arith.ConstantOp(ir.IndexType.get(), value).result


def product(extents: list[int | ir.Value]) -> int | ir.Value:
    """The product of loop extents: a number, or a value when one is known only at run
    time (symbolic sizes)."""
    if all(isinstance(e, int) for e in extents):
        return math.prod(extents)
    total = None
    for e in extents:
        if isinstance(e, int) and e == 1:
            continue
        e = index(e) if isinstance(e, int) else e
        total = e if total is None else arith.MulIOp(total, e).result
    return index(1) if total is None else total


def delinearize(linear: ir.Value, extents: list[int | ir.Value]) -> list[ir.Value]:
    """Row-major indices of `linear` in a box of `extents` (the last varies fastest);
    extents known only at run time are values."""
    if not all(isinstance(e, int) for e in extents):
        out = []
        for d, extent in enumerate(extents):
            if isinstance(extent, int) and extent == 1:
                out.append(index(0))
                continue
            later = [e for e in extents[d + 1:] if not (isinstance(e, int) and e == 1)]
            q = arith.DivUIOp(linear, _value(product(later))).result if later else linear
            out.append(arith.RemUIOp(q, _value(extent)).result if d else q)
        return out
    out, stride = [], math.prod(extents)
    for extent in extents:
        stride //= extent
        if extent == 1:
            out.append(index(0))
            continue
        q = arith.DivUIOp(linear, index(stride)).result if stride > 1 else linear
        out.append(arith.RemUIOp(q, index(extent)).result if stride * extent < math.prod(
            extents) else q)
    return out


def _value(extent: int | ir.Value) -> ir.Value:
    return index(extent) if isinstance(extent, int) else extent


def apply_map(amap: ir.AffineMap, loops: list[ir.Value]) -> list[ir.Value]:
    """The indices an operand is accessed at, for loop indices `loops`."""
    out = []
    for expr in amap.results:
        if isinstance(expr, ir.AffineDimExpr):
            out.append(loops[expr.position])
        elif isinstance(expr, ir.AffineConstantExpr):
            out.append(index(expr.value))
        else:
            single = ir.AffineMap.get(amap.n_dims, amap.n_symbols, [expr])
            out.append(affine.AffineApplyOp(single, loops).result)
    return out


def _reciprocal(value: ir.Value) -> float | None:
    """1 / c rounded to the type of `value` when it is an f32 or f64 constant c, else None."""
    c = st.constant_value(value)
    if not isinstance(c, float) or str(value.type) not in ("f32", "f64"):
        return None
    if c == 0.0:
        return math.copysign(math.inf, c)
    # In double, then rounded to f32: for one division that is the f32 division exactly
    # (53 >= 2 * 24 + 2 bits).
    inverse = 1.0 / c
    if str(value.type) == "f64":
        return inverse
    try:
        return struct.unpack("f", struct.pack("f", inverse))[0]
    except OverflowError:  # 1 / (a subnormal c) is no f32: keep the division
        return None


_HALVES = ("bf16", "f16")


def _row_divisor(op: ir.Operation, divisor: ir.Value) -> bool:
    """Whether `divisor`, in the body of `op`, is an input the same along the innermost
    loop (a row's sum in softmax) while every output of `op` is half precision."""
    outs = outputs(op)
    if not outs or any(str(ir.MemRefType(o.type).element_type) not in _HALVES
                       for o in outs):
        return False
    if not isinstance(divisor, ir.BlockArgument) or divisor.owner != op.regions[0].blocks[0]:
        return False
    position = ir.BlockArgument(divisor).arg_number
    if position >= len(op.operands) - len(outs):
        return False
    last = st.loop_count(op) - 1
    return not any(last in dims_of(e) for e in st.indexing_maps(op)[position].results)


def dims_of(expr: ir.AffineExpr) -> set[int]:
    """The loop dimensions an indexing expression uses."""
    if isinstance(expr, ir.AffineDimExpr):
        return {expr.position}
    if isinstance(expr, ir.AffineBinaryExpr):
        return dims_of(expr.lhs) | dims_of(expr.rhs)
    return set()


class Body:
    """Clones a linalg body at loop indices `loops`: block arguments become loads."""

    def __init__(self, op: ir.Operation, loops: list[ir.Value]):
        self.op, self.loops = op, loops
        self.block = op.regions[0].blocks[0]
        self.mapping: list[tuple[ir.Value, ir.Value]] = []
        maps = st.indexing_maps(op)
        for operand, amap, arg in zip(op.operands, maps, self.block.arguments):
            if not list(arg.uses):
                continue
            if isinstance(operand.type, ir.MemRefType):
                operand = rg.current().load(operand, apply_map(amap, loops))
            self.mapping.append((arg, operand))

    def lookup(self, value: ir.Value) -> ir.Value:
        for old, new in self.mapping:
            if old == value:
                return new
        return value

    def clone(self, op: ir.Operation, operands: list[ir.Value] | None = None) -> ir.Operation:
        if op.name == "math.fpowi" and st.small_constant(op.operands[1]) is not None:
            base = self.lookup(op.operands[0])
            self.mapping.append((op.results[0], st.power(base, st.small_constant(op.operands[1]))))
            return op
        if op.name == "arith.divf" and _reciprocal(op.operands[1]) is not None:
            # x / c as x * (1 / c), the reciprocal rounded in the type: what eager CUDA
            # computes for a tensor divided by a scalar (div_true_kernel_cuda), and one
            # multiply where an IEEE division is a dozen instructions.
            factor = st.float_constant(op.operands[1].type, _reciprocal(op.operands[1]))
            new = arith.MulFOp(self.lookup(op.operands[0]), factor)
            self.mapping.append((op.results[0], new.result))
            return new.operation
        if op.name == "arith.divf" and str(op.results[0].type) == "f32" and \
                _row_divisor(self.op, op.operands[1]):
            # x / s as x * (1 / s) for a divisor the same along the row, where the result
            # is rounded to half precision: the reciprocal once a row (cse merges the
            # lanes'), a multiply per element, where an IEEE division is a dozen
            # instructions: softmax over bf16 rows was bound by them (1.10x the copy's
            # time on the H200). Within 1.5 ulp of f32, below a bf16 or f16 rounding.
            one = st.float_constant(op.results[0].type, 1.0)
            inverse = arith.DivFOp(one, self.lookup(op.operands[1])).result
            new = arith.MulFOp(self.lookup(op.operands[0]), inverse)
            self.mapping.append((op.results[0], new.result))
            return new.operation
        if op.name == "linalg.index":
            dim = ir.IntegerAttr(op.attributes["dim"]).value
            self.mapping.append((op.results[0], self.loops[dim]))
            return op
        new = op.clone(ip=ir.InsertionPoint.current)
        rg.current().cloned(new)
        for nested in st.walk(new):
            for i, value in enumerate(list(nested.operands)):
                mapped = self.lookup(value)
                if mapped != value:
                    nested.operands[i] = mapped
        for i, value in enumerate(operands or []):
            new.operands[i] = value
        for old, fresh in zip(op.results, new.results):
            self.mapping.append((old, fresh))
        return new

    def ops(self) -> list[ir.Operation]:
        return [o.operation for o in self.block.operations][:-1]

    def yielded(self) -> list[ir.Value]:
        return list(self.block.operations[len(self.block.operations) - 1].operands)


def launch(before: ir.Operation, blocks: int | ir.Value, threads: int,
           workgroup: list[ir.Type] = ()) -> tuple[ir.Block, list[ir.Value]]:
    """A gpu.launch of `blocks` (a count, or a host value: symbolic sizes) x `threads`
    before `before`; returns its body block (ending in gpu.terminator) and (block id,
    thread id, workgroup buffers...)."""
    with ir.InsertionPoint(before), before.location:
        c = index
        grid = blocks if isinstance(blocks, ir.Value) else c(blocks)
        op = gpu_ops.LaunchOp(None, [], grid, c(1), c(1), c(threads), c(1), c(1),
                              workgroup_attributions=len(workgroup) or None)
        body = op.regions[0].blocks.append(*([ir.IndexType.get()] * 12 + list(workgroup)))
        with ir.InsertionPoint(body):
            gpu_ops.TerminatorOp()
    args = list(body.arguments)
    return body, [args[0], args[3]] + args[12:]


def barriers_to_warp_syncs(block: ir.Block) -> None:
    """Replaces the gpu.barrier ops in `block` (nested ones too) by a warp's sync
    (nvvm.bar.warp.sync, all lanes): for a body only some warps of a block run (a tile
    per warp behind a guard), whose barriers order accesses of one warp's lanes to that
    warp's own slice of shared memory; a block-wide barrier there would wait for warps
    that never come."""
    barriers = [o for top in block.operations for o in st.walk(top.operation)
                if o.name == "gpu.barrier"]
    for op in barriers:
        with ir.InsertionPoint(op), op.location:
            all_lanes = arith.ConstantOp(ir.IntegerType.get_signless(32), -1).result
            nvvm.SyncWarpOp(all_lanes)
        op.erase()
