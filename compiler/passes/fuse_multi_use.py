"""mlirfuse-fuse-multi-use: an elementwise producer used elsewhere too joins its consumer as a second result.

`linalg-fuse-elementwise-ops` fuses a producer only into its single user: the LSTM
cell's `cy = f * cx + i * g` is returned and also read by `hy = o * tanh(cy)`, so
cy and hy were two kernels, and hy read cy back from memory. One op computing both
(yielding cy as well as hy) writes cy once and reads it never.

Matches: a producer P, a `linalg.generic` with only parallel loops and identity
output maps, and a consumer C in the same block, a `linalg.generic` with only
parallel loops and identity output maps that reads a result of P as an input
through an identity map (so C's loops are P's loops, point for point), where a
result of P is also used by an op other than C. The merged op takes C's place when
no other user of P comes between P and C, or P's place when every other operand of
C is defined before P; when neither holds (softmax: C reads a sum of P's result,
which needs P first) nothing changes, since the merged op would be its own
ancestor. Nor when the merged op would take more tensors or have more results than
one fusion group can (dialects.MAX_GROUP_INPUTS, MAX_GROUP_OUTPUTS). Repeats until
nothing matches.
Runs on linalg on tensors after `linalg-fuse-elementwise-ops` (which has merged
every single-use chain).

Rewrites: P and C become one generic: P's inputs, then C's inputs that are not P's
results; P's inits, then C's; P's body, then C's body reading P's yielded values
where it read P's results; it yields P's values, then C's. P's results' other uses
take the new op's first results; C's uses take the rest.

Before:
  %cy = linalg.generic {f * cx + i * g} ins(%f, %cx, %i, %g) outs(%e)
  %hy = linalg.generic {o * tanh(c)} ins(%o, %cy) outs(%e)
  return %hy, %cy
After:
  %r:2 = linalg.generic {cy = f * cx + i * g; hy = o * tanh(cy); yield cy, hy}
           ins(%f, %cx, %i, %g, %o) outs(%e, %e)
  return %r#1, %r#0
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import linalg

from ... import dialects
from . import structured as st
from .base import Pass


def _is_identity(amap: ir.AffineMap) -> bool:
    return amap.is_permutation and st.dim_positions(amap) == list(range(amap.n_dims))


def _pointwise(op: ir.Operation) -> bool:
    """A generic over parallel loops only, every result written at its loop indices."""
    return op.name == "linalg.generic" and not st.reduction_loops(op) \
        and all(_is_identity(m) for m in st.output_maps(op))


def _reads_through_identity(consumer: ir.Operation, results: list[ir.Value]) -> bool:
    """Whether `consumer` reads a value of `results` at all, and only as an input
    through an identity map."""
    n_in = len(consumer.operands) - st.num_dps_inits(consumer)
    maps = st.indexing_maps(consumer)
    reads = [i for i, v in enumerate(consumer.operands) if v in results]
    return bool(reads) and all(i < n_in and _is_identity(maps[i]) for i in reads)


def _block_ancestor(op: ir.Operation, block: ir.Block) -> ir.Operation | None:
    """The ancestor of `op` (itself included) that lies in `block`."""
    while op is not None and op.block != block:
        parent = op.parent
        op = parent.operation if parent is not None else None
    return op


def _placement(producer: ir.Operation, consumer: ir.Operation) -> ir.Operation | None:
    """Where the merged op can go (C's place or P's), None when nowhere is safe."""
    block = producer.block
    others = [_block_ancestor(st.owner_op(u), block)
              for r in producer.results for u in r.uses if st.owner_op(u) != consumer]
    if all(o is not None and consumer.is_before_in_block(o) for o in others):
        return consumer
    for value in consumer.operands:
        if value in list(producer.results):
            continue
        owner = st.defining_op(value)
        if owner is None:
            continue  # an argument of this block or of an enclosing one: defined first
        owner = _block_ancestor(owner, block)
        if owner is not None and not owner.is_before_in_block(producer):
            return None
    return producer


def _other_uses(producer: ir.Operation, consumer: ir.Operation) -> bool:
    return any(st.owner_op(u) != consumer for r in producer.results for u in r.uses)


def _fits_a_group(producer: ir.Operation, consumer: ir.Operation) -> bool:
    """Whether the merged op stays within what one fusion group takes (its tensors from
    outside, its results), so form-fusion-groups can still make it a kernel."""
    results = len(producer.results) + len(consumer.results)
    inputs = {v for op in (producer, consumer) for v in op.operands
              if isinstance(v.type, ir.ShapedType) and v not in list(producer.results)
              and not (st.defining_op(v) is not None and st.defining_op(v).name in st.CLONABLE)}
    return results <= dialects.MAX_GROUP_OUTPUTS and len(inputs) <= dialects.MAX_GROUP_INPUTS


def _clone_body(op: ir.Operation, args: list[ir.Value], mapping: dict) -> list[ir.Value]:
    """Clones `op`'s body at the insertion point, its block arguments read as `args`;
    returns the yielded values (mapped)."""
    block = op.regions[0].blocks[0]
    for old, new in zip(block.arguments, args):
        mapping[old] = new
    ops = [o.operation for o in block.operations]
    for inner in ops[:-1]:
        new = inner.clone(ip=ir.InsertionPoint.current)
        for nested in st.walk(new):
            for i, value in enumerate(list(nested.operands)):
                if value in mapping:
                    nested.operands[i] = mapping[value]
        for old, fresh in zip(inner.results, new.results):
            mapping[old] = fresh
    return [mapping.get(v, v) for v in ops[-1].operands]


def merge(producer: ir.Operation, consumer: ir.Operation, where: ir.Operation) -> None:
    p_in = len(producer.operands) - st.num_dps_inits(producer)
    c_in = len(consumer.operands) - st.num_dps_inits(consumer)
    p_maps, c_maps = st.indexing_maps(producer), st.indexing_maps(consumer)
    p_results = list(producer.results)
    kept = [i for i in range(c_in) if consumer.operands[i] not in p_results]
    inputs = list(producer.operands[:p_in]) + [consumer.operands[i] for i in kept]
    inits = list(producer.operands[p_in:]) + list(consumer.operands[c_in:])
    maps = p_maps[:p_in] + [c_maps[i] for i in kept] + p_maps[p_in:] + c_maps[c_in:]
    types = [r.type for r in producer.results] + [r.type for r in consumer.results]
    with ir.InsertionPoint(where), consumer.location:
        fused = linalg.GenericOp(types, inputs, inits,
                                 ir.ArrayAttr.get([ir.AffineMapAttr.get(m) for m in maps]),
                                 consumer.attributes["iterator_types"])
        elements = [ir.ShapedType(v.type).element_type if isinstance(v.type, ir.ShapedType)
                    else v.type for v in inputs + inits]
        body = fused.regions[0].blocks.append(*elements)
        args = list(body.arguments)
        n_kept, n_p_out = len(kept), st.num_dps_inits(producer)
        p_args = args[:p_in] + args[p_in + n_kept:p_in + n_kept + n_p_out]
        with ir.InsertionPoint(body):
            mapping: dict = {}
            p_values = _clone_body(producer, p_args, mapping)
            c_args, k = [], 0
            for i in range(c_in):
                if i in kept:
                    c_args.append(args[p_in + k])
                    k += 1
                else:
                    c_args.append(p_values[p_results.index(consumer.operands[i])])
            c_args += args[p_in + n_kept + n_p_out:]
            c_values = _clone_body(consumer, c_args, mapping)
            linalg.YieldOp(p_values + c_values)
    n_p = len(p_results)
    for old, new in zip(consumer.results, list(fused.results)[n_p:]):
        old.replace_all_uses_with(new)
    consumer.erase()
    for old, new in zip(p_results, list(fused.results)[:n_p]):
        old.replace_all_uses_with(new)
    producer.erase()


def _candidate(fn: ir.Operation):
    """A (producer, consumer, place) to merge in `fn`, or None."""
    for producer in st.walk(fn):
        if not _pointwise(producer):
            continue
        for use in [u for r in producer.results for u in r.uses]:
            consumer = st.owner_op(use)
            if consumer.block != producer.block or not _pointwise(consumer) \
                    or st.loop_count(consumer) != st.loop_count(producer) \
                    or not _reads_through_identity(consumer, list(producer.results)) \
                    or not _other_uses(producer, consumer):
                continue
            if not _fits_a_group(producer, consumer):
                continue
            where = _placement(producer, consumer)
            if where is not None:
                return producer, consumer, where
    return None


@dataclasses.dataclass
class FuseMultiUse(Pass):
    """Merges an elementwise producer used elsewhere too into its elementwise consumer."""

    ARGUMENT = "mlirfuse-fuse-multi-use"

    def run(self, module: ir.Operation) -> None:
        for fn in st.functions(module):
            while (found := _candidate(fn)) is not None:
                merge(*found)
