"""The key of a compile before capture: what the function is, without tracing it.

A warm start (compiler/warm_start.py) finds a compiled specialization before torch.export
runs (capture was 3.9 of GPT-2's 5.3 s warm compile). Its key must change whenever the
graph could: `fingerprint(fn, args)` hashes

  * the code: each Python function reached from the callable (methods of the module's
    classes, hooks, functions held in attributes, closures, and the functions, classes
    and values their code names as globals), by its compiled code (`marshal`, nested code
    included), defaults and closure cells, recursively. A library's code (installed under
    site-packages, or Python's own) counts by its package's version and the code of the
    functions reached, not by following its globals further (torch itself by version);
  * the data: the module tree, every attribute of every module (config objects, flags,
    `training`), parameters and buffers by sizes, strides, dtype, device and
    requires_grad (the compiled code reads them at each call) when they belong to the
    module compiled or a model a plain function names (module_state.closed_modules), any
    other tensor by its values too (capture makes it a constant of the graph);
  * the arguments: their structure, non-tensor values, and the tensors' metadata;
  * the state torch traces under: grad mode, default dtype, autocast, deterministic
    algorithms, float32 matmul precision.

What it cannot describe (an object of a C type with no state it can read, a fake tensor, a
graph of objects too large) raises Unkeyable: that compile takes no warm start. A module of
the user's own that the code names (`mylib.f(x)`) counts by its file's size and time of
change and by its attributes the code may read (`f`, described as globals are). What it
does not see: a library's module-level globals rebound at run time.
"""

from __future__ import annotations

import collections
import enum
import functools
import hashlib
import importlib.metadata
import json
import logging
import marshal
import os
import re
import sys
import sysconfig
import threading
import types

import torch

from .module_state import global_names, state_modules

# Objects described at most this many times per fingerprint: past it, no warm start.
BUDGET = 200_000
_LIBRARY_ROOTS = tuple(sorted({os.path.realpath(p) + os.sep for k, p in sysconfig.get_paths()
                               .items() if k in ("stdlib", "platstdlib", "purelib", "platlib")},
                              key=len, reverse=True))
# A namedtuple class's field (`Point.x`), which has no state Python can read: its index.
_TUPLE_FIELD = type(collections.namedtuple("_Pair", "a b").a)
_OPAQUE = (logging.Logger, logging.LoggerAdapter, type(threading.Lock()),
           type(threading.RLock()), threading.local)
_NAMED = (types.BuiltinFunctionType, types.BuiltinMethodType, types.WrapperDescriptorType,
          types.MethodDescriptorType, types.MethodWrapperType, types.ClassMethodDescriptorType,
          types.GetSetDescriptorType, types.MemberDescriptorType, torch._ops.OpOverload,
          torch._ops.OpOverloadPacket)
_SKIPPED_CLASS_KEYS = frozenset({"__dict__", "__weakref__", "__doc__", "__module__",
                                 "__qualname__", "__annotations__", "__slots__",
                                 "__orig_bases__", "__parameters__", "_abc_impl",
                                 "__static_attributes__", "__firstlineno__"})


class Unkeyable(Exception):
    """The callable or its arguments hold something the fingerprint cannot describe."""


def fingerprint(fn, tensors: list[torch.Tensor], skeleton: list, spec) -> str:
    """The hex key of compiling `fn` for arguments split as capture.split_args does.

    Raises:
      Unkeyable, saying what, when part of it cannot be described.
    """
    d = _Describer(frozenset(map(id, state_modules(fn))))
    d.add(fn)
    d.token("args", str(spec))
    for x in skeleton:
        d.add(x)
    for t in tensors:
        d.tensor(t, values=False)
    d.token("state", repr(_torch_state()))
    return d.digest.hexdigest()[:40]


def _torch_state() -> tuple:
    return (torch.is_grad_enabled(), torch.is_inference_mode_enabled(),
            torch.get_default_dtype(), torch.is_autocast_enabled("cpu"),
            torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cpu"),
            torch.get_autocast_dtype("cuda"), torch.are_deterministic_algorithms_enabled(),
            torch.get_float32_matmul_precision())


@functools.cache
def _library(filename: str) -> bool:
    """Whether `filename` is a library's: under Python's own folders (the standard library,
    site-packages), or a file of a distribution installed elsewhere (`pip install --target`
    into a folder on PYTHONPATH, as on the H200 machine, whose transformers was the user's
    code otherwise, described in full, and held an object it cannot describe)."""
    path = os.path.realpath(filename)
    return path.startswith(_LIBRARY_ROOTS) or path.startswith(_installed_elsewhere())


@functools.cache
def _installed_elsewhere() -> tuple[str, ...]:
    """The top-level package folders and modules of distributions installed from wheels
    outside Python's own folders. Not those installed editable (pip's direct_url.json says
    so) nor setuptools' develop installs (.egg-info): their code is the user's, and changes
    without a new version."""
    roots = set()
    try:
        tops = importlib.metadata.packages_distributions()
    except Exception:  # noqa: BLE001 - a broken metadata folder: no roots from it
        return ()
    for top, names in tops.items():
        for name in names:
            try:
                dist = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                continue
            folder = str(getattr(dist, "_path", ""))
            if not folder.endswith(".dist-info") or _editable(dist):
                continue
            base = os.path.realpath(str(dist.locate_file("")))
            if (base + os.sep).startswith(_LIBRARY_ROOTS):
                continue
            roots.add(os.path.join(base, top) + os.sep)
            roots.add(os.path.join(base, top) + ".py")
    return tuple(sorted(roots, key=len, reverse=True))


def _editable(dist) -> bool:
    try:
        url = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return True  # unreadable: the user's code, described in full
    return bool(url.get("dir_info", {}).get("editable"))


@functools.cache
def _package_version(module_name: str) -> str:
    """A library module's version: its top package's __version__, else its file's
    size and time of change."""
    top = sys.modules.get(module_name.split(".")[0])
    version = getattr(top, "__version__", None)
    if isinstance(version, str):
        return version
    return _file_stamp(getattr(sys.modules.get(module_name), "__file__", None))


def _file_stamp(path) -> str:
    try:
        st = os.stat(path)
        return f"{st.st_size}:{st.st_mtime_ns}"
    except (OSError, TypeError):
        return "?"


class _Describer:
    """Feeds a description of objects into one SHA-256; each object once (later visits
    name the first: shared submodules and cycles cost nothing)."""

    def __init__(self, state: frozenset = frozenset()):
        #: ids of the modules whose parameters and buffers are the graph's arguments
        #: (read at each call: counted by metadata); another module's are constants of
        #: the graph (counted by value).
        self.state = state
        self.digest = hashlib.sha256()
        self.seen: dict[int, int] = {}
        self.keep: list = []  # the objects seen stay alive, so their ids stay unique

    def token(self, *parts) -> None:
        self.digest.update(("\x1f".join(map(str, parts)) + "\x1e").encode())

    def add(self, x, library: bool = False) -> None:
        """Describes `x`; `library`: reached from a library's code (its globals not followed)."""
        if x is None or isinstance(x, (bool, int, float, complex, str, bytes)):
            self.token(type(x).__name__, repr(x))
            return
        if isinstance(x, (torch.dtype, torch.device, torch.layout, torch.memory_format)):
            self.token("torch", repr(x))
            return
        if id(x) in self.seen:
            self.token("ref", self.seen[id(x)])
            return
        if len(self.seen) >= BUDGET:
            raise Unkeyable(f"more than {BUDGET} objects reached from the function")
        self.seen[id(x)] = len(self.seen)
        self.keep.append(x)
        self._describe(x, library)

    def _describe(self, x, library: bool) -> None:  # noqa: C901 - one case per kind
        if isinstance(x, torch.nn.Module):
            self._module(x)
        elif isinstance(x, torch.Tensor):
            self.tensor(x, values=True)
        elif isinstance(x, type):
            self._class(x)
        elif isinstance(x, types.FunctionType):
            self._function(x, library)
        elif isinstance(x, types.MethodType):
            self.token("method")
            self.add(x.__func__, library)
            self.add(x.__self__, library)
        elif isinstance(x, types.ModuleType):
            name = x.__name__
            file = getattr(x, "__file__", None)
            self.token("module", name, _package_version(name) if file is None or _library(file)
                       else _file_stamp(file))
        elif isinstance(x, (tuple, list)):
            self.token(type(x).__qualname__, len(x))
            if type(x) not in (tuple, list):
                self.add(type(x))
            for v in x:
                self.add(v, library)
        elif isinstance(x, (dict, types.MappingProxyType)):
            self.token(type(x).__qualname__, len(x))
            for k, v in x.items():
                self.add(k, library)
                self.add(v, library)
        elif isinstance(x, (set, frozenset)):
            self.token(type(x).__qualname__, len(x), sorted(map(repr, x)))
        elif isinstance(x, enum.Enum):
            self.token("enum", type(x).__module__, type(x).__qualname__, x.name)
        elif isinstance(x, functools.partial):
            self.token("partial")
            for v in (x.func, x.args, x.keywords):
                self.add(v, library)
        elif isinstance(x, (staticmethod, classmethod)):
            self.token(type(x).__name__)
            self.add(x.__func__, library)
        elif isinstance(x, property):
            self.token("property")
            for v in (x.fget, x.fset, x.fdel):
                self.add(v, library)
        elif isinstance(x, (types.UnionType, types.GenericAlias)) or \
                type(x).__module__ in ("typing", "typing_extensions"):
            self.token("annotation", repr(x))
        elif isinstance(x, _NAMED):
            self.token("named", getattr(x, "__module__", None), getattr(x, "__qualname__", None)
                       or getattr(x, "__name__", None) or repr(x))
        elif isinstance(x, _TUPLE_FIELD):
            self.token("field", repr(x.__reduce__()[1]))
        elif isinstance(x, _OPAQUE):
            self.token("opaque", type(x).__qualname__)
        elif type(x) is object or isinstance(x, re.Pattern):  # sentinels, patterns
            self.token("plain", type(x).__qualname__, repr(x) if type(x) is not object else "")
        elif isinstance(x, torch.Size):
            self.token("size", tuple(x))
        else:
            self._object(x, library)

    def tensor(self, t: torch.Tensor, values: bool) -> None:
        """Metadata, and the values when `values` (a tensor capture bakes into the graph)."""
        from torch._subclasses.fake_tensor import FakeTensor

        if isinstance(t, FakeTensor) or t.device.type == "meta" or t.is_sparse or \
                type(t) not in (torch.Tensor, torch.nn.Parameter, torch.nn.Buffer):
            raise Unkeyable(f"a {type(t).__name__} on {t.device}")
        self.token("tensor", type(t).__name__, tuple(t.shape), tuple(t.stride()), t.dtype,
                   t.device, t.requires_grad, t.storage_offset())
        if values:
            data = t.detach().cpu().contiguous().reshape(-1)
            self.digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")

    def _module(self, m: torch.nn.Module) -> None:
        self.add(type(m))
        self.token("module-state")
        for name, value in vars(m).items():
            self.token("attr", name)
            if name in ("_parameters", "_buffers"):  # read at each call: metadata only
                for key, t in value.items():
                    self.token(key)
                    if t is None:
                        self.token("none")
                    else:
                        self.tensor(t, values=id(m) not in self.state)
            else:
                self.add(value)

    def _class(self, cls: type) -> None:
        module = cls.__module__ or ""
        self.token("class", module, cls.__qualname__)
        if module == "builtins" or module.split(".")[0] == "torch":
            return  # torch's and Python's own classes: by their versions
        library = _library(getattr(sys.modules.get(module), "__file__", None) or "")
        if library:
            self.token("version", _package_version(module))
        for base in cls.__mro__[1:]:
            self.token("base", base.__module__, base.__qualname__)
        for base in cls.__mro__:
            if base is object or (base.__module__ or "").split(".")[0] in ("torch", "builtins"):
                continue
            for name, value in vars(base).items():
                if name not in _SKIPPED_CLASS_KEYS:
                    self.token("member", base.__qualname__, name)
                    self.add(value, library)

    def _function(self, f: types.FunctionType, library: bool) -> None:
        self.token("function", f.__module__, f.__qualname__, _code_hash(f.__code__))
        library = library or _library(f.__code__.co_filename)
        self.add(f.__defaults__, library)
        self.add(f.__kwdefaults__, library)
        names = global_names(f.__code__)
        for cell in f.__closure__ or ():
            try:
                self.add(cell.cell_contents, library)
            except ValueError:  # an empty cell
                self.token("empty-cell")
                continue
            if not library:
                self._module_attributes(cell.cell_contents, names)
        if library:
            return  # a library's globals: its version stands for them
        g = f.__globals__
        for name in sorted(names):
            if name in g:
                self.token("global", name)
                self.add(g[name])
                self._module_attributes(g[name], names)

    def _module_attributes(self, module, names: frozenset, depth: int = 0) -> None:
        """`mylib.f(x)`: the attributes of a module of the user's own (not a library's)
        that the code may read (its names), as globals are: a function rebound there at
        run time changes the key too."""
        file = getattr(module, "__file__", None)
        if not isinstance(module, types.ModuleType) or file is None or _library(file) or \
                depth > 3:
            return
        attributes = vars(module)
        for name in sorted(names & attributes.keys()):
            self.token("attribute", module.__name__, name)
            self.add(attributes[name])
            self._module_attributes(attributes[name], names, depth + 1)

    def _object(self, x, library: bool) -> None:
        self.add(type(x))
        state = getattr(x, "__dict__", None)
        slots = [s for c in type(x).__mro__ for s in _slots(c) if s not in ("__dict__",
                                                                            "__weakref__")]
        if state is None and not slots:
            if library:  # a library's own object (a class attribute...): by its version
                self.token("library-object", type(x).__module__, type(x).__qualname__)
                return
            raise Unkeyable(f"an object of {type(x).__module__}.{type(x).__qualname__} "
                            "whose state cannot be read")
        if state is not None:
            self.add(dict(state), library)
        for s in slots:
            self.token("slot", s)
            self.add(getattr(x, s, None), library)


def _slots(cls: type) -> tuple:
    slots = vars(cls).get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)


@functools.cache
@functools.cache
def _code_hash(code: types.CodeType) -> str:
    # marshal holds the bytecode, constants (nested code too), names and line numbers.
    return hashlib.sha256(marshal.dumps(code)).hexdigest()[:24]
