"""mlirfuse-form-fusion-groups: group linalg ops into kernels, one `mlirfuse.group` each.

Matches: linalg structured ops at the top level of each function, on tensors
(after `linalg-fold-unit-extent-dims` and `linalg-fuse-elementwise-ops`, which
already merge elementwise chains into single generics).

Policy. A group is one kernel: one parallel loop nest over the tile loops of
its root (its last op), with every other member computed inside that loop for
the current tile. Walking the ops backwards, each op not yet grouped becomes a
root; a producer joins its consumer's group when
  * it is a linalg structured op or a tensor.pad (tm_tensor ops and tensor
    reshapes stay out),
  * every use of its results is inside the group (its whole result is not
    needed elsewhere, so nothing is computed twice), and
  * every tile loop of the root reaches one of its parallel loops through the
    indexing maps, the same way from every consumer in the group (so the
    producer's tile is a slice along the same loops: elementwise producers into
    reductions, reductions into their elementwise consumers over the same rows,
    matmuls and convolutions into their elementwise epilogues). A producer
    that does not vary along a tile loop (e.g. a bias computed once per column)
    would be recomputed for every tile, so it stays out: its own kernel.
The root's tile loops: every parallel loop of a root with reductions; all but
the innermost loop of an all-parallel root (rows), its only loop at rank 1.
Groups hold at most MAX_GROUP_INPUTS inputs and only the root's results leave
a group. Constants and `tensor.empty` are cloned into each group that uses them.

Option `library-contractions` (the default pipelines, CPU and GPU): contractions
(matmuls) are never fused into a consumer and stay untiled, with only their
accumulator's fill, so mlirfuse-library-gemm can make them BLAS calls (MKL,
cuBLAS); their elementwise epilogues form kernels of their own. Option
`half-contractions` (the GPU) counts contractions of f16 or bf16 inputs summed in f32
among them (structured.is_widening_mul_add: cuBLAS takes them; the CPU's BLAS does
not, and there they stay tiled kernels; set by the CUDA pipeline while
library_gemm.HALF_INPUTS). Option `library-convolutions` (the GPU) does
the same for the 2-D convolutions cuDNN takes (mlirfuse-library-conv).

Rewrites: each group's ops move into an isolated `mlirfuse.group` placed where
the root was; its operands are the values the ops use from outside, its results
the root's results. The tile loops are recorded on the root as
`mlirfuse.tile_loops` for the tiling pass.

Before:
  %m = linalg.generic {reduction: max over d1} ins(%x) outs(%fill0)
  %e = linalg.generic {exp(x - m)} ins(%x, %m) outs(%empty)
  ...
  %r = linalg.generic {e / s} ins(%e, %s) outs(%empty)
After:
  %r = "mlirfuse.group"(%x) ({
  ^bb0(%in: tensor<8x64xf32>):
    ... the same ops on %in ...
    gpu.yield %r' : tensor<8x64xf32>
  }) {kernel = "kernel_0", ...}
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import linalg, tensor

from ... import dialects
from . import convolution
from . import structured as st
from .base import Pass, PassError

TILE_ATTR = "mlirfuse.tile_loops"


@dataclasses.dataclass
class _Group:
    root: ir.Operation
    # member op → the member's loop for each tile loop of the root
    tiles: dict = dataclasses.field(default_factory=dict)


def root_tile_loops(op: ir.Operation) -> list[int]:
    """The loops of a root that the kernel's parallel loop nest iterates over."""
    n = st.loop_count(op)
    reductions = st.reduction_loops(op)
    if reductions:
        return [d for d in range(n) if d not in reductions]
    return list(range(n - 1)) if n >= 2 else list(range(n))


def _producer_tiles(consumer_tiles: list[int], operand_map: ir.AffineMap,
                    producer: ir.Operation, result_number: int) -> list[int] | None:
    """Maps the consumer's tile loops to the producer's loops, or None when it cannot."""
    operand_dims = st.dim_positions(operand_map)
    out_dims = st.dim_positions(st.output_maps(producer)[result_number])
    tiles = []
    for loop in consumer_tiles:
        if loop not in operand_dims:
            return None  # the producer does not vary along this tile loop
        loop_of_producer = out_dims[operand_dims.index(loop)]
        if loop_of_producer is None:
            return None
        tiles.append(loop_of_producer)
    return tiles


class _Former:
    """Forms the groups of one function body."""

    def __init__(self, fn: ir.Operation, library_contractions: bool = False,
                 library_convolutions: bool = False, half_contractions: bool = False):
        self.fn = fn
        self.library_contractions = library_contractions
        self.half_contractions = half_contractions
        self.library_convolutions = library_convolutions
        self.block = fn.regions[0].blocks[0]
        self.group_of: dict = {}

    def is_library(self, op: ir.Operation) -> bool:
        """Whether `op` becomes a library call (left untiled, in a group of its own)."""
        return (self.library_contractions and st.is_contraction(
            op, widening=self.half_contractions)) or (
            self.library_convolutions and convolution.library_takes(op))

    def try_add(self, group: _Group, producer: ir.Operation) -> bool:
        if self.is_library(producer):
            return False  # a library call of its own; its epilogue is another kernel
        if self.is_library(group.root) and not (
                len(producer.operands) == 1 and group.root.operands[2] == producer.results[0]):
            return False  # only the accumulator's fill joins a library call
        tiles = None
        for result in producer.results:
            for use in result.uses:
                consumer = st.top_level_ancestor(st.owner_op(use), self.fn)
                if consumer is None or self.group_of.get(consumer) is not group \
                        or consumer not in group.tiles:
                    return False
                maps = st.indexing_maps(consumer)
                mapped = _producer_tiles(group.tiles[consumer], maps[use.operand_number],
                                         producer, result.result_number)
                if mapped is None or (tiles is not None and mapped != tiles):
                    return False
                tiles = mapped
        if tiles is None:
            return False
        members = set(group.tiles) | {producer}
        block_order = [o.operation for o in self.block.operations
                       if o.operation in members]
        inputs = external_inputs(block_order, self.fn,
                                 lambda top: top in members)
        if len(inputs) > dialects.MAX_GROUP_INPUTS:
            return False
        group.tiles[producer] = tiles
        self.group_of[producer] = group
        return True

    def grow(self, group: _Group) -> None:
        changed = True
        while changed:
            changed = False
            for member in list(group.tiles):
                for operand in member.operands:
                    producer = st.defining_op(operand)
                    if producer is None or producer in self.group_of \
                            or not st.is_tileable(producer) \
                            or st.top_level_ancestor(producer, self.fn) != producer:
                        continue
                    changed |= self.try_add(group, producer)

    def own_fills(self) -> None:
        """Gives each contraction its own copy of a shared accumulator fill (cse merged
        them), so the fill joins the contraction's group and the library call can drop it.
        Each copy is tagged with its contraction's number, so that cse keeps it apart."""
        i64 = ir.IntegerType.get_signless(64)
        for number, op in enumerate([o.operation for o in self.block.operations]):
            if not self.is_library(op):
                continue
            self.fill_through_reshape(op)
            fill = st.defining_op(op.operands[2])
            if fill is None or fill.name != "linalg.generic" or len(fill.operands) != 1 \
                    or len(list(fill.results[0].uses)) < 2:
                continue
            clone = fill.clone(ir.InsertionPoint(op))
            clone.attributes["mlirfuse.fill_of"] = ir.IntegerAttr.get(i64, number)
            op.operands[2] = clone.results[0]

    @staticmethod
    def fill_through_reshape(op: ir.Operation) -> None:
        """A library op accumulating into a reshaped fill (the transformer's output
        projection: a [8192, 512] zero fill expanded to [128, 64, 512]) gets a fill of its
        own shape: bufferization copied the zeros into a new buffer (a 16 MB fill, a
        32 MB copy, and the GEMM reading them back), where the call can overwrite."""
        reshape = st.defining_op(op.operands[2])
        if reshape is None or reshape.name not in ("tensor.expand_shape",
                                                   "tensor.collapse_shape"):
            return
        fill = st.defining_op(reshape.operands[0])
        if fill is None or fill.name not in ("linalg.generic", "linalg.fill") \
                or len(fill.opview.outputs) != 1 or len(fill.operands) != 1 + (
                    fill.name == "linalg.fill"):
            return
        value = st.uniform_value(fill)
        if value is None:
            return
        shaped = ir.RankedTensorType(reshape.results[0].type)
        if not shaped.has_static_shape:  # (the fill's sizes would come from the reshape)
            return
        parallel = ir.Attribute.parse("#linalg.iterator_type<parallel>")
        identity = ir.AffineMap.get_identity(shaped.rank)
        with ir.InsertionPoint(op), op.location:
            empty = tensor.EmptyOp(shaped.shape, shaped.element_type).result
            # A generic with no inputs, as the generalized fill the contraction's group takes.
            refill = linalg.GenericOp([shaped], [], [empty],
                                      ir.ArrayAttr.get([ir.AffineMapAttr.get(identity)]),
                                      ir.ArrayAttr.get([parallel] * shaped.rank))
            body = refill.regions[0].blocks.append(shaped.element_type)
            with ir.InsertionPoint(body):
                linalg.YieldOp([value])
            op.operands[2] = refill.results[0]
        if not list(reshape.results[0].uses):
            reshape.erase()
            if not list(fill.results[0].uses):
                fill.erase()

    def run(self) -> list[_Group]:
        if self.library_contractions or self.library_convolutions:
            self.own_fills()
        ops = [o.operation for o in self.block.operations]
        groups = []
        for op in reversed(ops):
            if op in self.group_of or not st.is_tileable(op):
                continue
            tiles = [] if self.is_library(op) \
                else root_tile_loops(op)  # an untiled contraction becomes a library call
            group = _Group(root=op, tiles={op: tiles})
            self.group_of[op] = group
            self.grow(group)
            groups.append(group)
        return groups[::-1]


MEMBER_ATTR = "mlirfuse.member"


def _member(op: ir.Operation, fn: ir.Operation) -> int | None:
    """The group index tagged on `op`'s top-level ancestor, if any."""
    top = st.top_level_ancestor(op, fn)
    if top is None or MEMBER_ATTR not in top.attributes:
        return None
    return ir.IntegerAttr(top.attributes[MEMBER_ATTR]).value


def external_inputs(members: list[ir.Operation], fn: ir.Operation, is_member) -> list[ir.Value]:
    """Values the members (in block order) use from outside, in first-use order.

    `is_member(top_level_op)` says whether a top-level op of `fn` is in the group.
    Clonables (constants, tensor.empty) are not inputs: each group gets a copy, and
    what the copy uses from outside is (a dynamic size of a tensor.empty).
    """
    seen, inputs = set(), []

    def visit(operands):
        for value in operands:
            owner = st.defining_op(value)
            top = st.top_level_ancestor(value.owner.owner if owner is None else owner, fn)
            if top is not None and is_member(top):
                continue
            if owner is not None and owner.name in st.CLONABLE:
                visit(owner.operands)
                continue
            if value not in seen:
                seen.add(value)
                inputs.append(value)

    for member in members:
        for op in st.walk(member):
            visit(op.operands)
    return inputs


def wrap(fn: ir.Operation, index: int, name: str) -> ir.Operation:
    """Moves the ops tagged with group `index` into a new `mlirfuse.group` at the root's place.

    Ops are found by their tag, not by Python handles: handles of ops that other
    rewrites touched do not stay usable as dictionary keys.
    """
    block = fn.regions[0].blocks[0]
    members = [o.operation for o in block.operations
               if MEMBER_ATTR in o.operation.attributes
               and ir.IntegerAttr(o.operation.attributes[MEMBER_ATTR]).value == index]
    root = next(op for op in members if TILE_ATTR in op.attributes)
    inputs = external_inputs(members, fn, lambda top: _member(top, fn) == index)
    outputs = list(root.results)
    if len(inputs) > dialects.MAX_GROUP_INPUTS or len(outputs) > dialects.MAX_GROUP_OUTPUTS:
        # Only a root alone can be this wide (producers join within the limits).
        raise PassError(f"'{root.name}' reads {len(inputs)} tensors and writes "
                        f"{len(outputs)}: one kernel takes at most "
                        f"{dialects.MAX_GROUP_INPUTS} and {dialects.MAX_GROUP_OUTPUTS}",
                        root.location)
    with ir.InsertionPoint(root), root.location:
        op = dialects.group(inputs, [v.type for v in outputs], name).operation
    body = op.regions[0].blocks[0]
    with ir.InsertionPoint(body), root.location:
        terminator = dialects.group_yield(outputs)
    for member in members:
        member.move_before(terminator)
        del member.attributes[MEMBER_ATTR]
    # Clonables used inside: a private copy each, at the top of the body.
    for member in members:
        for inner in st.walk(member):
            for value in inner.operands:
                owner = st.defining_op(value)
                if owner is not None and owner.name in st.CLONABLE \
                        and not st.is_nested_in(owner, op):
                    clone = owner.clone(ir.InsertionPoint.at_block_begin(body))
                    for use in list(value.uses):
                        if st.is_nested_in(use.owner, op):
                            use.owner.operands[use.operand_number] = clone.results[0]
    for value, arg in zip(inputs, body.arguments):
        for use in list(value.uses):
            if st.is_nested_in(use.owner, op):
                use.owner.operands[use.operand_number] = arg
    for value, result in zip(outputs, op.results):
        for use in list(value.uses):
            if not st.is_nested_in(use.owner, op):
                use.owner.operands[use.operand_number] = result
    return op


@dataclasses.dataclass
class FormFusionGroups(Pass):
    """Groups linalg ops into kernels: one isolated mlirfuse.group per kernel."""

    ARGUMENT = "mlirfuse-form-fusion-groups"
    library_contractions: bool = False
    library_convolutions: bool = False
    half_contractions: bool = False

    def run(self, module: ir.Operation) -> None:
        count = 0
        for fn in st.functions(module):
            if self.library_convolutions:
                self._no_symbolic_convolutions(fn)
            groups = _Former(fn, self.library_contractions, self.library_convolutions,
                             self.half_contractions).run()
            # Tag first (the analysis' handles are keys only until the IR changes), then wrap.
            i64 = ir.IntegerType.get_signless(64)
            plans = [(list(g.tiles), g.root, g.tiles[g.root]) for g in groups]
            for index, (members, root, root_tiles) in enumerate(plans):
                for member in members:
                    member.attributes[MEMBER_ATTR] = ir.IntegerAttr.get(i64, index)
                root.attributes[TILE_ATTR] = ir.DenseI64ArrayAttr.get(root_tiles)
            for index in range(len(groups)):
                wrap(fn, index, f"kernel_{count}")
                count += 1

    @staticmethod
    def _no_symbolic_convolutions(fn: ir.Operation) -> None:
        """With library convolutions (the GPU), a convolution over symbolic sizes is an
        error: cuDNN's calls take static sizes here, and a generated convolution would
        be far slower than eager's; the compile for symbolic sizes fails and the call's
        sizes are specialized instead (compiler/api.py)."""
        for op in st.walk(fn):
            if convolution.library_needs_static_sizes(op):
                raise PassError("a 2-D convolution over symbolic sizes: cuDNN's calls take "
                                "static ones (the sizes are specialized)", op.location)
