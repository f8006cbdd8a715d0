"""The library's shape, for the typed-contracts issue: lines, functions over 60 lines, the largest signatures, and
the places that compare the weight format as a string.

    .venv/bin/python -m bench.code_shape [ROOT]      # ROOT: a checkout (default this one), e.g. a git worktree
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

PACKAGES = ("albert_edge", "export/albert_edge_export", "runtime/albert_edge_runtime")
FORMAT_COMPARE = re.compile(r"""weights\s*[!=]=\s*["']|==\s*["'](int8|int4|fp32)["']""")


def shape(root: Path) -> dict:
    files = [p for package in PACKAGES for p in sorted((root / package).glob("*.py"))]
    lines, long_functions, signatures, compares = 0, [], [], 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        lines += len(text.splitlines())
        compares += len(FORMAT_COMPARE.findall(text))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{path.relative_to(root)}:{node.name}"
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    long_functions.append((name, length))
                args = node.args
                params = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
                count = len([a for a in params if a not in ("self", "cls")])
                signatures.append((name, count))
    signatures.sort(key=lambda item: -item[1])
    return {
        "library_lines": lines,
        "functions_over_60_lines": long_functions,
        "largest_signatures": signatures[:5],
        "weight_format_string_compares": compares,
    }


if __name__ == "__main__":
    print(
        json.dumps(shape(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent), indent=1)
    )
