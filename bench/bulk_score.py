"""Bulk scoring throughput: the built-in test reviews replicated to ROWS rows of a CSV, scored by
`albert-edge-run score` locally with 1 and 2 threads and on a local Ray with 1 and 2 actors (one thread each).
Each run is its own process; texts/s counts the whole command (a local Ray's start included), the peak RSS is
each scoring process's VmHWM (Ray: each actor's), sampled from /proc until it exits.

    .venv/bin/python -m bench.bulk_score runs/bulk [--rows 200000] [--bundle DIR] [--runs local:1 ray:1 ...]

Prints one JSON object (also written to OUT/bulk_score.json). `--runs` measures some of the four now and keeps the
others already in OUT/bulk_score.json for the same row count, so the runs can be split over quiet windows.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

RUNS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))


def write_input(path: Path, rows: int) -> None:
    from albert_edge.data import load_reviews

    texts = load_reviews().test.texts
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "review"])
        writer.writerows((i, texts[i % len(texts)]) for i in range(rows))


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM of a live process (its peak resident set so far), None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")), None)


def actor_pids() -> list[int]:
    """Ray actor processes running ScoreBatches (their title says so)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if b"ScoreBatches" in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def run(command: list[str], ray: bool, log: Path) -> dict:
    """Run `command` to its end, sampling the peak RSS of the scoring processes every 0.2 s. Its output goes to
    files, not pipes: nobody reads a pipe while it runs, and Ray Data's log lines would fill one and block it."""
    start = time.perf_counter()
    with log.with_suffix(".out").open("w") as out, log.with_suffix(".err").open("w") as err:
        job = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        peaks: dict[int, float] = {}
        while job.poll() is None:
            for pid in actor_pids() if ray else [job.pid]:
                peak = peak_rss_mib(pid)
                if peak is not None:
                    peaks[pid] = max(peak, peaks.get(pid, 0.0))
            time.sleep(0.2)
    seconds = time.perf_counter() - start
    if job.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {log.with_suffix('.err').read_text().strip()[-1500:]}")
    return {"seconds": seconds, "peak_rss_mib_per_worker": sorted(round(p, 1) for p in peaks.values()), **json.loads(
        log.with_suffix(".out").read_text().strip().splitlines()[-1])}  # fmt: skip


def parse_run(text: str) -> tuple[str, int]:
    where, _, n = text.partition(":")
    if (where, int(n) if n.isdigit() else 0) not in RUNS:
        known = " ".join(f"{w}:{k}" for w, k in RUNS)
        raise argparse.ArgumentTypeError(f"unknown run {text!r}; expected one of {known}")
    return where, int(n)


def kept_runs(previous: Path, rows: int, measured: list[dict]) -> list[dict]:
    """The runs just measured, plus those of an earlier call on the same row count, in RUNS order."""
    done = {(r["where"], r["workers"]): r for r in measured}
    earlier = json.loads(previous.read_text()) if previous.is_file() else {"rows": None}
    if earlier["rows"] == rows:
        for r in earlier["runs"]:
            done.setdefault((r["where"], r["workers"]), r)
    return [done[key] for key in RUNS if key in done]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="work folder (input, outputs, bulk_score.json)")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--bundle", default=None, help="bundle folder (default: the embedded default model)")
    parser.add_argument("--runs", nargs="+", type=parse_run, default=list(RUNS), help="e.g. local:1 ray:2")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    source = args.out / "input.csv"
    write_input(source, args.rows)
    cli = [str(Path(sys.executable).parent / "albert-edge-run"), "score", str(source), "--text-column", "review"]
    cli += ["--no-progress"] + (["--bundle", args.bundle] if args.bundle else [])
    results = []
    for where, n in args.runs:
        target = args.out / (f"{where}{n}" + (".csv" if where == "local" else ""))
        shutil.rmtree(target, ignore_errors=True) if where == "ray" else target.unlink(missing_ok=True)
        flags = ["--threads", str(n)] if where == "local" else ["--ray", "--ray-workers", str(n)]
        measured = run([*cli, "--out", str(target), *flags], ray=where == "ray", log=args.out / f"{where}{n}.log")
        if measured["scored"] != args.rows:
            raise RuntimeError(f"{where} with {n} scored {measured['scored']} of {args.rows} rows")
        results.append({"where": where, "workers": n, "rows": args.rows,
                        "texts_per_s": round(args.rows / measured["seconds"], 1),
                        "seconds": round(measured["seconds"], 1),
                        "peak_rss_mib_per_worker": measured["peak_rss_mib_per_worker"],
                        "measured_at": time.strftime("%Y-%m-%d %H:%M")})  # fmt: skip
        print(json.dumps(results[-1]), file=sys.stderr)
    results = kept_runs(args.out / "bulk_score.json", args.rows, results)
    for r in results:
        base = next((b for b in results if b["where"] == r["where"] and b["workers"] == 1), None)
        r["scaling_vs_1"] = round(r["texts_per_s"] / base["texts_per_s"], 2) if base else None
    report = {"rows": args.rows, "cpus": _cpus(), "runs": results}
    (args.out / "bulk_score.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return report


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
