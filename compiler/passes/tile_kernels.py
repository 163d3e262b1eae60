"""mlirfuse-tile-kernels: make each kernel function one parallel loop nest (`scf.forall`).

Matches: functions marked `mlirfuse.kernel` whose root op carries
`mlirfuse.tile_loops` (set by mlirfuse-form-fusion-groups).
Rewrites: tiles the root with `scf.forall` over its tile loops, then fuses every
other op of the kernel into the loop, consumers first (transform dialect:
`tile_using_forall`, `fuse_into_containing_op`), so each iteration computes one
tile (rows, for row reductions) from the kernel's inputs and nothing is
materialized in between. A producer that cannot be fused stays before the loop
(it is then a loop nest of its own); the pass never fails on that.
Tile sizes: 1 on every tile loop but the last; the last gets `inner-tile`
(at most the loop's extent) when it is the root's innermost loop (rank-1
elementwise), else 1. With `exact` (the GPU, whose code generator needs static
tile sizes) that inner tile divides the extent: the largest divisor up to
`inner-tile`, or, when there is none of at least 128, the whole extent (a single
tile, which canonicalize unrolls: the GPU runs each op of such a kernel as a launch
over the whole grid, through memory in between). Also with `exact`, a kernel of one
all-parallel op whose rows are shorter than 128 elements stays untiled: one launch
over all its elements instead of a block per short row.

Before:
  func.func private @kernel_0(%x: tensor<8x64xf32>) -> tensor<8x64xf32> {
    %m = linalg.generic {max over d1} ...
    %r = linalg.generic {exp(x - m)} ... {mlirfuse.tile_loops = array<i64: 0>}
    return %r
  }
After:
  func.func private @kernel_0(%x: tensor<8x64xf32>) -> tensor<8x64xf32> {
    %r = scf.forall (%i) in (8) shared_outs(%o = %empty) -> tensor<8x64xf32> {
      %m = linalg.generic {max over d1} (row %i) ...
      %t = linalg.generic {exp(x - m)} (row %i) ...
      scf.forall.in_parallel { tensor.parallel_insert_slice %t into %o[%i, 0] ... }
    }
    return %r
  }
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import scf
from torch_mlir.dialects.transform import interpreter

from . import structured as st
from .base import Pass
from .form_fusion_groups import TILE_ATTR
from .outline_fusion_groups import KERNEL_ATTR

FUSE_ATTR = "mlirfuse.fuse"
ROOT_ATTR = "mlirfuse.root"  # a unit attribute: transform matching compares values

_SEQUENCE = """
module attributes {{transform.with_named_sequence}} {{
  transform.named_sequence @main(%fn: !transform.any_op {{transform.readonly}}) {{
{body}
    transform.yield
  }}
}}
"""

_TILE = """
    %root = transform.structured.match attributes {{{attr}}} in %fn
        : (!transform.any_op) -> !transform.any_op
    %tiled, %loop = transform.structured.tile_using_forall %root tile_sizes {sizes}
        : (!transform.any_op) -> (!transform.any_op, !transform.any_op)"""

_FUSE = """
    %loop = transform.structured.match ops{{["scf.forall"]}} in %fn
        : (!transform.any_op) -> !transform.any_op
    %producer = transform.structured.match attributes {{{attr} = {index} : i64}} in %fn
        : (!transform.any_op) -> !transform.any_op
    %fused, %new_loop = transform.structured.fuse_into_containing_op %producer into %loop
        : (!transform.any_op, !transform.any_op) -> (!transform.any_op, !transform.any_op)"""


def apply_transform(fn: ir.Operation, body: str) -> bool:
    """Runs a transform sequence on `fn`; False when it fails (the IR is then unchanged)."""
    script = ir.Module.parse(_SEQUENCE.format(body=body))
    sequence = script.body.operations[0]
    try:
        interpreter.apply_named_sequence(fn, sequence, script)
    except (ir.MLIRError, ValueError):  # the interpreter reports failures as ValueError
        return False
    return True


# The attribute a transform script matches to find the one op transform_op runs it on.
TARGET_ATTR = "mlirfuse.transform_target"


def transform_op(op: ir.Operation, body: str) -> bool:
    """Runs transform `body`, which matches ops carrying TARGET_ATTR, on `op` alone:
    tags `op`, runs, then clears the tag from whatever carries it. False when it fails,
    or when `op` has a dimension of size 0: upstream tiling and splitting crash on a loop
    of extent 0 (a release build: SIGSEGV; a layer_norm of zero rows in
    mlirfuse-reduce-in-lanes, found by bench/fuzz.py)."""
    if has_empty_tensor([op]):
        return False
    # The transform runs on a region wrapped around the op alone, not its function:
    # matching and clearing the tag then see that op only, so a pass transforming every
    # kernel of a model stays linear in its size (on the function, GPT-2's 12 layers spent
    # 2.7 s in mlirfuse-vectorize-kernels' walks and 0.6 s in reduce-in-lanes', 2 layers
    # 0.1 s). The scripts match the tagged op alone, so they need nothing outside it.
    scope = _wrap(op)
    op.attributes[TARGET_ATTR] = ir.UnitAttr.get()
    try:
        return apply_transform(scope, body)
    finally:
        for tagged in [o for o in st.walk(scope) if TARGET_ATTR in o.attributes]:
            del tagged.attributes[TARGET_ATTR]
        _unwrap(scope)


def _wrap(op: ir.Operation) -> ir.Operation:
    """Moves `op` into a new scf.execute_region in its place (yielding its results)."""
    op = op.operation
    with ir.InsertionPoint(op), op.location:
        wrapper = scf.ExecuteRegionOp([r.type for r in op.results]).operation
        for old, new in zip(op.results, wrapper.results):
            old.replace_all_uses_with(new)
        with ir.InsertionPoint(wrapper.regions[0].blocks.append()):
            terminator = scf.YieldOp(list(op.results)).operation
    op.move_before(terminator)
    return wrapper


def _unwrap(wrapper: ir.Operation) -> None:
    """Moves the ops of _wrap's region back in its place and erases it."""
    ops = [o.operation for o in wrapper.regions[0].blocks[0].operations]
    for op in ops[:-1]:
        op.move_before(wrapper)
    for old, new in zip(wrapper.results, ops[-1].operands):
        old.replace_all_uses_with(new)
    wrapper.erase()


def _divisor_tile(extent: int, limit: int, smallest: int = 128) -> int:
    """The largest divisor of `extent` up to `limit` if it is at least `smallest`, else
    `extent` (one tile; tiles of a few elements would leave most threads idle)."""
    for size in range(min(limit, extent), smallest - 1, -1):
        if extent % size == 0:
            return size
    return extent


def _short_rows(root: ir.Operation, tile_loops: list[int], shortest: int = 128) -> bool:
    """Whether all-parallel `root` is tiled by rows (its innermost loop untiled) shorter
    than `shortest` elements."""
    innermost = st.loop_count(root) - 1
    if st.reduction_loops(root) or innermost in tile_loops:
        return False
    extent = st.loop_extent(root, innermost)
    return extent is not None and extent < shortest


def has_empty_tensor(ops: list[ir.Operation]) -> bool:
    for op in ops:
        for value in list(op.operands) + list(op.results):
            if isinstance(value.type, ir.RankedTensorType) and 0 in value.type.shape:
                return True
    return False


def _is_fill(op: ir.Operation | None) -> bool:
    """A fill: linalg.fill, or a generic whose every point is one value. (Ops sharing a
    tensor.empty read nothing from it: they stay as they are.)"""
    return op is not None and op.name in ("linalg.fill", "linalg.generic") \
        and len(op.results) == 1 and st.uniform_value(op) is not None


def _untie_destinations(ops: list[ir.Operation]) -> None:
    """Gives every op its own copy of a destination that several ops write into (CSE
    merges equal fills: cosine_similarity's three sums started from one zero fill).
    Tiling makes the root's destination the loop's shared output; a fused fill then wrote
    the tile of it that the other sums also started from, as their partial sums, so they
    read each other's (garbage, 1e35: a wrong result)."""
    for op in ops:
        if not st.is_structured(op):
            continue
        first = len(op.operands) - st.num_dps_inits(op)
        for i in range(first, len(op.operands)):
            init = st.defining_op(op.operands[i])
            if _is_fill(init) and len(list(op.operands[i].uses)) > 1:
                with ir.InsertionPoint(op), op.location:
                    op.operands[i] = init.clone(ip=ir.InsertionPoint(op)).results[0]


def _crashes_fusion(fn: ir.Operation, index: int) -> bool:
    """Whether fusing producer `index` into the loop would crash fuse_into_containing_op:
    a producer read in the loop more than once, once inside an scf.if (a fused pad's:
    `torch.cat([t, t])` concatenated as a select of two padded copies of t) made the
    release build of upstream MLIR dereference a null op (SIGSEGV). Such a producer stays
    before the loop (a loop nest of its own)."""
    producer = next((o for o in st.walk(fn) if FUSE_ATTR in o.attributes and
                     ir.IntegerAttr(o.attributes[FUSE_ATTR]).value == index), None)
    if producer is None:
        return False
    loop = next((o for o in st.walk(fn) if o.name == "scf.forall"), None)
    if loop is None:
        return False
    users = [st.owner_op(u) for r in producer.results for u in r.uses]
    inside = [u for u in users if st.is_nested_in(u, loop)]
    return len(inside) > 1 and any(a.name == "scf.if" for u in inside
                                   for a in _ancestors(u, loop))


def _ancestors(op: ir.Operation, stop: ir.Operation):
    """The ops enclosing `op`, innermost first, up to (not including) `stop`."""
    parent = op.operation.parent
    while parent is not None and parent.operation != stop.operation:
        yield parent.operation
        parent = parent.operation.parent


def _erase_dead(fn: ir.Operation) -> None:
    """Erases ops on tensors left without uses by a fusion (a fused tensor.pad stays
    behind, and a later fusion must not see it as a user of its producer)."""
    for op in reversed([o.operation for o in fn.regions[0].blocks[0].operations]):
        if st.is_tileable(op) and all(not list(r.uses) for r in op.results):
            op.erase()


@dataclasses.dataclass
class TileKernels(Pass):
    """Turns each kernel function into one scf.forall over tiles, producers fused in."""

    ARGUMENT = "mlirfuse-tile-kernels"
    inner_tile: int = 1024
    exact: bool = False

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module, marked=KERNEL_ATTR):
            self._tile(fn)

    def tile_sizes(self, root: ir.Operation, tile_loops: list[int]) -> list[int]:
        sizes = [0] * st.loop_count(root)
        for loop in tile_loops:
            sizes[loop] = 1
        last = tile_loops[-1] if tile_loops else None
        if last is not None and last == st.loop_count(root) - 1:
            extent = st.loop_extent(root, last) or self.inner_tile
            sizes[last] = max(1, min(self.inner_tile, extent))
            if self.exact and extent % sizes[last]:
                sizes[last] = _divisor_tile(extent, self.inner_tile)
        return sizes

    def _tile(self, fn: ir.Operation) -> None:
        ops = [o.operation for o in fn.regions[0].blocks[0].operations]
        roots = [op for op in ops if TILE_ATTR in op.attributes]
        if len(roots) != 1:
            return
        root = roots[0]
        tile_loops = list(ir.DenseI64ArrayAttr(root.attributes[TILE_ATTR]))
        if not tile_loops or has_empty_tensor(ops) or len(root.results) != 1:
            # Rank 0: one iteration. Zero-element tensors: nothing to compute per tile, and
            # upstream tiling crashes on loops of extent 0 (it is a release build). Roots
            # with several results (argmax: value and index): bufferizing their forall's
            # shared outputs met read-after-write conflicts; they stay untiled for now.
            self._clear(fn)
            return
        _untie_destinations(ops)
        ops = [o.operation for o in fn.regions[0].blocks[0].operations]
        producers = [op for op in ops if st.is_tileable(op) and op != root][::-1]
        if self.exact and not producers and _short_rows(root, tile_loops):
            # One op over short rows (NCHW's 28-wide images): a block per row of 28
            # elements left most threads idle and spent the time on 458752 block launches
            # (180 us for a bias broadcast the copy roofline puts at 17 us). Untiled, the
            # GPU runs the op as one launch over all its elements.
            self._clear(fn)
            return
        for i, op in enumerate(producers):
            op.attributes[FUSE_ATTR] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), i)
        sizes = self.tile_sizes(root, tile_loops)
        root.attributes[ROOT_ATTR] = ir.UnitAttr.get()
        if apply_transform(fn, _TILE.format(attr=ROOT_ATTR, sizes=sizes)):
            for i in range(len(producers)):
                if _crashes_fusion(fn, i):
                    continue
                if apply_transform(fn, _FUSE.format(attr=FUSE_ATTR, index=i)):
                    _erase_dead(fn)
        self._clear(fn)

    @staticmethod
    def _clear(fn: ir.Operation) -> None:
        for op in st.walk(fn):
            for attr in (FUSE_ATTR, TILE_ATTR, ROOT_ATTR):
                if attr in op.attributes:
                    del op.attributes[attr]
