"""Contractions on the GPU as cuBLAS calls (through the runtime's `mlirfuse_gemm`).

Not a pass: mlirfuse-map-to-gpu calls `gemm` for each contraction outside a
kernel loop. A contraction C[b, m, n] (+)= A[b, m, k] * B[b, k, n] on buffers
whose strides are static, with unit stride along k or m in A, along n or k in
B and along n in C (transposes are cuBLAS flags, not copies), becomes

  func.call @mlirfuse_gemm(dtype, batch, m, n, k, A: ptr, offset, strides..., B..., C...,
                           accumulate)

The runtime calls cublasGemmStridedBatchedEx on the current stream, with
float32 accumulation (float64 for double), no TF32: PyTorch's default.
Anything else (integer matmuls, other layouts) stays a generated kernel.
"""

from __future__ import annotations

from torch_mlir import ir
from torch_mlir.dialects import arith, func, memref

from mlirfuse.compiler.passes import gpu_codegen as cg
from mlirfuse.compiler.passes import structured as st

CALLEE = "mlirfuse_gemm"
DTYPES = {"f32": 0, "f16": 1, "bf16": 2, "f64": 3}


def _plan(op: ir.Operation):
    """(dtype code, batch, m, n, k, [(value, (batch, row, col) strides)] for A, B, C), or
    None when cuBLAS cannot take the layout."""
    a, b, c = op.operands
    types = [ir.MemRefType(v.type) for v in (a, b, c)]
    element = str(types[2].element_type)
    if element not in DTYPES or any(str(t.element_type) != element for t in types):
        return None
    extents = st.static_extents(op)
    maps = st.indexing_maps(op)
    dims = [st.dim_positions(m) for m in maps]
    ka = st.reduction_loops_of(maps, 1)
    if extents is None or not ka:
        return None
    sa, sb, sc = set(dims[0]), set(dims[1]), set(dims[2])
    ks = sorted(ka)
    batch = sorted(sa & sb & sc)
    ms = sorted((sa & sc) - sb)
    ns = sorted((sb & sc) - sa)
    if not ms or not ns or sc != set(batch + ms + ns) or sa != set(batch + ms + ks) \
            or sb != set(batch + ns + ks):
        return None
    strides = []
    for t, positions in zip(types, dims):
        st_, _ = t.get_strides_and_offset()
        if any(x == ir.ShapedType.get_dynamic_stride_or_offset() for x in st_):
            return None
        strides.append({p: s for p, s in zip(positions, st_)})
    sa_, sb_, sc_ = strides
    # Several loops of one role (batch x heads, batch x rows) are one when they nest like
    # a row-major array in every operand that has them; else cuBLAS cannot take them.
    groups = []
    for loops, order, tables in ((batch, sc_, strides), (ms, sc_, (sa_, sc_)),
                                 (ns, sc_, (sb_, sc_)), (ks, sa_, (sa_, sb_))):
        if not loops:
            groups.append((1, None))
            continue
        loops = sorted(loops, key=lambda d: -order[d])
        for outer, inner in zip(loops, loops[1:]):
            if any(t[outer] != t[inner] * extents[inner] for t in tables):
                return None
        size = 1
        for d in loops:
            size *= extents[d]
        groups.append((size, loops[-1]))
    (bsz, lb), (msz, m), (nsz, n), (ksz, k) = groups

    def stride(table, loop):
        return table.get(loop, 0) if loop is not None else 0

    plan_a = (stride(sa_, lb), sa_[m], sa_[k])
    plan_b = (stride(sb_, lb), sb_[k], sb_[n])
    plan_c = (stride(sc_, lb), sc_[m], sc_[n])
    size = dict(m=msz, n=nsz, k=ksz)
    # A broadcast operand (stride 0 along a dimension of size > 1) is no matrix cuBLAS
    # reads: its leading dimension would be 0. (It computed wrong results.)
    for (_, row, col), rows, cols in ((plan_a, msz, ksz), (plan_b, ksz, nsz),
                                      (plan_c, msz, nsz)):
        if (row == 0 and rows > 1) or (col == 0 and cols > 1):
            return None
    # cuBLAS needs a unit stride in each operand (or a dimension of size 1).
    if not (plan_c[2] == 1 or size["n"] == 1):
        return None
    if not (plan_a[2] == 1 or plan_a[1] == 1 or size["m"] == 1 or size["k"] == 1):
        return None
    if not (plan_b[2] == 1 or plan_b[1] == 1 or size["n"] == 1 or size["k"] == 1):
        return None
    return (DTYPES[element], bsz, size["m"], size["n"], size["k"],
            [(a, plan_a), (b, plan_b), (c, plan_c)])


def supported(op: ir.Operation) -> bool:
    """Whether contraction `op` can be a cuBLAS call."""
    return st.is_contraction(op) and _plan(op) is not None


def _declare(module_body: ir.Block, arg_types: list[ir.Type]) -> None:
    for op in module_body.operations:
        if op.operation.name == "func.func" and \
                ir.StringAttr(op.operation.attributes["sym_name"]).value == CALLEE:
            return
    with ir.InsertionPoint.at_block_begin(module_body):
        func.FuncOp(CALLEE, (arg_types, []), visibility="private")


def gemm(op: ir.Operation, module_body: ir.Block, accumulate: bool) -> bool:
    """Emits the cuBLAS call for contraction `op` before it; False (nothing emitted)
    when its types or layouts are not cuBLAS's."""
    plan = _plan(op)
    if plan is None:
        return False
    dtype, batch, m, n, k, operands = plan
    i32, i64 = ir.IntegerType.get_signless(32), ir.IntegerType.get_signless(64)

    def const(t, v):
        return arith.ConstantOp(t, v).result

    with ir.InsertionPoint(op), op.location:
        args = [const(i32, dtype)] + [const(i64, v) for v in (batch, m, n, k)]
        for value, strides in operands:
            meta = memref.ExtractStridedMetadataOp(value)
            pointer = memref.ExtractAlignedPointerAsIndexOp(meta.results[0]).result
            args.append(arith.IndexCastOp(i64, pointer).result)
            args.append(arith.IndexCastOp(i64, meta.results[1]).result)
            args += [const(i64, s) for s in strides]
        args.append(const(i32, int(accumulate)))
        _declare(module_body, [a.type for a in args])
        func.CallOp([], ir.FlatSymbolRefAttr.get(CALLEE), args)
    return True


def zero_fill_of(op: ir.Operation, previous: ir.Operation | None) -> bool:
    """Whether `previous` fills the contraction's output with zeros (then the gemm
    overwrites instead of accumulating, and the fill goes)."""
    return previous is not None and st.fills_zero(previous) \
        and previous.operands[len(previous.operands) - 1] == op.operands[2]
