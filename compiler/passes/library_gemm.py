"""mlirfuse-library-gemm: contractions become calls of a vendor GEMM (MKL on the CPU, cuBLAS).

Matches: linalg contractions at the top level of the entry function (`mlirfuse.abi`)
on buffers, after mlirfuse-lower-guards (ops inside the guard's `scf.if` too): a
contraction C[b, m, n] (+)= A[b, m, k] * B[b, k, n] whose strides are static, with
unit stride along k or m in A, along n or k in B and along n in C (transposes are
BLAS flags, not copies), of a type the target's library takes (CPU: f32, f64; CUDA:
f32, f16, bf16, f64, and f16 or bf16 inputs summed into an f32 result, on tensor cores). mlirfuse-form-fusion-groups{library-contractions} left them
untiled, outside every kernel.
Rewrites: each into

  func.call @<callee>(dtype, batch, m, n, k, A: ptr, offset, strides..., B..., C...,
                      accumulate)

where the callee is the runtime's: `mlirfuse_cpu_gemm` (runtime/cpu/mlirfuse_blas.c:
sgemm_/dgemm_ of the MKL inside torch, on torch's threads) or `mlirfuse_gemm`
(runtime/cuda: cublasGemmStridedBatchedEx on the current stream, float32 accumulation,
no TF32: PyTorch's defaults). A zero fill of C right before the contraction goes: the
call overwrites instead of accumulating. Loops of one role (batch, m, n or k) that do not
nest like one row-major dimension in every operand (attention's heads are views) become
`scf.for` host loops around the call (mlirfuse.host; a k loop accumulates from its second
step), in the loop order that makes the calls largest; with `pack`, an input is first
copied into a contiguous buffer (a linalg.generic) when that leaves one call. Anything
else (integer matmuls, broadcast operands) stays a linalg op (generated code).

Before:
  linalg.fill ins(%zero) outs(%c : memref<64x512xf32, strided<[512, 1]>>)
  linalg.generic {parallel, parallel, reduction} ins(%a, %w_t) outs(%c) { mulf, addf }
After:
  func.call @mlirfuse_cpu_gemm(%f32, %c1, %c64, %c512, %c512, %pa, %offa, ..., %c0_i32)
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os

from torch_mlir import ir
from torch_mlir.dialects import arith, func, linalg, memref, scf

from . import gemm_dynamic
from . import structured as st
from .base import Pass, PassError
from .destination_style_abi import MARK

# The runtime entry point and the element types (with their codes) per target.
CALLEES = {"cpu": "mlirfuse_cpu_gemm", "cuda": "mlirfuse_gemm"}
# "f16->f32": f16 inputs summed into an f32 result (structured.is_widening_mul_add).
DTYPES = {"cpu": {"f32": 0, "f64": 3},
          "cuda": {"f32": 0, "f16": 1, "bf16": 2, "f64": 3, "f16->f32": 4, "bf16->f32": 5}}
# Half-precision inputs summed into an f32 result as cuBLAS calls (tensor cores) on
# CUDA, here and in mlirfuse-form-fusion-groups / mlirfuse-shield-contractions; checked
# on the H200 (test_gpu_half; GPT-2 and Llama in bf16 match eager). MLIRFUSE_CUDA_HALF_GEMM=0
# turns it off: such a matmul is then generated code (GPT-2 124M in bf16: 1.1 s a call,
# 125x eager).
HALF_INPUTS = os.environ.get("MLIRFUSE_CUDA_HALF_GEMM", "1") != "0"
# Marks the host loops around calls (mlirfuse-map-to-gpu leaves them on the host).
HOST_ATTR = "mlirfuse.host"
# BLAS takes 32-bit sizes and leading dimensions (MKL's sgemm_, cuBLAS).
_INT32_MAX = 2**31 - 1


@dataclasses.dataclass
class _Plan:
    """One contraction as library calls: dtype code, batch/m/n/k sizes of each call,
    per operand (A, B, C) its value and (batch, row, col) strides, and the host loops
    around the calls: (extent, strides of A, B, C, whether it is a k loop)."""

    dtype: int
    batch: int
    m: int
    n: int
    k: int
    operands: list
    loops: list


def _split(loops: list[int], order: dict, tables: list[dict], extents: list[int]):
    """(outer loops, merged loops) of one role: the innermost loops that nest like a
    row-major array in every operand that has them are one BLAS dimension; the others
    are host loops around the call (batch x heads of q @ k^T, heads of the attention
    output's projection: views whose loops do not nest). Of the loops' orders, the one
    whose merged dimension is largest wins (fewest, biggest calls); ties keep the
    order of `order`'s strides."""
    loops = sorted(loops, key=lambda d: -order[d])
    if not loops:
        return [], []
    best = None
    orders = itertools.permutations(loops) if len(loops) <= 4 else [tuple(loops)]
    for candidate in orders:
        first = len(candidate) - 1
        while first > 0 and all(
                t[candidate[first - 1]] == t[candidate[first]] * extents[candidate[first]]
                for t in tables):
            first -= 1
        size = math.prod(extents[d] for d in candidate[first:])
        if best is None or size > best[0]:
            best = (size, list(candidate[:first]), list(candidate[first:]))
    return best[1], best[2]


def _layout(op: ir.Operation):
    """(roles, strides) of contraction `op` on buffers: roles are its (batch, m, n, k)
    loops, strides a {loop: stride} table per operand; None when the operands are no
    batched matrices (a loop in only one operand) or a stride is dynamic."""
    maps = st.indexing_maps(op)
    dims = [st.dim_positions(m) for m in maps]
    sa, sb, sc = (set(d) for d in dims)
    ks = sorted(st.reduction_loops_of(maps, 1))
    batch = sorted(sa & sb & sc)
    ms = sorted((sa & sc) - sb)
    ns = sorted((sb & sc) - sa)
    if not ks or not ms or not ns or sc != set(batch + ms + ns) \
            or sa != set(batch + ms + ks) or sb != set(batch + ns + ks):
        return None
    strides = []
    for value, positions in zip(op.operands, dims):
        table, _ = ir.MemRefType(value.type).get_strides_and_offset()
        if any(x == ir.ShapedType.get_dynamic_stride_or_offset() for x in table):
            return None
        strides.append(dict(zip(positions, table)))
    return (batch, ms, ns, ks), strides


def _packed_order(index: int, roles, strides) -> list[int]:
    """The loops of operand `index` (0: A, 1: B) in the order a packed copy stores them:
    batch, then m (A) or k (B), then k (A) or n (B); batch, m and n as C nests them, k
    as B does. Packed A and B then nest like C, and like each other along k."""
    batch, ms, ns, ks = roles
    _, sb, sc = strides

    def by(loops, table):
        return sorted(loops, key=lambda d: -table[d])
    if index == 0:
        return by(batch, sc) + by(ms, sc) + by(ks, sb)
    return by(batch, sc) + by(ks, sb) + by(ns, sc)


def _plan(op: ir.Operation, target: str, packed: tuple[int, ...] = ()) -> _Plan | None:
    """How `op` runs as library calls, or None when the target's library cannot take its
    types or its layout. `packed`: operands (0: A, 1: B) planned as if copied into
    contiguous buffers in _packed_order (the plan's values are then the originals)."""
    widening = target == "cuda" and HALF_INPUTS
    if not st.is_contraction(op, widening) or len(op.operands) != 3:
        return None
    a, b, c = op.operands
    if not all(isinstance(v.type, ir.MemRefType) for v in (a, b, c)):
        return None
    types = [ir.MemRefType(v.type) for v in (a, b, c)]
    element = str(types[2].element_type)
    dtypes = DTYPES[target]
    if widening and st.is_widening_mul_add(op):  # half inputs, an f32 result
        element = f"{types[0].element_type}->f32"
        if str(types[1].element_type) != str(types[0].element_type):
            return None
    elif any(str(t.element_type) != element for t in types):
        return None
    if element not in dtypes:
        return None
    extents = st.static_extents(op)
    layout = _layout(op)
    if extents is None or layout is None:  # dynamic: packed operands are copied first
        return _dynamic_plan(op, dtypes[element]) if not packed else None
    (batch, ms, ns, ks), strides = layout
    for index in packed:
        order, table, size = _packed_order(index, (batch, ms, ns, ks), strides), {}, 1
        for d in reversed(order):
            table[d], size = size, size * extents[d]
        strides[index] = table
    sa_, sb_, sc_ = strides
    outer, groups = [], []
    for loops, order, tables in ((batch, sc_, strides), (ms, sc_, (sa_, sc_)),
                                 (ns, sc_, (sb_, sc_)), (ks, sa_, (sa_, sb_))):
        hosts, merged = _split(loops, order, tables, extents)
        outer += hosts
        groups.append((math.prod(extents[d] for d in merged), merged[-1] if merged else None))
    (bsz, lb), (msz, m), (nsz, n), (ksz, k) = groups

    def stride(table, loop):
        return table.get(loop, 0) if loop is not None else 0

    plan_a = (stride(sa_, lb), sa_[m], sa_[k])
    plan_b = (stride(sb_, lb), sb_[k], sb_[n])
    plan_c = (stride(sc_, lb), sc_[m], sc_[n])
    # A broadcast operand (stride 0 along a dimension of size > 1) is no matrix cuBLAS
    # reads: its leading dimension would be 0. (It computed wrong results.)
    for (_, row, col), rows, cols in ((plan_a, msz, ksz), (plan_b, ksz, nsz),
                                      (plan_c, msz, nsz)):
        if (row == 0 and rows > 1) or (col == 0 and cols > 1):
            return None
    # BLAS needs a unit stride in each operand (or a dimension of size 1).
    if not (plan_c[2] == 1 or nsz == 1):
        return None
    if not (plan_a[2] == 1 or plan_a[1] == 1 or msz == 1 or ksz == 1):
        return None
    if not (plan_b[2] == 1 or plan_b[1] == 1 or nsz == 1 or ksz == 1):
        return None
    if max(msz, nsz, ksz) > _INT32_MAX or max(abs(x) for p in (plan_a, plan_b, plan_c)
                                              for x in p[1:]) > _INT32_MAX:
        return None
    loops = [(extents[d], [stride(t, d) for t in strides], d in ks)
             for d in sorted(outer)]
    return _Plan(dtypes[element], bsz, msz, nsz, ksz, [(a, plan_a), (b, plan_b), (c, plan_c)],
                 loops)


def _dynamic_plan(op: ir.Operation, dtype: int) -> _Plan | None:
    """The plan of a contraction on dynamic sizes (gemm_dynamic.layout), or None."""
    layout = gemm_dynamic.layout(op)
    if layout is None:
        return None
    (batch, m, n, k), operands, loops = layout
    return _Plan(dtype, batch, m, n, k, list(zip(op.operands, operands)), loops)


def declare(module_body: ir.Block, callee: str, arg_types: list[ir.Type]) -> None:
    """Declares runtime function `callee` (no results) in the module, once."""
    for op in module_body.operations:
        if op.operation.name == "func.func" and \
                ir.StringAttr(op.operation.attributes["sym_name"]).value == callee:
            return
    with ir.InsertionPoint.at_block_begin(module_body):
        func.FuncOp(callee, (arg_types, []), visibility="private")


def _gemm(op: ir.Operation, plan: _Plan, module_body: ir.Block, target: str,
          accumulate: bool) -> None:
    """Emits the library call(s) of contraction `op` before it: one call, or a nest of
    scf.for host loops around it, each step moving the operands' offsets (a k loop
    accumulates from its second step on)."""
    i32, i64 = ir.IntegerType.get_signless(32), ir.IntegerType.get_signless(64)
    index = ir.IndexType.get()

    metas = []

    def const(t, v):
        if isinstance(v, tuple):  # a size or stride of the call (_dynamic_plan)
            def cast(x):
                return x if t == index else arith.IndexCastOp(t, x).result
            if v[0] == "stride":
                results = list(metas[v[1]].results)
                rank = (len(results) - 2) // 2
                return cast(results[2 + rank + v[2]])
            value = arith.ConstantOp(t, 1).result
            for j, d in v[1]:
                value = arith.MulIOp(value, cast(list(metas[j].results)[2 + d])).result
            return value
        return arith.ConstantOp(t, v).result

    with ir.InsertionPoint(op), op.location:
        pointers, offsets = [], []
        for value, _ in plan.operands:
            meta = memref.ExtractStridedMetadataOp(value)
            metas.append(meta)
            pointer = memref.ExtractAlignedPointerAsIndexOp(meta.results[0]).result
            pointers.append(arith.IndexCastOp(i64, pointer).result)
            offsets.append(meta.results[1])
        ivs, inside = [], ir.InsertionPoint(op)
        for extent, _, _ in plan.loops:
            with inside:
                loop = scf.ForOp(const(index, 0), const(index, extent), const(index, 1))
                loop.attributes[HOST_ATTR] = ir.UnitAttr.get()  # not a kernel: host calls
            with ir.InsertionPoint(loop.body):
                scf.YieldOp([])
            ivs.append(loop.induction_variable)
            inside = ir.InsertionPoint(loop.body.operations[0])
    with inside, op.location:
        for iv, (_, strides, _) in zip(ivs, plan.loops):
            for j, s in enumerate(strides):
                if s:
                    step = arith.MulIOp(iv, const(index, s)).result
                    offsets[j] = arith.AddIOp(offsets[j], step).result
        flag = const(i32, int(accumulate))
        k_ivs = [iv for iv, (_, _, is_k) in zip(ivs, plan.loops) if is_k]
        if k_ivs and not accumulate:  # the first k step overwrites, the others add
            later = arith.CmpIOp(arith.CmpIPredicate.ne, k_ivs[0], const(index, 0)).result
            for iv in k_ivs[1:]:
                other = arith.CmpIOp(arith.CmpIPredicate.ne, iv, const(index, 0)).result
                later = arith.OrIOp(later, other).result
            flag = arith.ExtUIOp(i32, later).result
        args = [const(i32, plan.dtype)] + [const(i64, v) for v in
                                            (plan.batch, plan.m, plan.n, plan.k)]
        for pointer, offset, (_, strides) in zip(pointers, offsets, plan.operands):
            args += [pointer, arith.IndexCastOp(i64, offset).result]
            args += [const(i64, s) for s in strides]
        args.append(flag)
        declare(module_body, CALLEES[target], [a.type for a in args])
        func.CallOp([], ir.FlatSymbolRefAttr.get(CALLEES[target]), args)


def _pack(op: ir.Operation, index: int) -> None:
    """Copies operand `index` (0: A, 1: B) of contraction `op` into a new contiguous buffer
    in _packed_order (a linalg.generic copy before it) and points `op` at the copy."""
    value = op.operands[index]
    typ = ir.MemRefType(value.type)
    element = typ.element_type
    maps = st.indexing_maps(op)
    positions = st.dim_positions(maps[index])
    extents = st.static_extents(op)
    order = _packed_order(index, *_layout(op)) if extents is not None \
        else gemm_dynamic.packed_order(op, index)
    rank = len(positions)
    parallel = ir.Attribute.parse("#linalg.iterator_type<parallel>")
    dynamic = ir.ShapedType.get_dynamic_size()
    with ir.InsertionPoint(op), op.location:
        shape = [typ.shape[positions.index(d)] for d in order]
        sizes = [memref.DimOp(value, arith.ConstantOp(ir.IndexType.get(),
                                                      positions.index(d)).result).result
                 for d, n in zip(order, shape) if n == dynamic]
        buffer = memref.AllocOp(ir.MemRefType.get(shape, element), sizes, []).result
        into = ir.AffineMap.get(rank, 0, [ir.AffineDimExpr.get(positions.index(d))
                                          for d in order])
        copy = linalg.GenericOp([], [value], [buffer], ir.ArrayAttr.get(
            [ir.AffineMapAttr.get(ir.AffineMap.get_identity(rank)), ir.AffineMapAttr.get(into)]),
            ir.ArrayAttr.get([parallel] * rank))
        body = copy.regions[0].blocks.append(element, element)
        with ir.InsertionPoint(body):
            linalg.YieldOp([body.arguments[0]])
    reads = ir.AffineMap.get(maps[index].n_dims, 0, [ir.AffineDimExpr.get(d) for d in order])
    attrs = list(op.attributes["indexing_maps"])
    attrs[index] = ir.AffineMapAttr.get(reads)
    op.attributes["indexing_maps"] = ir.ArrayAttr.get(attrs)
    op.operands[index] = buffer


def zero_fill_of(op: ir.Operation, previous: ir.Operation | None) -> bool:
    """Whether `previous` fills the contraction's output with zeros (then the gemm
    overwrites instead of accumulating, and the fill goes)."""
    return previous is not None and st.fills_zero(previous) \
        and previous.operands[len(previous.operands) - 1] == op.operands[2]


@dataclasses.dataclass
class LibraryGemm(Pass):
    """Turns the contractions a vendor GEMM can take into calls of the runtime's gemm."""

    ARGUMENT = "mlirfuse-library-gemm"
    target: str = "cpu"  # "cpu" (MKL) or "cuda" (cuBLAS)
    # Copy an input into a contiguous buffer when that makes one call of what would be a
    # host loop of calls. Both pipelines set it: on the GPU a call is a launch (the
    # transformer's 512 calls cost 2 ms); on the CPU fewer, larger calls run MKL nearer its
    # peak (transformer 43.5 -> 38.7 ms, eager 36.9, the copies included).
    pack: bool = False

    def run(self, module: ir.Operation) -> None:
        if self.target not in CALLEES:
            raise PassError(f"mlirfuse-library-gemm: unknown target '{self.target}' "
                            f"(expected one of {sorted(CALLEES)})")
        body = module.regions[0].blocks[0]
        for fn in st.functions(module, marked=MARK):
            self._region(fn.regions[0], body)

    def _region(self, region: ir.Region, module_body: ir.Block) -> None:
        for block in region.blocks:
            previous = None
            for op in [o.operation for o in block.operations]:
                if op.name == "scf.if":
                    for inner in op.regions:
                        self._region(inner, module_body)
                plan = _plan(op, self.target)
                if plan is not None and plan.loops and self.pack \
                        and st.static_extents(op) is None:
                    plan = self._pack_dynamic(op, plan)
                elif plan is not None and plan.loops and self.pack:
                    for choice in ((0,), (1,), (0, 1)):
                        packed = _plan(op, self.target, choice)
                        if packed is not None and not packed.loops:
                            for index in choice:
                                _pack(op, index)
                            plan = _plan(op, self.target)
                            break
                if plan is not None:
                    overwrite = zero_fill_of(op, previous)
                    _gemm(op, plan, module_body, self.target, accumulate=not overwrite)
                    if overwrite:
                        previous.erase()
                    op.erase()
                    previous = None
                    continue
                previous = op

    def _pack_dynamic(self, op: ir.Operation, plan: _Plan) -> _Plan:
        """Dynamic sizes: packing A, then B, while host loops remain (whether a copy
        leaves one call shows only in the plan of the packed buffers); C must be
        contiguous, for C's order of dimensions to be the packed order."""
        if not gemm_dynamic.contiguous(ir.MemRefType(op.operands[2].type)):
            return plan
        for index in (0, 1):
            if not plan.loops:
                break
            _pack(op, index)
            plan = _plan(op, self.target) or plan
        return plan
