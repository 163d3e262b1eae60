"""`--verify-diagnostics`: check emitted diagnostics against `expected-*` comments.

The comment forms are mlir-opt's: `// expected-error {{text}}` on the line of
the op, `// expected-error@+N {{text}}` / `@-N` relative to the comment's line,
and `expected-warning`, `expected-note`, `expected-remark` the same way. Each
expected diagnostic must be emitted once at that line with `text` in its message,
and nothing unexpected may be emitted.
"""

from __future__ import annotations

import re

_EXPECTED = re.compile(
    r"//\s*expected-(error|warning|note|remark)(?:@([+-]\d+))?\s*\{\{(.*?)\}\}")
_LINE = re.compile(r":(\d+):\d+$")


def expected_diagnostics(text: str, name: str) -> list[tuple[int, str, str]]:
    """Returns (line, severity, text) for each expected-* comment in `text`."""
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        for m in _EXPECTED.finditer(line):
            target = lineno + int(m.group(2)) if m.group(2) else lineno
            out.append((target, m.group(1), m.group(3)))
    return out


def check_expected(expected, got) -> list[str]:
    """Compares expected (line, severity, text) with got (location, severity, message).

    Returns a list of problems, each an error line; empty when they agree.
    """
    problems, pending = [], list(expected)
    for loc, severity, message in got:
        sev = severity.split(".")[-1].lower()
        m = _LINE.search(loc)
        line = int(m.group(1)) if m else -1
        match = next((e for e in pending if e[0] == line and e[1] == sev and e[2] in message),
                     None)
        if match:
            pending.remove(match)
        else:
            problems.append(f"{loc}: error: unexpected {sev}: {message}")
    for line, sev, text in pending:
        problems.append(f"line {line}: error: expected {sev} \"{text}\" was not produced")
    return problems
