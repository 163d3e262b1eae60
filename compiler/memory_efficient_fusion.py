"""mlirfuse.memory_efficient_fusion: functorch's entry point, with mlirfuse as its compiler."""

from __future__ import annotations

from typing import Callable

import torch
from torch._functorch.aot_autograd import aot_function, aot_module

from . import training
from .api import graph_factory
from .options import Options
from .stats import Stats


def memory_efficient_fusion(fn: Callable, **kwargs) -> Callable:
    """functorch's `memory_efficient_fusion` with mlirfuse as its compiler: the forward
    and backward graphs of `fn` (a function or an nn.Module) traced together by
    AOTAutograd, split by the min-cut rematerialization partitioner, each compiled by
    mlirfuse. A drop-in for `functorch.compile.memory_efficient_fusion`: keyword
    arguments override the same settings (fw_compiler, bw_compiler, partition_fn,
    decompositions...); mlirfuse's compile options go in `options=` (a dict).

    Returns:
      For a module, an nn.Module; for a function, a function. Either has `.stats`
      (a Stats: compilations, backward_compilations, cache hits, kernels...) and
      `.graphs` (the CompiledFunction of each forward and backward graph).
    """
    options = Options.from_kwargs(dict(kwargs.pop("options", None) or {}))
    stats, children = Stats(), []
    settings = training.aot_settings(
        graph_factory(options, stats),
        children)
    settings.update(kwargs)
    if isinstance(fn, torch.nn.Module):
        compiled = aot_module(fn, **settings)
    else:
        compiled = aot_function(fn, **settings)
    compiled.stats, compiled.graphs = stats, children
    return compiled
