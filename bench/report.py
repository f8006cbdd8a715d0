"""Turn a bench report into markdown (headline goals + detail tables), two PNGs, and the README's table."""

from __future__ import annotations

import re
from pathlib import Path

from .contenders import BEST, CONTENDERS, FLOOR, OURS, OURS4

README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def _met(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def _latency_verdict(worst: float) -> str:
    if worst <= 0.85:
        return "yes"
    return "yes for 1.0, **NO** for 0.85" if worst <= 1.0 else "**NO**"


def headline(result: dict, tfidf: float | None) -> list[str]:
    """One row per goal of the benchmark issue, for one model."""
    size, fresh, lat = result["bytes"], result["fresh"], result["latency"]["1"]
    ratios = [lat[n][OURS]["p50_ms"] / lat[n][BEST]["p50_ms"] for n in lat]
    tput = fresh[OURS]["texts_per_s"] / fresh[BEST]["texts_per_s"]
    rss = fresh[OURS]["peak_rss_mib"] / fresh[BEST]["peak_rss_mib"]
    m = result["model"]
    rows = [
        f"| {m} | INT8 file size | {size[OURS] / 1e6:.2f} MB vs {size[BEST] / 1e6:.2f} MB | <= optimum best | "
        f"{_met(size[OURS] <= size[BEST])} |",
        f"| {m} | batch-1 latency, 1 thread, ours / optimum best at seq {', '.join(map(str, lat))} | "
        f"{' / '.join(f'{r:.2f}' for r in ratios)} | <= 1.0 (goal 0.85) | "
        f"{_latency_verdict(max(ratios))} |",
        f"| {m} | real-review throughput, ours / optimum pipeline (batch 32) | {tput:.2f}x "
        f"({fresh[OURS]['texts_per_s']:.0f} vs {fresh[BEST]['texts_per_s']:.0f} texts/s) | >= 1.5x | "
        f"{_met(tput >= 1.5)} |",
        f"| {m} | peak RSS, ours / optimum pipeline | {rss:.2f} ({fresh[OURS]['peak_rss_mib']:.0f} vs "
        f"{fresh[BEST]['peak_rss_mib']:.0f} MiB) | <= 0.20 | {_met(rss <= 0.2)} |",
    ]
    if all(FLOOR in lat[n] for n in lat):  # reports before 2026-12-06 did not time it
        over = [lat[n][OURS]["p50_ms"] / lat[n][FLOOR]["p50_ms"] for n in lat]
        rows.append(
            f"| {m} | batch-1 latency, 1 thread, ours / its INT8 GEMM floor at seq {', '.join(map(str, lat))} | "
            f"{' / '.join(f'{r:.2f}' for r in over)} | <= 1.1 | {_met(max(over) <= 1.1)} |"
        )
    if OURS4 in size:
        ratios4 = [lat[n][OURS4]["p50_ms"] / lat[n][OURS]["p50_ms"] for n in lat]
        goal4 = result["int4_goal_mb"]
        rows += [
            f"| {m} | INT4 file size, ours int4 vs ours int8 | {size[OURS4] / 1e6:.2f} MB vs {size[OURS] / 1e6:.2f} MB "
            f"({size[OURS4] / size[OURS]:.2f}x) | <= {goal4:.1f} MB | {_met(size[OURS4] <= goal4 * 1e6)} |",
            f"| {m} | batch-1 latency, 1 thread, ours int4 / ours int8 at seq {', '.join(map(str, lat))} | "
            f"{' / '.join(f'{r:.2f}' for r in ratios4)} | <= 1.1 | {_met(max(ratios4) <= 1.1)} |",
            f"| {m} | peak RSS, ours int4 / ours int8 | {fresh[OURS4]['peak_rss_mib']:.1f} vs "
            f"{fresh[OURS]['peak_rss_mib']:.1f} MiB | below INT8 | "
            f"{_met(fresh[OURS4]['peak_rss_mib'] < fresh[OURS]['peak_rss_mib'])} |",
        ]
    if "accuracy" in result and OURS4 in result["accuracy"]:
        drop = 100 * (result["accuracy"][OURS] - result["accuracy"][OURS4])
        rows.append(
            f"| {m} | test accuracy, ours int4 vs ours int8 | {result['accuracy'][OURS4]:.2%} vs "
            f"{result['accuracy'][OURS]:.2%} | within 1.0 point | {_met(drop <= 1.0)} |"
        )
    if "accuracy" in result and tfidf is not None:
        acc = result["accuracy"][OURS]
        rows.append(
            f"| {m} | test accuracy, ours vs char TF-IDF + LR | {acc:.2%} vs {tfidf:.2%} | above TF-IDF | "
            f"{_met(acc > tfidf)} |"
        )
    return rows


def detail(result: dict) -> list[str]:
    size, cov, fresh = result["bytes"], result["int8_coverage"], result["fresh"]
    lines = [
        f"### {result['model']}",
        "",
        "| | " + " | ".join(CONTENDERS) + " |",
        "|---|" + "---:|" * len(CONTENDERS),
        "| file MB | " + " | ".join(f"{size[c] / 1e6:.2f}" if c in size else "-" for c in CONTENDERS) + " |",
        "| INT8 share of weights | " + " | ".join(f"{cov[c]:.1%}" if c in cov else "-" for c in CONTENDERS) + " |",
    ]
    for threads, table in result["latency"].items():
        for n, row in table.items():
            lines.append(
                f"| p50 / p90 ms, seq {n}, {threads} thread(s) | "
                + " | ".join(f"{row[c]['p50_ms']:.2f} / {row[c]['p90_ms']:.2f}" for c in CONTENDERS)
                + " |"
            )
    lines += [
        f"| {label} | " + " | ".join(fmt.format(fresh[c][key]) for c in CONTENDERS) + " |"
        for label, key, fmt in (
            ("throughput, texts/s (fresh process)", "texts_per_s", "{:.0f}"),
            ("peak RSS MiB (fresh process)", "peak_rss_mib", "{:.0f}"),
            ("cold start s", "cold_start_s", "{:.2f}"),
        )
    ]
    if "accuracy" in result:
        lines.append("| test accuracy | " + " | ".join(f"{result['accuracy'][c]:.2%}" for c in CONTENDERS) + " |")
    return lines


def markdown_report(report: dict) -> str:
    machine = report["machine"]
    flags = ", ".join(machine.get("int8_cpu_flags", [])) or "none"
    lines = [
        f"Measured by `python -m bench` on {machine.get('cpu', '?')} ({machine.get('cores', '?')} "
        f"cores, {machine.get('arch', '?')}, INT8 flags: {flags}), "
        f"onnxruntime {machine.get('onnxruntime', '?')}. Latency: interleaved, medians of {report['runs']} runs "
        f"after warm-up; fresh-process figures: medians of {report['rounds']} rounds on real test reviews.",
        "",
        "| model | figure | measured | goal | met |",
        "|---|---|---|---|---|",
    ]
    for result in report["results"]:
        lines += headline(result, report.get("tfidf_test_accuracy"))
    for result in report["results"]:
        lines += [""] + detail(result)
    if report.get("model"):
        from bench.model import render

        lines += ["", "Per review set (`python -m bench.model`):", "", *render(report["model"]).splitlines()]
    return "\n".join(lines)


def plot(report: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    results = report["results"]
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for ax, result in zip(axes[0], results):
        table = result["latency"]["1"]
        lengths = [int(n) for n in table]
        for c in CONTENDERS:
            ax.plot(lengths, [table[str(n)][c]["p50_ms"] for n in lengths], marker="o", label=c)
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="sequence length (tokens)",
            ylabel="p50 latency, ms (1 thread)",
            title=result["model"],
        )
        ax.set_xticks(lengths, [str(n) for n in lengths])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())  # log-scale minor labels overlap ours
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)
    plt.close(fig)
    first = results[0]
    panels = [
        ("file size, MB", {c: first["bytes"][c] / 1e6 for c in first["bytes"]}),
        ("peak RSS, MiB", {c: first["fresh"][c]["peak_rss_mib"] for c in CONTENDERS}),
        ("throughput, texts/s", {c: first["fresh"][c]["texts_per_s"] for c in CONTENDERS}),
    ]
    if "accuracy" in first:
        accuracy = {c: 100 * first["accuracy"][c] for c in CONTENDERS}
        if report.get("tfidf_test_accuracy") is not None:
            accuracy["char TF-IDF + LR"] = 100 * report["tfidf_test_accuracy"]
        panels.append(("test accuracy, %", accuracy))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4))
    for ax, (title, values) in zip(axes, panels):
        ax.bar(range(len(values)), list(values.values()))
        ax.set_xticks(range(len(values)), [k.replace(" ", "\n", 1) for k in values], fontsize=8)
        ax.set_title(f"{first['model']}: {title}")
        if title.startswith("test accuracy"):
            ax.set_ylim(min(values.values()) - 3, max(values.values()) + 1)  # differences of 1-2 points matter
    fig.tight_layout()
    fig.savefig(out / "summary.png", dpi=110)
    plt.close(fig)


def update_readme(readme: Path, markdown: str) -> None:
    """Replace the text between the bench markers with the headline table (everything up to the details)."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    if README_START not in text or README_END not in text:
        return
    table = markdown.split("\n\n###")[0]
    block = (
        f"{README_START}\n{table}\n\nDetails: `bench/results/report.md`; plots: `bench/results/latency.png`, "
        f"`bench/results/summary.png`.\n{README_END}"
    )
    readme.write_text(
        re.sub(re.escape(README_START) + ".*?" + re.escape(README_END), lambda _: block, text, flags=re.S),
        encoding="utf-8",
    )
