"""mlirfuse-channels-last-convs: a convolution's extern call reads and writes channels-last
buffers, the transpositions fused into the kernels around it.

oneDNN, torch's CPU convolution, is faster on channels-last activations (ResNet's
convolutions, 2 threads: 1.03 ms a call NCHW against 0.78 channels-last, session 35;
inductor runs its CPU convolutions so). Handing it channels-last copies of NCHW buffers
cost as much as it saved (library_kernels.channels_last: kept for grouped convolutions,
whose gain is larger). Here the compiled code itself makes the buffers channels-last: the
input is transposed to [N, H, W, C] and the result comes back so; the runtime gives the op
their NCHW views (a permutation, no copy: the extern spec's `nhwc` and `nhwc_out` lines,
runtime/cpu/mlirfuse_extern.cpp). The transpositions are linalg ops that elementwise
fusion folds into the kernels before and after (a batch norm and ReLU read the result
where it lies and write the next convolution's input channels-last): no pass of their own.

Matches: `func.call`s of extern declarations (compiler/extern.py) whose spec is
`aten::convolution` on the CPU, not transposed, with a 4-D input of static shape and a
4-D result of static shape, the input a distinct tensor of the call, of a shape faster
channels-last: by the rule of `_faster` (8 channels or more, a weight at most 4x the
input), and with `measure` (the compile's pipeline) by timing torch's convolution of that
shape both ways at compile time (`_measured`: at least 15% faster, once per shape in the
process; a grouped convolution, handed channels-last copies otherwise, is not timed).
Rewrites: the input operand into `linalg.transpose` [0, 2, 3, 1] of it, the result into
the call's [N, H, W, C] result transposed back [0, 3, 1, 2]; the declaration's type and
spec follow (`nhwc <input>`, `nhwc_out 0`; a `channels_last <input>` copy line goes).
Leaves alone: other extern calls, symbolic sizes (the spec's `size` lines name the
result's dimensions by the input's), 1-D and 3-D convolutions, the shapes `_faster`
rejects.

Before:
  func.func private @mlirfuse_extern_op_0(tensor<2x4x8x8xf32>, tensor<8x4x3x3xf32>)
      -> tensor<2x8x8x8xf32> attributes {mlirfuse.extern = "op aten::convolution ..."}
  %y = call @mlirfuse_extern_op_0(%x, %w) : (...) -> tensor<2x8x8x8xf32>
After:
  func.func private @mlirfuse_extern_op_0(tensor<2x8x8x4xf32>, tensor<8x4x3x3xf32>)
      -> tensor<2x8x8x8xf32> attributes {mlirfuse.extern = "op aten::convolution ...
      nhwc 0\\nnhwc_out 0"}
  %xt = linalg.transpose ins(%x) outs(%e0) permutation = [0, 2, 3, 1]
  %yt = call @mlirfuse_extern_op_0(%xt, %w) : (...) -> tensor<2x8x8x8xf32>
  %y = linalg.transpose ins(%yt) outs(%e1) permutation = [0, 3, 1, 2]
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from torch_mlir import ir
from torch_mlir.dialects import func, linalg, tensor

from ...compiler import extern
from ...compiler.passes import structured as st
from ...compiler.passes.base import Pass

TO_NHWC = [0, 2, 3, 1]
TO_NCHW = [0, 3, 1, 2]


class _Convolution(NamedTuple):
    """What the pass reads of a convolution's extern spec."""

    index: int  # the activations' input
    weight: int  # the weight's input
    dtype: int  # c10::ScalarType number of the activations
    stride: list[int]
    padding: list[int]
    dilation: list[int]
    groups: int
    grouped: bool  # handed channels-last copies already (library_kernels.channels_last)


def _convolution(spec: str) -> _Convolution | None:
    """The spec's CPU convolution, None when the spec is another op's, a transposed
    convolution's, one with symbolic sizes, or one whose activations are also another
    argument."""
    lines = spec.splitlines()
    if "op aten::convolution" not in lines or "overload " not in lines or \
            "device cpu" not in lines or \
            any(line.startswith(("size ", "nhwc")) for line in lines):
        return None
    args = [line.split()[1:] for line in lines if line.startswith("arg ")]
    if len(args) < 9 or args[0][0] != "T" or args[1][0] != "T" or args[6] != ["B", "0"]:
        return None
    index = int(args[0][1])
    if sum(a[0] == "T" and int(a[1]) == index for a in args) != 1:
        return None
    stride, padding, dilation = ([int(v) for v in a[1].split(",")] for a in args[3:6])
    dtype = int([line for line in lines if line.startswith("in ")][index].split()[1])
    return _Convolution(index, int(args[1][1]), dtype, stride, padding, dilation,
                        int(args[8][1]), f"channels_last {index}" in lines)


def _faster(x: ir.RankedTensorType, weight: ir.Type) -> bool:
    """Whether oneDNN is faster on channels-last activations for this convolution. It
    converts the (NCHW) weight at each call then, and some shapes run slower so; 2 threads,
    us a call, NCHW / channels-last (session 35): [2, 3, 64, 64] 7x7 stride 2 (ResNet's
    stem, 3 channels) 107 / 160, [2, 128, 2, 2] 3x3 to 128 (the weight 36x the input)
    160 / 338; [2, 16, 16, 16] 3x3 115 / 70, [2, 64, 16, 16] 1x1 109 / 62, [2, 32, 8, 8]
    3x3 124 / 93, [8, 64, 56, 56] 3x3 18793 / 9654, depthwise 7x7 [2, 16, 16, 16] 86 / 57."""
    if not _static_4d(weight) or x.shape[1] < 8:
        return False
    return _count(ir.RankedTensorType(weight)) <= 4 * _count(x)


# Channels-last is taken where it measured this much faster at least: its input's and
# result's transpositions at the graph's edges cost a memory pass each ([1, 64, 32, 32]
# 3x3: 560 us NCHW, 546 channels-last, and ResNet's basic block 1.31 -> 1.56 ms with them).
MARGIN = 0.85
_decisions: dict[tuple, bool] = {}  # per shape, for the process (the compile lock held)


def _measured(conv: _Convolution, x: ir.RankedTensorType,
              weight: ir.RankedTensorType) -> bool:
    """Whether torch's convolution of this shape runs at most MARGIN of its NCHW
    time on channels-last input, timed here (up to 7 calls each way, alternating, at most
    ~50 ms a shape; by the best and the median of each; on tensors of ones: the random
    generator is the user's)."""
    import statistics
    import time

    import torch

    dtype = next(d for d, number in extern.DTYPES.items() if number == conv.dtype)
    stride, padding, dilation, groups = conv.stride, conv.padding, conv.dilation, conv.groups
    key = (tuple(x.shape), tuple(weight.shape), tuple(stride), tuple(padding),
           tuple(dilation), groups, dtype, torch.get_num_threads())
    if key not in _decisions:
        nchw = torch.ones(list(x.shape), dtype=dtype)
        cl = nchw.contiguous(memory_format=torch.channels_last)
        w = torch.ones(list(weight.shape), dtype=dtype)

        def run(inp) -> float:
            start = time.perf_counter()
            torch.convolution(inp, w, None, stride, padding, dilation, False, [0, 0], groups)
            return time.perf_counter() - start

        with torch.no_grad():
            run(nchw), run(cl)  # (the first calls set up oneDNN's kernels)
            times: tuple[list, list] = ([], [])
            while len(times[0]) < 7 and sum(map(sum, times)) < 0.05:
                times[0].append(run(nchw))
                times[1].append(run(cl))
        # Faster by the best call and by the median both (a noisy machine moves one).
        _decisions[key] = all(statistic(times[1]) <= MARGIN * statistic(times[0])
                              for statistic in (min, statistics.median))
    return _decisions[key]


def _count(t: ir.RankedTensorType) -> int:
    n = 1
    for size in t.shape:
        n *= size
    return n


def _static_4d(t: ir.Type) -> bool:
    return isinstance(t, ir.RankedTensorType) and t.rank == 4 and t.has_static_shape


def _permuted(t: ir.RankedTensorType, permutation: list[int]) -> ir.RankedTensorType:
    return ir.RankedTensorType.get([t.shape[p] for p in permutation], t.element_type)


def _transpose(value: ir.Value, permutation: list[int]) -> ir.Value:
    """`value` transposed by `permutation` (at the current insertion point)."""
    out_type = _permuted(ir.RankedTensorType(value.type), permutation)
    empty = tensor.EmptyOp(out_type.shape, out_type.element_type)
    op = linalg.transpose(value, outs=[empty.result], permutation=permutation)
    return op.results[0] if isinstance(op, ir.OpView) else op


def _nhwc(x: ir.Value) -> ir.Value:
    """`x` channels-last, for a convolution (at the current insertion point, or after the
    op making `x`): a transposition's input where `x` is the NCHW transposition of one
    (the previous convolution's result); else `x` transposed, and where a linalg op makes
    `x` for other uses too, those read it back from the channels-last tensor, so that the
    op writes one layout (fused, it writes channels-last; the other readers read it
    transposed) and no kernel of its own transposes it."""
    op = st.defining_op(x)
    if op is not None and op.name == "linalg.transpose" and \
            list(ir.DenseI64ArrayAttr(op.attributes["permutation"])) == TO_NCHW:
        return op.operands[0]
    if op is None or not op.name.startswith("linalg.") or len(op.results) != 1:
        return _transpose(x, TO_NHWC)
    with ir.InsertionPoint.after(op):
        channels_last = _transpose(x, TO_NHWC)
        others = [use for use in x.uses if st.owner_op(use) != st.defining_op(channels_last)]
        if others:
            back = _transpose(channels_last, TO_NCHW)
            for use in others:
                st.owner_op(use).operands[use.operand_number] = back
    return channels_last


@dataclasses.dataclass
class ChannelsLastConvs(Pass):
    """CPU convolution extern calls on channels-last buffers, transpositions around them."""

    ARGUMENT = "mlirfuse-channels-last-convs"
    # Each shape's layout chosen by timing torch's convolution both ways (_measured);
    # false: by the shapes' rule (_faster), the same on every machine (lit tests).
    measure: bool = False

    def run(self, module: ir.Operation) -> None:
        declarations = {ir.StringAttr(d.attributes["sym_name"]).value: d
                        for d in extern.declarations(module)}
        for fn in st.functions(module):
            for call in [o for o in st.walk(fn) if extern.is_call(o)]:
                self._rewrite(call, declarations[
                    ir.FlatSymbolRefAttr(call.attributes["callee"]).value])

    def _rewrite(self, call: ir.Operation, decl: ir.Operation) -> None:
        spec = ir.StringAttr(decl.attributes[extern.ATTR]).value
        conv = _convolution(spec)
        if conv is None or len(call.results) != 1 or \
                max(conv.index, conv.weight) >= len(call.operands):
            return
        index = conv.index
        x, result, weight = call.operands[index], call.results[0], call.operands[conv.weight]
        if not (_static_4d(x.type) and _static_4d(result.type)) or \
                not _faster(ir.RankedTensorType(x.type), weight.type):
            return
        # A grouped convolution got channels-last copies already (measured faster):
        # buffers that are so only save the copy; not timed against NCHW.
        if self.measure and not conv.grouped and not _measured(
                conv, ir.RankedTensorType(x.type), ir.RankedTensorType(weight.type)):
            return
        with call.location:
            nhwc = _permuted(ir.RankedTensorType(result.type), TO_NHWC)
            with ir.InsertionPoint(call):
                operands = list(call.operands)
                operands[index] = _nhwc(x)
                new = func.CallOp([nhwc], ir.FlatSymbolRefAttr(call.attributes["callee"]),
                                  operands)
            with ir.InsertionPoint.after(new):
                back = _transpose(new.result, TO_NCHW)
            result.replace_all_uses_with(back)
            call.erase()
            lines = [line for line in spec.splitlines() if line != f"channels_last {index}"]
            decl.attributes[extern.ATTR] = ir.StringAttr.get(
                "\n".join(lines + [f"nhwc {index}", "nhwc_out 0"]))
            kind = ir.FunctionType(ir.TypeAttr(decl.attributes["function_type"]).value)
            inputs = list(kind.inputs)
            inputs[index] = _permuted(ir.RankedTensorType(inputs[index]), TO_NHWC)
            decl.attributes["function_type"] = ir.TypeAttr.get(
                ir.FunctionType.get(inputs, [nhwc]))
