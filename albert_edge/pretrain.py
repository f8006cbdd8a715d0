"""ALBERT pretraining on unlabelled text: masked LM + sentence-order prediction, bounded by wall-clock minutes
and resumable (`albert-edge pretrain`)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from tokenizers import Tokenizer
from tqdm import tqdm

from albert_edge_runtime.encoding import TextEncoder

from .batching import bucketed_batches, pad_batch
from .data import unlabelled_texts
from .distributed import Placement, placed
from .model import AlbertForPreTraining
from .recipe import (
    CONTINUED_CARD,
    PRETRAIN_STATE,
    ModelArgs,
    arg,
    build_config,
    check_pretrained_shape,
    make_optimizer,
    special_ids,
)
from .record import PretrainCall


@dataclass(kw_only=True)
class PretrainArgs(ModelArgs):
    out: str
    minutes: float = arg(60.0, "wall-clock minutes of this call; call again with the same --out to continue")
    until_step: int = arg(0, "also stop once the run (over all calls) reaches this step; 0 = no step bound")
    cooldown_from: int = arg(
        0,
        "with --until-step: from this step the learning rate falls linearly to 0 at --until-step (a cooldown "
        "before shipping, on a copy of the run); 0 = constant after warm-up",
    )
    checkpoint_minutes: float = arg(10.0, "minutes between checkpoints (written aside, then moved in)")
    batch_size: int = arg(64, "sentence pairs per step")
    lr: float = arg(3e-4, "peak learning rate (1e-3 stayed on the unigram plateau: docs/model-card.md)")
    weight_decay: float = arg(0.01, "AdamW weight decay (not on biases and LayerNorm)")
    news: bool = arg(True, "pretrain on the news corpus besides the training split's texts")
    clue: bool = arg(False, "also pretrain on UER-py's CLUECorpusSmall sample (web and news text, Apache-2.0)")
    weibo: bool = arg(
        False, "also pretrain on the SMP2020-EWECT Weibo posts in UER-py (text only, Apache-2.0 as UER-py)"
    )
    limit: int = arg(0, "only this many training texts and no news; 0 = all (smoke tests)")
    accumulate: int = arg(1, "micro-batches of --batch-size per optimizer step (a larger batch in the same memory)")
    continue_from: str = arg(
        "", "a shipped encoder folder (scripts/ship_encoder.py) to pretrain further, with a fresh optimizer"
    )

    def __post_init__(self) -> None:
        if self.until_step < 0:
            raise ValueError(f"--until-step {self.until_step} is negative; give the step to stop at, or 0 for none")
        if self.cooldown_from and not 0 < self.cooldown_from < self.until_step:
            raise ValueError(
                f"--cooldown-from {self.cooldown_from} needs --until-step past it (got {self.until_step}): the "
                "learning rate falls to 0 at --until-step"
            )
        if self.accumulate < 1:
            raise ValueError(f"--accumulate {self.accumulate}: give 1 or more micro-batches per step")


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


MASK_SEED_STRIDE = 1_000_003  # each process draws its own masks: seed + step + stride * rank


@dataclass
class PretrainRun:
    """One pretraining loop's state: what it trains, on which texts, where, and how it saves (rank 0 only)."""

    model: AlbertForPreTraining
    optimizer: torch.optim.Optimizer
    encoder: TextEncoder
    texts: list[str]
    out: Path
    place: Placement = field(default_factory=Placement)
    checkpoint: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        self.model.to(self.place.device)
        # DDP averages the gradients of the processes' slices of each batch; a world of one trains the model as is.
        self.wrapped: torch.nn.Module = self.model
        if self.place.world > 1:
            ids = [self.place.device] if self.place.device.type == "cuda" else None
            self.wrapped = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.scaler = self.place.scaler()


@dataclass
class Schedule:
    """How long and how: wall-clock minutes and/or a step bound, the batch, the learning rate's warm-up."""

    minutes: float
    seed: int
    lr: float
    batch_size: int = 64  # sentence pairs per micro-step, over all processes
    accumulate: int = 1  # micro-steps per optimizer step
    start_step: int = 0
    until_step: int = 0  # 0: no step bound
    warmup_from: int = 0  # where the optimizer started fresh
    checkpoint_minutes: float = 10.0
    cooldown_from: int = 0  # 0: constant after warm-up; else linear to 0 at until_step

    def learning_rate(self, step: int) -> float:
        """The rate of the optimizer step that follows `step` steps: warm-up, constant, and the cooldown if any."""
        lr = self.lr * min(1.0, (step + 1 - self.warmup_from) / WARMUP_STEPS)
        if self.cooldown_from and step >= self.cooldown_from:
            lr *= max(0.0, (self.until_step - step) / (self.until_step - self.cooldown_from))
        return lr


@dataclass
class Masking:
    frame: torch.Tensor  # special token ids, never masked
    mask_id: int
    vocab: int
    gen: torch.Generator


def mlm_sop_loss(run: PretrainRun, masking: Masking, pairs: list, rows: list[int], pad_id: int) -> torch.Tensor:
    """The loss of one micro-batch (`rows` of `pairs`): mask, move to the device, forward both heads."""
    feeds = pad_batch([pairs[i][0] for i in rows], [pairs[i][1] for i in rows], pad_id)
    special = torch.isin(feeds["input_ids"], masking.frame)
    masked = mask_tokens(feeds["input_ids"], special, masking.mask_id, masking.vocab, masking.gen)
    feeds["input_ids"], mlm_labels = masked
    feeds |= {"mlm_labels": mlm_labels, "sop_labels": torch.tensor([pairs[i][2] for i in rows])}
    pin = run.place.device.type == "cuda"  # pinned pages copy to the GPU without a staging copy
    feeds = {k: (v.pin_memory() if pin else v).to(run.place.device, non_blocking=True) for k, v in feeds.items()}
    with run.place.autocast():
        return run.wrapped(**feeds)


def optimizer_step(run: PretrainRun, masking: Masking, pairs: list, micro: list[list[int]], lr: float) -> float:
    """One optimizer step over `micro` micro-batches (gradients accumulated, synchronised once), clipped."""
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    run.optimizer.zero_grad(set_to_none=True)
    pad_id, total = run.encoder.tokenizer.token_to_id("[PAD]"), 0.0
    for i, rows in enumerate(micro):
        last = i == len(micro) - 1
        # Non-final micro-steps skip DDP's gradient all-reduce: gradients sync once per optimizer step.
        sync = contextlib.nullcontext() if last or run.place.world == 1 else run.wrapped.no_sync()
        with sync:
            loss = mlm_sop_loss(run, masking, pairs, rows, pad_id) / len(micro)
            (run.scaler.scale(loss) if run.scaler else loss).backward()
        total += loss.item()
    if run.scaler:
        run.scaler.unscale_(run.optimizer)
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
    if run.scaler:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    return total


def step_groups(pairs: list, schedule: Schedule, rng: random.Random, place: Placement) -> Iterator[list[list[int]]]:
    """This process's micro-batches, `accumulate` per optimizer step. Every process draws the same batches (same
    rng) and takes its slice; batches too small to give every process a row are skipped by all."""
    drawn = bucketed_batches([len(p[0]) for p in pairs], schedule.batch_size, rng)
    batches = [b for b in drawn if len(b) >= place.world]
    for start in range(0, len(batches) - schedule.accumulate + 1, schedule.accumulate):
        yield [b[place.rank :: place.world] for b in batches[start : start + schedule.accumulate]]


def pretrain(run: PretrainRun, schedule: Schedule) -> dict:
    """Train for `schedule.minutes` of wall clock from its start step, or until its step bound if that comes first;
    returns the step reached and the throughput.

    The learning rate warms up linearly over 500 steps from `warmup_from` and then stays constant, so a run can stop
    and continue where it was (`run.checkpoint(step)` every `checkpoint_minutes` and at the end); a copy of it can
    cool down to be shipped (`cooldown_from`: linear to 0 at `until_step`). Sentence-order cuts and batches come
    from `seed + start_step`, masks from that plus the process's rank: a continued run does not replay them, and
    processes mask differently. Processes stop together (any one's clock ends the run for all).
    """
    rng = random.Random(schedule.seed + schedule.start_step)
    gen = torch.Generator().manual_seed(schedule.seed + schedule.start_step + MASK_SEED_STRIDE * run.place.rank)
    tok = run.encoder.tokenizer
    frame = special_ids(run.encoder, tok.token_to_id("[PAD]"))
    masking = Masking(frame, tok.token_to_id("[MASK]"), tok.get_vocab_size(), gen)
    log_path = run.out / "pretrain.json"
    log = read_log(log_path, schedule.start_step)
    now = time.perf_counter()
    deadline, next_save, step = now + schedule.minutes * 60, now + schedule.checkpoint_minutes * 60, schedule.start_step
    recent: list[float] = []
    tokens = window_tokens = 0.0
    window_start = started = time.perf_counter()
    bar = tqdm(desc="pretrain (MLM+SOP)", unit="step", initial=step, mininterval=5.0, disable=not run.place.main)
    run.model.train()
    stop = 0 < schedule.until_step <= step or schedule.minutes <= 0
    while not stop:
        pairs = build_pairs(run.encoder, run.texts, rng)  # new SOP cuts every pass
        for micro in step_groups(pairs, schedule, rng, run.place):
            loss = optimizer_step(run, masking, pairs, micro, schedule.learning_rate(step))
            mine = sum(len(pairs[i][0]) for rows in micro for i in rows)
            clock_says_stop = time.perf_counter() >= deadline
            loss_sum, step_tokens, votes = run.place.sum([loss, float(mine), float(clock_says_stop)])
            step += 1
            tokens, window_tokens = tokens + step_tokens, window_tokens + step_tokens
            recent.append(loss_sum / run.place.world)
            bar.update(1)
            bar.set_postfix(loss=f"{recent[-1]:.3f}")
            if step % LOG_EVERY == 0:
                speed = window_tokens / (time.perf_counter() - window_start)
                log.append({"step": step, "loss": sum(recent) / len(recent), "tokens_per_s": round(speed)})
                if run.place.main:
                    log_path.write_text(json.dumps(log) + "\n")
                recent.clear()
                window_tokens, window_start = 0.0, time.perf_counter()
            if run.checkpoint is not None and time.perf_counter() >= next_save:
                run.checkpoint(step)
                next_save = time.perf_counter() + schedule.checkpoint_minutes * 60
            stop = votes > 0 or 0 < schedule.until_step <= step
            if stop:
                break
    bar.close()
    if run.place.main:
        log_path.write_text(json.dumps(log) + "\n")
    if run.checkpoint is not None:
        run.checkpoint(step)
    seconds = time.perf_counter() - started
    return {"step": step, "tokens_per_s": round(tokens / seconds) if seconds > 0 else 0, "seconds": seconds}


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


def continued_encoder(
    folder: Path, out: Path, args: PretrainArgs, writer: bool = True
) -> tuple[Tokenizer, AlbertForPreTraining, dict]:
    """A shipped encoder as the start of this run: its weights, tokenizer and loss log, its step count carried on;
    the optimizer starts fresh (the shipped folder has no optimizer state) and warms up again."""
    info_path = folder / "encoder.json"
    if not info_path.is_file():
        raise FileNotFoundError(
            f"{folder} has no encoder.json; --continue-from takes a folder scripts/ship_encoder.py wrote"
        )
    info = json.loads(info_path.read_text(encoding="utf-8"))
    tokenizer, model = _checked_pretraining_model(folder, args)
    if writer:  # rank 0 of a multi-process run
        out.mkdir(parents=True, exist_ok=True)
        for name in ("tokenizer.json", "tokenizer_config.json", "pretrain.json"):
            shutil.copyfile(folder / name, out / name)
        shutil.copyfile(info_path, out / CONTINUED_CARD)
    state = {"step": info["step"], "seconds": info["hours"] * 3600, "warmup_from": info["step"]}
    return tokenizer, model, state


def pretraining_texts(args: PretrainArgs) -> list[str]:
    """The unlabelled texts of this run: the training split of --reviews (or its first --limit texts), news, and
    unless --limit the CLUECorpusSmall sample with --clue and SMP2020-EWECT's Weibo posts with --weibo. Never a
    dev or test text of any source."""
    from .corpora import load_clue_texts, load_weibo_texts
    from .data import normalize
    from .sources import builtin_data, held_out_keys, load_sources

    if args.limit or not (args.clue or args.weibo):
        train_texts = builtin_data(args.reviews, args.split_seed).train.texts
        if args.limit:
            return unlabelled_texts(train_texts[: args.limit], news=False)
        return unlabelled_texts(train_texts, news=args.news)
    sources = load_sources(args.split_seed)  # read once: the training texts and the held-out keys both need them
    train_texts = builtin_data(args.reviews, args.split_seed, sources).train.texts
    # A web corpus can hold a review's words verbatim (it does: a short one): such runs go, as dev/test texts must.
    held_out = held_out_keys(sources)
    extra = (load_clue_texts() if args.clue else []) + (load_weibo_texts() if args.weibo else [])
    return unlabelled_texts(train_texts, news=args.news) + [text for text in extra if normalize(text) not in held_out]


def run_pretraining(args: PretrainArgs) -> dict:
    """`albert-edge pretrain`: start in an empty `out`, or continue the run already there. Under `torchrun` every
    process loads the same checkpoint and trains a slice of each batch; rank 0 alone writes.

    Args:
        args: the run's settings (`albert-edge pretrain --help`); `--minutes` / `--until-step` bound this call,
            and calling again with the same `out` continues it.

    Returns:
        The summary line the CLI prints: out, step, seconds, tokens_per_s, device, world_size, precision.
    """
    with placed(args.device, args.precision) as place:
        return _pretrain_in(args, place)


def _pretrain_in(args: PretrainArgs, place: Placement) -> dict:
    from .tokenization import build_chinese_wordpiece, save_tokenizer

    torch.manual_seed(args.seed)  # the same initial weights in every process
    torch.set_num_threads(args.threads or torch.get_num_threads())
    out = Path(args.out)
    texts = pretraining_texts(args)
    if (out / PRETRAIN_STATE).is_file():
        tokenizer, model = load_pretraining(out, args)
        state = torch.load(out / PRETRAIN_STATE, weights_only=True, map_location="cpu")
        # Where the run started is a fact of the run, not of this call: a call that resumes without
        # --continue-from keeps it, or the card would call a continued run one run from scratch.
        args = replace(args, continue_from=args.continue_from or state.get("args", {}).get("continue_from", ""))
    elif out.exists() and any(out.iterdir()) and place.main:
        raise FileExistsError(f"{out} has files but no {PRETRAIN_STATE}; choose an empty or new folder")
    elif args.continue_from:
        tokenizer, model, state = continued_encoder(Path(args.continue_from), out, args, place.main)
    else:
        tokenizer = build_chinese_wordpiece(texts, vocab_size=args.vocab_size, cjk=args.cjk)  # the same everywhere
        if place.main:
            save_tokenizer(tokenizer, out)
        model = AlbertForPreTraining(build_config(args, tokenizer.get_vocab_size(), tokenizer.token_to_id("[PAD]")))
        state = {"step": 0, "seconds": 0.0}
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    run = PretrainRun(model, optimizer, TextEncoder(tokenizer, args.max_length, args.truncation), texts, out, place)
    if "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])  # after the model moved to its device: the state follows it
    started = time.perf_counter()
    call = call_record(place, args, state["step"])
    if place.main:
        run.checkpoint = lambda step: save_checkpoint(run, args, state, replace(call, to_step=step), started)
    schedule = Schedule(
        minutes=args.minutes, seed=args.seed, lr=args.lr, batch_size=args.batch_size, accumulate=args.accumulate,
        start_step=state["step"], until_step=args.until_step, warmup_from=state.get("warmup_from", 0),
        checkpoint_minutes=args.checkpoint_minutes, cooldown_from=args.cooldown_from,
    )  # fmt: skip
    done = pretrain(run, schedule)
    seconds = state["seconds"] + time.perf_counter() - started
    return {"out": str(out), "step": done["step"], "seconds": seconds, "tokens_per_s": done["tokens_per_s"],
            "device": str(place.device), "world_size": place.world, "precision": place.precision}  # fmt: skip


def call_record(place: Placement, args: PretrainArgs, step: int) -> PretrainCall:
    """What one call of `albert-edge pretrain` ran on and with, for the run's history (a card states each call's
    hours, and the text length and corpus of each stretch of steps: a run may go on at another --max-length, or with
    --weibo)."""
    return PretrainCall(from_step=step, to_step=step, device=place.device.type, world_size=place.world,
                        threads=torch.get_num_threads(), precision=place.precision, max_length=args.max_length,
                        batch_size=args.batch_size * args.accumulate, weibo=args.weibo,
                        cooldown_from=args.cooldown_from, until_step=args.until_step)  # fmt: skip


def save_checkpoint(run: PretrainRun, args: PretrainArgs, state: dict, call: PretrainCall, started: float) -> None:
    """Written aside, then moved in file by file (os.replace is atomic): a run stopped mid-write (a session ends
    wherever it is) leaves the previous checkpoint's files whole, never a truncated one."""
    staging = run.out / ".checkpoint"
    run.model.save_pretrained(staging)
    seconds_here = time.perf_counter() - started
    torch.save(
        {
            "optimizer": run.optimizer.state_dict(),
            "step": call.to_step,
            "seconds": state["seconds"] + seconds_here,
            "warmup_from": state.get("warmup_from", 0),
            "calls": state.get("calls", []) + [asdict(replace(call, seconds=seconds_here))],
            "args": asdict(args),
        },
        staging / PRETRAIN_STATE,
    )
    for name in ("config.json", "model.safetensors", PRETRAIN_STATE):
        os.replace(staging / name, run.out / name)
