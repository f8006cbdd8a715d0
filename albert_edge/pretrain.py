"""ALBERT pretraining on unlabelled text: masked LM + sentence-order prediction, bounded by wall-clock minutes
and resumable (`albert-edge pretrain`)."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer
from tqdm import tqdm

from albert_edge_runtime.encoding import TextEncoder

from .batching import bucketed_batches, pad_batch
from .data import unlabelled_texts
from .model import AlbertForPreTraining
from .recipe import PRETRAIN_STATE, ModelArgs, arg, build_config, check_pretrained_shape, make_optimizer, special_ids


@dataclass(kw_only=True)
class PretrainArgs(ModelArgs):
    out: str
    minutes: float = arg(60.0, "wall-clock minutes of this call; call again with the same --out to continue")
    until_step: int = arg(0, "also stop once the run (over all calls) reaches this step; 0 = no step bound")
    checkpoint_minutes: float = arg(10.0, "minutes between checkpoints (written aside, then moved in)")
    batch_size: int = arg(64, "sentence pairs per step")
    lr: float = arg(3e-4, "peak learning rate (1e-3 stayed on the unigram plateau: docs/model-card.md)")
    weight_decay: float = arg(0.01, "AdamW weight decay (not on biases and LayerNorm)")
    news: bool = arg(True, "pretrain on the news corpus besides the training split's texts")
    limit: int = arg(0, "only this many training texts and no news; 0 = all (smoke tests)")
    continue_from: str = arg(
        "", "a shipped encoder folder (scripts/ship_encoder.py) to pretrain further, with a fresh optimizer"
    )

    def __post_init__(self) -> None:
        if self.until_step < 0:
            raise ValueError(f"--until-step {self.until_step} is negative; give the step to stop at, or 0 for none")


def sop_example(ids: list[int], rng: random.Random) -> tuple[list[int], list[int], int]:
    """Split a text's content at a random point into A and B; half the time swap them (label 1)."""
    cut = rng.randint(1, len(ids) - 1)
    a, b = ids[:cut], ids[cut:]
    return (b, a, 1) if rng.random() < 0.5 else (a, b, 0)


def mask_tokens(
    ids: torch.Tensor, special: torch.Tensor, mask_id: int, vocab_size: int, rng: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: 15 % of real tokens are targets; of those 80 % [MASK], 10 % random, 10 % kept."""
    labels = ids.clone()
    chosen = (torch.rand(ids.shape, generator=rng) < 0.15) & ~special
    labels[~chosen] = -100
    masked = ids.clone()
    roll = torch.rand(ids.shape, generator=rng)
    masked[chosen & (roll < 0.8)] = mask_id
    random_ids = torch.randint(vocab_size, ids.shape, generator=rng)
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    masked[swap] = random_ids[swap]
    return masked, labels


def build_pairs(encoder: TextEncoder, texts: list[str], rng: random.Random) -> list[tuple[list[int], list[int], int]]:
    cls, sep = encoder.prefix, encoder.suffix
    pairs = []
    for enc in encoder.encode_batch([t for t in texts if len(t) >= 4]):
        content = enc.input_ids[len(cls) : len(enc.input_ids) - len(sep)]
        if len(content) < 2:
            continue
        a, b, label = sop_example(content, rng)
        pairs.append((cls + a + sep + b + sep, [0] * (len(cls) + len(a) + len(sep)) + [1] * (len(b) + len(sep)), label))
    return pairs


WARMUP_STEPS = 500
LOG_EVERY = 200  # steps per entry of pretrain.json: the mean loss over them, as one batch's loss is too noisy


def read_log(log_path: Path, start_step: int) -> list[dict]:
    """The loss log to continue from `start_step`. A run stopped between two checkpoints logged steps that the
    resumed run redoes: they are dropped, so that no step is logged twice."""
    if not start_step or not log_path.is_file():
        return []
    return [entry for entry in json.loads(log_path.read_text()) if entry["step"] <= start_step]


def mlm_sop_step(
    model: AlbertForPreTraining,
    optimizer: torch.optim.Optimizer,
    feeds: dict[str, torch.Tensor],
    frame: torch.Tensor,
    mask_id: int,
    vocab: int,
    sop_labels: torch.Tensor,
    lr: float,
    gen: torch.Generator,
) -> float:
    """One optimizer step on a padded batch of sentence pairs: mask (feeds["input_ids"] is replaced by its masked
    copy), forward both losses, clip, step. Returns the batch's loss."""
    special = torch.isin(feeds["input_ids"], frame)
    feeds["input_ids"], mlm_labels = mask_tokens(feeds["input_ids"], special, mask_id, vocab, gen)
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = model(**feeds, mlm_labels=mlm_labels, sop_labels=sop_labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()


def pretrain(
    model: AlbertForPreTraining,
    optimizer: torch.optim.Optimizer,
    encoder: TextEncoder,
    texts: list[str],
    minutes: float,
    seed: int,
    out: Path,
    start_step: int = 0,
    batch_size: int = 64,
    *,
    lr: float,
    checkpoint: Callable[[int], None] | None = None,
    checkpoint_minutes: float = 10.0,
    until_step: int = 0,
    warmup_from: int = 0,
) -> int:
    """Train for `minutes` of wall clock from `start_step`, or until step `until_step` if that comes first (0: no
    step bound); returns the step reached.

    The learning rate warms up linearly over 500 steps from `warmup_from` (where the optimizer started fresh) and
    then stays constant, so a run can stop and continue where it was (`albert-edge pretrain` calls
    `checkpoint(step)` every `checkpoint_minutes` and at the end).
    Masks and sentence-order cuts are drawn from `seed + start_step`: a continued run does not replay them.
    """
    rng = random.Random(seed + start_step)
    gen = torch.Generator().manual_seed(seed + start_step)
    tok = encoder.tokenizer
    mask_id, pad_id, vocab = tok.token_to_id("[MASK]"), tok.token_to_id("[PAD]"), tok.get_vocab_size()
    frame = special_ids(encoder, pad_id)
    log_path = out / "pretrain.json"
    log = read_log(log_path, start_step)
    now = time.perf_counter()
    deadline, next_save, step = now + minutes * 60, now + checkpoint_minutes * 60, start_step
    recent: list[float] = []
    bar = tqdm(desc="pretrain (MLM+SOP)", unit="step", initial=step, mininterval=5.0)
    model.train()

    def done() -> bool:
        return time.perf_counter() >= deadline or 0 < until_step <= step

    while not done():
        pairs = build_pairs(encoder, texts, rng)  # new SOP cuts every pass
        for batch in bucketed_batches([len(p[0]) for p in pairs], batch_size, rng):
            if done():
                break
            feeds = pad_batch([pairs[i][0] for i in batch], [pairs[i][1] for i in batch], pad_id)
            loss = mlm_sop_step(
                model,
                optimizer,
                feeds,
                frame,
                mask_id,
                vocab,
                torch.tensor([pairs[i][2] for i in batch]),
                lr * min(1.0, (step + 1 - warmup_from) / WARMUP_STEPS),
                gen,
            )
            step += 1
            recent.append(loss)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")
            if step % LOG_EVERY == 0:
                log.append({"step": step, "loss": sum(recent) / len(recent)})
                log_path.write_text(json.dumps(log) + "\n")
                recent.clear()
            if checkpoint is not None and time.perf_counter() >= next_save:
                checkpoint(step)
                next_save = time.perf_counter() + checkpoint_minutes * 60
    bar.close()
    log_path.write_text(json.dumps(log) + "\n")
    if checkpoint is not None:
        checkpoint(step)
    return step


def load_pretraining(folder: Path, args: ModelArgs) -> tuple[Tokenizer, AlbertForPreTraining]:
    """A folder written by `albert-edge pretrain`, checked against the shape `args` ask for."""
    if not (folder / PRETRAIN_STATE).is_file():
        raise FileNotFoundError(f"{folder} has no {PRETRAIN_STATE}; point at a folder `albert-edge pretrain` wrote")
    return _checked_pretraining_model(folder, args)


def _checked_pretraining_model(folder: Path, args: ModelArgs) -> tuple[Tokenizer, AlbertForPreTraining]:
    from .checkpoint import load_pretrained
    from .tokenization import load_tokenizer

    model = load_pretrained(folder, head="pretraining")
    check_pretrained_shape(model.config, args, folder)
    return load_tokenizer(folder), model


def continued_encoder(folder: Path, out: Path, args: PretrainArgs) -> tuple[Tokenizer, AlbertForPreTraining, dict]:
    """A shipped encoder as the start of this run: its weights, tokenizer and loss log, its step count carried on;
    the optimizer starts fresh (the shipped folder has no optimizer state) and warms up again."""
    info_path = folder / "encoder.json"
    if not info_path.is_file():
        raise FileNotFoundError(
            f"{folder} has no encoder.json; --continue-from takes a folder scripts/ship_encoder.py wrote"
        )
    info = json.loads(info_path.read_text(encoding="utf-8"))
    tokenizer, model = _checked_pretraining_model(folder, args)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "pretrain.json"):
        shutil.copyfile(folder / name, out / name)
    state = {"step": info["step"], "seconds": info["hours"] * 3600, "warmup_from": info["step"]}
    return tokenizer, model, state


def pretraining_texts(args: PretrainArgs) -> list[str]:
    """The unlabelled texts of this run: the training split (or its first --limit texts), news unless --limit."""
    from .data import load_reviews

    train_texts = load_reviews(seed=args.split_seed).train.texts
    return unlabelled_texts(train_texts[: args.limit] if args.limit else train_texts, news=args.news and not args.limit)


def run_pretraining(args: PretrainArgs) -> dict:
    """`albert-edge pretrain`: start in an empty `out`, or continue the run already there."""
    from .tokenization import build_chinese_wordpiece, save_tokenizer

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    out = Path(args.out)
    texts = pretraining_texts(args)
    if (out / PRETRAIN_STATE).is_file():
        tokenizer, model = load_pretraining(out, args)
        state = torch.load(out / PRETRAIN_STATE, weights_only=True)
    elif out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} has files but no {PRETRAIN_STATE}; choose an empty or new folder")
    elif args.continue_from:
        tokenizer, model, state = continued_encoder(Path(args.continue_from), out, args)
    else:
        tokenizer = build_chinese_wordpiece(texts, vocab_size=args.vocab_size, cjk=args.cjk)
        save_tokenizer(tokenizer, out)
        model = AlbertForPreTraining(build_config(args, tokenizer.get_vocab_size(), tokenizer.token_to_id("[PAD]")))
        state = {"step": 0, "seconds": 0.0}
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    if "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    started = time.perf_counter()

    def checkpoint(step: int) -> None:
        # Written aside, then moved in file by file (os.replace is atomic): a run stopped mid-write (a session
        # ends wherever it is) leaves the previous checkpoint's files whole, never a truncated one.
        staging = out / ".checkpoint"
        model.save_pretrained(staging)
        seconds = state["seconds"] + time.perf_counter() - started
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "step": step,
                "seconds": seconds,
                "warmup_from": state.get("warmup_from", 0),
                "args": asdict(args),
            },
            staging / PRETRAIN_STATE,
        )
        for name in ("config.json", "model.safetensors", PRETRAIN_STATE):
            os.replace(staging / name, out / name)

    step = pretrain(
        model,
        optimizer,
        TextEncoder(tokenizer, args.max_length, args.truncation),
        texts,
        args.minutes,
        args.seed,
        out,
        start_step=state["step"],
        batch_size=args.batch_size,
        lr=args.lr,
        checkpoint=checkpoint,
        checkpoint_minutes=args.checkpoint_minutes,
        until_step=args.until_step,
        warmup_from=state.get("warmup_from", 0),
    )
    return {"out": str(out), "step": step, "seconds": state["seconds"] + time.perf_counter() - started}
