"""Training: AOTAutograd's forward and backward graphs, each compiled by mlirfuse.

AOTAutograd (torch._functorch.aot_autograd) traces a function's forward and backward
together into one joint graph of ATen ops; the min-cut rematerialization partitioner
splits it in two, recomputing cheap pointwise ops in the backward instead of saving
them; each half goes to a graph compiler. Here that compiler is a CompiledFunction of
its own, so both halves get the whole pipeline (fusion, guards, library GEMMs, eager
islands for what cannot compile), and they count into the stats of whoever asked:

    forward graph  (primals...)            -> (outputs..., saved...)
    backward graph (saved..., tangents...) -> (a gradient or None per primal)

Three entry points use it: the torch.compile backend when a graph's inputs require
grad (`backend_for_training`), mlirfuse.compile when a call needs autograd
(`TrainingFunction`, one per call signature), and mlirfuse.memory_efficient_fusion,
functorch's API with mlirfuse as its compiler (`aot_settings`). Each passes `make`, the
factory of the graphs' CompiledFunctions (api.py).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch._dynamo.backends.common import aot_autograd
from torch._functorch.aot_autograd import aot_function
from torch._functorch.partitioners import min_cut_rematerialization_partition
from torch.nn.utils.stateless import _reparametrize_module

from .aten_export import portable_kernels
from .capture import is_fake, join_args, split_args
from .concurrency import COMPILE_LOCK, in_clean_thread


def graph_compiler(make: Callable, children: list, backward: bool):
    """An AOTAutograd graph compiler: make(gm, backward) (a CompiledFunction over the graph
    it is handed, counting into its owner's stats), compiled at its first call with real
    tensors (the example inputs are fake), in a clean thread: the forward graph runs
    inside an autograd.Function, whose thread state torch.export cannot trace under. The
    result takes AOTAutograd's boxed calling convention (one list of arguments)."""

    def compile_graph(gm: torch.fx.GraphModule, example_inputs) -> Callable:
        compiled = make(gm, backward)
        children.append(compiled)

        def run(args: list):
            if compiled._last is None and compiled._dynamo is None and not is_fake(args):
                in_clean_thread(compiled.compile_for, *args)
                out = compiled.run_first(args)
            else:
                out = compiled(*args)
            return out if isinstance(out, (tuple, list)) else (out,)

        run._boxed_call = True
        run.compiled = compiled
        return run

    return compile_graph


def aot_settings(make: Callable, children: list) -> dict:
    """The arguments of AOTAutograd's entry points that make mlirfuse its compiler.

    No decompositions here: each graph is decomposed when it is captured (capture.py),
    as for inference. Decomposing while AOTAutograd traces leaves prims ops in the
    graphs (nll_loss's prims.squeeze), which torch.export cannot trace again.
    """
    forward = graph_compiler(make, children, backward=False)
    return dict(fw_compiler=forward,
                bw_compiler=graph_compiler(make, children, backward=True),
                inference_compiler=forward,
                partition_fn=min_cut_rematerialization_partition)


def backend_for_training(gm: torch.fx.GraphModule, example_inputs, make: Callable,
                         children: list) -> Callable:
    """What the torch.compile backend returns for a graph whose inputs require grad.
    AOTAutograd traces here, under the compile lock (tracing is not reentrant).

    Dynamo's DDPOptimizer asks AOTAutograd to answer the first call of each piece with
    fake outputs whose strides inductor reports (TracingContext.fakify_first_call); no
    strides are reported here, and the fake outputs came back at the first real call
    (the loss of a DDP model was a FakeTensor). The flag is cleared: the pieces run on
    fake tensors as graphs instead (CompiledFunction.__call__).
    """
    context = torch._guards.TracingContext.try_get()
    fakify = context is not None and context.fakify_first_call
    if fakify:
        context.fakify_first_call = False
    try:
        with COMPILE_LOCK, portable_kernels():
            # dynamo's wrapper of aot_module_simplified: it keeps dynamo out of the backward
            # and counts the AOT compile, which DDPOptimizer reads to pair each piece's
            # forward with its backward.
            return aot_autograd(**aot_settings(make, children))(gm, example_inputs)
    finally:
        if fakify:
            context.fakify_first_call = True


def _state_of(owner: torch.nn.Module | None) -> tuple[list[str], list[torch.Tensor]]:
    if owner is None:
        return [], []
    named = list(owner.named_parameters(remove_duplicate=False)) + \
        list(owner.named_buffers(remove_duplicate=False))
    return [n for n, _ in named], [t for _, t in named]


def owner_module(fn: Callable) -> torch.nn.Module | None:
    """The module whose parameters and buffers `fn` reads: fn itself, or a bound
    method's module."""
    if isinstance(fn, torch.nn.Module):
        return fn
    owner = getattr(fn, "__self__", None)
    return owner if isinstance(owner, torch.nn.Module) else None


class TrainingFunction:
    """mlirfuse.compile's training path for one call signature (a dispatch key).

    The function becomes a function of tensors only: the module's parameters and
    buffers first (read at every call, so that an optimizer's updates and replaced
    tensors are seen), then the tensor leaves of the arguments; every other leaf is
    the constant the key fixes. AOTAutograd traces it at the first call, attention in
    SDPA's math form (as capture does for inference): its backward is then ops that
    compile, where the fused attention kernels' backward ops do not lower.
    """

    def __init__(self, fn: Callable, args: tuple, make: Callable, children: list):
        self.owner = owner_module(fn)
        names, _ = _state_of(self.owner)
        _, skeleton, spec = split_args(args)
        owner = self.owner

        def of_tensors(*tensors):
            state, user = tensors[:len(names)], tensors[len(names):]
            call_args = join_args(user, skeleton, spec)
            if owner is None:
                return fn(*call_args)
            with _reparametrize_module(owner, dict(zip(names, state))):
                return fn(*call_args)

        self._compiled = aot_function(of_tensors, num_params_buffers=len(names),
                                      **aot_settings(make, children))
        self._traced = False

    def __call__(self, tensors: list[torch.Tensor]) -> Any:
        _, state = _state_of(self.owner)
        if self._traced:
            return self._compiled(*state, *tensors)
        # The first call traces: one at a time in the process (COMPILE_LOCK), and the
        # graphs' own compiles borrow the lock (in_clean_thread).
        with COMPILE_LOCK, portable_kernels():
            out = self._compiled(*state, *tensors)
            self._traced = True
        return out


def first_line(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"
