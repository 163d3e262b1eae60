"""The device a compile targets: the option's, else the one its tensors are on."""

from __future__ import annotations

from typing import Callable

import torch

from .errors import CompileError
from .options import Options


def target_device(options: Options, examples: list[tuple[int, torch.Tensor]],
                  describe: Callable[[int], str], graph: torch.fx.GraphModule | None = None
                  ) -> torch.device:
    """The device to compile for: the option's, else the tensors' (all on one device),
    else, for a graph that takes no tensor, the device of what it makes (`arange(n,
    device="cuda")`).

    Args:
      examples: (graph input index, tensor) of the arguments, parameters, buffers and
        constants the function holds.
    Raises:
      CompileError when tensors are on several devices and `on_unsupported` is "error"
      (otherwise the ops that touch tensors on another device run eager).
    """
    strict = options.on_unsupported == "error"
    if options.device is not None:
        device = torch.device(options.device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    else:
        devices = {t.device for _, t in examples if t.device.type != "cpu"}
        if not examples and graph is not None:
            devices = {t.device for n in graph.graph.nodes if n.op == "output"
                       for r in n.args[0] if isinstance(r, torch.fx.Node)
                       for t in [r.meta.get("val")] if isinstance(t, torch.Tensor)
                       and t.device.type != "cpu"}
        if len(devices) > 1 and strict:
            raise CompileError(
                f"tensors on several devices ({sorted(map(str, devices))}): one compiled "
                "function runs on one device", stage="capture")
        device = min(devices, key=str) if devices else torch.device("cpu")
    if device.type not in ("cpu", "cuda"):
        raise CompileError(f"tensors on {device}: mlirfuse compiles for the CPU "
                           "and NVIDIA GPUs (cuda)", stage="capture")
    for i, t in examples:
        if t.device != device and strict:
            raise CompileError(
                f"{describe(i)} is on {t.device}, but the code is compiled for {device}",
                stage="capture")
    return device
