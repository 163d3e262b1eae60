"""Ops for which a library kernel beats mlirfuse's generated code: extern calls by choice.

An op in this table compiles as an extern call (compiler/extern.py: torch's kernel called
from the compiled code on the compiled code's buffers, no copies in, the ops around it
still fused into mlirfuse's kernels), not as generated code, when the option
`library_kernels` is on (the default) and extern calls are. Each entry is there because it
was measured faster, in one process, interleaved (bench/RESULTS.md, 2026-12-02):

  * 2-D convolutions on the CPU: torch's kernel (oneDNN) against mlirfuse-conv-to-gemm's
    im2col and a BLAS call per image, a 3x3 convolution alone, 2 threads, median ms
    (eager / extern call / generated): [1, 64, 32, 32] 0.63 / 0.78 / 1.06; [8, 64, 32, 32]
    4.61 / 5.51 / 11.46; [4, 128, 16, 16] 2.35 / 3.16 / 3.54. (The extern call copies
    torch's result into the compiled code's buffer: the gap to eager.)
  * 1-D convolutions on the CPU (2026-12-02, session 29; Whisper's audio front), kernel 3:
    [2, 80, 200] -> 128 0.79 / 0.85 / 12.64; [2, 128, 200] -> 128 stride 2 0.76 / 0.86 /
    9.42; [2, 64, 1024] -> 64 1.42 / 1.59 / 24.76 (the generated code has no im2col for
    them: a direct loop nest). The Whisper encoder: 2.85x inductor's time -> 0.97x.

  * Attention on CUDA (aten.scaled_dot_product_attention): torch's kernel picks flash or
    memory-efficient attention, which never writes the score matrices; the math form
    mlirfuse compiles writes them and runs two batched GEMMs over them (GPT-2 124M at
    batch 8 x 256 tokens on the H200: 1.08x inductor's time, inductor calling the same
    kernel). Captured whole for that (`kept`, capture's `keep`): elsewhere, and where
    the extern call cannot take it, it is captured again in its math form.

  * Except small 2-D convolutions on the CPU (at most SMALL_CONVOLUTION multiply-adds,
    sizes static; 2026-12-04, session 39): torch's kernel costs ~60 us a call whatever
    its size (oneDNN's primitive and reorders), where generated code for a few hundred
    thousand multiply-adds takes a few us. Alone, 2 threads, median us (eager / extern
    call / generated, a noisy host): 1x1 [2, 16, 4, 4] -> 64 91 / 151 / 41; 3x3
    [2, 32, 4, 4] -> 32 106 / 203 / 56; depthwise 7x7 [2, 128, 2, 2] 197 / 143 / 47;
    3x3 [2, 64, 8, 8] -> 64 (4.7M) 163 / 250 / 154; but ResNet's 7x7 stem over 3
    channels (4.8M) 202 / 258 / 390 and 3x3 [2, 64, 16, 16] -> 64 (18.9M) 485 / 561 /
    588. The small ResNet of bench/models.py whole: 2.00 ms with every convolution an
    extern call, 0.93 ms with them generated, inductor 2.15.

On CUDA convolutions are cuDNN calls already (mlirfuse-library-conv).
"""

from __future__ import annotations

import math
import os

import torch

from . import capture, extern
from . import attention_masks
from .errors import CompileError

aten = torch.ops.aten


# The most multiply-adds of a 2-D convolution on the CPU that compiles as generated code
# (above: torch's kernel). MLIRFUSE_CPU_SMALL_CONV_MACS sets it (0: every convolution
# torch's); like every MLIRFUSE_* switch it is part of the compiled graphs' cache key.
SMALL_CONVOLUTION = 2_000_000


def _small_convolution(node: torch.fx.Node) -> bool:
    """Whether a 2-D convolution's multiply-adds (output elements times input channels
    per group times kernel size), its sizes static, are at most the threshold."""
    limit = int(os.environ.get("MLIRFUSE_CPU_SMALL_CONV_MACS", SMALL_CONVOLUTION))
    out, weight = node.meta.get("val"), getattr(node.args[1], "meta", {}).get("val")
    if not isinstance(out, torch.Tensor) or not isinstance(weight, torch.Tensor) or \
            out.dim() != 4:
        return False
    sizes = list(out.shape) + list(weight.shape[1:])
    return all(isinstance(n, int) for n in sizes) and math.prod(sizes) <= limit


# Ops captured whole (not decomposed) where they may run a library kernel: on CUDA.
KEPT_ON_CUDA = frozenset({aten.scaled_dot_product_attention.default})


def kept(args: tuple, options) -> frozenset:
    """The ops capture should leave whole for a call with `args` under `options` (an
    Options): the attention op when the code is for CUDA and library kernels and extern
    calls are on."""
    if not (options.library_kernels and options.extern_calls and extern.CUDA) or \
            options.on_unsupported == "error":
        return frozenset()
    device = options.device or next(
        (str(t.device) for t in capture.split_args(args)[0] if isinstance(t, torch.Tensor)
         and t.device.type == "cuda"), "cpu")
    return KEPT_ON_CUDA if device.startswith("cuda") else frozenset()


def mark_kept(gm: torch.fx.GraphModule, device: torch.device, ops: frozenset) -> bool:
    """Marks the graph's library kernels by choice (`mark`); False when a node of the ops
    in `ops` (captured whole) is not among them (the graph is then captured again with
    those decomposed). An attention whose mask is the causal pattern takes `is_causal`
    instead, one whose mask masks nothing none (attention_masks.py: torch's kernel then
    reads no mask)."""
    if aten.scaled_dot_product_attention.default in ops:
        attention_masks.simplify(gm)
    mark(gm, device)
    return all(extern.marked(n) for n in gm.graph.nodes
               if n.op == "call_function" and n.target in ops)


def preferred(node: torch.fx.Node, device: torch.device) -> str | None:
    """Why `node` runs a library kernel by choice on `device`, or None."""
    if node.op != "call_function":
        return None
    if device.type == "cuda" and node.target in KEPT_ON_CUDA:
        return "attention on CUDA: torch's flash or memory-efficient kernel never writes " \
               "the score matrices (compiler/library_kernels.py)"
    if device.type != "cpu":
        return None
    if node.target is aten.convolution.default:
        x = node.args[0].meta.get("val") if isinstance(node.args[0], torch.fx.Node) else None
        transposed = node.args[6] if len(node.args) > 6 else False
        if isinstance(x, torch.Tensor) and x.dim() in (3, 4) and not transposed and \
                not _small_convolution(node):
            return f"a {x.dim() - 2}-D convolution on the CPU: torch's kernel (oneDNN) is " \
                   "faster than im2col and a BLAS call per image (compiler/library_kernels.py)"
    return None


def mark(gm: torch.fx.GraphModule, device: torch.device) -> int:
    """Marks the graph's ops that run a library kernel by choice as extern calls; returns
    how many were marked (an op an extern call cannot take stays generated code)."""
    marked = 0
    for node in gm.graph.nodes:
        why = preferred(node, device)
        if why and not extern.marked(node) and \
                extern.mark(node, why, device, channels_last(node, device)):
            marked += 1
    return marked


def channels_last(node: torch.fx.Node, device: torch.device) -> tuple:
    """The arguments (by position) torch's kernel gets as channels-last copies: the input
    and weight of a grouped 2-D convolution on the CPU. oneDNN's depthwise 7x7 (ConvNeXt)
    over NCHW against channels-last with both copies and the result's conversion, 2
    threads, us: [2, 16, 16, 16] 62 / 53, [2, 64, 4, 4] 56 / 44, [2, 128, 2, 2] 116 / 41,
    [2, 96, 56, 56] 1686 / 815 (session 30). Dense convolutions, both converted at each
    call, took 0.79x (3x3, [8, 64, 56, 56]) to 1.41x (ResNet's 7x7 stem over 3 channels)
    the NCHW time: they stay NCHW."""
    if device.type != "cpu" or node.target is not aten.convolution.default:
        return ()
    x = node.args[0].meta.get("val") if isinstance(node.args[0], torch.fx.Node) else None
    groups = node.args[8] if len(node.args) > 8 else 1
    if isinstance(x, torch.Tensor) and x.dim() == 4 and isinstance(groups, int) and groups > 1:
        return (0, 1)
    return ()


def check_symbolic(gm: torch.fx.GraphModule, device: torch.device) -> None:
    """For a compile for symbolic sizes: raises CompileError naming the first op that runs
    a library kernel by choice but could not be marked as an extern call (its result has
    a symbolic size no input has: a convolution's output rows when the image size
    varies). Generated code for it was several times the static code's time (im2col and
    BLAS per image: 4x, a 3x3 convolution of a batch of 8 on the CPU), so the caller
    specializes the sizes instead."""
    for node in gm.graph.nodes:
        why = preferred(node, device)
        if why and not extern.marked(node):
            raise CompileError(
                f"no code for symbolic sizes: a library kernel by choice needs static sizes "
                f"({why})", stage="library", op=str(node.target),
                source=capture.source_of(node), nodes=[node.name])
