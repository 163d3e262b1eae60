"""Values a GPU thread already holds: loads and stores forwarded between a kernel's ops.

Not a pass. mlirfuse-map-to-gpu emits a fused kernel op after op, each spread over
the block's threads, and ops of one shape map elements to threads the same way
(softmax's max, exp, sum and divide over one row). Read again from memory, the
row costs a pass over global (or shared) memory per op; a thread that loaded or
stored an element itself can use the value it holds in a register instead.

`Registers` (one per launch body, active while the generator emits into it)
records, in the body's top-level block only (values there dominate the rest of
the kernel):
  * a load of (buffer, indices) → the loaded value;
  * a store of a value at (buffer, indices) by this thread → that value;
  * a value every thread computed (`know`: a block reduction's result, a fill).
Writes are declared per op (`writes`): when the op is emitted, every record of
the buffers it wrote (of their roots: the allocation or argument the views are
taken of) is forgotten but this op's own stores. All threads run the same code,
so another thread's write is emitted here too, in program order; ops the
generator does not model forget everything (`forget`).

`for_each` makes this pay: a strided loop with a small, exact trip count per
thread is unrolled into the block, so its loads and stores land at top level.

Before (softmax's exp and sum over a row, after mlirfuse-map-to-gpu without this):
  scf.for %j = %tx to 256 step 256 {
    %v = vector.load %x[%c0, %j*4] ...; exp ...; vector.store %e, %out[%c0, %j*4] }
  gpu.barrier
  %s = scf.for %j = %tx to 256 step 256 iter_args(%a = 0) {
    %w = vector.load %out[%c0, %j*4] ...; add ... }
After:
  %v = vector.load %x[%c0, %tx*4] ...; exp ...; vector.store %e, %out[%c0, %tx*4]
  gpu.barrier
  %s = add %e's lanes ...            (the sum reads %e: no load)
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools

from torch_mlir import ir
from torch_mlir.dialects import arith, memref, scf, vector

from ...compiler.passes import structured as st

# Most iterations per thread a strided loop is unrolled to (more: an scf.for stays).
UNROLL = 8
_VIEWS = ("memref.subview", "memref.cast", "memref.reinterpret_cast", "memref.view",
          "memref.expand_shape", "memref.collapse_shape", "memref.transpose")
_INDEX_OPS = ("arith.addi", "arith.muli", "arith.divui", "arith.remui", "arith.subi",
              "affine.apply", "arith.constant")


def root(buffer: ir.Value) -> ir.Value:
    """The allocation or argument a view of memory is taken of."""
    owner = st.defining_op(buffer)
    while owner is not None and owner.name in _VIEWS:
        buffer = owner.operands[0]
        owner = st.defining_op(buffer)
    return buffer


def same_index(a: ir.Value, b: ir.Value, depth: int = 8) -> bool:
    """Whether two index values are computed alike (the generator rebuilds the same
    index arithmetic for every op; CSE has not run yet)."""
    if a == b:
        return True
    oa, ob = st.defining_op(a), st.defining_op(b)
    if oa is None or ob is None or oa.name != ob.name or oa.name not in _INDEX_OPS \
            or depth == 0:
        return False
    if oa.name == "arith.constant":
        return oa.attributes["value"] == ob.attributes["value"]
    if oa.name == "affine.apply" and oa.attributes["map"] != ob.attributes["map"]:
        return False
    return len(oa.operands) == len(ob.operands) and all(
        same_index(x, y, depth - 1) for x, y in zip(oa.operands, ob.operands))


@dataclasses.dataclass
class _Record:
    buffer: ir.Value
    where: list[ir.Value]
    width: int  # 0: a scalar, else the lanes of a vector
    value: ir.Value
    mine: bool  # stored (or known) by the op being emitted

    def at(self, buffer: ir.Value, where: list[ir.Value], width: int) -> bool:
        return self.buffer == buffer and self.width == width and len(self.where) == len(
            where) and all(same_index(x, y) for x, y in zip(self.where, where))


class Registers:
    """The records of one launch body (see the module docstring)."""

    def __init__(self, block: ir.Block | None):
        self.block = block
        self.records: list[_Record] = []
        # Top-level stores no load has read since: a later store of this thread to the
        # same place makes them dead (every thread runs this code, so a load of the
        # place by any thread in between would have been emitted in between too).
        self.unread: list[tuple[_Record, ir.Operation]] = []
        # The roots the op being emitted writes (`writes`).
        self.writing: list[ir.Value] = []

    def _top(self) -> bool:
        return self.block is not None and ir.InsertionPoint.current.block == self.block

    def _find(self, buffer: ir.Value, where: list[ir.Value], width: int) -> ir.Value | None:
        if not self._top() and root(buffer) in self.writing:
            # In a loop of an op that writes this buffer: the loop may have stored there
            # since (an argmax's running maximum was read as its initial -inf each step).
            return None
        for r in self.records:
            if r.at(buffer, where, width):
                return r.value
        return None

    def _record(self, buffer, where, width, value, mine: bool) -> _Record | None:
        if not self._top():
            return None
        self.records = [r for r in self.records if not r.at(buffer, where, width)]
        self.records.append(_Record(buffer, list(where), width, value, mine))
        return self.records[-1]

    def _read(self, buffer: ir.Value) -> None:
        """A load of `buffer` was emitted: stores to its root are not dead."""
        base = root(buffer)
        self.unread = [(r, op) for r, op in self.unread if root(r.buffer) != base]

    def _stored(self, record: _Record | None, op: ir.OpView) -> None:
        if record is None:
            return
        for old, old_op in self.unread:
            if old.at(record.buffer, record.where, record.width):
                old_op.operation.erase()
        self.unread = [(r, o) for r, o in self.unread
                       if not r.at(record.buffer, record.where, record.width)]
        self.unread.append((record, op))

    def load(self, buffer: ir.Value, where: list[ir.Value]) -> ir.Value:
        held = self._find(buffer, where, 0)
        if held is not None:
            return held
        value = memref.LoadOp(buffer, where).result
        self._read(buffer)
        self._record(buffer, where, 0, value, mine=False)
        return value

    def load_vector(self, kind: ir.VectorType, buffer: ir.Value, where: list[ir.Value],
                    alignment: int) -> ir.Value:
        held = self._find(buffer, where, kind.shape[0])
        if held is not None:
            return held
        value = vector.LoadOp(kind, buffer, where, alignment=alignment).result
        self._read(buffer)
        self._record(buffer, where, kind.shape[0], value, mine=False)
        return value

    def _nested_store(self, buffer: ir.Value) -> None:
        """A store inside a loop: what was recorded of its buffer may be stale after."""
        if not self._top():
            base = root(buffer)
            self.records = [r for r in self.records if root(r.buffer) != base]

    def store(self, value: ir.Value, buffer: ir.Value, where: list[ir.Value]) -> None:
        op = memref.StoreOp(value, buffer, where)
        self._nested_store(buffer)
        self._stored(self._record(buffer, where, 0, value, mine=True), op)

    def store_vector(self, value: ir.Value, buffer: ir.Value, where: list[ir.Value],
                     alignment: int) -> None:
        op = vector.StoreOp(value, buffer, where, alignment=alignment)
        self._nested_store(buffer)
        self._stored(self._record(buffer, where, ir.VectorType(value.type).shape[0], value,
                                  mine=True), op)

    def know(self, buffer: ir.Value, where: list[ir.Value], value: ir.Value) -> None:
        """Every thread holds `value`, the element at `where` once the op is done."""
        self._record(buffer, where, 0, value, mine=True)

    @contextlib.contextmanager
    def writes(self, buffers: list[ir.Value]):
        """Emitting an op that writes `buffers`: after it, only its own records of
        their roots stay."""
        roots = [root(b) for b in buffers]
        outer, self.writing = self.writing, roots
        try:
            yield self
        finally:
            self.writing = outer
            self.records = [r for r in self.records
                            if r.mine or not any(root(r.buffer) == x for x in roots)]
            for r in self.records:
                r.mine = False

    def cloned(self, op: ir.Operation) -> None:
        """A body op was cloned as it is: a load in it (a gather's) reads memory; any
        other access of memory may read or write anything."""
        for nested in st.walk(op):
            buffers = [v for v in nested.operands if isinstance(v.type, ir.MemRefType)]
            if nested.name in ("memref.load", "vector.load", "memref.dim"):
                for b in buffers:
                    self._read(b)
            elif buffers:
                self.forget()

    def forget(self) -> None:
        """An op the generator does not model was emitted: it may read or write anything."""
        self.records = []
        self.unread = []


_NONE = Registers(None)
_active = [_NONE]


def current() -> Registers:
    return _active[-1]


@contextlib.contextmanager
def holding(block: ir.Block):
    """Makes a Registers for launch body `block` current while the generator emits."""
    _active.append(Registers(block))
    try:
        yield _active[-1]
    finally:
        _active.pop()


def drop_unread(buffer: ir.Value) -> None:
    """Erases the stores into a kernel-private buffer (a workgroup attribution) when
    nothing reads it: every read was forwarded from registers."""
    stores, pending = [], [buffer]
    while pending:
        for use in list(pending.pop().uses):
            owner = st.owner_op(use)
            if owner.name in _VIEWS:
                pending.extend(owner.results)
            elif owner.name in ("memref.store", "vector.store") and use.operand_number == 1:
                stores.append(owner)
            else:
                return
    for store in stores:
        store.erase()


_LOADS = ("memref.load", "vector.load")
_STORES = ("memref.store", "vector.store")


def _accesses(ops: list[ir.Operation]) -> tuple[set, set]:
    """The buffers (roots) that ops, and ops nested in them, read and write; an op with
    a buffer operand that is neither a load nor a store reads and writes it. Views only
    compute addresses."""
    reads, writes = set(), set()
    for op in ops:
        for n in st.walk(op):
            if n.name in _VIEWS or n.name == "memref.extract_strided_metadata":
                continue
            buffers = [(i, v) for i, v in enumerate(n.operands)
                       if isinstance(v.type, ir.MemRefType)]
            for i, v in buffers:
                if n.name in _LOADS:
                    reads.add(root(v))
                elif n.name in _STORES and i == 1:
                    writes.add(root(v))
                else:
                    reads.add(root(v))
                    writes.add(root(v))
    return reads, writes


def drop_idle_barriers(block: ir.Block) -> None:
    """Erases the barriers of a launch body that order no conflicting accesses: no
    buffer written on one side of the barrier (since the last barrier kept) and read or
    written on the other (up to the next barrier). Forwarding through registers leaves
    many such barriers; so do reductions whose results no other thread reads. Distinct
    buffers do not alias: kernel arguments are distinct tensors, temporaries distinct
    allocations."""
    segments = [[]]
    for op in [o.operation for o in block.operations]:
        if op.name == "gpu.barrier":
            segments.append([op])
        else:
            segments[-1].append(op)
    access = [_accesses([o for o in seg if o.name != "gpu.barrier"]) for seg in segments]
    # Segment i + 1 starts with the barrier between segments i and i + 1.
    reads, writes = access[0]
    for i in range(1, len(segments)):
        after_reads, after_writes = access[i]
        if writes & (after_reads | after_writes) or reads & after_writes:
            reads, writes = set(after_reads), set(after_writes)
        else:
            segments[i][0].erase()
            reads, writes = reads | after_reads, writes | after_writes


def constant_points(extents: list[int]) -> list[list[ir.Value]]:
    """Every point of a (small) box of `extents`, row-major, as index constants."""
    index = ir.IndexType.get()
    return [[arith.ConstantOp(index, i).result for i in point]
            for point in itertools.product(*(range(e) for e in extents))]


def for_each(start: ir.Value, count: int | ir.Value, step: ir.Value, body,
             iter_args=()) -> list[ir.Value]:
    """Runs `body(i, carried) -> carried` for i = start, start + step, ... below `count`,
    where `start` is a worker's id in [0, step): unrolled when `step` is a constant
    dividing `count` at most UNROLL times, else an scf.for (always for a count known only
    at run time, a value). Returns the carried values."""
    steps = st.constant_value(step)
    if isinstance(count, int) and steps and count % steps == 0 and count // steps <= UNROLL:
        carried = list(iter_args)
        for j in range(count // steps):
            i = start if j == 0 else arith.AddIOp(
                start, arith.ConstantOp(ir.IndexType.get(), j * steps).result).result
            carried = list(body(i, carried))
        return carried
    bound = count if isinstance(count, ir.Value) else \
        arith.ConstantOp(ir.IndexType.get(), count).result
    loop = scf.ForOp(start, bound, step, list(iter_args))
    with ir.InsertionPoint(loop.body):
        scf.YieldOp(list(body(loop.induction_variable, list(loop.inner_iter_args))))
    return list(loop.results)
