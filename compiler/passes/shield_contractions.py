"""mlirfuse-shield-contractions: keep elementwise fusion out of contractions.

`linalg-fuse-elementwise-ops` fuses a producer into any generic consumer,
reductions included: a GELU feeding a matmul became part of the matmul's body
and ran once per multiply-add (K times per element), and the contraction was no
longer one a library can take.

Matches: contractions (`out += a * b` generics, structured.is_contraction).
Rewrites: each input produced by a linalg op that computes (its body is more
than a `linalg.yield` of an input: transposes and broadcasts still fold into the
contraction's indexing maps), directly or through reshapes and such moves, goes
through `mlirfuse.shield` where the chain leaves the computing producer; fusion does
not look through it. With `remove=true`, every shield is replaced by its input. With
`half=true` (the GPU), contractions of half-precision inputs summed in f32 too
(structured.is_widening_mul_add; set by the CUDA pipeline while
library_gemm.HALF_INPUTS), and an f32 contraction whose two inputs only extend one half
type (torch's decompositions of a half addmm or linear compute in f32) is left
unshielded, so fusion makes it one of the half inputs (exact: the extension is).

Before:
  %g = linalg.generic {gelu} ins(%x) ...
  %m = linalg.generic {mul, add} ins(%g, %w) outs(%acc) ...
After:
  %g = linalg.generic {gelu} ins(%x) ...
  %s = "mlirfuse.shield"(%g) : (tensor<...>) -> tensor<...>
  %m = linalg.generic {mul, add} ins(%s, %w) outs(%acc) ...
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir

from . import structured as st
from .base import Pass


_RESHAPES = ("tensor.expand_shape", "tensor.collapse_shape", "tensor.cast")


def _moves(op: ir.Operation) -> bool:
    """A generic that only moves its one input (transpose, broadcast): fusion folds it
    into its consumer's indexing maps, and would fold a computing producer through it."""
    if op.name != "linalg.generic" or len(op.operands) != 2 \
            or any(None in st.dim_positions(m) for m in st.indexing_maps(op)):
        return False
    block = op.regions[0].blocks[0]
    body = [o.operation for o in block.operations]
    return len(body) == 1 and list(body[0].operands) == [block.arguments[0]]


def _computes(op: ir.Operation) -> bool:
    """A structured op whose body computes, or that gathers (an input read through a map
    that is no projection: im2col), which fused into a contraction makes it none."""
    if not st.is_structured(op):
        return False
    if op.name != "linalg.generic":
        return True
    body = [o.operation for o in op.regions[0].blocks[0].operations]
    maps = st.indexing_maps(op)
    return len(body) > 1 or any(None in st.dim_positions(m) for m in maps)


def _chain(op: ir.Operation, i: int) -> tuple:
    """(consumer, operand index, producer) where input `i`'s chain of reshapes and moves
    (which fusion looks through, moves folding into the maps) meets the op computing it."""
    consumer, index = op, i
    producer = st.defining_op(op.operands[i])
    while producer is not None and (producer.name in _RESHAPES or _moves(producer)):
        consumer, index = producer, 0
        producer = st.defining_op(producer.operands[0])
    return consumer, index, producer


def _widening(op: ir.Operation | None) -> str | None:
    """The half type (f16, bf16) a generic only extends to f32, else None."""
    if op is None or op.name != "linalg.generic" or len(op.operands) != 2 \
            or any(None in st.dim_positions(m) for m in st.indexing_maps(op)):
        return None
    block = op.regions[0].blocks[0]
    body = [o.operation for o in block.operations]
    if len(body) != 2 or body[0].name != "arith.extf" \
            or list(body[0].operands) != [block.arguments[0]] \
            or str(block.arguments[0].type) not in ("f16", "bf16") \
            or str(body[0].results[0].type) != "f32":
        return None
    return str(block.arguments[0].type)


def _widened_halves(op: ir.Operation, producers: list) -> bool:
    """An f32 contraction of two inputs each only extended from one half type (torch's
    decomposition of a half addmm or linear computes in f32 so): fused, the casts make it
    a contraction of the half inputs summed in f32 (structured.is_widening_mul_add), which
    cuBLAS runs on tensor cores; extending a half value to f32 is exact, so the sums are
    the same."""
    halves = {_widening(p) for p in producers}
    return len(halves) == 1 and None not in halves \
        and str(op.results[0].type.element_type) == "f32"


@dataclasses.dataclass
class ShieldContractions(Pass):
    """Puts mlirfuse.shield between contractions and the producers that compute."""

    ARGUMENT = "mlirfuse-shield-contractions"
    remove: bool = False
    half: bool = False

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module):
            if self.remove:
                for op in [o for o in st.walk(fn) if o.name == "mlirfuse.shield"]:
                    op.results[0].replace_all_uses_with(op.operands[0])
                    op.erase()
                continue
            for op in [o for o in st.walk(fn) if st.is_contraction(o, self.half)]:
                chains = [_chain(op, i) for i in range(2)]
                if self.half and _widened_halves(op, [p for _, _, p in chains]):
                    # The extensions fuse into the contraction, what computes their
                    # inputs does not.
                    chains = [_chain(p, 0) for _, _, p in chains]
                for consumer, index, producer in chains:
                    if producer is None or not _computes(producer):
                        continue
                    value = consumer.operands[index]
                    with ir.InsertionPoint(consumer), consumer.location:
                        shield = ir.Operation.create("mlirfuse.shield", results=[value.type],
                                                     operands=[value])
                    consumer.operands[index] = shield.results[0]
