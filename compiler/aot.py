"""Ahead-of-time artifacts: `mlirfuse.export` compiles a function once and writes a folder
that `mlirfuse.load` runs in a process with torch alone (runtime/artifact.py, which also
describes the folder).

What an artifact takes: the CPU or one CUDA device (the code is built for its chip), static
sizes (the code's guards check them; a call of other sizes raises GuardError), tensors as
the only arguments, a graph compiled whole with on_unsupported="error" (no op running
eager; extern calls, torch's kernels called from the code, are kept: the loading process
builds the extern library against its torch), no random op, no input mutated in place.
Index arguments are bounds-checked per call on the CPU, as compiled code's are. Anything
else is refused with a CompileError that says which; nothing is written then. The
parameters and buffers are saved as they are at export (frozen).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import torch
from torch.utils import _pytree as pytree

from ..runtime import artifact, cpu_runtime
from ..runtime import engine as engine_mod
from . import api
from .compiled_graph import CompiledGraph
from .context import make_context
from .errors import CompileError
from .seeding import draws


def export(fn, example_inputs, path: str, **options) -> str:
    """Compiles `fn(*example_inputs)` for the CPU and writes the artifact folder `path`
    (created; its files replaced). Returns `path`.

    Raises:
      CompileError when the function does not compile whole or needs what an artifact
      cannot hold (see the module's docstring), naming it.
    """
    example_inputs = tuple(example_inputs)
    if not all(isinstance(t, torch.Tensor) for t in example_inputs):
        raise CompileError("mlirfuse.export takes tensors as its only arguments",
                           stage="export")
    devices = {t.device for t in example_inputs}
    if len(devices) > 1:
        raise CompileError(f"mlirfuse.export: tensors on {len(devices)} devices ("
                           + ", ".join(sorted(map(str, devices))) + "): one device per "
                           "artifact", stage="export")
    if len({id(t) for t in example_inputs}) != len(example_inputs):
        raise CompileError("mlirfuse.export: a tensor passed twice", stage="export")
    # Ops without native code become extern calls (on_unsupported="error" allows none);
    # an op left eager is refused below, saying which and why. One library: a model's
    # repeated layers are compiled whole (not as pieces: repeated_layers.py).
    compiled = api.compile(fn, dynamic=False, **{"on_unsupported": "eager", **options,
                                                 "layers": False})
    with torch.no_grad():
        compiled.compile_for(*example_inputs)
    spec = compiled._last
    if getattr(spec, "warm", False):  # from a warm start: the graph, compiled (cached)
        spec = spec.full()
    if spec is None:
        error = getattr(compiled, "_capture_error", None)
        if error is not None:
            raise error
        raise CompileError("mlirfuse.export: the function did not compile", stage="export")
    _check(spec)
    cap, graph = spec.captured, spec.graph
    state, inputs = [], []
    states = iter(spec._state(cap.module))
    placeholders = graph.graph_module.graph.find_nodes(op="placeholder")
    for n, (i, constant) in enumerate(zip(cap.inputs, spec._constants)):
        sizes, strides = graph.expected[n]
        entry = {"sizes": list(sizes), "strides": list(strides),
                 "dtype": str(placeholders[n].meta["val"].dtype)}
        if i.kind == "user":
            inputs.append({"kind": "user", "index": i.index, **entry})
            continue
        value = next(states) if i.kind == "state" else (i.value if constant is None else constant)
        inputs.append({"kind": "state", "index": len(state), "name": i.path, **entry})
        state.append(value.detach().cpu().clone())  # (moved to the device by the load)
    outputs = _outputs(cap, spec, state)
    executable = graph.executable
    manifest = {
        "format": artifact.FORMAT, "torch": torch.__version__, "device": spec.device.type,
        "arguments": len(example_inputs), "inputs": inputs,
        "results": [[list(shape), str(dtype)] for shape, dtype in
                    zip(graph.shapes.result_shapes([]), [d for _, d in graph.shapes.results])],
        "outputs": outputs, "out_spec": _spec_text(cap.out_spec),
        # Index arguments' bounds, checked per call as compiled code's are (index_checks).
        "index_checks": [[c.position, c.dim, c.size] for c in graph._index_checks],
        "extern_specs": list(executable.extern_specs),
    }
    if spec.device.type == "cuda":
        manifest.update({
            "capability": list(torch.cuda.get_device_capability(spec.device)),
            "aligned": graph.aligned, "workspace": graph.workspace,
            "gemm": executable.gemm, "convolutions": executable._convolutions})
    code = _cuda_code(graph, compiled.options.opt_level) if spec.device.type == "cuda" \
        else None
    os.makedirs(path, exist_ok=True)
    if code is None:
        _write_code(graph, os.path.join(path, "code.so"), compiled.options.opt_level,
                    manifest["extern_specs"])
    else:
        shutil.copyfile(code, os.path.join(path, "code.so"))
    torch.save(state, os.path.join(path, "state.pt"))
    with open(os.path.join(path, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return path


def _check(spec) -> None:
    """Raises CompileError naming what an artifact cannot hold."""
    if not isinstance(spec.graph, CompiledGraph):
        raise CompileError("mlirfuse.export: ops run eager (" + "; ".join(
            f"{e.op}" + (f" at {e.source}" if e.source else "") + f": {e.reason}"
            for e in spec.eager[:4]) + (", ..." if len(spec.eager) > 4 else "")
            + "): an artifact holds compiled code only", stage="export")
    cap = spec.captured
    # Compiled natively, a random op's numbers would follow a seed of the code's own, not
    # torch's generator (torch.manual_seed would not reach them).
    random = sorted({str(n.target) for n in spec.graph.graph_module.graph.nodes if draws(n)})
    reasons = [(random, "random ops (" + ", ".join(random) + ")"),
               (cap.mutations, "inputs mutated in place"),
               (spec._rng, "seeding torch's generator"),
               (spec.graph.shapes.dynamic, "symbolic sizes")]
    found = [why for present, why in reasons if present]
    if found:
        raise CompileError("mlirfuse.export: the function needs " + ", ".join(found)
                           + ", which artifacts do not hold yet", stage="export")


def _outputs(cap, spec, state: list[torch.Tensor]) -> list[dict]:
    """Where each output leaf comes from, for runtime/artifact.py."""
    it = iter(cap.outputs)
    outputs = []
    for leaf in range(cap.out_spec.num_leaves):
        if leaf in cap.out_consts:
            value = cap.out_consts[leaf]
            if not isinstance(value, (int, float, bool, str, type(None))):
                raise CompileError(f"mlirfuse.export: output leaf {leaf} is a "
                                   f"{type(value).__name__} constant", stage="export")
            outputs.append({"kind": "constant", "value": value})
            continue
        out = next(it)
        if out.kind == "state":  # a parameter returned as is: saved with the others
            from .module_state import state_getter

            state.append(state_getter(out.path)(cap.module).detach().cpu().clone())
            outputs.append({"kind": "state", "index": len(state) - 1})
        else:
            outputs.append({"kind": out.kind, "index": out.index})
        if leaf in cap.scalars:
            outputs[-1]["scalar"] = cap.scalars[leaf].__name__
    return outputs


def _spec_text(out_spec) -> str:
    try:
        return pytree.treespec_dumps(out_spec)
    except Exception as e:  # a custom container torch cannot serialize
        raise CompileError(f"mlirfuse.export: the result's structure cannot be saved ({e}); "
                           "return tensors, tuples, lists or dicts", stage="export") from None


def _cuda_code(graph: CompiledGraph, opt_level: int) -> str:
    """The graph's CUDA host code (kernels inside) built into a library that names no
    other (runtime/artifact.py loads the runtime's first, global): the compiled graph's
    own names its runtime libraries by their build hashes, which another install's lack."""
    from torch_mlir import ir

    from ..lowering.cuda import nvptx
    from ..runtime import host_library

    module = ir.Module.parse(graph.stages["llvm"], make_context())
    try:
        return host_library.build(module, [], opt_level,
                                  salt=f"artifact:cuda:{graph.device.index}",
                                  entry="_mlir_ciface_main")
    except (host_library.HostBuildError, nvptx.ToolError) as e:
        raise CompileError(f"mlirfuse.export: the CUDA host code did not build: {e}",
                           stage="export") from None


def _write_code(graph: CompiledGraph, target: str, opt_level: int, specs: list[str]) -> None:
    """JIT-compiles the graph's final module to a position-independent object and links it
    into `target` with no library (runtime/artifact.py loads the runtime's first)."""
    from torch_mlir import ir

    from ..runtime import extern as runtime_extern

    module = ir.Module.parse(graph.stages["llvm"], make_context())
    libraries = cpu_runtime.libraries() + ([runtime_extern.library_path()] if specs else [])
    engine = engine_mod.jit(module, opt_level, libraries)
    with tempfile.TemporaryDirectory(prefix="mlirfuse-export-") as tmp:
        obj = os.path.join(tmp, "code.o")
        engine.dump_to_object_file(obj)
        compiler = os.environ.get("CC", "cc")
        done = subprocess.run([compiler, "-shared", "-o", os.path.join(tmp, "code.so"), obj],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise CompileError(f"mlirfuse.export: '{compiler} -shared' failed: "
                               f"{done.stderr.strip()[:1000]}", stage="export")
        shutil.move(os.path.join(tmp, "code.so"), target)
