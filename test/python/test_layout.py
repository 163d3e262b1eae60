"""The source tree says where each phase lives: a pass has one name in its file, its
argument and its lit test; a pass serves the targets its folder names; imports inside the
package are relative and never go round in a circle."""

from __future__ import annotations

import ast
import os
import re

import pytest

from mlirfuse.compiler import registry
from mlirfuse.compiler.passes.base import Pass
from mlirfuse.lowering import stages

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CODE = ("compiler", "lowering", "runtime", "dialects")
pytestmark = pytest.mark.cpu_only("reads the source tree; the device makes no difference")


def _modules() -> dict[str, str]:
    """Package module name (mlirfuse.x.y) → file, for the code folders."""
    out = {}
    for folder in CODE:
        for root, _, files in os.walk(os.path.join(ROOT, folder)):
            for f in files:
                if not f.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(root, f), ROOT)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                out[".".join(["mlirfuse"] + rel)] = os.path.join(root, f)
    return out


MODULES = _modules()


def _imports(name: str, path: str) -> list[tuple[int, str, int]]:
    """(line, the module imported, relative level) of every import in the file."""
    with open(path) as f:
        tree = ast.parse(f.read())
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            # `from pkg import mod` imports the module pkg.mod when there is one.
            for a in node.names:
                target = f"{base}.{a.name}"
                out.append((node.lineno, target if target in MODULES else base, node.level))
    return out


def test_every_pass_has_one_name_in_file_argument_and_lit_test():
    for argument, folder in registry.REGISTRY.items():
        stem = argument.removeprefix("mlirfuse-")
        path = os.path.join(ROOT, *folder.split("."), stem.replace("-", "_") + ".py")
        assert os.path.exists(path), f"{argument}: no file {path}"
        assert registry.lookup(argument).ARGUMENT == argument
        tests = os.path.join(ROOT, "test", *folder.split("."))
        assert any(re.fullmatch(re.escape(stem) + r"(-[a-z]+)?\.mlir", t)
                   for t in os.listdir(tests)), f"{argument}: no lit test {tests}/{stem}.mlir"


def test_every_pass_class_is_registered():
    for name, path in MODULES.items():
        folder = name.removeprefix("mlirfuse.").rpartition(".")[0]
        if folder not in registry.FOLDERS:
            continue
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and any(
                    getattr(b, "id", None) == "Pass" for b in node.bases):
                argument = "mlirfuse-" + name.rpartition(".")[2].replace("_", "-")
                assert registry.REGISTRY.get(argument) == folder, \
                    f"{path}: pass {node.name} is not registered as {argument} in {folder}"
    assert issubclass(registry.lookup("mlirfuse-map-to-gpu"), Pass)


def _passes_of(stage_list, skip=()) -> set[str]:
    return {e.split("{")[0] for name, pipe in stage_list if name not in skip
            for e in pipe if e.startswith("mlirfuse-")}


def test_a_pass_serves_the_targets_its_folder_names():
    cpu = _passes_of(stages.for_target("cpu"))
    # The CUDA target's last stage lowers host code, which is CPU code (GPU_HOST_LLVM).
    cuda = _passes_of(stages.for_target("cuda:sm_90"), skip=("llvm",)) \
        | _passes_of(stages.for_target("cuda:sm_90:unaligned"), skip=("llvm",))
    for argument in registry.REGISTRY:
        served = {t for t, used in (("cpu", cpu), ("cuda", cuda)) if argument in used}
        expected = {"every target": {"cpu", "cuda"}, "cpu": {"cpu"},
                    "cuda": {"cuda"}}[registry.target(argument)]
        assert served == expected, f"{argument} runs for {served or 'no target'} " \
                                   f"but lives in the folder of {expected}"


def test_imports_inside_the_package_are_relative():
    absolute = [f"{path}:{line}: {target}" for name, path in MODULES.items()
                for line, target, level in _imports(name, path)
                if level == 0 and target.split(".")[0] == "mlirfuse"]
    assert not absolute, "absolute imports of mlirfuse:\n" + "\n".join(absolute)


def test_no_import_circles():
    graph = {name: {t for _, t, _ in _imports(name, path) if t in MODULES and t != name}
             for name, path in MODULES.items()}
    # A module importing a package's module also runs the package's __init__; those
    # hold no imports of their own here, so the edges above are the whole graph.
    seen, stack, on_stack, cycles = set(), [], set(), []

    def visit(node):
        seen.add(node)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt in on_stack:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        on_stack.discard(node)

    for node in sorted(graph):
        if node not in seen:
            visit(node)
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)
