"""Reading a module's parameters and buffers at each call of its compiled code.

The compiled graph takes the module's state as inputs (capture: `Input(kind="state")`,
by dotted path); each call reads it fresh, so a parameter changed in place, replaced,
or loaded with load_state_dict(assign=True) is what the next call computes with.
Whose state: the module compiled, a bound method's module, or the models a plain function
names (closed_modules, state_modules).
"""

from __future__ import annotations

import operator
import types
from typing import Callable

import torch


def state_getter(path: str) -> Callable[[torch.nn.Module], torch.Tensor]:
    """Returns a function reading a parameter or buffer by its dotted path (fresh each call)."""
    return operator.attrgetter(path)


class StateReader:
    """Reads a module's parameters and buffers by their dotted paths, fresh at each call
    (a parameter the user replaced is read as it is now), as getattr would find them.

    Each module on the paths is looked up once per call, through its parent's `_modules`
    dictionary, and each tensor through its owner's `_parameters` / `_buffers`: what
    nn.Module.__getattr__ does, without its Python frames. With one operator.attrgetter
    per path the walk was 0.65 ms a call of a small ResNet's 96 (bench/RESULTS.md,
    session 30). A module of another class than at the first read, or one whose class
    finds names otherwise (its own __getattr__, a property: parametrizations), is read
    with getattr, as before.
    """

    def __init__(self, paths: list[str]):
        self._slow = [operator.attrgetter(p) for p in paths]
        owners = {"": 0}
        self._links: list[tuple[int, str]] = []  # (parent module's index, name)
        self._leaves: list[tuple[int, str]] = []  # (owner module's index, name)
        for path in paths:
            *parents, leaf = path.split(".")
            at = 0
            for k in range(len(parents)):
                prefix = ".".join(parents[:k + 1])
                if prefix not in owners:
                    owners[prefix] = len(owners)
                    self._links.append((at, parents[k]))
                at = owners[prefix]
            self._leaves.append((at, leaf))
        self._types: list[type] | None = None

    def __call__(self, module: torch.nn.Module) -> list[torch.Tensor]:
        modules = [module]
        try:
            for parent, name in self._links:
                modules.append(modules[parent]._modules[name])
        except (KeyError, AttributeError):
            return [get(module) for get in self._slow]
        types = [type(m) for m in modules]
        if types != self._types:
            if not all(_plain(m, name) for m, name in _named(modules, self._links,
                                                              self._leaves)):
                return [get(module) for get in self._slow]
            self._types = types
        out = []
        for owner, name in self._leaves:
            m = modules[owner]
            found = m._parameters.get(name)
            if found is None:
                found = m._buffers.get(name)
                if found is None or name in m.__dict__:
                    return [get(module) for get in self._slow]
            out.append(found)
        return out


def _named(modules, links, leaves):
    """(module, name looked up in it) of every link and leaf."""
    for parent, name in links:
        yield modules[parent], name
    for owner, name in leaves:
        yield modules[owner], name


def _plain(module, name: str) -> bool:
    """Whether getattr(module, name) ends in nn.Module.__getattr__'s dictionaries: the
    class is no other __getattr__'s and neither it nor the instance holds the name."""
    cls = type(module)
    return cls.__getattr__ is torch.nn.Module.__getattr__ and not hasattr(cls, name) \
        and name not in module.__dict__


def closed_modules(fn: Callable) -> dict[str, torch.nn.Module]:
    """The modules a plain function (or lambda) reaches by name: its closure's cells and
    the globals its code (nested code too) names, by those names, and for a method of an
    object that is not a module, the modules among its attributes; {} for anything else.
    torch.export lifts the weights of the traced module's submodules only: the weights of
    a model a function calls this way were constants of the graph otherwise (a parameter
    the user replaced later was not seen; a warm start in another process, whose key
    counts weights by their sizes, ran with the first process's values)."""
    named = []
    if isinstance(fn, types.MethodType) and not isinstance(fn.__self__, torch.nn.Module):
        named = list(getattr(fn.__self__, "__dict__", {}).items())  # `self.model` of an
        fn = fn.__func__  # object of the user's (a pipeline), by its attribute's name
    if not isinstance(fn, types.FunctionType):
        return {}
    found: dict[str, torch.nn.Module] = {}
    named += [(name, _contents(cell)) for name, cell in
              zip(fn.__code__.co_freevars, fn.__closure__ or ())]
    named += [(name, fn.__globals__.get(name)) for name in sorted(global_names(fn.__code__))]
    taken = set()
    for name, value in named:
        if isinstance(value, torch.nn.Module) and id(value) not in taken and \
                name not in found and not hasattr(_PLAIN_MODULE, name):
            found[name] = value
            taken.add(id(value))
    return found


def global_names(code: types.CodeType) -> frozenset:
    """The names `code` (and the code nested in it) may load as globals."""
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= global_names(c)
    return frozenset(names)


_PLAIN_MODULE = torch.nn.Module()  # (names its attributes hold: not a module's name)


def _contents(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell (a name bound after the function was made)
        return None


def state_modules(fn: Callable) -> list[torch.nn.Module]:
    """The modules whose parameters and buffers a compile of `fn` takes as arguments (read
    at each call) and whose train/eval mode selects its code: `fn` when it is a module, a
    bound method's module, else the models it names (closed_modules); with their
    submodules, each once."""
    owner = fn if isinstance(fn, torch.nn.Module) else getattr(fn, "__self__", None)
    roots = [owner] if isinstance(owner, torch.nn.Module) else closed_modules(fn).values()
    return list({id(m): m for root in roots for m in root.modules()}.values())
