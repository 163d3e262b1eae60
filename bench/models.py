"""Whole models (issue 18): transformers architectures, eager / inductor / mlirfuse interleaved.

    python bench/models.py [--device cuda] [--dtype bfloat16] [--only gpt2,resnet]
                           [--size small|real] [--out bench/out/models-cpu.jsonl]
    python bench/models.py --table bench/out/models-cpu.jsonl

Each architecture is built from a config with random weights (no download), in eval mode,
batch 2 at `small` sizes (../shared/BENCH.md, "Whole models"); `real` builds GPT-2 124M
and a Llama-style stack of 8 layers x 1024 with grouped-query attention, batch 8 x 256
tokens (for the H200). In one process per run: eager, `torch.compile` (inductor, default
mode) and `mlirfuse.compile` on the same inputs, each checked against eager, then timed
interleaved in random order (median; the cache flushed before each call, as bench/run.py
does). A row also says what mlirfuse ran: its kernels, extern calls and eager ops per call,
and how long each system's first call (the compile) took. With --profile, the slowest
three (mlirfuse / inductor) get a CUDA profile of mlirfuse's call: time in library
kernels (cuBLAS, cuDNN, aten's), in mlirfuse's kernels, and on the host.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import measure  # noqa: E402

import mlirfuse  # noqa: E402

ARCHITECTURES = ["gpt2", "bert", "llama", "vit", "resnet", "convnext", "whisper"]


def build(name: str, size: str, device: str, dtype: torch.dtype):
    """(module, inputs) of architecture `name`: a transformers model from a config with
    random weights, in eval mode, on `device` in `dtype`."""
    import transformers as tf

    torch.manual_seed(0)
    real = size == "real"
    batch, tokens = (8, 256) if real else (2, 32)
    g = torch.Generator().manual_seed(1)

    def ids(vocab):
        return (torch.randint(0, vocab, (batch, tokens), generator=g).to(device),)

    def pixels(channels=3, side=32):
        return (torch.randn(batch, channels, side, side, generator=g).to(device, dtype),)

    if name == "gpt2":
        config = tf.GPT2Config(n_embd=768, n_layer=12, n_head=12, vocab_size=50257) if real \
            else tf.GPT2Config(n_embd=128, n_layer=2, n_head=4, vocab_size=512)
        model, inputs = tf.GPT2LMHeadModel(config), ids(config.vocab_size)
    elif name == "bert":
        config = tf.BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=256, vocab_size=512)
        model, inputs = tf.BertModel(config), ids(config.vocab_size)
    elif name == "llama":
        config = tf.LlamaConfig(hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
                                num_attention_heads=16, num_key_value_heads=4,
                                vocab_size=32000) if real else \
            tf.LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, vocab_size=512)
        model, inputs = tf.LlamaForCausalLM(config), ids(config.vocab_size)
    elif name == "vit":
        config = tf.ViTConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                              intermediate_size=256, image_size=32, patch_size=8)
        model, inputs = tf.ViTModel(config), pixels()
    elif name == "resnet":
        config = tf.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128],
                                 depths=[1, 1, 1, 1])
        model, inputs = tf.ResNetModel(config), pixels(side=64)
    elif name == "convnext":
        config = tf.ConvNextConfig(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1])
        model, inputs = tf.ConvNextModel(config), pixels(side=64)
    elif name == "whisper":
        config = tf.WhisperConfig(d_model=128, encoder_layers=2, encoder_attention_heads=4,
                                  encoder_ffn_dim=256, decoder_layers=1,
                                  decoder_attention_heads=4, decoder_ffn_dim=256,
                                  num_mel_bins=80, max_source_positions=100)
        model = tf.WhisperModel(config).get_encoder()
        inputs = (torch.randn(batch, 80, 200, generator=g).to(device, dtype),)
    else:
        raise ValueError(f"unknown architecture {name!r} (one of {ARCHITECTURES})")
    return model.to(device, dtype).eval(), inputs


def _output(out):
    """The tensor a model's output holds first (logits, last hidden state)."""
    if isinstance(out, torch.Tensor):
        return out
    if hasattr(out, "to_tuple"):
        out = out.to_tuple()
    return next(o for o in out if isinstance(o, torch.Tensor))


def _sync(device: str):
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def model_row(name: str, size: str, device: str, dtype: torch.dtype, calls: int) -> dict:
    model, inputs = build(name, size, device, dtype)
    sync = _sync(device)

    def run(f):
        return lambda: _output(f(*inputs))

    row = {"name": name, "size": size, "device": device, "dtype": str(dtype).split(".")[-1]}
    with torch.no_grad():
        expected = _output(model(*inputs)).float()
        systems = {"eager": model, "inductor": torch.compile(model),
                   "mlirfuse": mlirfuse.compile(model)}
        tolerance = 1e-3 if dtype == torch.float32 else 5e-2
        fns = {}
        for system, f in systems.items():
            start = time.perf_counter()
            got = run(f)()
            sync()
            row[f"{system}_first_s"] = time.perf_counter() - start
            diff = (got.float() - expected).abs().max().item()
            scale = expected.abs().max().item() or 1.0
            row[f"{system}_max_diff"] = diff
            if diff > tolerance * max(1.0, scale):
                row.setdefault("wrong", []).append(system)
            fns[system] = run(f)
        stats = systems["mlirfuse"].stats
        row.update(kernels=stats.kernels, extern_calls=stats.extern_calls,
                   eager_ops=stats.eager_ops, compilations=stats.compilations,
                   # Where the first call's compile went (issue 19), seconds per phase.
                   mlirfuse_timings={k: round(v, 3)
                                     for k, v in systems["mlirfuse"].timings().items()})
        flush = torch.empty((256 if device.startswith("cuda") else 64) * 2**20 // 4,
                            device=device)
        measure.warm_up(fns, 3, 3.0, sync)
        timing = measure.time_rounds(fns, target=calls, min_calls=10, time_cap=8.0,
                                     load_threshold=0.5, discard_budget=10.0, flush=flush,
                                     sync=sync, seed=0)
    for system, times in timing.times.items():
        row[f"{system}_ms"] = statistics.median(times) * 1e3
    row["mlirfuse_over_inductor"] = row["mlirfuse_ms"] / row["inductor_ms"]
    row["mlirfuse_over_eager"] = row["mlirfuse_ms"] / row["eager_ms"]
    return row


def profile_row(name: str, size: str, device: str, dtype: torch.dtype) -> dict:
    """Where mlirfuse's call of `name` spends its time on a GPU: library kernels (cuBLAS,
    cuDNN, aten's), mlirfuse's own kernels (`main_kernel*`), and the host (the rest of the
    wall time), per call."""
    from torch.profiler import ProfilerActivity, profile

    model, inputs = build(name, size, device, dtype)
    compiled = mlirfuse.compile(model)
    with torch.no_grad():
        for _ in range(3):
            compiled(*inputs)
        torch.cuda.synchronize()
        start = time.perf_counter()
        with profile(activities=[ProfilerActivity.CUDA]) as p:
            for _ in range(5):
                compiled(*inputs)
            torch.cuda.synchronize()
        wall = (time.perf_counter() - start) / 5 * 1e3
    ours = library = 0.0
    kernels = []
    for e in p.key_averages():
        if e.device_type != torch.autograd.DeviceType.CUDA:
            continue
        if e.key.startswith("main_kernel"):
            ours += e.self_device_time_total
        else:
            library += e.self_device_time_total
        kernels.append((e.self_device_time_total / 5e3, e.count // 5, e.key[:100]))
    kernels.sort(reverse=True)
    return {"part": "profile", "name": name, "size": size, "device": device,
            "dtype": str(dtype).split(".")[-1], "wall_ms": wall,
            "mlirfuse_kernels_ms": ours / 5e3, "library_kernels_ms": library / 5e3,
            # The costliest kernels: (ms a call, launches a call, name).
            "top_kernels": kernels[:8]}


def table(rows: list[dict]) -> str:
    out = ["| model | size | device | dtype | eager ms | inductor ms | mlirfuse ms | "
           "mlirfuse / inductor | mlirfuse / eager | kernels | extern | eager ops | "
           "first call s (inductor / mlirfuse) |", "|" + "---|" * 13]
    ratios = []
    for r in rows:
        if r.get("part") == "profile" or "error" in r:
            continue
        ratios.append(r["mlirfuse_over_inductor"])
        wrong = f" WRONG: {','.join(r['wrong'])}" if r.get("wrong") else ""
        out.append(f"| {r['name']} | {r['size']} | {r['device']} | {r['dtype']} | "
                   f"{r['eager_ms']:.3f} | {r['inductor_ms']:.3f} | {r['mlirfuse_ms']:.3f} | "
                   f"{r['mlirfuse_over_inductor']:.2f} | {r['mlirfuse_over_eager']:.2f} | "
                   f"{r['kernels']} | {r['extern_calls']} | {r['eager_ops']} | "
                   f"{r['inductor_first_s']:.1f} / {r['mlirfuse_first_s']:.1f}{wrong} |")
    if ratios:
        out.append(f"\ngeomean mlirfuse / inductor {statistics.geometric_mean(ratios):.2f}, "
                   f"worst {max(ratios):.2f}")
    for r in rows:
        if "error" in r:
            out.append(f"\n{r['name']}: {r['error']}")
        elif r.get("part") == "profile":
            out.append(f"\n{r['name']} profile ({r['device']}, {r['dtype']}): wall "
                       f"{r['wall_ms']:.2f} ms a call, mlirfuse kernels "
                       f"{r['mlirfuse_kernels_ms']:.2f}, library kernels "
                       f"{r['library_kernels_ms']:.2f}, host and gaps the rest")
            out.extend(f"  {ms:7.3f} ms {n:4d}x {k}" for ms, n, k in r.get("top_kernels", []))
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--size", default="small", choices=["small", "real"])
    p.add_argument("--only", default="", help="comma-separated architectures")
    p.add_argument("--calls", type=int, default=30)
    p.add_argument("--profile", action="store_true",
                   help="a CUDA profile of mlirfuse's call for the slowest three")
    p.add_argument("--out", default=None, help="JSON lines appended here")
    p.add_argument("--table", default=None, help="print the table of a JSON lines file")
    args = p.parse_args()
    if args.table:
        with open(args.table) as f:
            print(table([json.loads(line) for line in f]))
        return
    warnings.simplefilter("ignore")
    dtype = getattr(torch, args.dtype)
    names = [n for n in args.only.split(",") if n] or ARCHITECTURES
    if args.size == "real":
        names = [n for n in names if n in ("gpt2", "llama")]
    rows = []

    def emit(row):
        print(json.dumps(row), flush=True)
        rows.append(row)
        if args.out:
            os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")

    for name in names:
        try:
            emit(model_row(name, args.size, args.device, dtype, args.calls))
        except Exception as e:  # a row that fails says so; the others still run
            emit({"name": name, "size": args.size, "device": args.device,
                  "error": f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:300]}"})
    if args.profile and args.device.startswith("cuda"):
        timed = sorted((r for r in rows if "error" not in r),
                       key=lambda r: -r["mlirfuse_over_inductor"])
        for r in timed[:3]:
            emit(profile_row(r["name"], args.size, args.device, dtype))
    print(table(rows))


if __name__ == "__main__":
    main()
