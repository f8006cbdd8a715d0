"""`albert-edge-run`: predict, bench, score, serve and doctor with only the runtime installed. Errors: one line on
stderr, exit 1 (usage errors exit 2, from argparse)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

from .bundle import BundleError
from .memory import tune_glibc_malloc


def _common(p: argparse.ArgumentParser, default: int | None = 1) -> None:
    """--bundle, --threads and --parallel; `default=None` lets a command tell an explicit 1 from the default."""
    p.add_argument("--bundle", default=None, help="bundle folder (default: the model shipped in this package)")
    p.add_argument("--threads", type=int, default=default, help="threads of one text's run; 0 = all cores (default 1)")
    p.add_argument(
        "--parallel",
        type=_positive,
        default=default,
        help="texts run at once, one core each: throughput on many texts, answers unchanged (default 1)",
    )
    p.add_argument(
        "--exact-int8",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the bundle's exact-INT8 graph (the answers of VNNI and ARM machines; slower GEMMs); default: on x86 "
        "CPUs without VNNI only, where onnxruntime's fast INT8 kernel saturates (albert-edge-run doctor says which)",
    )


def version(distribution: str = "albert-edge-runtime") -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(distribution)
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="albert-edge-run",
        description="Run albert-edge sentiment bundles. The "
        "default model reads Chinese (zh) reviews only; bundles name their languages.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_predict, _add_bench, _add_score, _add_serve, _add_doctor):
        add(sub)
    return parser


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="classify texts given as arguments, in a file or piped (one per line)",
        description="Classify texts: arguments, --file (UTF-8, one per line) or standard input when "
        'piped. Empty texts are answered and marked "empty". The default model reads '
        "Chinese only: texts without a Chinese character get a warning.",
    )
    p.add_argument("texts", nargs="*", help="texts to classify")
    p.add_argument("--file", help="read texts from this UTF-8 file, one per line ('-' = stdin)")
    p.add_argument(
        "--format",
        choices=["jsonl", "table"],
        default="jsonl",
        help="jsonl: one JSON object per text (default); table: label, score and text in columns",
    )
    _common(p)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bench", help="measure latency, throughput, load time, cold start and peak RSS here")
    _common(b)
    b.add_argument("--file", help="real texts to time, one per line (default: a few built-in reviews)")
    b.add_argument("--lengths", default="16,32,64,128", help="sequence lengths in tokens (default 16,32,64,128)")
    b.add_argument("--iterations", type=_positive, default=50, help="timed runs per length (default 50)")
    b.add_argument("--warmup", type=_non_negative, default=5, help="untimed runs before each length (default 5)")
    b.add_argument(
        "--json", dest="json_out", help="also write the full report to this JSON file (the terminal gets a short table)"
    )
    b.add_argument(
        "--against",
        metavar="BUNDLE",
        help="also time this bundle, interleaved with --bundle (say the same model's --weights int4 export), "
        "and print it beside it with the ratio",
    )
    b.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="compare two saved reports and exit")
    b.add_argument(
        "--recommend",
        nargs="+",
        metavar="BUNDLE",
        help="time these exports of one model (fp32, INT8, 4-bit) interleaved, check each answers like the most "
        "precise, and print which to use on this device",
    )


def _add_score(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser(
        "score",
        help="classify a file of any size into another, resumably (text lines, JSONL, CSV, TSV, Parquet)",
        description="Stream INPUT (a .csv, .tsv, .jsonl or .parquet file with a text column, or any other file as "
        "one text per line) into OUTPUT (.jsonl, .csv, .tsv or .parquet) with the input's columns and label, "
        "score, p_<label> and truncated added. OUTPUT appears only when complete; run the same command again "
        "to continue a killed job. Bad rows are listed in OUTPUT.errors.jsonl.",
    )
    c.add_argument("input", help="the file to score")
    c.add_argument("--out", required=True, help="output file: .jsonl, .csv, .tsv or .parquet (the [parquet] extra)")
    c.add_argument("--text-column", default="text", help="column or JSON key holding the text (default: text)")
    c.add_argument(
        "--result-prefix",
        default="",
        help="put this before the result columns' names (label, score, p_<label>, truncated), say pred_, when the "
        "input has columns of those names (they are never overwritten: the job is refused instead)",
    )
    c.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    c.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run on a Ray cluster (ray://host:10001, or none for a local Ray) with Ray Data; OUTPUT becomes a "
        "folder of Parquet files (needs the [ray] extra)",
    )
    c.add_argument("--ray-workers", type=int, default=1, help="classifier actors on the cluster (default 1)")
    _common(c, default=None)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "serve", help="HTTP/JSON service: POST /v1/sentiment, GET /healthz, GET /v1/model (needs the [serve] extra)"
    )
    _common(s)
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    s.add_argument(
        "--max-batch", type=int, default=32, help="texts the worker takes from the queue at once (default 32)"
    )
    s.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="warning",
        help="uvicorn's log level; info and debug also log every request (access log) (default warning)",
    )
    s.add_argument(
        "--max-wait-ms",
        type=float,
        default=0.0,
        help="extra time to collect concurrent requests before the worker takes them (default 0: take what "
        "queued while the model was busy; each text still runs alone)",
    )
    s.add_argument("--max-queue", type=int, default=256, help="queued requests before answering 503 (default 256)")
    s.add_argument("--max-texts", type=int, default=256, help="texts per request at most (default 256)")
    s.add_argument("--max-body-bytes", type=int, default=1_000_000, help="request body limit (default 1 MB)")


def _add_doctor(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser(
        "doctor", help="this machine as the runtime sees it: CPU features, usable cores, memory limit, kernels, advice"
    )
    d.add_argument("--json", action="store_true", help="print the report as JSON")
    d.add_argument("--bundle", default=None, help="also say which kernel each of this bundle's weight GEMMs takes here")


def cmd_doctor(args: argparse.Namespace) -> int:
    from .bundle import read_bundle
    from .machine import bundle_paths, inspect, render

    machine = inspect()
    if args.bundle:
        manifest = read_bundle(args.bundle).manifest
        matmuls = manifest.quantization.get("matmuls", [])
        machine.bundle = bundle_paths(machine.arch, machine.features, manifest.exact_int8_model, matmuls)
        if not machine.bundle:
            machine.bundle = [f"no INT8 or 4-bit GEMMs recorded ({manifest.quantization.get('mode', 'fp32')})"]
    print(json.dumps(machine.to_dict(), indent=2) if args.json else render(machine))
    return 0


def display_width(text: str) -> int:
    """Terminal columns: East Asian wide and full-width characters take two, so CJK labels line up."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def read_texts(args: argparse.Namespace) -> list[str]:
    """predict's texts: arguments, --file, or standard input when it is piped and nothing else was given."""
    if args.file is not None and args.texts:
        raise ValueError("give texts as arguments or with --file, not both")
    if args.file is None and not args.texts and not sys.stdin.isatty():
        args.file = "-"
    return list(args.texts) if args.file is None else read_lines(args.file)


def read_lines(name: str) -> list[str]:
    """Lines of a UTF-8 file ('-' = stdin); any other encoding is refused, never guessed into U+FFFD."""
    if name == "-":
        data, shown = sys.stdin.buffer.read(), "standard input"
    else:
        path = Path(name)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder; give a UTF-8 text file, one text per line")
        if not path.is_file():
            raise FileNotFoundError(f"text file {path} not found")
        data, shown = path.read_bytes(), str(path)
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{shown} is not UTF-8 (bad byte at offset {exc.start}); convert it first, e.g. "
            f"iconv -f GBK -t UTF-8 {shown if name != '-' else 'FILE'} > utf8.txt"
        ) from None


def cmd_predict(args: argparse.Namespace) -> int:
    from .classifier import SentimentClassifier

    texts = read_texts(args)
    if not texts:
        raise ValueError("no texts given; pass them as arguments, with --file FILE, or pipe them in")
    options = {"threads": args.threads, "parallel": args.parallel, "exact_int8": args.exact_int8}
    clf = SentimentClassifier.load(args.bundle, **options)
    foreign = clf.texts_outside_languages(texts)
    if foreign:
        print(
            f"albert-edge-run predict: warning: {len(foreign)} of {len(texts)} texts have no character of this "
            f"model's languages ({', '.join(clf.languages)}); its answers on them are guesses",
            file=sys.stderr,
        )
    for text, p in zip(texts, clf.iter_predict(texts)):
        if args.format == "jsonl":
            print(json.dumps({"text": text, **p.to_dict(digits=4)}, ensure_ascii=False))
        else:
            label = ",".join(p.labels) if clf.problem_type == "multi_label_classification" else p.label
            marks = (" (truncated)" if p.truncated else "") + (" (empty text)" if p.empty else "")
            print(f"{label}{' ' * max(1, 10 - display_width(label))} {p.score:6.3f}{marks}  {text}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from . import bench

    if args.compare:
        print("\n".join(bench.compare_reports(*(bench.load_report(p) for p in args.compare))))
        return 0
    texts = [t for t in read_lines(args.file) if t.strip()] if args.file else list(bench.SAMPLE_TEXTS)
    if not texts:
        raise ValueError(f"{args.file} holds no texts")
    if args.recommend:
        return _recommend(args, texts)
    lengths = _ints(args.lengths, "--lengths")
    if args.json_out:
        _check_writable(Path(args.json_out))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as f:
        f.write("\n".join(texts))
        f.flush()
        report = bench.run_bench(
            args.bundle,
            args.threads,
            texts,
            lengths,
            args.iterations,
            args.warmup,
            Path(f.name),
            args.against,
            args.parallel,
            args.exact_int8,
        )
    print("\n".join(bench.summary(report)))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def _recommend(args: argparse.Namespace, texts: list[str]) -> int:
    from .recommend import recommend, render

    if len(args.recommend) < 2 or args.bundle or args.against:
        raise ValueError("--recommend takes two or more bundles (e.g. a model's fp32, INT8 and 4-bit exports) and "
                         "no --bundle or --against")  # fmt: skip
    if args.json_out:
        _check_writable(Path(args.json_out))
    report = recommend(args.recommend, texts, args.threads, args.iterations, args.warmup)
    print("\n".join(render(report)))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def _check_writable(path: Path) -> None:
    """Before a run of minutes: a report path that cannot be written fails now."""
    folder = path.parent
    if path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ValueError(f"cannot write the report to {path}: give a file in an existing, writable folder")


def cmd_serve(args: argparse.Namespace) -> int:
    from .batcher import AsyncSentimentClassifier

    if args.max_texts < 1 or args.max_body_bytes < 1:
        raise ValueError("--max-texts and --max-body-bytes must be positive")
    from .serve import listen, serve  # ImportError with the install command when the extra is missing

    sock = listen(args.host, args.port)
    classifier = AsyncSentimentClassifier.load(
        args.bundle, args.threads, args.max_batch, args.max_wait_ms, args.max_queue, args.parallel, args.exact_int8
    )
    host, port = sock.getsockname()[:2]
    print(f"albert-edge-run serve: listening on http://{host}:{port}/v1/sentiment", file=sys.stderr, flush=True)
    serve(sock, classifier, args.max_texts, args.max_body_bytes, args.log_level)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from .classifier import SentimentClassifier
    from .score import score_file

    if args.ray is not None:
        from .ray import score_with_ray

        if args.threads is not None or args.parallel is not None:
            raise ValueError(
                "--threads and --parallel do not apply with --ray: each actor runs one single-threaded "
                "classifier; set --ray-workers instead"
            )
        summary = score_with_ray(
            Path(args.input), Path(args.out), args.ray or None, args.ray_workers, args.bundle, args.text_column,
            args.result_prefix,
        )  # fmt: skip
        print(json.dumps(summary))
        return 0
    clf = SentimentClassifier.load(
        args.bundle, threads=args.threads or 1, parallel=args.parallel or 1, exact_int8=args.exact_int8
    )
    summary = score_file(
        clf, Path(args.input), Path(args.out), args.text_column, not args.no_progress, args.result_prefix
    )
    if summary["bad_rows"]:
        print(
            f"albert-edge-run score: {summary['bad_rows']} bad rows skipped, listed in {summary['errors']}",
            file=sys.stderr,
        )
    print(json.dumps(summary))
    return 0


def _positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number; give 1 or more")
    return int(text)


def _non_negative(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{flag} takes comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"{flag} needs positive integers, got {text!r}")
    return values


EXPECTED_ERRORS = (BundleError, ValueError, TypeError, OSError, RuntimeError, ImportError)


def report_failure(prog: str, exc: BaseException) -> int:
    """One line on stderr and the exit code. Unexpected exception types say so; ALBERT_EDGE_TRACEBACK=1 shows it."""
    if isinstance(exc, KeyboardInterrupt):
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    if os.environ.get("ALBERT_EDGE_TRACEBACK"):
        traceback.print_exception(exc)
    message = " ".join(str(exc).split()) or type(exc).__name__  # onnxruntime messages span lines
    if not isinstance(exc, EXPECTED_ERRORS):
        message = f"unexpected {type(exc).__name__}: {message} (ALBERT_EDGE_TRACEBACK=1 shows where)"
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # argparse exits with 2 on usage errors
    tune_glibc_malloc()  # this process is ours: keep freed memory out of the heap (memory.tune_glibc_malloc)
    try:
        commands = {
            "predict": cmd_predict, "bench": cmd_bench, "score": cmd_score, "serve": cmd_serve, "doctor": cmd_doctor
        }  # fmt: skip
        return commands[args.command](args)
    except BrokenPipeError:
        # The reader stopped reading (`| head`): stop quietly with the shell's SIGPIPE status, as command-line
        # tools do; stdout goes to /dev/null so Python's exit flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (Exception, KeyboardInterrupt) as exc:
        return report_failure(f"albert-edge-run {args.command}", exc)


if __name__ == "__main__":
    sys.exit(main())
