"""The training side's subcommands of `albert-edge`: train, pretrain, eval. The composed command (with export)
lives downstream of both stages, in `albert_edge_export.commands`; this package never imports the export."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os


def _add_fields(p: argparse.ArgumentParser, args_class: type, out_help: str) -> None:
    """One flag per field of the command's dataclass (TrainArgs, PretrainArgs), with its default."""
    for f in dataclasses.fields(args_class):
        flag = "--" + f.name.replace("_", "-")
        text = f.metadata.get("help", "")
        if f.name == "out":
            p.add_argument(flag, required=True, help=out_help)
        elif f.type == "bool":
            state = "on" if f.default else "off"
            p.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=f.default, help=f"{text} (default: {state})"
            )
        else:
            kind = {"int": int, "float": float, "str": str}[f.type]
            choices = f.metadata.get("choices")
            p.add_argument(flag, type=kind, default=f.default, choices=choices, help=f"{text} (default: {f.default!r})")


def _add_train(sub: argparse._SubParsersAction) -> None:
    from .train import TrainArgs

    p = sub.add_parser("train", help="train the review sentiment model (see docs/model-card.md for the recipe)")
    _add_fields(p, TrainArgs, "checkpoint folder to write (config, weights, tokenizer)")


def _add_pretrain(sub: argparse._SubParsersAction) -> None:
    from .pretrain import PretrainArgs

    p = sub.add_parser(
        "pretrain",
        help="MLM + sentence-order pretraining on the allowed unlabelled text; "
        "run again with the same --out to continue; fine-tune with train --init-from",
    )
    _add_fields(p, PretrainArgs, "folder to write, or to continue (tokenizer, weights, optimizer state)")


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="accuracy, macro-F1 and log-loss of a checkpoint on a split of the reviews")
    p.add_argument("checkpoint", help="checkpoint folder (config.json, model.safetensors, tokenizer.json)")
    p.add_argument("--split", default="test", choices=["train", "dev", "test"])
    p.add_argument("--max-length", type=int, default=None, help="default: what the checkpoint was trained with")
    p.add_argument(
        "--truncation",
        default=None,
        choices=["head", "head+tail"],
        help="default: what the checkpoint was trained with",
    )
    p.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="seed of the built-in reviews' split (default: the one the checkpoint was trained with, else 13)",
    )
    p.add_argument(
        "--data",
        default=None,
        help="a CSV, TSV or JSONL file to score (default: the checkpoint's own --train/--dev/--test file for "
        "--split, else the built-in reviews)",
    )
    p.add_argument("--text-column", default=None, help="column (or JSON key) of the text (default: text)")
    p.add_argument("--label-column", default=None, help="column (or JSON key) of the label (default: label)")
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="where to compute: auto (CUDA when PyTorch sees a GPU), cpu or cuda (default: auto)",
    )


def add_training_parsers(sub: argparse._SubParsersAction) -> None:
    """train, pretrain and eval, each with `handler=run` set."""
    for add in (_add_train, _add_pretrain, _add_eval):
        add(sub)
    for name in ("train", "pretrain", "eval"):
        sub.choices[name].set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.command == "train":
        from .train import TrainArgs, train

        fields = {f.name for f in dataclasses.fields(TrainArgs)}
        summary = train(TrainArgs(**{k: v for k, v in vars(args).items() if k in fields}))
        print(json.dumps({"best_dev_accuracy": summary["best_dev_accuracy"], "out": args.out}))
    elif args.command == "pretrain":
        from .pretrain import PretrainArgs, run_pretraining

        fields = {f.name for f in dataclasses.fields(PretrainArgs)}
        summary = run_pretraining(PretrainArgs(**{k: v for k, v in vars(args).items() if k in fields}))
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one summary line, not one per process
            print(json.dumps(summary))
    elif args.command == "eval":
        from .evaluate import evaluate

        given = args.text_column or args.label_column
        columns = (args.text_column or "text", args.label_column or "label") if given else None
        result = evaluate(
            args.checkpoint, args.split, args.max_length, args.truncation, args.split_seed, args.data, columns,
            args.device,
        )  # fmt: skip
        print(json.dumps(result, ensure_ascii=False))
    else:
        raise ValueError(f"unknown command {args.command!r}; expected train, pretrain or eval")
    return 0


def main(argv: list[str] | None = None) -> int:
    """train, pretrain and eval alone; errors become one line on stderr and exit 1, as in `albert-edge`."""
    from albert_edge_runtime.cli import report_failure, version

    parser = argparse.ArgumentParser(prog="python -m albert_edge", description="Train, pretrain and evaluate.")
    parser.add_argument("--version", action="version", version=f"albert-edge {version('albert-edge')}")
    add_training_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (Exception, KeyboardInterrupt) as exc:
        return report_failure(f"albert-edge {args.command}", exc)
