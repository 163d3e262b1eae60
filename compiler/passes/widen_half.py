"""mlirfuse-widen-half: float16 and bfloat16 arithmetic of a linalg body runs in float32,
rounded once where the body yields.

torch-mlir lowers each half-precision op to a body computing in f16 or bf16, and a fused
chain then rounded after every op: `tanh(x * 3.7 + 1.3).exp() * 0.7` in f16 was 40%
further from the exact result than eager (which, like inductor, computes a fused
kernel's ops in f32 and rounds once at the store).

Matches: elementwise linalg.generic ops (no reduction loop) whose body has an arith or
math op on f16 or bf16 values.
Rewrites: the body's half-precision block arguments are extended to f32 where the body
starts; every arith and math op on half values is made again on f32 values; a value the
body yields is truncated back to its half type. An explicit conversion in the body (a
truncf to half: the user's `.half()`) still rounds there, and the body goes on from the
rounded value. Leaves alone: bodies with regions (scf.if...), bodies with no half
arithmetic (copies), and reductions: the GPU code generator finds a reduction's combining
op in its body, and a widened body (extf, addf, truncf) came out as wrong f16 sums on the
H200; their accumulator is half precision between iterations anyway.

Also rewrites, anywhere in the module: a truncf from f64 to f16 or bf16 becomes a truncf
to f32 and one to the half type. Torch converts a double to half through float
(c10::Half(float(x))), so this rounds as eager does; and the CPU JIT has no compiler-rt,
so a direct conversion was a missing __truncdfbf2 / __truncdfhf2 symbol (the fuzzer's
`.double()` then `.to(torch.bfloat16)`, and bf16 `var`, ran eager).

Before:
  ^bb0(%x: f16, %out: f16):
    %0 = arith.mulf %x, %c3.7 : f16
    %1 = math.tanh %0 : f16
    linalg.yield %1 : f16
After:
  ^bb0(%x: f16, %out: f16):
    %w = arith.extf %x : f16 to f32
    %0 = arith.mulf %w, %c3.7_f32 : f32
    %1 = math.tanh %0 : f32
    %r = arith.truncf %1 : f32 to f16
    linalg.yield %r : f16
"""

from __future__ import annotations

import dataclasses

from torch_mlir import ir
from torch_mlir.dialects import arith

from . import structured as st
from .base import Pass

HALF = ("f16", "bf16")


def _half(t: ir.Type) -> bool:
    return str(t) in HALF


def _touches_half(op: ir.Operation) -> bool:
    return any(_half(v.type) for v in list(op.operands) + list(op.results))


def _arithmetic(op: ir.Operation) -> bool:
    return op.name.split(".")[0] in ("arith", "math") and op.name not in (
        "arith.extf", "arith.truncf", "arith.constant", "arith.bitcast")


class _Widen:
    """Rebuilds one body, value by value."""

    def __init__(self, block: ir.Block):
        self.block = block
        self.f32 = ir.F32Type.get()
        self.wide: dict = {}  # a half value (hashed) → its f32 version

    def widened(self, value: ir.Value, at: ir.InsertionPoint) -> ir.Value:
        """`value` as f32 (extended where it is not yet)."""
        if not _half(value.type):
            return value
        if value in self.wide:
            return self.wide[value]
        with at:
            self.wide[value] = arith.ExtFOp(self.f32, value).result
        return self.wide[value]

    def run(self) -> None:
        ops = [o.operation for o in self.block.operations]
        yield_op, body = ops[-1], ops[:-1]
        first = ir.InsertionPoint(body[0] if body else yield_op)
        for arg in self.block.arguments:
            if _half(arg.type) and list(arg.uses):
                self.widened(arg, first)
        for op in body:
            at = ir.InsertionPoint(op)
            with op.location:
                if op.name == "arith.truncf" and _half(op.results[0].type):
                    # An explicit rounding: kept, and what follows reads the rounded value.
                    op.operands[0] = self.widened(op.operands[0], at)
                    with ir.InsertionPoint.after(op):
                        self.wide[op.results[0]] = arith.ExtFOp(self.f32, op.results[0]).result
                elif op.name == "arith.extf" and _half(op.operands[0].type) \
                        and str(op.results[0].type) == "f32":
                    op.results[0].replace_all_uses_with(self.widened(op.operands[0], at))
                elif _arithmetic(op) and _touches_half(op):
                    operands = [self.widened(v, at) for v in op.operands]
                    results = [self.f32 if _half(r.type) else r.type for r in op.results]
                    with at:
                        new = ir.Operation.create(
                            op.name, results=results, operands=operands,
                            attributes={name: op.attributes[name] for name in op.attributes})
                    for old, fresh in zip(op.results, new.results):
                        if _half(old.type):
                            self.wide[old] = fresh
                        else:
                            old.replace_all_uses_with(fresh)
                elif op.name == "arith.constant" and _half(op.results[0].type):
                    value = ir.FloatAttr(op.attributes["value"]).value
                    with at:
                        self.wide[op.results[0]] = arith.ConstantOp(
                            self.f32, ir.FloatAttr.get(self.f32, value)).result
        at = ir.InsertionPoint(yield_op)
        for i, value in enumerate(list(yield_op.operands)):
            if _half(value.type) and value in self.wide and \
                    st.defining_op(self.wide[value]) is not None and \
                    st.defining_op(self.wide[value]).name != "arith.extf":
                with at, yield_op.location:
                    yield_op.operands[i] = arith.TruncFOp(value.type, self.wide[value]).result
        # The half-precision ops are left without uses: erase them, last first.
        for op in reversed(body):
            if (_arithmetic(op) or op.name in ("arith.extf", "arith.constant")) \
                    and _touches_half(op) and all(not list(r.uses) for r in op.results):
                op.erase()


def _double_to_half(op: ir.Operation) -> bool:
    return op.name == "arith.truncf" and str(op.operands[0].type) == "f64" \
        and _half(op.results[0].type)


def _widens(op: ir.Operation) -> bool:
    if op.name != "linalg.generic" or st.reduction_loops(op):
        return False
    ops = [o.operation for o in op.regions[0].blocks[0].operations]
    if any(len(o.regions) for o in ops):
        return False
    return any(_arithmetic(o) and _touches_half(o) for o in ops)


@dataclasses.dataclass
class WidenHalf(Pass):
    """Computes the f16 and bf16 arithmetic of linalg bodies in f32, rounding once."""

    ARGUMENT = "mlirfuse-widen-half"

    def run(self, module: ir.Operation) -> None:
        for op in [o for o in st.walk(module) if _double_to_half(o)]:
            with ir.InsertionPoint(op), op.location:
                f32 = arith.TruncFOp(ir.F32Type.get(), op.operands[0]).result
                op.operands[0] = f32
        for op in [o for o in st.walk(module) if _widens(o)]:
            with op.location:
                _Widen(op.regions[0].blocks[0]).run()
