"""Effect tokens, dropped from a captured graph: the ops they order become plain calls.

torch.export threads a token through ops with side effects (`with_effects`), so their
order survives functionalization: `torch.linalg.cholesky`, `inv`, `solve` and the other
LAPACK wrappers decompose to an `_ex` op plus `aten._linalg_check_errors`, which raises
eager's error for a matrix that is singular or not positive-definite. The token is an
extra graph input and output, which capture could not take ("unsupported graph input
kind TOKEN"): the whole function ran eager. Here each `with_effects(token, op, *args)`
becomes `op(*args)` and the token goes; the compiled code keeps the calls in program
order (an extern call has effects: nothing reorders or removes it), and the check runs
torch's kernel from the compiled code (compiler/extern.py), so the error is eager's.

Before:
  %with_effects = with_effects(%token, aten._linalg_check_errors.default, %info, ...)
  %getitem_2 = getitem(%with_effects, 0)          # the next token
  return (getitem_2, mul)                         # token output, user output
After:
  %_linalg_check_errors = aten._linalg_check_errors.default(%info, ...)
  return (mul,)
"""

from __future__ import annotations

import operator

import torch

_WITH_EFFECTS = getattr(torch.ops.higher_order, "with_effects", None)


def drop_effect_tokens(gm: torch.fx.GraphModule, tokens: list[torch.fx.Node],
                       token_outputs: list[torch.fx.Node]) -> None:
    """Rewrites the with_effects calls of `gm` as plain calls; `tokens` are the token
    placeholders, `token_outputs` the graph results that are tokens (both removed).

    Raises:
      ValueError for a with_effects call whose results are used other than by getitem.
    """
    graph = gm.graph
    for node in list(graph.nodes):
        if _WITH_EFFECTS is None or node.target is not _WITH_EFFECTS:
            continue
        token, op, *args = node.args
        with graph.inserting_before(node):
            call = graph.call_function(op, tuple(args), dict(node.kwargs))
        results = node.meta.get("val")
        call.meta = {k: v for k, v in node.meta.items() if k != "val"}
        call.meta["val"] = results[1] if isinstance(results, (tuple, list)) and \
            len(results) == 2 else tuple(results[1:]) if results else None
        single = not isinstance(results, (tuple, list)) or len(results) <= 2
        for user in list(node.users):
            if user.target is not operator.getitem:
                raise ValueError(f"{node.name}: a with_effects result used by {user.name}")
            index = user.args[1]
            if index == 0:  # the next token: every token is the first one now
                user.replace_all_uses_with(token)
            elif single:
                user.replace_all_uses_with(call)
            else:
                user.args = (call, index - 1)
                continue
            graph.erase_node(user)
        graph.erase_node(node)
    output = next(n for n in graph.nodes if n.op == "output")
    drop = set(token_outputs) | set(tokens)
    output.args = (tuple(r for r in output.args[0] if r not in drop),)
    for token in tokens:
        graph.erase_node(token)
    graph.lint()
    gm.recompile()
