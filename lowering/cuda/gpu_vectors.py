"""Vector loads and stores for the GPU code generator (gpu_codegen): 16-byte accesses.

Not a pass. A parallel op whose innermost loop is contiguous in every operand that
varies along it takes chunks of consecutive points per thread: one vector load per
such operand (`ld.global.v4.f32` for f32), the body once per point, one vector
store per output. Reductions over that loop read their chunks the same way. A
vector access needs its address aligned to its size: `aligned` proves it from
how the buffer was made (entry arguments are checked per call by the runtime).

A kernel's ops that share buffers take one chunk width (`share_lanes`): softmax in
bf16 reads its row as bf16 (8 points a 16-byte vector) and writes exp's f32 row (4):
at widths of their own each thread held other points, and the exp read the row again.
"""

from __future__ import annotations

import math

from torch_mlir import ir
from torch_mlir.dialects import arith, vector

from ...compiler.passes import structured as st
from . import gpu_body as gb
from . import gpu_registers as rg

# Bytes every workgroup buffer (shared memory) is aligned to: mlirfuse-workgroup-buffers
# declares them so (by default their element's alignment).
WORKGROUP_ALIGN = 16
# The most points a chunk of the op takes (share_lanes), when set.
LANES = "mlirfuse.lanes"


def _bytes_of(element: ir.Type) -> int | None:
    """Bytes per element of a vectorizable type (None for i1: no vectors of it)."""
    if isinstance(element, ir.IntegerType) and element.width < 8:
        return None
    return st.element_bytes(element)


def aligned(value: ir.Value, nbytes: int) -> bool:
    """Whether the first element of buffer `value` is `nbytes`-aligned: entry arguments
    are (the runtime checks it per call), views keep it when their offsets do."""
    owner = st.defining_op(value)
    if owner is None:  # an entry argument, or a launch's workgroup buffer
        parent = value.owner.owner.operation.name
        if parent == "gpu.launch":  # 12 ids and sizes, then the workgroup buffers
            return ir.BlockArgument(value).arg_number >= 12 and nbytes <= WORKGROUP_ALIGN
        return parent == "func.func"
    if owner.name in ("memref.cast", "memref.expand_shape", "memref.collapse_shape"):
        return aligned(owner.operands[0], nbytes)
    if owner.name == "memref.alloc":  # a host temporary: placed 256-aligned in the workspace
        return nbytes <= 256
    if owner.name == "memref.reinterpret_cast":  # the guards' view of an argument
        return list(ir.DenseI64ArrayAttr(owner.attributes["static_offsets"])) == [0] \
            and aligned(owner.operands[0], nbytes)
    if owner.name == "memref.view":  # a temporary in the workspace
        return _multiple_of(owner.operands[1], nbytes)
    if owner.name == "memref.subview":
        source = ir.MemRefType(owner.operands[0].type)
        element = _bytes_of(source.element_type)
        dynamic = ir.ShapedType.get_dynamic_stride_or_offset()
        if element is None or not aligned(owner.operands[0], nbytes):
            return False
        offsets = list(ir.DenseI64ArrayAttr(owner.attributes["static_offsets"]))
        # A dynamic stride is a multiple of what _stride_divisors knows of it (the tile at
        # [i, j, 0] of a [128, ?, 512] buffer starts 512 elements apart from the next).
        for off, divisor in zip(offsets, _stride_divisors(owner.operands[0])):
            step = divisor * element * (1 if off == dynamic else off)
            if step % nbytes:
                return False
        return True
    return False


def _multiple_of(value: ir.Value, n: int) -> bool:
    """Whether an index is a multiple of n by how it is computed: constants, and sums and
    products of multiples (mlirfuse-workspace places temporaries of symbolic size at
    offsets it pads to 256 bytes on the host: `(ceildiv(bytes, 256) * 256) + ...`)."""
    constant = st.constant_value(value)
    if isinstance(constant, int):
        return constant % n == 0
    owner = st.defining_op(value)
    if owner is None:
        return False
    if owner.name == "arith.addi":
        return all(_multiple_of(v, n) for v in owner.operands)
    if owner.name == "arith.muli":
        return any(_multiple_of(v, n) for v in owner.operands)
    return False


def vector_width(op: ir.Operation, extents: list[int], vector_bytes: int,
                  reduction: bool = False) -> int:
    """The points per chunk along the innermost loop (1: no vectors). For a reduction
    over that loop, its outputs do not vary along it."""
    last = len(extents) - 1
    if last < 0:
        return 1
    widths = []
    contiguous = 0
    for value, amap in zip(op.operands, st.indexing_maps(op)):
        if not isinstance(value.type, ir.MemRefType):
            continue
        positions = st.dim_positions(amap)
        uses_last = any(last in gb.dims_of(e) for e in amap.results)
        if not uses_last:
            continue
        t = ir.MemRefType(value.type)
        element = _bytes_of(t.element_type)
        strides, _ = t.get_strides_and_offset()
        if element is None or positions[-1:] != [last] or strides[-1] != 1:
            return 1
        widths.append(element)
        contiguous += 1
    if not widths or (not reduction and any(last not in st.dim_positions(m)
                                            for m in gb.output_maps(op))):
        return 1
    width = vector_bytes // max(widths)
    if width < 2 or extents[last] % width:
        return 1
    for value, amap in zip(op.operands, st.indexing_maps(op)):
        if isinstance(value.type, ir.MemRefType) and last in st.dim_positions(amap):
            t = ir.MemRefType(value.type)
            element = _bytes_of(t.element_type)
            if not aligned(value, width * element) or not _rows_aligned(value, width):
                return 1
    return width


def _rows_aligned(value: ir.Value, width: int) -> bool:
    """Whether every row of buffer `value` (each step of an outer dimension) starts `width`
    elements aligned when its first does: each outer stride of a dimension that is stepped
    (size other than 1) is a multiple of `width` (_stride_divisors). The [:, :12] slice of
    a [2, 13] i64 buffer starts aligned, but its second row is 104 bytes on: 16-byte stores
    there were a "misaligned address" on the H200 (GPT-2's forward graph)."""
    t = ir.MemRefType(value.type)
    return all(size == 1 or divisor % width == 0
               for size, divisor in zip(t.shape[:-1], _stride_divisors(value)[:-1]))


def _stride_divisors(value: ir.Value) -> list[int]:
    """Per dimension of buffer `value`, a number its stride is a multiple of: the stride
    where static; for a dynamic one of a row-major buffer, the product of the static
    sizes inside it ([128, ?, 512]'s first stride is ? * 512); a slice keeps its source's
    (a row of [128, ?, 512] is [128, 1, 512] of strides [?, 512, 1]: still 512s)."""
    t = ir.MemRefType(value.type)
    strides, _ = t.get_strides_and_offset()
    dynamic = ir.ShapedType.get_dynamic_stride_or_offset()
    if dynamic not in strides:
        return list(strides)
    if isinstance(t.layout, ir.AffineMapAttr) and \
            t.layout.value == ir.AffineMap.get_identity(t.rank):
        divisors = []
        for d in range(t.rank):
            inner = [n for n in t.shape[d + 1:] if n != ir.ShapedType.get_dynamic_size()]
            divisors.append(math.prod(inner))
        return divisors
    owner = st.defining_op(value)
    if owner is not None and owner.name == "memref.subview" and \
            ir.MemRefType(owner.operands[0].type).rank == t.rank and \
            all(step == 1 for step in ir.DenseI64ArrayAttr(owner.attributes["static_strides"])):
        return _stride_divisors(owner.operands[0])
    return [s if s != dynamic else 1 for s in strides]


def chunk_width(op: ir.Operation, extents: list[int], vector_bytes: int,
                reductions: list[int] = ()) -> int:
    """The points a thread takes per chunk: of a parallel op, or of a reduction over the
    innermost loop only (1: scalar code)."""
    if not vector_bytes:
        return 1
    if reductions:
        width = vector_width(op, extents, vector_bytes, reduction=True) \
            if list(reductions) == [len(extents) - 1] else 1
    else:
        width = vector_width(op, extents, vector_bytes)
    if LANES in op.attributes:  # a power of two as every width: it divides this one
        width = min(width, ir.IntegerAttr(op.attributes[LANES]).value)
    return width


def share_lanes(ops: list[ir.Operation], vector_bytes: int) -> None:
    """Gives a kernel's vectorized ops that touch a buffer another one touches the
    narrowest chunk width among them (the LANES attribute, read by chunk_width): a
    thread then takes the same points in each, and what one op loaded or stored is in
    its registers for the next (gpu_registers). Widths are powers of two, so the
    narrowest divides the others' sizes and alignments.

    Before (softmax over bf16 rows of 1024): the max read 8 points a lane, exp (bf16
    in, f32 out) 4; exp read the row again and stored it in shared memory, which the
    sum and the division read back. After: 4 points a lane in every op; the row read
    once, exp's row in registers, its shared memory dropped."""
    widths = []
    for op in ops:
        if not st.is_structured(op) or st.static_extents(op) is None:
            continue
        extents = st.static_extents(op)
        width = chunk_width(op, extents, vector_bytes, gb.reduction_loops(op))
        if width > 1:
            roots = {rg.root(v) for v in op.operands if isinstance(v.type, ir.MemRefType)}
            widths.append((op, width, roots))
    sharing = [(op, width) for op, width, roots in widths
               if any(roots & other for o, _, other in widths if o != op)]
    if len({width for _, width in sharing}) < 2:
        return
    lanes = min(width for _, width in sharing)
    for op, _ in sharing:
        op.attributes[LANES] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), lanes)


def load_lanes(op: ir.Operation, first: list[ir.Value], width: int,
               skip: int = 0) -> list[list[tuple[ir.Value, ir.Value]]]:
    """Per lane of a chunk starting at loop indices `first`: (block argument, value) of
    each used operand but the last `skip`; one vector load per operand that varies
    along the innermost loop, one scalar load for the others."""
    last = len(first) - 1
    block = op.regions[0].blocks[0]
    lanes = [[] for _ in range(width)]
    operands = list(zip(op.operands, st.indexing_maps(op), block.arguments))
    for value, amap, arg in operands[:len(operands) - skip]:
        if not list(arg.uses):
            continue
        if not isinstance(value.type, ir.MemRefType):
            for lane in lanes:
                lane.append((arg, value))
            continue
        where = gb.apply_map(amap, first)
        t = ir.MemRefType(value.type)
        if last in st.dim_positions(amap):
            nbytes = width * _bytes_of(t.element_type)
            vec = rg.current().load_vector(ir.VectorType.get([width], t.element_type),
                                           value, where, nbytes)
            for i, lane in enumerate(lanes):
                lane.append((arg, vector.ExtractOp(vec, [], [i]).result))
        else:
            scalar = rg.current().load(value, where)
            for lane in lanes:
                lane.append((arg, scalar))
    return lanes


def lane_body(op: ir.Operation, loops: list[ir.Value], lane) -> "gb.Body":
    body = gb.Body.__new__(gb.Body)
    body.op, body.loops, body.block = op, loops, op.regions[0].blocks[0]
    body.mapping = list(lane)
    return body


def parallel_vectors(op: ir.Operation, worker: ir.Value, workers: ir.Value,
                      extents: list[int], width: int) -> None:
    chunks = extents[:-1] + [extents[-1] // width]

    def chunk(index, _):
        position = gb.delinearize(index, chunks)
        first = position[:-1] + [arith.MulIOp(position[-1], gb.index(width)).result]
        lanes = load_lanes(op, first, width)
        results = []
        for i, lane in enumerate(lanes):
            loops = first[:-1] + [arith.AddIOp(first[-1], gb.index(i)).result if i else first[-1]]
            body = lane_body(op, loops, lane)
            for inner in body.ops():
                body.clone(inner)
            results.append([body.lookup(v) for v in body.yielded()])
        for k, (out, amap) in enumerate(zip(gb.outputs(op), gb.output_maps(op))):
            t = ir.MemRefType(out.type)
            vec = vector.FromElementsOp(ir.VectorType.get([width], t.element_type),
                                        [r[k] for r in results]).result
            rg.current().store_vector(vec, out, gb.apply_map(amap, first),
                                      width * _bytes_of(t.element_type))
        return []
    rg.for_each(worker, math.prod(chunks), workers, chunk)
