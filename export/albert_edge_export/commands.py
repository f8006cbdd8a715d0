"""`albert-edge`: train, pretrain, eval and export in one command. It lives downstream of both stages (as optimum's
`commands/`), so the training package never imports the export. Errors become one line on stderr and exit 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from albert_edge.cli import add_training_parsers
from albert_edge_runtime.cli import report_failure, version

from .cli import add_export_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="albert-edge", description="Train, pretrain, evaluate and export ALBERT text classifiers."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('albert-edge')}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_training_parsers(sub)
    add_export_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # argparse exits with 2 on usage errors
    try:
        return args.handler(args)
    except (Exception, KeyboardInterrupt) as exc:
        return report_failure(f"albert-edge {args.command}", exc)


if __name__ == "__main__":
    sys.exit(main())
