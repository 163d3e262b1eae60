"""Ops for which a library kernel beats mlirfuse's generated code: extern calls by choice.

An op in this table compiles as an extern call (compiler/extern.py: torch's kernel called
from the compiled code on the compiled code's buffers, no copies in, the ops around it
still fused into mlirfuse's kernels), not as generated code, when the option
`library_kernels` is on (the default) and extern calls are. Each entry is there because it
was measured faster, in one process, interleaved (bench/RESULTS.md, 2026-12-02):

  * 2-D convolutions on the CPU: torch's kernel (oneDNN) against mlirfuse-conv-to-gemm's
    im2col and a BLAS call per image, the demo's resnet_block (64 channels, 32x32, 2
    threads): 8.6 ms against 16.1 (eager 8.0), batch 8: 22.9 against 56.1 (eager 24.1),
    128 channels 16x16 batch 4: 13.5 against 16.7 (eager 15.0).

On CUDA convolutions are cuDNN calls already (mlirfuse-library-conv).
"""

from __future__ import annotations

import torch

from . import extern

aten = torch.ops.aten


def preferred(node: torch.fx.Node, device: torch.device) -> str | None:
    """Why `node` runs a library kernel by choice on `device`, or None."""
    if node.op != "call_function" or device.type != "cpu":
        return None
    if node.target is aten.convolution.default:
        x = node.args[0].meta.get("val") if isinstance(node.args[0], torch.fx.Node) else None
        transposed = node.args[6] if len(node.args) > 6 else False
        if isinstance(x, torch.Tensor) and x.dim() == 4 and not transposed:
            return "a 2-D convolution on the CPU: torch's kernel (oneDNN) is faster than " \
                   "im2col and a BLAS call per image (compiler/library_kernels.py)"
    return None


def mark(gm: torch.fx.GraphModule, device: torch.device) -> int:
    """Marks the graph's ops that run a library kernel by choice as extern calls; returns
    how many were marked (an op an extern call cannot take stays generated code)."""
    marked = 0
    for node in gm.graph.nodes:
        why = preferred(node, device)
        if why and not extern.marked(node) and extern.mark(node, why, device):
            marked += 1
    return marked
