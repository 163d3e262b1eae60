"""Views of linalg structured ops for the passes: loops, maps, producers, users, the
combining ops of reductions; and the constants and powers several passes build.

Not a pass. For a linalg op, loop d is a reduction loop exactly when it appears
in no output indexing map; everything else is parallel.
"""

from __future__ import annotations

from torch_mlir import ir
from torch_mlir.dialects import arith, linalg

# Ops that are free to clone into a kernel: they compute nothing per element.
CLONABLE = ("arith.constant", "tensor.empty")

# Combining op → (gpu.all_reduce operation, identity kind).
COMBINERS = {
    "arith.addf": ("add", "zero"), "arith.addi": ("add", "zero"),
    "arith.mulf": ("mul", "one"), "arith.muli": ("mul", "one"),
    "arith.maximumf": ("maximumf", "lowest"), "arith.maxnumf": ("maxnumf", "lowest"),
    "arith.minimumf": ("minimumf", "highest"), "arith.minnumf": ("minnumf", "highest"),
    "arith.maxsi": ("maxsi", "lowest"), "arith.minsi": ("minsi", "highest"),
    "arith.maxui": ("maxui", "zero"), "arith.minui": ("minui", "all_ones"),
    "arith.andi": ("and", "all_ones"), "arith.ori": ("or", "zero"), "arith.xori": ("xor", "zero"),
}


def is_structured(op: ir.Operation) -> bool:
    """A linalg op with indexing maps (generic, named, fill...), not a body op."""
    name = op.name
    return name.startswith("linalg.") and name not in ("linalg.yield", "linalg.index")


def is_tileable(op: ir.Operation) -> bool:
    """An op the fusion passes can put in a kernel: structured, or a tensor.pad."""
    return is_structured(op) or op.name == "tensor.pad"


def indexing_maps(op: ir.Operation) -> list[ir.AffineMap]:
    """The op's indexing maps; a tensor.pad reads and writes element (i, j, ...) at (i, j, ...)
    (its offsets are constants, so along every loop the piece and the result move together)."""
    if op.name == "tensor.pad":
        identity = ir.AffineMap.get_identity(op.results[0].type.rank)
        return [identity, identity]
    return [attr.value for attr in linalg.get_indexing_maps(op)]


def num_dps_inits(op: ir.Operation) -> int:
    """Number of `outs` operands (every result of a structured op has one)."""
    return len(op.results)


def output_maps(op: ir.Operation) -> list[ir.AffineMap]:
    return indexing_maps(op)[-num_dps_inits(op):]


def loop_count(op: ir.Operation) -> int:
    maps = indexing_maps(op)
    return maps[0].n_dims if maps else 0


def dim_positions(amap: ir.AffineMap) -> list[int | None]:
    """Each result of `amap` as a loop index, or None when it is not a plain dimension."""
    return [e.position if isinstance(e, ir.AffineDimExpr) else None for e in amap.results]


def loop_extent(op: ir.Operation, loop: int) -> int | None:
    """The static trip count of `loop`, read off a tensor it indexes directly."""
    values = list(op.results) if op.name == "tensor.pad" else list(op.operands)
    maps = indexing_maps(op)[-len(values):] if op.name == "tensor.pad" else indexing_maps(op)
    for value, amap in zip(values, maps):
        positions = dim_positions(amap)
        if loop in positions and isinstance(value.type, ir.RankedTensorType):
            size = value.type.shape[positions.index(loop)]
            return None if size < 0 else size
    return None


def reduction_loops(op: ir.Operation) -> list[int]:
    used = {p for m in output_maps(op) for p in dim_positions(m) if p is not None}
    return [d for d in range(loop_count(op)) if d not in used]


def is_contraction(op: ir.Operation, widening: bool = False) -> bool:
    """A generic computing out += a * b (matmul, batch matmul, their transposes): two
    inputs, one output, at least one reduction loop, every map a projection. With
    `widening`, also one whose half-precision inputs are extended to its f32 output's
    type first (is_widening_mul_add: torch-mlir's bf16 and f16 matmuls)."""
    if op.name != "linalg.generic" or len(op.regions[0].blocks[0].arguments) != 3:
        return False
    maps = indexing_maps(op)
    if not reduction_loops_of(maps, 1) or any(None in dim_positions(m) for m in maps):
        return False
    return is_mul_add(op) or (widening and is_widening_mul_add(op))


def is_mul_add(op: ir.Operation) -> bool:
    """A generic whose body is `out + a * b` of its two inputs and its output (a
    contraction's, or a convolution's)."""
    if op.name != "linalg.generic" or len(op.regions[0].blocks[0].arguments) != 3:
        return False
    block = op.regions[0].blocks[0]
    body = [o.operation for o in block.operations]
    if len(body) != 3 or body[0].name not in ("arith.mulf", "arith.muli") \
            or body[1].name not in ("arith.addf", "arith.addi"):
        return False
    a, b, out = block.arguments
    mul, add = body[0], body[1]
    return set(mul.operands) == {a, b} and set(add.operands) == {out, mul.results[0]} \
        and list(body[2].operands) == [add.results[0]]


def is_widening_mul_add(op: ir.Operation) -> bool:
    """A generic whose body is `out + extf(a) * extf(b)`: inputs of one half-precision
    type (f16, bf16), the output f32, the products summed in f32 (cuBLAS's compute
    type for half inputs; a matmul in bf16 lowers so, then rounds the sum once)."""
    if op.name != "linalg.generic" or len(op.regions[0].blocks[0].arguments) != 3:
        return False
    block = op.regions[0].blocks[0]
    body = [o.operation for o in block.operations]
    if [o.name for o in body] != ["arith.extf", "arith.extf", "arith.mulf", "arith.addf",
                                  "linalg.yield"]:
        return False
    a, b, out = block.arguments
    if str(out.type) != "f32" or str(a.type) not in ("f16", "bf16") or a.type != b.type:
        return False
    wa, wb, mul, add = (o.results[0] for o in body[:4])
    # Either order of the extensions (fusion puts the last producer fused first).
    return {body[0].operands[0], body[1].operands[0]} == {a, b} \
        and set(body[2].operands) == {wa, wb} and set(body[3].operands) == {out, mul} \
        and list(body[4].operands) == [add]


def reduction_loops_of(maps: list[ir.AffineMap], outputs: int) -> list[int]:
    """The loops that index no output, for maps [inputs..., outputs...]."""
    used = {p for m in maps[len(maps) - outputs:] for p in dim_positions(m) if p is not None}
    return [d for d in range(maps[0].n_dims) if d not in used] if maps else []


def element_bytes(element: ir.Type) -> int:
    """Bytes one element takes in a buffer (i1 one byte, index eight)."""
    if isinstance(element, (ir.IntegerType, ir.FloatType)):
        return max(1, element.width // 8)
    return 8


def defining_op(value: ir.Value) -> ir.Operation | None:
    """The op defining `value` (as ir.Operation, never an OpView), None for block arguments."""
    owner = value.owner
    return None if isinstance(owner, ir.Block) else owner.operation


def constant_value(value: ir.Value) -> int | float | None:
    """The value of a scalar `arith.constant` (int, or float), or of a splat vector one or a
    vector.broadcast of one; None for anything else."""
    owner = defining_op(value)
    if owner is not None and owner.name == "vector.broadcast":
        owner = defining_op(owner.operands[0])
    if owner is None or owner.name != "arith.constant":
        return None
    attr = owner.attributes["value"]
    if isinstance(attr, ir.DenseElementsAttr) and attr.is_splat:
        attr = attr.get_splat_value()
    if isinstance(attr, ir.IntegerAttr):
        return ir.IntegerAttr(attr).value
    if isinstance(attr, ir.FloatAttr):
        return ir.FloatAttr(attr).value
    return None


def uniform_value(op: ir.Operation) -> ir.Value | None:
    """The value a one-output linalg op yields at every point when it does not depend on
    the point (a fill's: a scalar operand, or a value from outside its body), else None."""
    block = op.regions[0].blocks[0]
    yielded = list(block.operations[len(block.operations) - 1].operands)
    if len(yielded) != 1:
        return None
    value = yielded[0]
    if isinstance(value.owner, ir.Block):
        if value.owner != block:
            return value
        operand = op.operands[ir.BlockArgument(value).arg_number]
        return None if isinstance(operand.type, ir.ShapedType) else operand
    return None if value.owner.operation.parent == op else value


def fills_zero(op: ir.Operation | None) -> bool:
    """Whether `op` fills its one output with zeros (linalg.fill, or its generalized
    generic; on tensors or buffers)."""
    if op is None or op.name not in ("linalg.fill", "linalg.generic") \
            or len(op.opview.outputs) != 1:
        return False
    value = uniform_value(op)
    return value is not None and constant_value(value) == 0


def owner_op(use) -> ir.Operation:
    """The op of a use (OpOperand), as ir.Operation."""
    return use.owner.operation


def top_level_ancestor(op: ir.Operation, block_owner: ir.Operation) -> ir.Operation | None:
    """The ancestor of `op` (itself included) whose parent is `block_owner`."""
    op = op.operation if op is not None else None
    while op is not None:
        parent = op.parent
        if parent is None:
            return None
        parent = parent.operation
        if parent == block_owner:
            return op
        op = parent
    return None


def is_nested_in(op: ir.Operation, container: ir.Operation) -> bool:
    """Whether `op` is nested in one of `container`'s regions (the container itself is not)."""
    op, container = op.operation, container.operation
    parent = op.parent
    while parent is not None:
        parent = parent.operation
        if parent == container:
            return True
        parent = parent.parent
    return False


def functions(module: ir.Operation, marked: str | None = None) -> list[ir.Operation]:
    """The module's func.func ops with bodies (a list: passes may add functions while
    iterating), only those carrying attribute `marked` when given. Declarations (the
    external functions of extern calls, compiler/extern.py) have nothing to rewrite."""
    return [o.operation for o in module.regions[0].blocks[0].operations
            if o.operation.name == "func.func" and len(o.operation.regions[0].blocks)
            and (marked is None or marked in o.operation.attributes)]


def walk(op: ir.Operation):
    """`op` and every op nested in it, pre-order."""
    yield op
    for region in op.regions:
        for block in region.blocks:
            for child in block.operations:
                yield from walk(child.operation)


def loop_extents(op: ir.Operation) -> list[int | None]:
    """The loop extents of a structured op (on buffers or tensors), each from an operand
    whose size along it is static; None for a loop no operand gives statically (a symbolic
    size)."""
    extents: list[int | None] = [None] * loop_count(op)
    for value, amap in zip(op.operands, indexing_maps(op)):
        if not isinstance(value.type, (ir.MemRefType, ir.RankedTensorType)):
            continue  # a scalar operand
        shape = ir.ShapedType(value.type).shape
        for size, pos in zip(shape, dim_positions(amap)):
            if pos is not None and size >= 0:
                extents[pos] = size
    return extents


def static_extents(op: ir.Operation) -> list[int] | None:
    """The loop extents of a structured op, None when one is not static."""
    extents = loop_extents(op)
    return None if any(e is None for e in extents) else extents


def combiners(op: ir.Operation) -> list[ir.Operation] | None:
    """For each output, the op folding it (`acc = combine(acc, x)`), or None if the
    body is not of that form (argmax's compare-and-select, a Welford update...)."""
    block = op.regions[0].blocks[0]
    n_in = len(op.operands) - len(op.opview.outputs)
    out_args = list(block.arguments)[n_in:]
    found = []
    terminator = block.operations[len(block.operations) - 1]
    for arg, value in zip(out_args, terminator.operands):
        owner = defining_op(value)
        uses = list(arg.uses)
        if owner is None or owner.name not in COMBINERS or len(uses) != 1 \
                or owner_op(uses[0]) != owner:
            return None
        found.append(owner)
    return found


def small_constant(value: ir.Value) -> int | None:
    """The value of an integer constant in [-8, 8], else None."""
    n = constant_value(value)
    return n if isinstance(n, int) and -8 <= n <= 8 else None


def float_constant(t: ir.Type, value: float) -> ir.Value:
    """An arith.constant of float type `t`, or of a vector of floats (splat)."""
    if isinstance(t, ir.VectorType):
        scalar = ir.FloatAttr.get(ir.VectorType(t).element_type, value)
        return arith.ConstantOp(t, ir.DenseElementsAttr.get_splat(t, scalar)).result
    return arith.ConstantOp(t, ir.FloatAttr.get(t, value)).result


def power(base: ir.Value, n: int) -> ir.Value:
    """base**n (a float or a vector of floats) for a small integer n, by repeated squaring:
    x.pow(2) is one multiply, where math.fpowi would be a libdevice call on NVPTX and has
    no vector form in LLVM (powi takes a scalar exponent)."""
    if n < 0:
        return arith.DivFOp(float_constant(base.type, 1.0), power(base, -n)).result
    if n == 0:
        return float_constant(base.type, 1.0)
    result, square = None, base
    while n:
        if n & 1:
            result = square if result is None else arith.MulFOp(result, square).result
        n >>= 1
        if n:
            square = arith.MulFOp(square, square).result
    return result
