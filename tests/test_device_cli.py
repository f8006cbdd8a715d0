"""`albert-edge-run` as a device user meets it: input files and pipes, empty and foreign texts, bench on any bundle,
the service's edges, and the messages that say what to do. Each runs the real CLI in a subprocess."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


def run(*args, stdin=subprocess.DEVNULL, input=None, module="albert_edge_runtime"):
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True,
        text=True,
        input=input,
        stdin=None if input is not None else stdin,
        timeout=300,
    )


def one_error_line(done, message):
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_non_utf8_file_is_refused_not_guessed(tmp_path):
    (tmp_path / "gbk.txt").write_bytes("这个产品很好\n".encode("gbk"))
    one_error_line(run("predict", "--file", tmp_path / "gbk.txt"), "is not UTF-8 (bad byte at offset 0)")


def test_texts_and_file_together_are_refused(tmp_path):
    (tmp_path / "t.txt").write_text("很好\n", encoding="utf-8")
    one_error_line(run("predict", "差", "--file", tmp_path / "t.txt"), "as arguments or with --file, not both")


def test_piped_stdin_just_works():
    done = run("predict", input="这个产品很好\n质量太差了\n")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["text"] for line in done.stdout.splitlines()] == ["这个产品很好", "质量太差了"]
    one_error_line(run("predict"), "pass them as arguments, with --file FILE, or pipe them in")


def test_empty_texts_are_marked():
    done = run("predict", "", "很好", "   ")
    assert [json.loads(line)["empty"] for line in done.stdout.splitlines()] == [True, False, True]
    table = run("predict", "--format", "table", "", "很好").stdout.splitlines()
    assert "(empty text)" in table[0] and "(empty text)" not in table[1]


def test_texts_in_another_language_warn_once():
    from albert_edge_runtime import SentimentClassifier

    assert SentimentClassifier.load().languages == ["zh"]
    done = run("predict", "This is terrible, worst purchase ever", "Awful", "很好")
    assert done.returncode == 0 and done.stderr.count("\n") == 1
    assert "warning: 2 of 3 texts have no character of this model's languages (zh)" in done.stderr
    assert run("predict", "很好", "").stderr == ""
    assert "Chinese" in run("predict", "--help").stdout


def test_bench_on_a_short_bundle_clamps_lengths_and_prints_a_table(exported, tmp_path):
    done = run(
        "bench",
        "--bundle",
        exported[1],
        "--iterations",
        "2",
        "--warmup",
        "1",
        "--parallel",
        "2",
        "--exact-int8",
        "--json",
        tmp_path / "r.json",
    )  # default lengths go to 128; this bundle stops at 64
    assert done.returncode == 0, done.stderr
    assert "p50 ms" in done.stdout and "parallel 2" in done.stdout and "timed at 64" in done.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exact_int8_graph"] is True and "exact-INT8 graph" in done.stdout  # as asked, on any CPU
    assert set(report["latency_by_length"]) == {"16", "32", "64"} and report["lengths_clamped"] == [128]
    assert report["parallel"] == 2 and report["throughput_texts_per_s"]["1"] > 0  # "1": each text alone
    assert report["throughput_texts"] == 16  # a quick bench (2 iterations) times 8 texts per iteration, not 128


def test_bench_against_a_second_bundle_times_both_and_prints_the_ratio(exported, tmp_path):
    from albert_edge_runtime.classifier import default_bundle_path

    args = ["bench", "--bundle", exported[1], "--iterations", "3", "--warmup", "1"]
    relative = os.path.relpath(default_bundle_path())  # the cold-start probe runs in another directory
    done = run(*args, "--lengths", "16,128", "--against", relative, "--json", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    b = report["against"]
    assert Path(b["bundle"]).resolve() == default_bundle_path().resolve() and b["weights"] == "dynamic-int8"
    # both at the same lengths: the shorter max_length of the two (this bundle's 64) caps them
    assert set(b["latency_by_length"]) == set(report["latency_by_length"]) == {"16", "64"}
    assert (report["max_length"], b["max_length"], report["timed_up_to"]) == (64, 128, 64)
    assert b["latency_by_length"]["64"]["runs"] == report["latency_by_length"]["64"]["runs"] == 3
    assert b["model_bytes"] != report["model_bytes"] and b["cold_start"]["peak_rss_mib"] > 0
    assert "B = against" in done.stdout and done.stdout.count("x\n") >= 4  # B/A on 2 lengths, real texts, batch 1
    compared = run("bench", "--compare", tmp_path / "r.json", tmp_path / "r.json").stdout
    assert "against / bundle, within each report (dynamic-int8 / dynamic-int8 in A):" in compared
    assert compared.count("x in A -> ") == 2  # seq 16 and 64
    one_error_line(
        run(*args, "--against", tmp_path / "nothing"), f"bundle folder {tmp_path / 'nothing'} does not exist"
    )


@pytest.mark.perf
def test_bench_checks_the_report_path_before_running(tmp_path):
    start = time.monotonic()
    one_error_line(run("bench", "--json", tmp_path / "missing" / "r.json"), "give a file in an existing, writable")
    assert time.monotonic() - start < 30


def test_export_past_the_position_table_is_one_clear_line(exported, tmp_path):
    done = run("export", exported[0], "--out", tmp_path / "b", "--max-length", "1000", module="albert_edge_export")
    one_error_line(done, "max_length 1000 is outside 4..512")


def test_a_file_inside_the_bundle_is_told_to_give_the_folder():
    from albert_edge_runtime.classifier import default_bundle_path

    one_error_line(
        run("predict", "--bundle", default_bundle_path() / "model.onnx", "x"),
        "is a file; give the bundle folder that holds it",
    )


def test_closed_pipe_ends_quietly(tmp_path):
    (tmp_path / "many.txt").write_text("\n".join(f"很好{i}" for i in range(3000)), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "albert_edge_runtime", "predict", "--file", tmp_path / "many.txt"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    assert proc.wait(timeout=120) == 141 and proc.stderr.read() == b""


def test_both_clis_have_a_version():
    for module in ("albert_edge_runtime", "albert_edge"):
        done = run("--version", module=module)
        assert done.returncode == 0 and done.stdout.split()[1][0].isdigit(), done.stdout


def test_service_announces_after_binding_and_names_a_taken_port():
    import http.client

    server = subprocess.Popen(
        [sys.executable, "-m", "albert_edge_runtime", "serve", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stderr.readline()  # printed once the port is bound: connecting now must work
        assert "listening on http://127.0.0.1:" in line
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        one_error_line(run("serve", "--port", port), f"cannot listen on 127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_deeply_nested_json_is_a_400():
    from test_serve import FakeFront, call_app

    from albert_edge_runtime.serve import create_app

    status, _, body = call_app(create_app(FakeFront()), "POST", "/v1/sentiment", (b"[" * 100_000,))
    assert status == 400 and "nests too deeply" in json.loads(body)["error"]


def test_runtime_dependencies_have_tested_upper_bounds():
    from pathlib import Path

    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "runtime" / "pyproject.toml").read_text())
    specs = project["project"]["dependencies"] + [
        d for extra in project["project"]["optional-dependencies"].values() for d in extra
    ]
    assert specs and all("<" in spec for spec in specs), specs
    assert not any(spec.startswith("tokenizers") for spec in project["project"]["dependencies"])


def test_the_listener_lets_asyncio_disable_nagle():
    """asyncio sets TCP_NODELAY on accepted connections only when the listening socket says IPPROTO_TCP; without
    it every small response waited for a delayed ACK (a third of the throughput)."""
    import socket

    from albert_edge_runtime.serve import listen

    sock = listen("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
