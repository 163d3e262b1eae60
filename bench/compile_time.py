"""Compile time, cold and warm (issue 19): mlirfuse beside inductor, fresh processes.

    python bench/compile_time.py [--only gelu_bias,gpt2-12] [--out rows.jsonl] [--device cuda]
                                 [--redis]

Per program (BENCH's workloads at CPU sizes; GPT-2 from transformers, n_embd 256, 4 heads,
vocabulary 512, 2 x 32 tokens, at 2, 6 and 12 layers: `gpt2-<layers>`), four processes
each measure the time from compiling to the first result (after the imports):
  * mlirfuse cold: an empty cache of compiled graphs and CPU code (the runtime's own
    libraries, built once per machine, are built before, by a warm-up process);
  * mlirfuse warm: a new process with the cache the cold one left;
  * inductor cold and warm: the same with TORCHINDUCTOR_CACHE_DIR empty, then kept;
  * with --redis (a redis-server on PATH): the mlirfuse processes share a team cache on a
    server started here, and "mlirfuse team" is a process with another cache folder, whose
    compiled graphs and code are empty (another machine of the team; its runtime
    libraries built before, as the first folder's).
The mlirfuse rows also give its seconds per phase (compiled.timings()). Every first
result is checked against eager.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ["gelu_bias", "swish", "mish", "hard_swish", "layer_norm", "rmsnorm", "softmax",
             "scaleshift_relu", "lstm_cell", "mlp", "transformer"]
PROGRAMS = WORKLOADS + ["gpt2-2", "gpt2-6", "gpt2-12"]


def _program(name: str, device: str = "cpu"):
    import torch

    if name.startswith("gpt2-"):
        import transformers as tf

        torch.manual_seed(0)
        config = tf.GPT2Config(n_embd=256, n_layer=int(name.split("-")[1]), n_head=4,
                               vocab_size=512)
        model = tf.GPT2Model(config).eval().to(device)

        class LastHidden(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, ids):
                return self.model(ids).last_hidden_state

        return LastHidden(), (torch.randint(0, 512, (2, 32), generator=torch.Generator()
                                             .manual_seed(0)).to(device),)
    sys.path.insert(0, HERE)
    import workloads

    w = workloads.make(name, device=device)
    return w.fn, w.inputs


def child(system: str, name: str, device: str) -> dict:
    """Runs in the measuring process: compile, first result, check."""
    import torch

    import mlirfuse

    fn, inputs = _program(name, device)
    with torch.no_grad():
        expected = fn(*inputs)
        start = time.perf_counter()
        compiled = torch.compile(fn) if system == "inductor" else mlirfuse.compile(fn)
        got = compiled(*inputs)
        if device != "cpu":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    got, expected = (t[0] if isinstance(t, (tuple, list)) else t for t in (got, expected))
    row = {"seconds": seconds, "max_diff": (got.float() - expected.float()).abs().max().item()}
    if system == "mlirfuse":
        row["timings"] = {k: round(v, 3) for k, v in compiled.timings().items()}
        row["cache_loads"] = compiled.stats.cache_loads
        if device != "cpu":  # kernel modules the driver loaded, and loads shared
            from mlirfuse.runtime import cuda

            row["modules_loaded"], row["modules_shared"] = cuda.module_counts()
    return row


def _spawn(system: str, name: str, env: dict, device: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", system, name, device], env=env,
                          capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return json.loads(lines[-1])


def measure(name: str, root: str, device: str, team: dict | None = None) -> dict:
    row = {"name": name}
    base = dict(os.environ)
    mf = dict(base, **(team or {}), MLIRFUSE_CACHE_DIR=os.path.join(root, "mlirfuse"))
    other = dict(mf, MLIRFUSE_CACHE_DIR=os.path.join(root, "mlirfuse-team"))
    for env in (mf, other):  # cold: no compiled graph, no CPU code, no host code, no PTX
        for folder in ("graphs", "cpu", "host", "ptx"):
            shutil.rmtree(os.path.join(env["MLIRFUSE_CACHE_DIR"], folder), ignore_errors=True)
    ind = dict(base, TORCHINDUCTOR_CACHE_DIR=os.path.join(root, f"inductor-{name}"))
    for system, env in (("mlirfuse", mf), ("inductor", ind)):
        for state in ("cold", "warm"):
            row[f"{system}_{state}"] = _spawn(system, name, env, device)
    if team:
        row["mlirfuse_team"] = _spawn("mlirfuse", name, other, device)
    return row


def _redis_server(root: str):
    """A redis-server on a free local port: (process, the environment that points at it)."""
    import socket
    import time as time_mod

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", root],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time_mod.sleep(0.5)
    return proc, {"MLIRFUSE_REDIS_URL": f"redis://127.0.0.1:{port}/0",
                  "MLIRFUSE_CACHE_SECRET": "compile-time benchmark"}


def table(rows: list[dict]) -> str:
    def secs(cell):
        return f"{cell['seconds']:.2f}" if "seconds" in cell else f"failed: {cell['error']}"

    team = any("mlirfuse_team" in r for r in rows)
    out = ["| program | mlirfuse cold s | mlirfuse warm s | " + ("mlirfuse team s | " if team
           else "") + "inductor cold s | inductor warm s | mlirfuse cold: capture / stages / jit |",
           "|---|---|---|---|---|---|" + ("---|" if team else "")]
    for r in rows:
        t = r["mlirfuse_cold"].get("timings", {})
        stages = sum(v for k, v in t.items() if k not in ("capture", "jit", "total", "load"))
        out.append(f"| {r['name']} | {secs(r['mlirfuse_cold'])} | {secs(r['mlirfuse_warm'])} | "
                   + (f"{secs(r['mlirfuse_team'])} | " if team else "") +
                   f"{secs(r['inductor_cold'])} | {secs(r['inductor_warm'])} | "
                   f"{t.get('capture', 0):.2f} / {stages:.2f} / {t.get('jit', 0):.2f} |")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=None)
    p.add_argument("--out", default=None, help="JSON lines appended here")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--redis", action="store_true", help="also measure through a team cache")
    p.add_argument("--child", nargs=3, metavar=("SYSTEM", "PROGRAM", "DEVICE"),
                   help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)), flush=True)
        return
    names = args.only.split(",") if args.only else PROGRAMS
    root = tempfile.mkdtemp(prefix="mlirfuse-compile-time-")
    server, team = _redis_server(root) if args.redis else (None, None)
    try:
        # The runtime's own libraries are built once per machine: not part of "cold"; nor
        # is the first read of cuBLAS from disk (a matmul: mlp), seconds on the H200, nor
        # the extern-call library (C++ against torch's headers; CUDA's attention calls it).
        warm_up = dict(os.environ, MLIRFUSE_CACHE_DIR=os.path.join(root, "mlirfuse"))
        for name in ("swish", "mlp") + (("transformer",) if args.device != "cpu" else ()):
            for folder in ("mlirfuse", "mlirfuse-team") if team else ("mlirfuse",):
                _spawn("mlirfuse", name, dict(warm_up, MLIRFUSE_CACHE_DIR=os.path.join(
                    root, folder)), args.device)
        rows = []
        for name in names:
            rows.append(dict(measure(name, root, args.device, team), device=args.device))
            print(json.dumps(rows[-1]), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(rows[-1]) + "\n")
        print(table(rows))
    finally:
        if server is not None:
            server.terminate()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
