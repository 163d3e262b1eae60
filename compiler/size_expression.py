"""Sizes computed per call: mlirfuse-workspace's expressions as Python functions.

With symbolic sizes the GPU code's temporaries live in one workspace whose bytes depend
on the call's sizes; mlirfuse-workspace writes that size as a prefix expression of the
arguments' sizes, `(+ 256 (* (ceildiv (* (dim 0 1) 64) 256) 256))`, `dim K D` being
size D of tensor K. The expression is on the hot path of every call, and in a model
it is large (GPT-2's 2 layers: 50 temporaries, 15 KB of text, the same subexpressions
many times): evaluated node by node it cost 0.5 ms a call, more than the kernels. So it
is compiled once into one Python function that computes each distinct subexpression once
(the way torch.fx turns a graph into code), and its value is kept per distinct tuple of
the sizes it reads: a call with sizes seen before costs a dict lookup.
"""

from __future__ import annotations

from typing import Callable

import torch

# Python for each operator, by the expression's name for it (n-ary ones join operands).
_BINARY = {"-": "({} - {})", "/": "({} // {})", "%": "({} % {})",
           "ceildiv": "(-(-{} // {}))", "==": "({} == {})", "!=": "({} != {})",
           "<": "({} < {})", "<=": "({} <= {})", ">": "({} > {})", ">=": "({} >= {})"}
_NARY = {"+": " + ", "*": " * "}
_CALLS = {"max", "min"}

_CACHED = 4096  # distinct size tuples kept before the cache starts over


def size_expression(text: str) -> Callable[[list[torch.Tensor]], int]:
    """The expression `text` as a function of the call's tensors (inputs, then outputs).

    Raises:
      ValueError: an operator the expression language does not have.
    """
    tokens = text.replace("(", " ( ").replace(")", " ) ").split()
    position = 0
    dims: dict[tuple[int, int], str] = {}  # (tensor, dimension) -> parameter name
    values: dict[str, str] = {}  # Python of a subexpression -> its local's name
    lines: list[str] = []

    def parse() -> str:
        """The next expression as an atom: a literal, a parameter or a local."""
        nonlocal position
        token = tokens[position]
        position += 1
        if token != "(":
            return str(int(token))
        head = tokens[position]
        position += 1
        if head == "dim":
            key = (int(tokens[position]), int(tokens[position + 1]))
            position += 3  # the two numbers and ")"
            return dims.setdefault(key, f"d{len(dims)}")
        operands = []
        while tokens[position] != ")":
            operands.append(parse())
        position += 1
        if head in _NARY:
            code = "(" + _NARY[head].join(operands) + ")"
        elif head in _CALLS:
            code = f"{head}({', '.join(operands)})"
        elif head == "select":
            code = f"({operands[1]} if {operands[0]} else {operands[2]})"
        elif head in _BINARY:
            code = _BINARY[head].format(*operands)
        else:
            raise ValueError(f"size expression: unknown operator '{head}' in {text[:200]}")
        if code not in values:
            values[code] = f"v{len(values)}"
            lines.append(f"    {values[code]} = {code}")
        return values[code]

    result = parse()
    source = f"def size({', '.join(dims.values())}):\n" + "\n".join(lines + [f"    return {result}"])
    namespace: dict = {}
    exec(compile(source, "<mlirfuse.workspace>", "exec"), namespace)  # noqa: S102
    compute = namespace["size"]
    reads = list(dims)
    cache: dict[tuple[int, ...], int] = {}

    def size(tensors: list[torch.Tensor]) -> int:
        sizes = tuple(tensors[k].shape[d] for k, d in reads)
        value = cache.get(sizes)
        if value is None:
            if len(cache) >= _CACHED:
                cache.clear()
            value = cache[sizes] = int(compute(*sizes))
        return value

    size.source = source
    return size
