"""CPU kernels shared across compiled modules: each distinct kernel's machine code made once.

mlirfuse-share-kernels (lowering/cpu/share_kernels.py) makes each kernel a function of its
own, shared inside one module. Across modules (a cut graph's pieces, separately compiled
functions, other specializations) the same kernel was compiled again by each module's
JIT. Here, right before the JIT, each kernel function of an LLVM-dialect module is named
by a hash of its code (`mlirfuse_k_<hash>`), and one whose code this
process holds already (in a module whose code is still alive) becomes a declaration: the
JIT compiles only the new kernels and links the others to the code that has them.

On disk, the module's library (runtime/cpu_library.py) is linked against the libraries of
the modules that lent it kernels: the loader loads them with it (a lender's library
evicted since: the library does not load, a miss, compiled again).

Matches: top-level `llvm.func`s with a body and a `mlirfuse.code` (the kernel functions
of mlirfuse-share-kernels, which hashed their text and the globals and declarations they
name, on buffers: the rest of the pipeline lowers each alone, so the same text is the
same code; a kernel naming another function with a body has none).
Rewrites: renamed `@mlirfuse_k_<hash>` (callers too); one known to the process becomes
`llvm.func @mlirfuse_k_<hash>(...)` with no body.

MLIRFUSE_SHARE_KERNELS=0 turns it off.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
import weakref

from torch_mlir import ir

CODE = "mlirfuse.code"  # lowering/cpu/share_kernels.py's hash of a kernel's code
SHARED = "mlirfuse_k_"
_ADDRESS = "_address"
_lock = threading.Lock()
# hashed name -> (the code holding it (weak: it dies with its compiled graphs), address,
# the path of that code's library on disk, None when it has none)
_known: dict[str, tuple[weakref.ref, int, str | None]] = {}
_limit = 4096


def _top_level(module: ir.Module) -> dict[str, ir.Operation]:
    """The module's symbols by name."""
    symbols = {}
    for op in module.body.operations:
        if "sym_name" in op.attributes:
            symbols[ir.StringAttr(op.attributes["sym_name"]).value] = op.operation
    return symbols


def name_kernels(module: ir.Module, salt: str) -> list[str]:
    """Renames `module`'s kernel functions by the hash of their code (the `mlirfuse.code`
    mlirfuse-share-kernels gave them, and `salt`: what else changes machine code);
    returns the new names."""
    renames, seen = [], set()
    for op in module.body.operations:
        op = op.operation
        if op.name != "llvm.func" or CODE not in op.attributes \
                or not len(op.regions[0].blocks):
            continue
        code = ir.StringAttr(op.attributes[CODE]).value
        new = SHARED + hashlib.sha256(f"{salt}\0{code}".encode()).hexdigest()[:32]
        if new not in seen:  # (one module's kernels are distinct)
            seen.add(new)
            renames.append((ir.StringAttr(op.attributes["sym_name"]).value, op, new))
    with module.context:
        for old, op, new in renames:
            ir.SymbolTable.replace_all_symbol_uses(old, new, module.operation)
            op.attributes["sym_name"] = ir.StringAttr.get(new)
            # The ExecutionEngine looks up a function's packed wrapper, not the function:
            # a function returning the kernel's address tells it (register()).
            # (Parsed in a module of its own beside a declaration: an op parsed alone
            # is verified alone, and its symbol would be unknown.)
            holder = ir.Module.parse(
                f'"llvm.func"() <{{function_type = {op.attributes["function_type"]}, '
                f'sym_name = "{new}"}}> ({{}}) : () -> ()\n'
                f"llvm.func @{new}{_ADDRESS}() -> !llvm.ptr {{\n"
                f"  %0 = llvm.mlir.addressof @{new} : !llvm.ptr\n"
                f"  llvm.return %0 : !llvm.ptr\n}}")
            accessor = list(holder.body.operations)[1].detach_from_parent()
            ir.InsertionPoint(module.body).insert(accessor)
    return [new for _, _, new in renames]


def declare_known(module: ir.Module, names: list[str],
                  library: str | None) -> list[tuple[str, int, object, str | None]]:
    """Makes each kernel of `names` whose code this process holds a declaration; returns
    (name, address, the code holding it, its library's path) for each. Code whose library
    is `library` (the module's own: the same module compiled again, its library not
    loading) lends nothing: the library would need itself."""
    symbols = _top_level(module)
    lent = []
    with _lock, module.context:
        for name in names:
            entry = _known.get(name)
            owner = entry[0]() if entry else None
            if owner is None or (library is not None and entry[2] == library):
                continue
            op = symbols[name]
            declaration = ir.Operation.parse(
                f'"llvm.func"() <{{function_type = {op.attributes["function_type"]}, '
                f'sym_name = "{name}"}}> ({{}}) : () -> ()')
            ir.InsertionPoint(op).insert(declaration)
            op.erase()
            lent.append((name, entry[1], owner, entry[2]))
    return lent


def link(engine, lent: list[tuple[str, int, object, str | None]]) -> None:
    """Points `engine`'s (not yet materialized) declarations at the lent kernels' code."""
    for name, address, _, _ in lent:
        engine.raw_register_runtime(name, ctypes.c_void_p(address))


def register(owner, engine, names: list[str], library: str | None) -> None:
    """Records the kernels of `names` that `engine` compiled (the code `owner` holds; its
    library on disk will be at `library`, None for none) for the next modules."""
    global _limit
    with _lock:
        if len(_known) > _limit:  # forget the kernels of code that is gone
            for name in [n for n, entry in _known.items() if entry[0]() is None]:
                del _known[name]
            _limit = max(4096, 2 * len(_known))
        for name in names:
            entry = _known.get(name)
            if entry is not None and entry[0]() is not None:
                continue
            packed = engine.raw_lookup(name + _ADDRESS)  # void(void **args): args[0] = &result
            if not packed:
                continue
            result = ctypes.c_void_p()
            args = (ctypes.c_void_p * 1)(ctypes.cast(ctypes.pointer(result), ctypes.c_void_p))
            ctypes.CFUNCTYPE(None, ctypes.c_void_p)(packed)(args)
            if result.value:
                _known[name] = (weakref.ref(owner), result.value, library)
