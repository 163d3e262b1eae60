"""Compiled graphs kept on disk: a process compiling a graph compiled before skips the passes.

Not a pass. A CompiledGraph (a captured FX graph compiled for a device) looks itself up
under a key of everything its code depends on (`key`): the graph (every node's op, target,
arguments, its value's sizes, strides and dtype, its extern-call spec; tensor attributes by
value), the example inputs' sizes, strides, dtypes and alignment, the symbols' ranges, the
options that change code, the target, its pass pipelines (with the options switches give
them) and the CPU, every MLIRFUSE_* environment switch (but the caches' own), and the
versions of torch, torch-mlir and mlirfuse's own sources (a hash of its files, so an
edited pass never meets code an older one made). A hit is the final LLVM-dialect module
(text), its kernel count and workspace size: the import, every stage, PTX and the
host library are skipped (the CPU's machine code comes from runtime/cpu_library.py, the
GPU host library from runtime/host_library.py's cache); `compiled.ir(stage)` runs the
stages again when asked. Capture still runs: the key is the captured graph's.

Entries live in $MLIRFUSE_CACHE_DIR/graphs (default ~/.cache/mlirfuse/graphs), a folder
created private to the user (0700); one others could write is not used, nor an entry
others could write (runtime/native.py's code_folder and usable, the rule of every code
cache: cached code becomes machine code in this process; a warning says why). An entry is
zlib-compressed JSON after a SHA-256 of it: a truncated or altered entry fails the check,
is reported once as a warning and compiled again (and rewritten). Writes are atomic
(rename), so processes compiling the same graph at once both succeed. The least recently
used entries go past MLIRFUSE_GRAPH_CACHE_MB megabytes (default 512).
MLIRFUSE_GRAPH_CACHE=0 turns it off; so does `dump_dir` (which wants every stage). With
MLIRFUSE_REDIS_URL and MLIRFUSE_CACHE_SECRET, entries are shared through Redis too
(team_cache.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
import zlib

import torch

from ..runtime import native
from . import extern, team_cache
from .options import Options
from .symbolic import SymbolicShapes

VERSION = "1"  # bump when an entry's format changes
_MAGIC = b"mlirfuse-graph-1\n"
_warned: set[str] = set()


def enabled(options: Options) -> bool:
    return os.environ.get("MLIRFUSE_GRAPH_CACHE", "1") != "0" and not options.dump_dir


def cache_dir() -> str:
    return os.path.join(native.cache_root(), "graphs")


@functools.cache
def _sources() -> str:
    """A hash of mlirfuse's own files (Python, C, C++, IRDL): any edit changes every key."""
    import importlib

    folders = [importlib.import_module(f"mlirfuse.{n}").__path__[0]
               for n in ("compiler", "dialects", "lowering", "runtime")]
    digest = hashlib.sha256()
    for top in folders:
        for folder, dirs, files in sorted(os.walk(top)):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
            for name in sorted(files):
                if name.endswith((".py", ".c", ".cpp", ".h", ".map", ".mlir")):
                    with open(os.path.join(folder, name), "rb") as f:
                        digest.update(name.encode() + b"\0" + f.read())
    return digest.hexdigest()


def _versions() -> str:
    return f"{native.toolchain_versions()}, mlirfuse {_sources()}"


def _value(val) -> str:
    if isinstance(val, torch.Tensor):
        return f"T({val.dtype},{tuple(str(s) for s in val.shape)}," \
               f"{tuple(str(s) for s in val.stride())},{val.device.type})"
    if isinstance(val, (list, tuple)):
        return "(" + ",".join(_value(v) for v in val) + ")"
    return repr(val) if isinstance(val, (int, float, bool, str, type(None))) \
        else f"{type(val).__name__}:{val}"


def _graph(gm: torch.fx.GraphModule) -> bytes:
    """The graph as everything lowering reads of it (subgraphs included)."""
    digest = hashlib.sha256()
    for node in gm.graph.nodes:
        digest.update("|".join([
            node.op, node.name, str(node.target), repr(node.args), repr(node.kwargs),
            _value(node.meta.get("val")), str(node.meta.get(extern.MARK, ""))]).encode())
        if node.op == "get_attr":
            value = getattr(gm, str(node.target), None)
            if isinstance(value, torch.fx.GraphModule):  # a subgraph (cond, while_loop)
                digest.update(_graph(value))
            elif isinstance(value, torch.Tensor):
                t = value.detach().cpu().contiguous()
                digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.digest()


def key(gm: torch.fx.GraphModule, examples: list[torch.Tensor], options: Options,
        target: str, shapes: SymbolicShapes) -> str:
    """The name of the entry of `gm` compiled for `target` with `examples` and `options`."""
    from ..lowering import stages

    digest = hashlib.sha256(_graph(gm))
    digest.update(repr([
        settings(options), target, stages.of_target(target),
        [(tuple(t.shape), tuple(t.stride()), str(t.dtype), t.device.type,
          t.data_ptr() % 16 == 0) for t in examples],
        shapes.describe()]).encode())
    return digest.hexdigest()[:40]


def settings(options: Options) -> str:
    """Everything besides the graph and its target that changes compiled code: versions
    (mlirfuse's sources, torch, torch-mlir, the toolchain), the CPU, the options, and the
    MLIRFUSE_* switches (but the caches' own)."""
    from ..runtime import cpu_library

    switches = sorted((k, v) for k, v in os.environ.items() if k.startswith("MLIRFUSE_")
                      and "CACHE" not in k and "REDIS" not in k and k != "MLIRFUSE_WARM_START")
    code_options = {k: v for k, v in vars(options).items()
                    if k not in ("dump_dir", "repro_dir", "progress", "recompile_limit",
                                 "on_guard_failure")}
    return repr([VERSION, _versions(), cpu_library.cpu(), switches,
                 sorted(code_options.items())])


def load(name: str) -> dict | None:
    """The entry `name`: {"module": LLVM-dialect text, "kernels", "workspace"}; None when
    there is none or it fails its check (then reported). A miss on disk asks the team
    cache (team_cache.py), whose entry is then kept on disk too."""
    path = os.path.join(native.code_folder(cache_dir()), f"{name}.entry")
    if native.usable(path, mark_used=True):  # else none, or others could write it
        try:
            with open(path, "rb") as f:
                return _decode(f.read(), path)
        except OSError:
            pass
    data = team_cache.get(name)
    entry = _decode(data, f"the team cache's {name}") if data is not None else None
    if entry is not None:
        _write(name, data)
    return entry


def _decode(data: bytes, where: str) -> dict | None:
    body = data[len(_MAGIC) + 32:]
    if not data.startswith(_MAGIC) or hashlib.sha256(body).digest() != \
            data[len(_MAGIC):len(_MAGIC) + 32]:
        _warn("corrupt", f"{where} is damaged (its checksum does not match): compiled again")
        return None
    try:
        return json.loads(zlib.decompress(body))
    except (zlib.error, ValueError):
        _warn("corrupt", f"{where} is damaged (it does not decode): compiled again")
        return None


def store(name: str, module_text: str, kernels: int, workspace) -> None:
    """Writes the entry `name` (atomically), to the team cache too; a failure warns once,
    never raises."""
    if not isinstance(workspace, (int, str, type(None))):
        return
    put(name, {"module": module_text, "kernels": kernels, "workspace": workspace})


def put(name: str, payload: dict, team: bool = True) -> None:
    """Writes `payload` (JSON) as the entry `name`, on disk and (`team`) to the team cache."""
    data = encode(payload)
    _write(name, data)
    if team:
        team_cache.put(name, data)


def encode(payload: dict) -> bytes:
    """An entry's bytes: a magic line, the SHA-256 of the body, the body (zlib JSON)."""
    body = zlib.compress(json.dumps(payload).encode(), 1)
    return _MAGIC + hashlib.sha256(body).digest() + body


def _write(name: str, data: bytes) -> None:
    folder = native.code_folder(cache_dir())
    path = os.path.join(folder, f"{name}.entry")
    partial = f"{path}.{os.getpid()}.tmp"
    try:
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(data)
        os.replace(partial, path)
    except OSError as e:
        _warn("write", f"{path} could not be written: {e}")
        return
    native.evict(folder, ".entry", native.limit_bytes("MLIRFUSE_GRAPH_CACHE_MB", 512))


def _warn(kind: str, message: str) -> None:
    if kind not in _warned:
        _warned.add(kind)
        warnings.warn(f"mlirfuse: compiled-graph cache: {message}", stacklevel=3)
