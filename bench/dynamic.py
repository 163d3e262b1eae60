"""Dynamic shapes (issue 17): code for every size against code for one size.

    python bench/dynamic.py [--device cuda] [--only swish,gpt2] [--out bench/out/dynamic-cpu.jsonl]
    python bench/dynamic.py --table bench/out/dynamic-cpu.jsonl

Parts, one row each in the JSON lines:
  - "workload": each BENCH inference workload compiled twice: static (dynamic=False) and
    dynamic (the default, automatic dynamic: a first call with fewer rows, then the
    benchmark's rows compile code whose row count is a symbol). Both are checked against
    eager and timed interleaved with it (median, cache flushed before each call);
    dynamic / static is the ratio the issue's target is about (at most 1.10).
  - "model": a GPT-2 and a Llama (transformers, small configs, random weights, batch 2)
    called with sequence lengths 1 to 512 in random order: compilations, the largest
    difference from eager, and the time of a call with a length never seen before
    (no compile); then at lengths 64 and 256 the dynamic code's time against a static
    compile of that length.
  - "decode": a decode loop with a growing KV cache (the cache's length is the symbol):
    compilations over 64 steps and every step's logits against eager's.
  - "overhead": what a call costs around the compute, on a tiny function (x * 2 + 1 of
    [n, 8]): the first call of each of 200 sizes never seen before (served by the code
    for symbolic sizes: no compile) against a repeated call of a seen size, the static
    code's call and eager's, medians in microseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import measure  # noqa: E402
from bench import workloads as W  # noqa: E402

import mlirfuse  # noqa: E402

WORKLOADS = ["gelu_bias", "swish", "mish", "hard_swish", "layer_norm", "rmsnorm", "softmax",
             "scaleshift_relu", "lstm_cell", "mlp", "transformer"]
MODELS = ["gpt2", "llama"]


def _sync(device: str):
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def _fewer_rows(inputs: tuple) -> tuple:
    """The inputs with 8 rows fewer in every tensor whose first size is the first
    input's (the activations' rows or batch; weights keep theirs)."""
    rows = inputs[0].shape[0]
    return tuple(t[:rows - 8].contiguous() if isinstance(t, torch.Tensor) and t.dim()
                 and t.shape[0] == rows else t for t in inputs)


def _close(a, b, atol, rtol) -> bool:
    a = a if isinstance(a, (tuple, list)) else (a,)
    b = b if isinstance(b, (tuple, list)) else (b,)
    return all(torch.allclose(x, y, atol=atol, rtol=rtol) for x, y in zip(a, b))


def workload_row(name: str, device: str, calls: int) -> dict:
    w = W.make(name, rows_scale=16 if device.startswith("cuda") else 1, device=device)
    sync = _sync(device)
    with torch.no_grad():
        expected = w.fn(*w.inputs)
        static = mlirfuse.compile(w.fn, dynamic=False)
        dynamic = mlirfuse.compile(w.fn)
        static(*w.inputs)
        dynamic(*_fewer_rows(w.inputs))
        start = time.perf_counter()
        dynamic(*w.inputs)
        sync()
        compile_s = time.perf_counter() - start
        symbolic = dynamic._last.dynamic_dims is not None
        ok = _close(static(*w.inputs), expected, w.atol, w.rtol) and \
            _close(dynamic(*w.inputs), expected, w.atol, w.rtol)
        fns = {"eager": lambda: w.fn(*w.inputs), "static": lambda: static(*w.inputs),
               "dynamic": lambda: dynamic(*w.inputs)}
        flush = torch.empty((256 if device.startswith("cuda") else 64) * 2**20 // 4,
                            device=device)
        measure.warm_up(fns, 3, 2.0, sync)
        timing = measure.time_rounds(fns, target=calls, min_calls=10, time_cap=6.0,
                                     load_threshold=0.5, discard_budget=10.0, flush=flush,
                                     sync=sync, seed=0)
    ms = {k: statistics.median(v) * 1e3 for k, v in timing.times.items()}
    return {"part": "workload", "name": name, "device": device, "ok": ok, "symbolic": symbolic,
            "eager_ms": ms["eager"], "static_ms": ms["static"], "dynamic_ms": ms["dynamic"],
            "dynamic_over_static": ms["dynamic"] / ms["static"],
            "dynamic_compile_s": compile_s, "notes": dynamic._dynamic_notes[:1]}


def _model(name: str, device: str):
    import transformers

    torch.manual_seed(0)
    if name == "gpt2":
        config = transformers.GPT2Config(n_embd=128, n_layer=2, n_head=4, vocab_size=512,
                                         n_positions=1024)
        return transformers.GPT2LMHeadModel(config).to(device).eval()
    config = transformers.LlamaConfig(hidden_size=128, intermediate_size=256,
                                      num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, vocab_size=512,
                                      max_position_embeddings=1024)
    return transformers.LlamaForCausalLM(config).to(device).eval()


def _median_ms(fn, sync, calls=15) -> float:
    fn()
    sync()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def model_row(name: str, device: str) -> dict:
    model = _model(name, device)
    sync = _sync(device)

    def logits(ids):
        return model(input_ids=ids, use_cache=False).logits

    compiled = mlirfuse.compile(logits)
    lengths = list(range(1, 513))
    random.Random(0).shuffle(lengths)
    lengths = lengths[:40] + [512]
    worst, new_size_ms = 0.0, []
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for length in lengths:
            ids = torch.randint(0, 512, (2, length), generator=g).to(device)
            before = compiled.stats.compilations
            start = time.perf_counter()
            got = compiled(ids)
            sync()
            seconds = time.perf_counter() - start
            if compiled.stats.compilations == before:
                new_size_ms.append(seconds * 1e3)
            worst = max(worst, (got - logits(ids)).abs().max().item())
        compare = {}
        for length in (64, 256):
            ids = torch.randint(0, 512, (2, length), generator=g).to(device)
            static = mlirfuse.compile(logits, dynamic=False)
            static(ids)
            compare[length] = (_median_ms(lambda: compiled(ids), sync),
                               _median_ms(lambda: static(ids), sync),
                               _median_ms(lambda: logits(ids), sync))
    return {"part": "model", "name": name, "device": device, "lengths": len(lengths),
            "compilations": compiled.stats.compilations, "max_abs_diff": worst,
            "new_size_call_ms": statistics.median(new_size_ms) if new_size_ms else None,
            "compare": {str(k): v for k, v in compare.items()},
            "notes": compiled._dynamic_notes[:2]}


def cache_tensors(past, layers: int) -> list[torch.Tensor]:
    """The keys and values of each layer of a transformers cache, in order."""
    out = []
    for i in range(layers):
        layer = past.layers[i] if hasattr(past, "layers") else None
        k, v = (layer.keys, layer.values) if layer is not None else past[i]
        out += [k, v]
    return out


def decode_step(model):
    """(step, layers): the model's decode step with the KV cache passed as tensors; it
    takes the new token and the cache (keys and values per layer) and returns the logits
    and the cache grown by one position (test_gpu_dynamic.py uses it too)."""
    layers = model.config.num_hidden_layers

    def step(ids, *cache):
        from transformers import DynamicCache

        past = DynamicCache()
        for i in range(layers):
            past.update(cache[2 * i], cache[2 * i + 1], i)
        out = model(input_ids=ids, past_key_values=past, use_cache=True)
        return (out.logits, *cache_tensors(out.past_key_values, layers))
    return step, layers


def decode_row(name: str, device: str, steps: int = 64) -> dict:
    """Greedy decoding with the KV cache passed as tensors (decode_step)."""
    model = _model(name, device)
    step, layers = decode_step(model)
    compiled = mlirfuse.compile(step)
    g = torch.Generator().manual_seed(2)
    prompt = torch.randint(0, 512, (2, 8), generator=g).to(device)
    worst = 0.0
    with torch.no_grad():
        out = model(input_ids=prompt, use_cache=True)
        cache = cache_tensors(out.past_key_values, layers)
        token = out.logits[:, -1:].argmax(-1)
        for _ in range(steps):
            got = compiled(token, *cache)
            expected = step(token, *cache)
            worst = max(worst, max((a - b).abs().max().item() for a, b in zip(got, expected)))
            token, cache = expected[0][:, -1:].argmax(-1), list(expected[1:])
    return {"part": "decode", "name": name, "device": device, "steps": steps,
            "compilations": compiled.stats.compilations, "max_abs_diff": worst,
            "eager_ops": compiled.stats.eager_ops, "notes": compiled._dynamic_notes[:2]}


def overhead_row(device: str, sizes: int = 200) -> dict:
    def fn(x):
        return x * 2 + 1

    def timed(f, x) -> float:
        _sync(device)
        start = time.perf_counter()
        f(x)
        _sync(device)
        return (time.perf_counter() - start) * 1e6

    dynamic = mlirfuse.compile(fn)
    for n in (4, 5):  # the first size specializes, the second compiles symbolic code
        dynamic(torch.randn(n, 8, device=device))
    xs = [torch.randn(n, 8, device=device) for n in range(6, 6 + sizes)]
    first = [timed(dynamic, x) for x in xs]
    seen = [timed(dynamic, xs[0]) for _ in range(sizes)]
    static = mlirfuse.compile(fn, dynamic=False)
    static(xs[0])
    static_us = [timed(static, xs[0]) for _ in range(sizes)]
    eager_us = [timed(fn, xs[0]) for _ in range(sizes)]
    return {"part": "overhead", "device": device, "sizes": sizes,
            "compilations": dynamic.stats.compilations,
            "never_seen_us": statistics.median(first), "never_seen_max_us": max(first),
            "seen_us": statistics.median(seen), "static_us": statistics.median(static_us),
            "eager_us": statistics.median(eager_us)}


def table(rows: list[dict]) -> str:
    out = ["| workload | device | eager ms | static ms | dynamic ms | dynamic / static | "
           "symbolic | ok |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["part"] == "workload":
            out.append(f"| {r['name']} | {r['device']} | {r['eager_ms']:.3f} | "
                       f"{r['static_ms']:.3f} | {r['dynamic_ms']:.3f} | "
                       f"{r['dynamic_over_static']:.2f} | {r['symbolic']} | {r['ok']} |")
    ratios = [r["dynamic_over_static"] for r in rows if r["part"] == "workload"]
    if ratios:
        geo = statistics.geometric_mean(ratios)
        out.append(f"\ngeomean dynamic / static {geo:.2f}, worst {max(ratios):.2f}")
    for r in rows:
        if r["part"] == "model":
            comp = "; ".join(f"length {k}: dynamic {d:.2f} ms, static {s:.2f}, eager {e:.2f}"
                             for k, (d, s, e) in r["compare"].items())
            out.append(f"\n{r['name']} ({r['device']}): {r['lengths']} lengths in 1..512, "
                       f"{r['compilations']} compilations, max |diff| "
                       f"{r['max_abs_diff']:.1e}, a never-seen length "
                       f"{r['new_size_call_ms']:.2f} ms; {comp}")
        if r["part"] == "overhead":
            out.append(f"\noverhead ({r['device']}): {r['sizes']} never-seen sizes, "
                       f"{r['compilations']} compilations; first call of a never-seen size "
                       f"{r['never_seen_us']:.1f} us (max {r['never_seen_max_us']:.1f}), "
                       f"a seen size {r['seen_us']:.1f} us, static code "
                       f"{r['static_us']:.1f} us, eager {r['eager_us']:.1f} us")
        if r["part"] == "decode":
            out.append(f"\n{r['name']} decode ({r['device']}): {r['steps']} steps, "
                       f"{r['compilations']} compilations, max |diff| "
                       f"{r['max_abs_diff']:.1e}, eager ops {r['eager_ops']} {r['notes']}")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--only", default="", help="comma-separated workloads and models")
    p.add_argument("--calls", type=int, default=30)
    p.add_argument("--out", default=None, help="JSON lines appended here")
    p.add_argument("--table", default=None, help="print the table of a JSON lines file")
    args = p.parse_args()
    if args.table:
        with open(args.table) as f:
            print(table([json.loads(line) for line in f]))
        return
    warnings.simplefilter("ignore")
    only = [n for n in args.only.split(",") if n]
    rows = []
    for name in WORKLOADS + MODELS + [m + "_decode" for m in MODELS] + ["overhead"]:
        if only and name not in only:
            continue
        try:
            if name in WORKLOADS:
                row = workload_row(name, args.device, args.calls)
            elif name in MODELS:
                row = model_row(name, args.device)
            elif name == "overhead":
                row = overhead_row(args.device)
            else:
                row = decode_row(name.removesuffix("_decode"), args.device)
        except Exception as e:  # a row that fails says so; the others still run
            row = {"part": "error", "name": name, "device": args.device,
                   "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
        print(json.dumps(row), flush=True)
        rows.append(row)
        if args.out:
            os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
