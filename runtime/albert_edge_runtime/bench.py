"""`albert-edge-run bench`: latency, throughput, load time, cold start and peak RSS, with the machine described,
so reports from two devices compare. Only this package's dependencies are used."""

from __future__ import annotations

import json
import os
import platform
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from . import __version__
from .bundle import file_sha256
from .classifier import SentimentClassifier
from .encoding import Encoded
from .machine import cpu_features, cpu_name, cpuinfo_flags, usable_cores
from .memory_probe import measure
from .session import logits_alone

SAMPLE_TEXTS = [
    "这个产品很好",
    "质量太差了",
    "我非常喜欢这个产品，它让我感到非常满意",
    "物流很快，包装也很好，下次还来",
    "房间很小，隔音差，早餐种类少，不推荐",
    "性价比很高，屏幕清晰，电池也耐用",
    "客服态度恶劣，退货流程拖了两个星期，再也不会买了",
    "一般般吧，没有想象中那么好，但价格便宜",
]


# CPU features that decide which INT8 kernels onnxruntime picks (x86 VNNI, ARM dot-product / i8mm / SVE).
INT8_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "asimd", "asimddp", "i8mm", "sve")


def describe_machine(threads: int, cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """The machine as a report shows it: int8_cpu_flags as /proc/cpuinfo lists them (comparable with older
    reports), cpu_features as the CPU itself answers (they differ under an emulator), usable cores."""
    flags = cpuinfo_flags(cpuinfo)
    return {
        "cpu": cpu_name(cpuinfo),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "int8_cpu_flags": [f for f in INT8_FLAGS if f in flags],
        "cpu_features": sorted(cpu_features(cpuinfo)),
        "system": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "albert_edge_runtime": __version__,
        "threads": threads,
    }


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000.0
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "runs": len(samples),
    }


def _row_of_length(clf: SentimentClassifier, length: int) -> list[Encoded]:
    """One text of exactly `length` tokens (random pieces of the bundle's vocabulary)."""
    rng = random.Random(length)
    vocab = clf.encoder.tokenizer.get_vocab_size()
    prefix, suffix = clf.encoder.prefix, clf.encoder.suffix
    content = [rng.randrange(5, vocab) for _ in range(max(1, length - len(prefix) - len(suffix)))]
    return [Encoded(prefix + content + suffix, [0] * (len(prefix) + len(content) + len(suffix)), False)]


def _alternating(count: int, i: int) -> list[int]:
    """A B, B A, ...: neither bundle always runs right after the other."""
    order = list(range(count))
    return order if i % 2 == 0 else order[::-1]


def latency_at(clfs: list[SentimentClassifier], length: int, iterations: int, warmup: int) -> list[dict[str, float]]:
    """Batch-1 latency of each classifier at `length` tokens, interleaved run by run."""
    rows = [_row_of_length(clf, length) for clf in clfs]
    samples: list[list[float]] = [[] for _ in clfs]
    for i in range(warmup + iterations):
        for k in _alternating(len(clfs), i):
            start = time.perf_counter()
            logits_alone(clfs[k].session, rows[k])
            if i >= warmup:
                samples[k].append(time.perf_counter() - start)
    return [percentiles(s) for s in samples]


def throughput(clf: SentimentClassifier, texts: list[str], rounds: int) -> float:
    """Texts per second through `predict` (each text runs alone: batching would make answers depend on
    neighbours)."""
    clf.predict(texts[:8])  # warm-up
    start = time.perf_counter()
    for _ in range(rounds):
        clf.predict(texts)
    return len(texts) * rounds / (time.perf_counter() - start)


def cold_start(bundle: str | None, threads: int, texts_file: Path, exact_int8: bool | None = None) -> dict[str, float]:
    """A fresh process: import + load + first prediction, then peak RSS after classifying the texts."""
    start = time.perf_counter()
    probe = measure(bundle, texts_file, threads=threads, exact_int8=exact_int8)
    wall = time.perf_counter() - start
    return {
        "process_wall_s": wall,
        "import_load_first_prediction_s": probe["first_answer_s"],
        "peak_rss_mib": probe["peak_mib"],
    }


THROUGHPUT_TEXTS = 128


def run_bench(
    bundle: str | None,
    threads: int,
    texts: list[str],
    lengths: list[int],
    iterations: int,
    warmup: int,
    texts_file: Path,
    against: str | None,
    parallel: int = 1,
    exact_int8: bool | None = None,
) -> dict[str, Any]:
    """Lengths over a bundle's max_length are timed at the smaller max_length (the report says so); throughput runs
    over 128 texts (8 per timed iteration when that is fewer, never fewer than given), repeating the texts when
    there are fewer. `against`: a second bundle
    (say the same model's 4-bit export), timed interleaved with the first; its figures go under "against".
    `exact_int8`: as `RuntimeOptions.exact_int8`; each section says which graph ran."""
    start = time.perf_counter()
    clfs = [SentimentClassifier.load(bundle, threads=threads, parallel=parallel, exact_int8=exact_int8)]
    load_s = time.perf_counter() - start
    if against is not None:
        clfs.append(SentimentClassifier.load(against, threads=threads, parallel=parallel, exact_int8=exact_int8))
    limit = min(clf.encoder.max_length for clf in clfs)
    timed = sorted({min(n, limit) for n in lengths})
    # At least 128 texts for a steady figure; a quick bench (few --iterations, as under an emulator) takes fewer.
    wanted = max(len(texts), min(THROUGHPUT_TEXTS, 8 * iterations))
    pool = (texts * -(-wanted // len(texts)))[:wanted]
    latency = {str(n): latency_at(clfs, n, iterations, warmup) for n in timed}
    real = real_text_latency(clfs, texts, iterations)
    sections = [
        {
            "bundle": str(clf.bundle.root),
            "model_bytes": clf.bundle.model_bytes,
            "manifest_sha256": file_sha256(clf.bundle.root / "manifest.json"),  # covers every file's sha256
            "max_length": clf.encoder.max_length,
            "weights": clf.bundle.manifest.quantization.get("mode", "not recorded"),
            "exact_int8_graph": clf.exact_int8,
            "latency_by_length": {n: by_clf[k] for n, by_clf in latency.items()},
            "real_text_latency": real[k],
            "throughput_texts_per_s": {"1": throughput(clf, pool, rounds=2)},
            "cold_start": cold_start(path, threads, texts_file, exact_int8),
        }
        for k, (clf, path) in enumerate(zip(clfs, [bundle, against]))
    ]
    report = {"machine": describe_machine(threads), **sections[0], "timed_up_to": limit, "load_s": load_s}
    report["parallel"] = parallel
    report |= {"lengths_clamped": sorted(n for n in lengths if n > limit)}
    report |= {"throughput_texts": len(pool), "texts": len(texts)}
    if against is not None:
        report["against"] = sections[1]
    return report


def summary(report: dict[str, Any]) -> list[str]:
    """The report as a short table for people; `--json` keeps the whole of it for machines. With a second bundle
    ("against"), its p50 and throughput stand next to the first's, with the ratio B/A."""
    m, cold, b = report["machine"], report["cold_start"], report.get("against")
    lines = [
        f"{m['cpu']} ({m['arch']}, {m['cores']} cores, {m['threads']} thread(s)), onnxruntime {m['onnxruntime']}"
        f", INT8 flags: {' '.join(m['int8_cpu_flags']) or 'none'}",
        f"bundle {report['bundle']} ({report['model_bytes'] / 1e6:.2f} MB, {report['weights']}, max_length "
        f"{report['max_length']}{', exact-INT8 graph' if report.get('exact_int8_graph') else ''})",
        f"load {report['load_s']:.3f} s   cold start {cold['import_load_first_prediction_s']:.3f} s   "
        f"peak RSS {cold['peak_rss_mib']:.1f} MiB",
    ]
    if b:
        cold_b = b["cold_start"]
        lines.append(
            f"B = against {b['bundle']} ({b['model_bytes'] / 1e6:.2f} MB, {b['weights']}): cold start "
            f"{cold_b['import_load_first_prediction_s']:.3f} s   peak RSS {cold_b['peak_rss_mib']:.1f} MiB"
        )
    lines += ["", "latency, batch 1      p50 ms   p90 ms   p99 ms" + ("   B p50 ms     B/A" if b else "")]
    rows = [(f"  {n} tokens", v, b and b["latency_by_length"][n]) for n, v in report["latency_by_length"].items()]
    rows.append((f"  real texts ({report['texts']})", report["real_text_latency"], b and b["real_text_latency"]))
    for name, v, vb in rows:
        extra = f"{vb['p50_ms']:>11.2f}{vb['p50_ms'] / v['p50_ms']:>8.2f}x" if vb else ""
        lines.append(f"{name:<20}{v['p50_ms']:>9.2f}{v['p90_ms']:>9.2f}{v['p99_ms']:>9.2f}{extra}")
    lines += ["", "throughput          texts/s" + ("   B texts/s     B/A" if b else "")]
    for size, t in report["throughput_texts_per_s"].items():
        tb = b["throughput_texts_per_s"][size] if b else None
        name = f"predict, parallel {report.get('parallel', 1)}"  # each text alone; older reports: batch sizes
        lines.append(f"  {name:<20}{t:>5.0f}" + (f"{tb:>12.0f}{tb / t:>8.2f}x" if tb else ""))
    if report["lengths_clamped"]:
        lines.append(
            f"\nlengths {report['lengths_clamped']} are over a bundle's max_length: timed at {report['timed_up_to']}"
        )
    return lines


def real_text_latency(clfs: list[SentimentClassifier], texts: list[str], iterations: int) -> list[dict[str, float]]:
    samples: list[list[float]] = [[] for _ in clfs]
    for i, text in enumerate((texts * (iterations // max(1, len(texts)) + 1))[: max(iterations, len(texts))]):
        for k in _alternating(len(clfs), i):
            start = time.perf_counter()
            clfs[k].predict([text])
            samples[k].append(time.perf_counter() - start)
    return [percentiles(s) for s in samples]


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Human lines: B relative to A for each latency and throughput figure."""
    lines = [
        f"A: {a['machine']['cpu']} ({a['machine']['arch']}, {a['machine']['threads']} threads)",
        f"B: {b['machine']['cpu']} ({b['machine']['arch']}, {b['machine']['threads']} threads)",
    ]
    for n, la in a["latency_by_length"].items():
        lb = b["latency_by_length"].get(n)
        if lb:
            lines.append(
                f"latency seq {n:>4}: p50 {la['p50_ms']:.2f} -> {lb['p50_ms']:.2f} ms "
                f"(B/A {lb['p50_ms'] / la['p50_ms']:.2f}x)"
            )
    for bs, ta in a["throughput_texts_per_s"].items():
        tb = b["throughput_texts_per_s"].get(bs)
        if tb:
            lines.append(f"throughput batch {bs:>3}: {ta:.0f} -> {tb:.0f} texts/s (B/A {tb / ta:.2f}x)")
    ca, cb = a["cold_start"], b["cold_start"]
    start_a, start_b = ca["import_load_first_prediction_s"], cb["import_load_first_prediction_s"]
    lines.append(
        f"cold start: {start_a:.3f} -> {start_b:.3f} s;"
        f" peak RSS {ca['peak_rss_mib']:.1f} -> {cb['peak_rss_mib']:.1f} MiB"
    )
    return lines + _against_lines(a, b)


def _against_lines(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Reports made with `--against` on both sides: how the second bundle's p50 over the first's moved (say, whether
    4 bits cost less on one board than on the other)."""
    if "against" not in a or "against" not in b:
        return []
    lines = [f"against / bundle, within each report ({a['against']['weights']} / {a['weights']} in A):"]
    for n, la in a["latency_by_length"].items():
        if n in b["latency_by_length"] and n in a["against"]["latency_by_length"]:
            ratio_a = a["against"]["latency_by_length"][n]["p50_ms"] / la["p50_ms"]
            ratio_b = b["against"]["latency_by_length"][n]["p50_ms"] / b["latency_by_length"][n]["p50_ms"]
            lines.append(f"  latency seq {n:>4}: {ratio_a:.2f}x in A -> {ratio_b:.2f}x in B")
    return lines


REPORT_KEYS = ("machine", "latency_by_length", "throughput_texts_per_s", "cold_start")


def load_report(path: str) -> dict[str, Any]:
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read bench report {path} ({exc}); pass files written by `bench --json`") from exc
    missing = [k for k in REPORT_KEYS if not isinstance(report, dict) or not isinstance(report.get(k), dict)]
    if missing:
        raise ValueError(
            f"{path} is not a bench report (no {', '.join(missing)}); pass files written by `bench --json`"
        )
    return report
