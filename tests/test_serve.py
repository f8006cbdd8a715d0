"""The micro-batching front and the HTTP service (`albert-edge-run serve`), against a real server on loopback."""

import http.client
import json
import subprocess
import sys
import threading
import urllib.parse
from concurrent.futures import CancelledError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from albert_edge_runtime import AsyncSentimentClassifier, Overloaded, SentimentClassifier
from albert_edge_runtime.manifest import Manifest
from albert_edge_runtime.memory_probe import import_floor
from bench.serve_load import health, load, post_json, running_server

# The serving process's peak RSS over its own import floor (numpy, onnxruntime, uvicorn: what
# `import albert_edge_runtime.serve` loads), because that floor moves with the page cache while what serving adds
# does not. The budget is the serving goal over a warm floor; the figures are in docs/serving.md.
SERVING_BUDGET_OVER_FLOOR_MIB = 30.5


class BlockingClassifier:
    """Stands in for SentimentClassifier: each predict waits for `release`, so the queue can be filled."""

    def __init__(self):
        self.started, self.release = threading.Event(), threading.Event()
        self.calls: list[list[str]] = []

    def predict(self, texts):
        self.started.set()
        self.release.wait(10)
        self.calls.append(list(texts))
        if "boom" in texts:
            raise RuntimeError("model failed")
        return [f"p:{t}" for t in texts]


def test_full_queue_answers_overloaded_at_once():
    fake = BlockingClassifier()
    clf = AsyncSentimentClassifier(fake, max_batch=4, max_wait_ms=0, max_queue=1)
    first = clf.submit(["a"])
    assert fake.started.wait(10)  # the worker holds "a" and blocks
    second = clf.submit(["b"])  # fills the queue
    with pytest.raises(Overloaded, match="overloaded: 1 requests already queued; retry later"):
        clf.submit(["c"])
    fake.release.set()
    assert first.result(10) == ["p:a"] and second.result(10) == ["p:b"]
    clf.close()


def test_requests_are_batched_split_back_and_failures_reach_every_caller():
    fake = BlockingClassifier()
    clf = AsyncSentimentClassifier(fake, max_batch=64, max_wait_ms=200, max_queue=64)
    futures = [clf.submit([f"t{i}", f"u{i}"]) for i in range(5)]
    fake.release.set()
    assert [f.result(10) for f in futures] == [[f"p:t{i}", f"p:u{i}"] for i in range(5)]
    assert len(fake.calls) <= 2  # collected into one batch (two if the worker woke before the rest arrived)
    bad = [clf.submit(["x"]), clf.submit(["boom"])]
    for f in bad:
        with pytest.raises(RuntimeError, match="model failed"):
            f.result(10)
    assert clf.submit(["y"]).result(10) == ["p:y"]  # the worker survived
    clf.close()
    with pytest.raises(RuntimeError, match="the classifier was closed; create a new one"):
        clf.submit(["z"])


def test_cancelled_request_is_skipped():
    fake = BlockingClassifier()
    clf = AsyncSentimentClassifier(fake, max_batch=1, max_wait_ms=0, max_queue=8)
    first, second = clf.submit(["a"]), clf.submit(["b"])
    assert second.cancel()
    fake.release.set()
    assert first.result(10) == ["p:a"]
    with pytest.raises(CancelledError):
        second.result(10)
    clf.close()
    assert ["b"] not in fake.calls


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_batch": 0}, "max_batch must be an integer >= 1"),
        ({"max_queue": 0}, "max_queue must be an integer"),
        ({"max_wait_ms": -1}, "max_wait_ms must be between 0 and 1000"),
    ],
)
def test_batcher_options_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AsyncSentimentClassifier(BlockingClassifier(), **kwargs)


def test_bad_input_is_named_in_the_callers_thread():
    clf = AsyncSentimentClassifier(BlockingClassifier())
    with pytest.raises(TypeError, match="item 1 is NoneType, not str"):
        clf.submit(["a", None])
    assert clf.submit([]).result(1) == []
    clf.close()


@pytest.fixture(scope="module")
def server():
    with running_server() as (url, proc):
        yield url


@pytest.mark.perf
def test_eight_concurrent_clients_get_what_predict_gives(server):
    from albert_edge.data import load_reviews

    texts = load_reviews().test.texts[:800]  # real reviews, 1 to ~1 000 characters
    result = load(server, texts, clients=8, requests_per_client=200)
    assert result["answered"] == 1600 and result["errors"] == []
    direct = SentimentClassifier.load().predict(texts)
    for answer in result["answers"].values():
        expected = direct[answer["text"]]
        # Every text runs alone wherever the batcher queued it: the same answer, bit for bit (JSON floats
        # round-trip exactly).
        assert {k: answer[k] for k in expected.to_dict()} == expected.to_dict()
    peak = health(server)["peak_rss_mib"]
    floor = import_floor(["albert_edge_runtime.serve"])["rss_mib"]
    print(
        f"\n8 clients x 200: {result['requests_per_s']} req/s, p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, serving peak RSS {peak} MiB over an import floor of {floor:.1f} MiB"
    )
    assert peak - floor <= SERVING_BUDGET_OVER_FLOOR_MIB
    assert peak <= 110  # gross regressions, whatever the page cache holds


def raw_post(url: str, body: bytes, path: str = "/v1/sentiment", method: str = "POST") -> tuple[int, dict]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    status, payload = response.status, json.loads(response.read())
    conn.close()
    return status, payload


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"{not json", 400, "body is not valid JSON"),
        (b"\xff\xfe", 400, "body is not valid JSON"),
        (b'["a"]', 422, 'expected a JSON object with a "texts" list'),
        (b'{"text": "a"}', 422, 'expected a JSON object with a "texts" list'),
        (b'{"texts": "a"}', 422, '"texts" must be a list of strings, not str'),
        (b'{"texts": ["a", 3]}', 422, "texts[1] is int, not a string"),
        (b'{"texts": ["a", null]}', 422, "texts[1] is NoneType, not a string"),
        (json.dumps({"texts": ["a"] * 257}).encode(), 413, "257 texts in one request; at most 256"),
        (json.dumps({"texts": ["长" * 400_000]}).encode(), 413, "over the 1000000-byte limit"),
    ],
)
def test_bad_requests_get_json_errors_and_the_server_keeps_serving(server, body, status, message):
    got_status, payload = raw_post(server, body)
    assert (got_status, message in payload["error"]) == (status, True), payload
    ok_status, ok = raw_post(server, json.dumps({"texts": ["质量太差了"]}).encode())
    assert ok_status == 200 and ok["predictions"][0]["label"] == "negative"


def test_unknown_routes_and_methods_are_json(server):
    assert raw_post(server, b"", "/nope", "GET") == (404, {"error": "Not Found"})
    assert raw_post(server, b"", "/v1/sentiment", "GET") == (405, {"error": "Method Not Allowed"})


def test_model_and_health_endpoints(server):
    status, manifest = raw_post(server, b"", "/v1/model", "GET")
    assert status == 200 and manifest["labels"] == ["negative", "positive"] and "files" in manifest
    assert health(server)["status"] == "ok"
    parts = urllib.parse.urlsplit(server)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    assert post_json(conn, "/v1/sentiment", {"texts": []}) == (200, {"predictions": []})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")
def test_malloc_tuning_leaves_the_users_own_settings_alone(monkeypatch):
    import ctypes

    from albert_edge_runtime.memory import M_ARENA_MAX, M_MMAP_THRESHOLD, tune_glibc_malloc

    calls, answer = [], [1]

    class FakeLibc:
        def __init__(self, name):
            self.mallopt = lambda param, value: calls.append((param, value)) or answer[0]

    monkeypatch.setattr(ctypes, "CDLL", FakeLibc)
    for key in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(key, raising=False)
    assert tune_glibc_malloc() and calls == [(M_MMAP_THRESHOLD, 128 * 1024), (M_ARENA_MAX, 1)]
    calls.clear()
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert tune_glibc_malloc() and calls == [(M_MMAP_THRESHOLD, 128 * 1024)]
    answer[0] = 0  # glibc refused
    assert not tune_glibc_malloc()


def test_serve_without_the_web_stack_says_how_to_install_it():
    blocked = "import sys; sys.modules['uvicorn'] = None; from albert_edge_runtime.cli import main; sys.exit(main())"
    out = subprocess.run([sys.executable, "-c", blocked, "serve", "--port", "0"], capture_output=True, text=True)
    assert out.returncode == 1 and out.stderr.count("\n") == 1
    assert "pip install 'albert-edge-runtime[serve]'" in out.stderr


def test_fastapi_example_embeds_the_classifier():
    from fastapi.testclient import TestClient

    from examples.fastapi_app import app

    with TestClient(app) as client:
        ok = client.post("/sentiment", json={"texts": ["这个产品很好", "质量太差了"]})
        assert ok.status_code == 200 and [p["label"] for p in ok.json()] == ["positive", "negative"]
        assert client.post("/sentiment", json={"texts": "a"}).status_code == 422


class FakeFront:
    """Stands in for AsyncSentimentClassifier inside the ASGI app: `predict` raises `error` when set."""

    def __init__(self, error=None):
        self.error, self.closed = error, False
        self.classifier = type(
            "C", (), {"bundle": type("B", (), {"manifest": Manifest(["negative"], 8, "head", 0, {})})()}
        )()

    async def predict(self, texts):
        if self.error is not None:
            raise self.error
        return []

    def close(self):
        self.closed = True


def call_app(app, method, path, chunks=(b"",), disconnect=False):
    """Drive the ASGI app directly: the request body arrives in `chunks`; returns (status, headers, body)."""
    import asyncio

    async def run():
        incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
        if disconnect:
            incoming = incoming[:1] + [{"type": "http.disconnect"}]
            incoming[0]["more_body"] = True
        sent = []

        async def receive():
            return incoming.pop(0)

        async def send(message):
            sent.append(message)

        await app({"type": "http", "method": method, "path": path, "headers": []}, receive, send)
        return sent

    sent = asyncio.run(run())
    if not sent:
        return None
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


def test_app_answers_overload_and_failures_as_json():
    from albert_edge_runtime.serve import create_app

    body = (b'{"texts": ["a"]}',)
    status, headers, payload = call_app(
        create_app(FakeFront(Overloaded("overloaded: retry"))), "POST", "/v1/sentiment", body
    )
    assert (status, headers[b"retry-after"], json.loads(payload)) == (503, b"1", {"error": "overloaded: retry"})
    status, _, payload = call_app(create_app(FakeFront(RuntimeError("model broke"))), "POST", "/v1/sentiment", body)
    assert (status, json.loads(payload)) == (500, {"error": "internal error; see the server log"})
    status, _, payload = call_app(create_app(FakeFront()), "POST", "/v1/sentiment", (b'{"texts": ', b'["a"]}'))
    assert (status, json.loads(payload)) == (200, {"predictions": []})  # a body in two chunks is joined
    broken = FakeFront()
    broken.classifier.bundle.manifest = Manifest(
        ["a"], 8, "head", 0, {}, metrics={"size": float("nan")}
    )  # no NaN in JSON
    status, _, payload = call_app(create_app(broken), "GET", "/v1/model")
    assert (status, json.loads(payload)) == (500, {"error": "internal error; see the server log"})


def test_app_head_disconnect_and_lifespan():
    import asyncio

    from albert_edge_runtime.serve import create_app

    front = FakeFront()
    app = create_app(front)
    status, headers, payload = call_app(app, "HEAD", "/healthz")
    assert status == 200 and int(headers[b"content-length"]) > 0 and payload == b""
    status, headers, _ = call_app(app, "HEAD", "/v1/sentiment")
    assert status == 405 and headers[b"allow"] == b"POST"
    assert call_app(app, "POST", "/v1/sentiment", (b'{"te',), disconnect=True) is None  # nobody left to answer

    async def lifespan():
        messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent = []

        async def receive():
            return messages.pop(0)

        async def send(message):
            sent.append(message["type"])

        await app({"type": "lifespan"}, receive, send)
        return sent

    assert asyncio.run(lifespan()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"] and front.closed


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=200)
    | JSON_VALUES.map(lambda v: json.dumps(v).encode())
    | st.dictionaries(st.sampled_from(["texts", "x"]), JSON_VALUES).map(lambda v: json.dumps(v).encode())
)
def test_no_body_makes_the_parser_fail_with_a_server_error(body):
    from albert_edge_runtime.serve import HTTPError, parse_texts

    try:
        texts = parse_texts(body, max_texts=64)
    except HTTPError as exc:
        assert 400 <= exc.status < 500 and exc.detail
    else:
        assert isinstance(texts, list) and all(isinstance(t, str) for t in texts)


def test_a_number_too_long_to_convert_is_a_client_error():
    from albert_edge_runtime.serve import HTTPError, parse_texts

    with pytest.raises(HTTPError, match=r"body is not valid JSON \(Exceeds the limit") as caught:
        parse_texts(b'{"texts": ["a"], "x": ' + b"9" * 5000 + b"}", max_texts=64)
    assert caught.value.status == 400
