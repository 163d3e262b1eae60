"""Random torch programs through mlirfuse.compile, compared with eager: a differential fuzzer.

    python bench/fuzz.py [--device cpu|cuda] [--seeds 0:1000] [--workers 2] [--out FILE]
    python bench/fuzz.py --minimize FILE     # shrink each failing program of a run

A program is a few inputs (float32/64, float16, bfloat16, int32/64, bool; shapes with 1s
and 0s; contiguous, transposed or strided) and 2 to 9 ops drawn from elementwise math,
comparisons, integer and boolean ops, broadcasts, reductions, softmax, layer_norm, scans,
views (reshape, permute, slices with steps, expand, flip), concatenations and their slices,
matmuls, dtype conversions and in-place updates (of its inputs too), with one to three
results. Each op is tried on eager tensors while the program is drawn, so every program
runs in eager. Each seed runs in a worker process that is restarted when it dies
(bench/workers.py). Statuses:

  ok      every result (and every mutated input) as eager's: within the dtype's tolerance
          of eager, or no further from the float64 result than 4x eager is
  wrong   a result differs
  error   mlirfuse raised where eager did not
  crash   the worker died, hung or its device faulted

`--minimize` removes ops and results while the failure stays the same kind, and prints
each program as a test to paste into test/python.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.fuzz_programs import generate, make_inputs, program_fn, render  # noqa: E402

TOLERANCE = {"float64": 1e-9, "float32": 1e-4, "float16": 1e-2, "bfloat16": 5e-2}


# ---- running one program ----

def _first_line(e: BaseException) -> str:
    lines = [l for l in str(e).strip().splitlines() if l.strip()]
    detail = next((l.strip() for l in lines if l.strip().startswith("error:")), "")
    return f"{type(e).__name__}: {(lines[0] if lines else '')} {detail}".strip()[:300]


def _close(actual, expected, reference, dtype_name: str) -> bool:
    import torch

    if actual.dtype != expected.dtype or actual.shape != expected.shape:
        return False
    if not actual.dtype.is_floating_point:
        if torch.equal(actual, expected):
            return True
        # A comparison of floats flips where the two round differently: the compiled
        # result must then be the float64 program's (eager's bf16 layer_norm of one
        # element is 3e-5, not 0, and `> 0` said True; seed 2692).
        if reference is None or reference.shape != actual.shape:
            return False
        differ = actual != expected
        return bool((actual[differ] == reference.to(actual.dtype)[differ]).all())
    tol = TOLERANCE[dtype_name]
    a, e = actual.double(), expected.double()
    if torch.allclose(a, e, rtol=tol, atol=tol, equal_nan=True):
        return True
    if reference is None or reference.shape != actual.shape:
        return False
    r = reference.double()
    nan = torch.isnan(e) | torch.isnan(r)
    if not torch.equal(torch.isnan(a) & ~nan, torch.zeros_like(nan)):
        return False
    scale = r.abs().nan_to_num(posinf=0, neginf=0).amax().item() if r.numel() else 0.0
    err_a = (a - r).abs().nan_to_num(0)[~nan]
    err_e = (e - r).abs().nan_to_num(0)[~nan]
    return bool((err_a <= 4 * err_e + tol * (1 + scale)).all())


class DeviceFault(Exception):
    """A kernel faulted: the CUDA context is lost, the worker must go."""


def run_program(program: dict, seed: int, device: str, options: dict | None = None) -> dict:
    """Compiles and runs one program; returns {"status", "reason"} (and "eager_ops",
    "eager": the ops that ran eager and why, when some did)."""
    import torch

    import mlirfuse

    fn = program_fn(program)
    inputs = make_inputs(program, device, seed)
    cuda = device != "cpu"
    with torch.no_grad():
        eager_in = [t.clone() for t in inputs]
        try:
            expected = fn(*eager_in)
        except Exception as e:
            return {"status": "skipped", "reason": "eager: " + _first_line(e)}
        compiled_in = [t.clone() for t in inputs]
        # (clone first: .double() of a float64 tensor is the tensor itself, and the program
        # may mutate its inputs)
        ref_in = [t.clone().double() if t.dtype.is_floating_point else t.clone()
                  for t in inputs]
        # Two references: the program on float64 inputs (its explicit conversions to f16
        # and bf16 still round), and the exact program (every float float64). A result
        # closer to either than eager is (eager's f16 layer_norm of one element is -0.09,
        # not 0; seed 6088) is not wrong.
        references = []
        for exact in (False, True):
            try:  # (the first runs on ref_in itself: mutated inputs are compared too)
                args = [t.clone() for t in ref_in] if exact else ref_in
                references.append(program_fn(program, exact)(*args))
            except Exception:
                references.append([None] * len(expected))
        try:
            compiled = mlirfuse.compile(fn, **(options or {}))
            actual = compiled(*compiled_in)
            if cuda:
                torch.cuda.synchronize()
        except torch.AcceleratorError as e:
            raise DeviceFault(_first_line(e)) from e
        except Exception as e:
            return {"status": "error", "reason": _first_line(e)}
    # The tolerance of the least precise float type the program computes in (a bf16
    # intermediate makes an f32 result as uncertain as bf16 is).
    source = render(program)
    present = [s["dtype"] for s in program["inputs"]] + \
        [str(t.dtype).removeprefix("torch.") for t in expected] + \
        [d for d in ("float16", "bfloat16") if d in source]
    loosest = max((d for d in present if d in TOLERANCE), key=TOLERANCE.get, default="float32")
    pairs = list(zip(actual, expected, *references)) + \
        list(zip(compiled_in, eager_in, ref_in, ref_in))
    for k, (a, e, *refs) in enumerate(pairs):
        what = f"result {k}" if k < len(expected) else f"input {k - len(expected)} after"
        if not any(_close(a, e, r if isinstance(r, torch.Tensor) else None, loosest)
                   for r in refs):
            diff = ""
            if a.shape == e.shape and a.dtype == e.dtype and a.numel():
                diff = f", max diff {(a.double() - e.double()).abs().nan_to_num(0).max().item():.3g}"
            return {"status": "wrong", "reason": f"{what}: {a.dtype}{tuple(a.shape)} vs eager "
                    f"{e.dtype}{tuple(e.shape)}{diff}"}
    eager = compiled.stats.eager_ops
    if eager:
        # Partly eager: correct, but say which ops and why (the closing counts name them).
        ops = sorted({f"{e.op}: {e.reason.splitlines()[0][:120]}" for e in compiled.explain().eager})
        return {"status": "ok", "reason": "", "eager_ops": eager, "eager": ops}
    return {"status": "ok", "reason": ""}


def worker(device: str, options: dict) -> None:
    """Reads tasks ({"seed": n} or {"seed": n, "program": ...}) and writes records."""
    import faulthandler
    import warnings

    faulthandler.enable()  # a crash's Python stack goes to the log (stderr)
    warnings.filterwarnings("ignore")
    out = sys.stdout
    sys.stdout = sys.stderr
    for line in sys.stdin:
        task = json.loads(line)
        seed = task["seed"]
        fault = False
        try:
            program = task.get("program") or generate(seed, device)
            record = run_program(program, seed, device, options)
        except DeviceFault as e:
            record, fault = {"status": "crash", "reason": f"the device faulted: {e}"}, True
        except Exception:
            record = {"status": "error",
                      "reason": "fuzz: " + traceback.format_exc().splitlines()[-1]}
            program = task.get("program")
        record["seed"] = seed
        if record["status"] != "ok" or record.get("eager_ops"):
            record["program"] = program
        out.write(json.dumps(record) + "\n")
        out.flush()
        if fault:
            os._exit(3)


def run(seeds: list[int], device: str, workers: int, options: dict, out_path: str | None,
        timeout: float = 300, quiet: bool = False) -> list[dict]:
    """Runs the seeds' programs in restartable worker processes; returns the records."""
    from bench import workers as pool

    argv = [sys.executable, os.path.abspath(__file__), "--worker", "--device", device,
            "--options", json.dumps(options)]
    records = []
    out = open(out_path, "a") if out_path else None

    def on_record(task: str, record: dict) -> None:
        meta = json.loads(task)
        record.setdefault("seed", meta["seed"])
        if record["status"] == "crash" and "program" not in record:
            record["program"] = meta.get("program") or generate(meta["seed"], "cpu")
        records.append(record)
        if out:
            out.write(json.dumps(record) + "\n")
            out.flush()
        if not quiet and record["status"] != "ok":
            print(f"seed {record['seed']}: {record['status']}: {record['reason'][:150]}",
                  flush=True)

    tasks = [json.dumps({"seed": s}) for s in seeds]
    pool.run(argv, tasks, workers, timeout, on_record,
             (out_path + ".log") if out_path else "/dev/null")
    if out:
        out.close()
    return records


# ---- minimizing a failing program ----

def _without(program: dict, k: int) -> dict | None:
    """The program without op k: its uses read its first argument instead, when that has
    the same shape and dtype (else None)."""
    import torch

    n = len(program["inputs"])
    dropped = n + k
    op = program["ops"][k]
    values = make_inputs(program, "cpu", 0)
    try:
        with torch.no_grad():
            probe = dict(program, outputs=[dropped, op["args"][0]])
            out, arg = program_fn(probe)(*values)
    except Exception:
        return None
    if out.shape != arg.shape or out.dtype != arg.dtype:
        return None
    remap = {dropped: op["args"][0]}

    def fix(i):
        i = remap.get(i, i)
        return i - 1 if i > dropped else i

    ops = [dict(o, args=[fix(a) for a in o["args"]]) for j, o in enumerate(program["ops"])
           if j != k]
    outputs = list(dict.fromkeys(fix(i) for i in program["outputs"]))
    return dict(program, ops=ops, outputs=outputs)


def _trim(program: dict) -> dict:
    """Drops ops nothing reads (results come from the outputs)."""
    n = len(program["inputs"])
    needed = set(program["outputs"])
    for k in reversed(range(len(program["ops"]))):
        if n + k in needed:
            needed.update(program["ops"][k]["args"])
    keep = [k for k in range(len(program["ops"])) if n + k in needed]
    index = {n + k: n + j for j, k in enumerate(keep)}
    index.update({i: i for i in range(n)})
    ops = [dict(program["ops"][k], args=[index[a] for a in program["ops"][k]["args"]])
           for k in keep]
    return dict(program, ops=ops, outputs=[index[i] for i in program["outputs"]])


def minimize(record: dict, device: str, options: dict) -> dict:
    """The smallest program found that fails the same way as `record`'s."""
    seed, status = record["seed"], record["status"]
    program = _trim(record["program"])

    def fails(candidate: dict) -> bool:
        task = [seed]
        got = []
        from bench import workers as pool
        argv = [sys.executable, os.path.abspath(__file__), "--worker", "--device", device,
                "--options", json.dumps(options)]
        pool.run(argv, [json.dumps({"seed": task[0], "program": candidate})], 1, 300,
                 lambda _, r: got.append(r))
        return bool(got) and got[0]["status"] == status

    changed = True
    while changed:
        changed = False
        for outs in ([o] for o in program["outputs"]):
            if len(program["outputs"]) > 1:
                candidate = _trim(dict(program, outputs=outs))
                if fails(candidate):
                    program, changed = candidate, True
                    break
        for k in reversed(range(len(program["ops"]))):
            candidate = _without(program, k)
            if candidate is not None and fails(_trim(candidate)):
                program, changed = _trim(candidate), True
                break
    return program


def as_test(program: dict, seed: int, status: str, reason: str) -> str:
    """A pytest function reproducing a minimized program."""
    body = render(program).replace("\n", "\n    ")
    n = len(program["inputs"])
    return (
        f"def test_fuzz_seed_{seed}():\n"
        f'    """bench/fuzz.py seed {seed}: {status}: {reason[:120]}"""\n'
        f"    {body}\n\n"
        f"    program = {json.dumps({'inputs': program['inputs']})}\n"
        f"    args = fuzz.make_inputs(program, DEVICE, {seed})\n"
        f"    expected = f(*[a.clone() for a in args])\n"
        f"    assert_same(mlirfuse.compile(f)(*[a.clone() for a in args]), expected)\n"
        + ("" if n else ""))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--seeds", default="0:200", help="first:last (exclusive)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--options", default="{}", help="mlirfuse.compile options, as JSON")
    p.add_argument("--out", default="")
    p.add_argument("--minimize", default="", help="a results file: shrink its failures")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    options = json.loads(args.options)
    if args.worker:
        return worker(args.device, options)
    if args.minimize:
        with open(args.minimize) as f:
            failures = [json.loads(l) for l in f if l.strip()]
        for record in [r for r in failures if r["status"] in ("crash", "wrong", "error")]:
            program = minimize(record, args.device, options)
            print(as_test(program, record["seed"], record["status"], record["reason"]))
        return
    first, last = (int(x) for x in args.seeds.split(":"))
    records = run(list(range(first, last)), args.device, args.workers, options,
                  args.out or None)
    counts = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        if r.get("eager_ops"):
            counts["partly eager"] = counts.get("partly eager", 0) + 1
    print(json.dumps({"device": args.device, "seeds": args.seeds, **counts}))


if __name__ == "__main__":
    main()
