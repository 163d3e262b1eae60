"""bench/fuzz.py's random programs: drawn from a seed, rendered as Python source, and
their inputs made (shapes with 1s and 0s, contiguous, transposed or strided).
"""

from __future__ import annotations

import random

FLOATS = ["float32", "float32", "float32", "float64", "float16", "bfloat16"]
DTYPES = FLOATS + ["int32", "int64", "bool"]
SIZES = [1, 1, 2, 3, 4, 5, 8, 16, 33, 0]


# ---- programs: inputs, ops (a template over earlier values), results ----

def render(program: dict, name: str = "f") -> str:
    """The program as Python source: `def f(x0, x1): ...`."""
    n = len(program["inputs"])
    lines = [f"def {name}({', '.join(f'x{i}' for i in range(n))}):"]
    for k, op in enumerate(program["ops"]):
        args = [f"x{i}" if i < n else f"v{i}" for i in op["args"]]
        lines.append(f"    v{n + k} = " + op["t"].format(*args, **op.get("c", {})))
    outs = [f"x{i}" if i < n else f"v{i}" for i in program["outputs"]]
    lines.append(f"    return {', '.join(outs)}" + ("," if len(outs) == 1 else ""))
    return "\n".join(lines)


def make_inputs(program: dict, device: str, seed: int):
    """The program's input tensors (the same for the same seed)."""
    import torch

    gen = torch.Generator(device).manual_seed(seed)
    out = []
    for spec in program["inputs"]:
        shape, dtype, layout = spec["shape"], getattr(torch, spec["dtype"]), spec["layout"]
        base = list(reversed(shape)) if layout == "transposed" else list(shape)
        if layout == "strided":
            base[-1] *= 2
        if dtype == torch.bool:
            t = torch.rand(base, generator=gen, device=device) > 0.5
        elif dtype.is_floating_point:
            t = (torch.randn(base, generator=gen, device=device) * spec.get("scale", 1.0)).to(dtype)
        else:
            t = torch.randint(-9, 10, base, generator=gen, device=device, dtype=dtype)
        if layout == "transposed":
            t = t.permute(*reversed(range(t.dim())))
        elif layout == "strided":
            t = t[..., ::2]
        out.append(t)
    return out


# In the exact program every float is float64: explicit conversions to narrower floats too.
_EXACT = {"torch.float16": "torch.float64", "torch.bfloat16": "torch.float64",
          ".float()": ".double()"}


def program_fn(program: dict, exact: bool = False):
    import torch

    source = render(program)
    if exact:
        for narrow, wide in _EXACT.items():
            source = source.replace(narrow, wide)
    namespace = {"torch": torch, "F": torch.nn.functional}
    exec(source, namespace)
    return namespace["f"]


# Op families: (template, number of value arguments, what the first argument must be).
UNARY_FLOAT = ["torch.tanh({0})", "torch.sigmoid({0})", "torch.exp({0}.clamp(-20, 20))",
               "torch.log1p({0}.abs())", "torch.sqrt({0}.abs())", "torch.sin({0})",
               "torch.relu({0})", "F.gelu({0})", "F.silu({0})", "torch.floor({0})",
               "torch.round({0})", "torch.erf({0})", "torch.rsqrt({0}.abs() + 1)",
               "{0}.clamp(-1, 1)", "torch.reciprocal({0}.abs() + 0.5)", "F.softplus({0})",
               "torch.nan_to_num({0})", "F.hardtanh({0})", "torch.sign({0})"]
UNARY_ANY = ["torch.abs({0})", "-{0}", "{0} * {0}", "{0} * 2 + 1", "{0} - 3"]
UNARY_INT = ["torch.bitwise_not({0})", "{0} // 3", "{0} % 4", "{0} & 5", "{0} | 2", "{0} ^ 7"]
UNARY_BOOL = ["torch.logical_not({0})", "~{0}", "{0}.to(torch.int32)", "{0}.float()"]
BINARY = ["{0} + {1}", "{0} - {1}", "{0} * {1}", "torch.maximum({0}, {1})",
          "torch.minimum({0}, {1})", "torch.where({0} > {1}, {0}, {1})", "({0} > {1})",
          "({0} == {1})", "({0} <= {1})"]
BINARY_FLOAT = ["{0} / ({1}.abs() + 1)", "torch.atan2({0}, {1})", "torch.hypot({0}, {1})"]
BINARY_BOOL = ["{0} & {1}", "{0} | {1}", "torch.logical_xor({0}, {1})",
               "torch.where({0}, {1}.float(), -{1}.float())"]
DIM_FLOAT = ["torch.softmax({0}, {d})", "torch.log_softmax({0}, {d})",
             "{0}.mean({d}, keepdim={k})", "torch.cumsum({0}, {d})",
             "{0}.var({d}, keepdim={k})", "F.normalize({0}, dim={d})"]
DIM_ANY = ["{0}.sum({d}, keepdim={k})", "{0}.amax({d}, keepdim={k})",
           "{0}.amin({d}, keepdim={k})", "{0}.argmax({d}, keepdim={k})",
           "torch.flip({0}, [{d}])", "{0}.unsqueeze({d})", "torch.cat([{0}, {0}], {d})",
           "torch.cat([{0}, {0}], {d})[..., ::2]", "torch.stack([{0}, {0}], {d})",
           "{0}.narrow({d}, 0, 1)", "{0}.cumsum({d})"]
VIEWS = ["{0}.reshape(-1)", "{0}.t()", "{0}.permute({p})", "{0}.contiguous()",
         "{0}[..., ::2]", "{0}[1:]", "{0}.squeeze()",
         "{0}.transpose(0, -1)", "{0}.unsqueeze(0).expand(2, *{0}.shape)"]
CONVERSIONS = ["{0}.to(torch.float16)", "{0}.to(torch.bfloat16)", "{0}.float()",
               "{0}.double()", "{0}.to(torch.int64)", "({0} > 0)"]
TWO_SAME = ["torch.cat([{0}, {1}], {d})", "torch.stack([{0}, {1}], 0)",
            "torch.cat([{0}, {1}], {d})[..., 1:]"]
MATMUL = ["{0} @ {1}.transpose(-1, -2)", "torch.matmul({0}, {1}.transpose(-1, -2)).relu()"]
LAYER_NORM = ["F.layer_norm({0}, {0}.shape[-1:])", "F.layer_norm({0}, {0}.shape[-1:]) * 2"]
MUTATE = ["{0}.clone().add_({1})", "{0}.clone().mul_(2).sub_(1)"]
MUTATE_INPUT = ["{0}.mul_(2)", "{0}.add_(1)"]


def _kind(value) -> str:
    import torch

    if value.dtype == torch.bool:
        return "bool"
    return "float" if value.dtype.is_floating_point else "int"


def generate(seed: int, device: str = "cpu") -> dict:
    """A random program that runs in eager (each op is tried as it is drawn)."""
    import torch

    rng = random.Random(seed)
    inputs = []
    for _ in range(rng.choice([1, 1, 2, 2, 3])):
        rank = rng.choice([1, 2, 2, 3])
        shape = [rng.choice(SIZES) for _ in range(rank)]
        if rng.random() < 0.8:  # mostly non-empty
            shape = [max(s, 1) for s in shape]
        layout = rng.choice(["contiguous"] * 4 + ["transposed", "strided"])
        spec = {"shape": shape, "dtype": rng.choice(DTYPES), "layout": layout}
        if rng.random() < 0.15:
            spec["scale"] = rng.choice([1e-3, 30.0, 1e4])
        inputs.append(spec)
    if len(inputs) > 1 and rng.random() < 0.5:  # binary ops need partners of one shape
        inputs[1] = dict(inputs[1], shape=list(inputs[0]["shape"]))
    program = {"inputs": inputs, "ops": [], "outputs": []}
    values = make_inputs(program, device, seed)
    n = len(inputs)
    for _ in range(rng.randint(2, 9)):
        for _attempt in range(30):
            op = _draw(rng, values, n)
            if op is None:
                continue
            trial = dict(program, ops=program["ops"] + [op],
                         outputs=[n + len(program["ops"])])
            try:
                with torch.no_grad():
                    out = program_fn(trial)(*[v.clone() for v in values[:n]])[0]
            except Exception:
                continue
            if not isinstance(out, torch.Tensor) or out.numel() > 1 << 16:
                continue
            program = trial
            values.append(out)
            break
    m = len(values)
    outputs = [m - 1] + [i for i in rng.sample(range(n, m), min(2, m - n)) if i != m - 1]
    program["outputs"] = outputs[:rng.randint(1, 3)] if m > n else [0]
    return program


def _draw(rng: random.Random, values, n: int) -> dict | None:
    i = rng.randrange(len(values))
    a = values[i]
    kind = _kind(a)
    d = rng.randrange(-a.dim(), a.dim()) if a.dim() else 0
    consts = {"d": d, "k": rng.choice([True, False]),
              "p": ", ".join(map(str, rng.sample(range(a.dim()), a.dim()))) or "()"}
    same = [j for j, v in enumerate(values) if v.shape == a.shape and j != i]
    same_kind = [j for j in same if _kind(values[j]) == kind]
    family = rng.choice(["unary", "unary", "binary", "dim", "dim", "view", "convert",
                         "two", "matmul", "norm", "mutate"])
    if family == "unary":
        pool = {"float": UNARY_FLOAT + UNARY_ANY, "int": UNARY_INT + UNARY_ANY,
                "bool": UNARY_BOOL}[kind]
        return {"t": rng.choice(pool), "args": [i]}
    if family == "binary":
        partners = same_kind or [i]
        j = rng.choice(partners)
        pool = {"float": BINARY + BINARY_FLOAT, "int": BINARY, "bool": BINARY_BOOL}[kind]
        return {"t": rng.choice(pool), "args": [i, j]}
    if family == "dim" and a.dim():
        pool = DIM_ANY + (DIM_FLOAT if kind == "float" else [])
        return {"t": rng.choice(pool), "args": [i], "c": consts}
    if family == "view" and a.dim():
        return {"t": rng.choice(VIEWS), "args": [i], "c": consts}
    if family == "convert":
        return {"t": rng.choice(CONVERSIONS), "args": [i]}
    if family == "two" and a.dim() and same:
        return {"t": rng.choice(TWO_SAME), "args": [i, rng.choice(same)], "c": consts}
    if family == "matmul" and kind == "float" and a.dim() >= 2:
        j = rng.choice([k for k in same_kind if values[k].dtype == a.dtype] or [i])
        return {"t": rng.choice(MATMUL), "args": [i, j]}
    if family == "norm" and kind == "float" and a.dim():
        return {"t": rng.choice(LAYER_NORM), "args": [i]}
    if family == "mutate" and kind != "bool":
        if i < n and rng.random() < 0.5 and kind == "float":
            return {"t": rng.choice(MUTATE_INPUT), "args": [i]}
        j = rng.choice(same_kind or [i])
        return {"t": rng.choice(MUTATE), "args": [i, j]}
    return None
