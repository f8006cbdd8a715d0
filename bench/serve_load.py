"""Load a running `albert-edge-run serve`: N concurrent clients, each sending its share of one-text requests.

    python -m bench.serve_load                  # starts two servers (micro-batching on, and --max-batch 1),
                                                # loads each with 8 clients x 200 real test reviews, prints both
    python -m bench.serve_load --rounds 4            # the same, four loads per server (peak after each)
    python -m bench.serve_load --url http://127.0.0.1:8000 --clients 8 --requests 200

Stdlib HTTP client (one keep-alive connection per client thread), so it measures the server, not a client stack.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager


def post_json(conn: http.client.HTTPConnection, path: str, payload: object) -> tuple[int, dict]:
    conn.request(
        "POST",
        path,
        body=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json"},
    )
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def load(url: str, texts: list[str], clients: int, requests_per_client: int) -> dict:
    """Client k sends texts[(k * requests + i) % len(texts)] for i < requests. Returns latencies and answers."""
    parts = urllib.parse.urlsplit(url)
    answers: dict[int, dict] = {}
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        for i in range(requests_per_client):
            index = (k * requests_per_client + i) % len(texts)
            start = time.perf_counter()
            try:
                status, body = post_json(conn, "/v1/sentiment", {"texts": [texts[index]]})
            except (OSError, http.client.HTTPException, ValueError) as exc:
                status, body = 0, {"error": repr(exc)}
                conn.close()
            with lock:
                latencies.append(time.perf_counter() - start)
                if status == 200:
                    answers[k * requests_per_client + i] = {"text": index, **body["predictions"][0]}
                else:
                    errors.append(f"{status}: {body.get('error')}")
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "requests": clients * requests_per_client,
        "answered": len(answers),
        "errors": errors[:10],
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(answers) / seconds, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 2),
        "answers": answers,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(*extra: str, timeout: float = 60.0):
    """Start `albert-edge-run serve` on a free loopback port; yields (url, process). Stopped on exit."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "albert_edge_runtime", "serve", "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read()}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server on port {port} did not answer /healthz in {timeout} s") from None
                time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def health(url: str) -> dict:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
        return json.loads(response.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an already running server; default: start our own two configurations")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="requests per client")
    parser.add_argument("--rounds", type=int, default=1, help="loads per server (peak RSS is after all of them)")
    args = parser.parse_args()
    from albert_edge.data import load_reviews

    texts = load_reviews().test.texts
    if args.url:
        result = load(args.url, texts, args.clients, args.requests)
        print(json.dumps({k: v for k, v in result.items() if k != "answers"} | {"server": health(args.url)}))
        return 0
    for name, extra in (("micro-batching (default)", ()), ("batch-1 (--max-batch 1)", ("--max-batch", "1"))):
        with running_server(*extra) as (url, _):
            for _ in range(args.rounds):
                result = load(url, texts, args.clients, args.requests)
                summary = {k: v for k, v in result.items() if k != "answers"}
                print(json.dumps({"server": name, **summary, "peak_rss_mib": health(url)["peak_rss_mib"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
