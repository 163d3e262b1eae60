"""The passes the bundled MLIR registers, for `mlirfuse-opt --list-passes`.

MLIR's Python API can run any registered pass but cannot list them, and
torch-mlir-opt's --help shows only part of what the Python bindings register.
So the list is found the slow, exact way: every pass-like string in torch-mlir's
libraries is tried in a PassManager, and what parses is a pass. The result is
cached per torch-mlir version (a few seconds the first time).
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
from importlib import metadata

_CANDIDATE = re.compile(rb"(?<![\w.-])([a-z][a-z0-9]*(?:-[a-z0-9]+)+)\x00")


def _cache_path() -> str:
    version = metadata.version("torch-mlir")
    root = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(root, "mlirfuse", f"passes-torch-mlir-{version}.json")


def _descriptions(libs: str) -> dict[str, str]:
    try:
        text = subprocess.run([os.path.join(libs, "torch-mlir-opt"), "--help"],
                              capture_output=True, text=True, timeout=60).stdout
    except OSError:
        return {}
    return dict(re.findall(r"^ {6}--([a-z0-9][\w-]*)\s+-\s+(.*)$", text, re.M))


def _probe() -> dict[str, str]:
    import torch_mlir
    from torch_mlir import passmanager

    from ..context import make_context

    libs = os.path.join(torch_mlir.__path__[0], "_mlir_libs")
    names = set()
    for lib in glob.glob(os.path.join(libs, "*.so")):
        with open(lib, "rb") as f:
            names.update(m.decode() for m in _CANDIDATE.findall(f.read()))
    found = {}
    with make_context():
        for name in sorted(names):
            for text in (f"builtin.module({name})", f"builtin.module(func.func({name}))"):
                try:
                    passmanager.PassManager.parse(text)
                except Exception:  # not a pass, or not one that anchors there
                    continue
                found[name] = ""
                break
    found.update({k: v for k, v in _descriptions(libs).items() if k in found})
    return found


def upstream_passes() -> dict[str, str]:
    """Returns {pass argument: description} for every pass the bundled MLIR registers."""
    path = _cache_path()
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        pass
    found = _probe()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(found, f)
    return found
