"""The training benchmark (issue 16): eager, inductor and mlirfuse on the same training step.

    python bench/train.py [--device cuda] [--only train_swish,gpt2] [--append rows.jsonl]
    python bench/train.py --table rows.jsonl

Workloads: BENCH.md's train_swish and train_layer_norm (forward, out.sum().backward();
16x the rows on CUDA) and a GPT-2 language-model step (transformers, small config,
random weights, batch 2: loss, backward, AdamW). Per workload, in one process, each
system runs on its own copy of the same inputs and weights:

  - the first step is timed (compile time: dynamo, AOTAutograd and the compilers), and
    for mlirfuse also the compile seconds of its forward and backward graphs;
  - its loss and gradients are checked against eager's first step;
  - then warm-up steps, and timed steps in interleaved rounds (median), synchronized;
  - on CUDA, the peak memory of one step (torch.cuda.max_memory_allocated, reset before).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import workloads as W  # noqa: E402

import mlirfuse  # noqa: E402

NAMES = ["train_swish", "train_layer_norm", "gpt2"]
SYSTEMS = ["eager", "inductor", "mlirfuse"]


class Step:
    """One system's training step over its own copy of the workload."""

    def __init__(self, name: str, system: str, device: str):
        self.name, self.system = name, system
        if name == "gpt2":
            from transformers import GPT2Config, GPT2LMHeadModel

            torch.manual_seed(0)
            config = GPT2Config(n_embd=256, n_layer=4, n_head=4, vocab_size=2048, n_positions=128,
                                use_cache=False, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
            self.model = GPT2LMHeadModel(config).to(device).train()
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
            g = torch.Generator().manual_seed(1)
            self.ids = torch.randint(0, 2048, (2, 128), generator=g).to(device)
            self.params = list(self.model.parameters())
            self.fn = self._compile(self.model)
        else:
            w = W.make(name, rows_scale=16 if device.startswith("cuda") else 1, device=device)
            self.inputs = w.inputs
            self.params = [t for t in w.inputs if t.requires_grad]
            self.fn = self._compile(w.fn)

    def _compile(self, fn):
        if self.system == "inductor":
            return torch.compile(fn)
        if self.system == "mlirfuse":
            self.compiled = mlirfuse.compile(fn)
            return self.compiled
        return fn

    def __call__(self) -> torch.Tensor:
        for p in self.params:
            p.grad = None
        if self.name == "gpt2":
            loss = self.fn(self.ids, labels=self.ids).loss
            loss.backward()
            grads = [p.grad.clone() for p in self.params]
            self.opt.step()
        else:
            loss = self.fn(*self.inputs).sum()
            loss.backward()
            grads = [p.grad for p in self.params]
        return loss.detach(), grads


def rel_error(got, want) -> float:
    a, b = got.detach().double().flatten(), want.detach().double().flatten()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def measure(name: str, device: str, steps: int) -> dict:
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    row = {"workload": name, "device": device, "systems": {}}
    runs, reference = {}, None
    for system in SYSTEMS:
        entry = row["systems"].setdefault(system, {})
        torch._dynamo.reset()
        try:
            step = Step(name, system, device)
            sync()
            t0 = time.perf_counter()
            loss, grads = step()
            sync()
            entry["first_step_s"] = time.perf_counter() - t0
        except Exception as e:  # a system that fails gets a row saying why
            entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            continue
        if system == "mlirfuse":
            c = step.compiled
            entry.update(compile_s=c.compile_seconds, backward_compile_s=c.backward_compile_seconds,
                         fallbacks=c.stats.fallbacks, eager_ops=c.stats.eager_ops,
                         backward_compilations=c.stats.backward_compilations)
        if reference is None:
            reference = (loss, grads)
        else:
            entry["loss_err"] = rel_error(loss, reference[0])
            entry["grad_err"] = max(rel_error(g, r) for g, r in zip(grads, reference[1]))
        runs[system] = step
    for step in runs.values():  # warm-up
        for _ in range(3):
            step()
    sync()
    times = {s: [] for s in runs}
    for _ in range(steps):  # interleaved rounds
        for system, step in runs.items():
            sync()
            t0 = time.perf_counter()
            step()
            sync()
            times[system].append(time.perf_counter() - t0)
    for system, step in runs.items():
        entry = row["systems"][system]
        entry["step_ms"] = 1e3 * statistics.median(times[system])
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            step()
            torch.cuda.synchronize()
            entry["peak_mib"] = (torch.cuda.max_memory_allocated() - base) / 2**20
    return row


def table(rows: list[dict]) -> str:
    out = ["| workload | device | eager ms | inductor ms | mlirfuse ms | mlirfuse / inductor | "
           "mlirfuse / eager | peak MiB (eager, inductor, mlirfuse) | first step s (eager, "
           "inductor, mlirfuse) | mlirfuse compile s (fw+bw, of it bw) | grad rel. err | eager ops |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["systems"]
        ms = {k: s.get(k, {}).get("step_ms") for k in SYSTEMS}
        f = lambda x, p=3: "" if x is None else f"{x:.{p}f}"  # noqa: E731
        ratio = lambda a, b: f(a / b, 2) if a and b else ""  # noqa: E731
        m = s.get("mlirfuse", {})
        if "error" in m:
            mcol = f"failed: {m['error']}"
        else:
            mcol = f(ms["mlirfuse"])
        out.append("| " + " | ".join([
            r["workload"], r["device"], f(ms["eager"]), f(ms["inductor"]), mcol,
            ratio(ms["mlirfuse"], ms["inductor"]), ratio(ms["mlirfuse"], ms["eager"]),
            ", ".join(f(s.get(k, {}).get("peak_mib"), 1) for k in SYSTEMS),
            ", ".join(f(s.get(k, {}).get("first_step_s"), 2) for k in SYSTEMS),
            f"{f(m.get('compile_s'), 2)}, {f(m.get('backward_compile_s'), 2)}",
            f(m.get("grad_err"), 9) if m.get("grad_err") is not None else "",
            str(m.get("eager_ops", "")),
        ]) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", default=",".join(NAMES))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--append", help="append each workload's row (JSON) to this file")
    ap.add_argument("--table", help="print the table of the rows in this file and exit")
    args = ap.parse_args()
    if args.table:
        with open(args.table) as f:
            print(table([json.loads(line) for line in f if line.strip()]))
        return
    rows = []
    for name in args.only.split(","):
        row = measure(name, args.device, args.steps)
        rows.append(row)
        if args.append:
            with open(args.append, "a") as f:
                f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
