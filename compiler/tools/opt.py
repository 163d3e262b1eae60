"""mlirfuse-opt: mlir-opt over torch-mlir's MLIR, with the mlirfuse passes.

    mlirfuse-opt [file|-] --pass-pipeline='builtin.module(...)' [-o out]
                 [--stages fused,guarded,...]   (the compile's own stage pipelines)
                 [--target cuda:sm_90]          (the target of --stages)
                 [--split-input-file] [--mlir-print-ir-after-all]
                 [--dump-pass-pipeline] [--list-passes] [--verify-diagnostics]

A thin shell over the driver's pipeline builder (compiler/pass_manager.py), the
same code the compile API runs. Bad input (IR that does not parse, an unknown
pass, a failing pass) prints MLIR's diagnostics as file:line:col and exits 1.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile

SPLIT_MARKER = re.compile(r"(?m)^// -----\s*$")
_LOC = re.compile(r'^loc\("(?P<file>[^"]*)":(?P<line>\d+):(?P<col>\d+)\)$')


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlirfuse-opt", description=__doc__.splitlines()[0])
    p.add_argument("input", nargs="?", default="-", help="input file, or - for stdin")
    p.add_argument("--pass-pipeline", default="", help="textual pass pipeline")
    p.add_argument("--stages", default="",
                   help="comma-separated stages to run, with the pipelines the compile "
                        "uses (lowering/stages.py): e.g. fused,guarded,kernels,bufferized; "
                        "a last stage 'ptx' prints the PTX")
    p.add_argument("--target", default="cpu",
                   help="the target of --stages: cpu (default) or cuda:<chip> (cuda:sm_90)")
    p.add_argument("-o", dest="output", default="-", help="output file")
    p.add_argument("--split-input-file", action="store_true",
                   help="split the input at '// -----' lines and process each piece")
    p.add_argument("--mlir-print-ir-after-all", action="store_true",
                   help="print the IR after every pass (to stderr)")
    p.add_argument("--dump-pass-pipeline", action="store_true",
                   help="print the pipeline that runs, every option spelled out (to stderr)")
    p.add_argument("--list-passes", action="store_true", help="list the passes and exit")
    p.add_argument("--verify-diagnostics", action="store_true",
                   help="check emitted diagnostics against expected-* comments")
    p.add_argument("--mlir-print-debuginfo", action="store_true", help="print locations")
    return p


def format_location(loc) -> str:
    """`loc("f.mlir":3:7)` → `f.mlir:3:7`; other locations as MLIR prints them."""
    text = str(loc)
    m = _LOC.match(text)
    return f"{m['file']}:{m['line']}:{m['col']}" if m else text


def format_diagnostic(d, severity: str = "error") -> str:
    lines = [f"{format_location(d.location)}: {severity}: {d.message}"]
    lines += [f"{format_location(n.location)}: note: {n.message}" for n in d.notes]
    return "\n".join(lines)


def list_passes() -> str:
    """mlirfuse's passes, then the upstream and torch-mlir ones of the bundled MLIR."""
    from .. import registry
    from .passlist import upstream_passes

    lines = ["mlirfuse passes:"]
    for name in sorted(registry.REGISTRY):
        lines.append(f"  --{name:40s} [{registry.target(name)}]".ljust(60)
                     + f" - {registry.lookup(name).summary()}")
    lines.append("upstream and torch-mlir passes:")
    lines += [f"  --{n:56s} - {d}".rstrip(" -") for n, d in upstream_passes().items()]
    return "\n".join(lines)


def _stage_pipeline(names: str, target: str = "cpu") -> list[str]:
    """The concatenated pipelines of the named stages, as the driver runs them."""
    from ...lowering import stages as target_stages

    stages = dict(target_stages.for_target(target))
    unknown = [n for n in names.split(",") if n not in stages]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages: {list(stages)}")
    return [element for n in names.split(",") for element in stages[n]]


def _chunks(text: str, split: bool) -> list[tuple[int, str]]:
    """(first line number, text) of each piece of the input."""
    if not split:
        return [(1, text)]
    out, line = [], 1
    for piece in SPLIT_MARKER.split(text):
        out.append((line, piece))
        line += piece.count("\n")
    return out


def process(text: str, name: str, args, ctx_factory) -> tuple[str, list[str], bool]:
    """Parses and transforms one piece; returns (output IR, diagnostics, ok)."""
    from torch_mlir import ir

    from .. import pass_manager
    from ..diagnostics import expected_diagnostics, check_expected

    ctx = ctx_factory()
    seen: list = []
    if args.verify_diagnostics:
        ctx.attach_diagnostic_handler(lambda d: seen.append(d) or True)
    with tempfile.NamedTemporaryFile("w", suffix=".mlir", delete=False) as f:
        f.write(text)
        tmp = f.name
    try:
        with ctx:
            try:
                module = ir.Module.parseFile(tmp)
                if args.pass_pipeline or args.stages:
                    pm = pass_manager.build(args.pass_pipeline
                                        or _stage_pipeline(args.stages, args.target), ctx)
                    if args.dump_pass_pipeline:
                        print(str(pm), file=sys.stderr)
                    if args.mlir_print_ir_after_all:
                        pm.enable_ir_printing(print_after_all=True)
                    pm.run(module.operation)
                out = module.operation.get_asm(enable_debug_info=args.mlir_print_debuginfo)
                if args.stages.split(",")[-1] == "ptx":
                    from ...lowering.cuda import nvptx

                    out = nvptx.binaries_ptx(out)
                ok, diags = True, []
            except ir.MLIRError as e:
                out, ok = "", False
                diags = list(dict.fromkeys(format_diagnostic(d) for d in e.error_diagnostics))
                seen.extend(e.error_diagnostics)  # parse and pass errors bypass the handler
            except ValueError as e:  # a pipeline that does not parse
                out, ok = "", False
                diags = [f"{name}: error: {str(e).strip()}"]
    finally:
        os.unlink(tmp)
    diags = [d.replace(tmp, name) for d in diags]
    if args.verify_diagnostics:
        got = [(format_location(d.location).replace(tmp, name), str(d.severity), d.message)
               for d in seen]
        problems = check_expected(expected_diagnostics(text, name), got)
        return out, problems, not problems
    return out, diags, ok


def main(argv: list[str] | None = None) -> int:
    """Runs mlirfuse-opt; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.list_passes:
        print(list_passes())
        return 0
    from ..context import make_context

    name = "<stdin>" if args.input == "-" else args.input
    try:
        text = sys.stdin.read() if args.input == "-" else open(args.input).read()
    except OSError as e:
        print(f"mlirfuse-opt: cannot read {name}: {e.strerror}", file=sys.stderr)
        return 1
    outputs, status = [], 0
    for first_line, piece in _chunks(text, args.split_input_file):
        # Pad so that line numbers in diagnostics are those of the whole file.
        out, diags, ok = process("\n" * (first_line - 1) + piece, name, args, make_context)
        for d in diags:
            print(d, file=sys.stderr)
        if not ok:
            status = 1
        elif out:
            outputs.append(out)
    result = "\n// -----\n".join(outputs)
    if args.output == "-":
        sys.stdout.write(result)
    else:
        with open(args.output, "w") as f:
            f.write(result)
    return status


if __name__ == "__main__":
    sys.exit(main())
