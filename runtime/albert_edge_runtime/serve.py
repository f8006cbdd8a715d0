"""`albert-edge-run serve`: a small HTTP/JSON service, an ASGI app run by uvicorn (the optional `[serve]` extra).

    POST /v1/sentiment  {"texts": ["...", ...]}  ->  {"predictions": [{"label", "score", "probabilities", "labels",
                                                                        "truncated", "empty"}]}
    GET  /healthz                                 ->  {"status": "ok", "rss_mib", "peak_rss_mib"}
    GET  /v1/model                                ->  the bundle's manifest

Every error is JSON {"error": "..."} with a 4xx/5xx status; the server keeps serving.

Why a bare ASGI app and not Starlette: three fixed routes need no router, and Starlette's imports cost 3.0 MiB of
resident memory in the serving process (measured: `import starlette.applications` after uvicorn), a third of the
way from where it was (92 MiB) to the 90 MiB budget. uvicorn still does the HTTP work (h11 parser, keep-alive,
flow control, lifespan); this module only reads a bounded body and writes JSON.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from .batcher import AsyncSentimentClassifier, Overloaded
from .memory import current_rss_mib, peak_rss_mib

try:
    import uvicorn
except ImportError as exc:  # the core runtime stays without a web stack
    raise ImportError("serving needs the optional web stack: pip install 'albert-edge-runtime[serve]'") from exc

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
log = logging.getLogger(__name__)


class HTTPError(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


class ClientGone(Exception):
    """The client disconnected before its request body arrived: nobody to answer."""


async def read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, f"body of {declared} bytes is over the {limit}-byte limit; send fewer texts")
    body = bytearray()
    # Counted while reading, so a lying or missing Content-Length cannot make us buffer more.
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body += message.get("body", b"")
        if len(body) > limit:
            raise HTTPError(413, f"body is over the {limit}-byte limit; send fewer texts")
        if not message.get("more_body", False):
            return bytes(body)


def parse_texts(body: bytes, max_texts: int) -> list[str]:
    try:
        payload = json.loads(body)
    except ValueError as exc:  # bad UTF-8 or JSON, or a number too long to convert
        raise HTTPError(400, f'body is not valid JSON ({exc}); send {{"texts": ["..."]}}') from None
    except RecursionError:
        raise HTTPError(400, 'body nests too deeply to parse; send {"texts": ["..."]}') from None
    if not isinstance(payload, dict) or "texts" not in payload:
        raise HTTPError(422, 'expected a JSON object with a "texts" list: {"texts": ["..."]}')
    texts = payload["texts"]
    if not isinstance(texts, list):
        raise HTTPError(422, f'"texts" must be a list of strings, not {type(texts).__name__}')
    if len(texts) > max_texts:
        raise HTTPError(413, f"{len(texts)} texts in one request; at most {max_texts}, split the request")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise HTTPError(422, f"texts[{i}] is {type(text).__name__}, not a string")
    return texts


def prediction_json(p: Any) -> dict[str, Any]:
    """`Prediction` as JSON; `labels`: the labels above the threshold for a multi-label bundle."""
    return p.to_dict()


def encode_json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


async def send_json(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None, head: bool = False
) -> None:
    """The response; for HEAD, its headers (Content-Length of the body a GET would get) and no body."""
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})


class SentimentApp:
    """The ASGI application: routes, the lifespan (closes the classifier at shutdown), JSON errors."""

    def __init__(self, classifier: AsyncSentimentClassifier, max_texts: int, max_body_bytes: int) -> None:
        self.classifier, self.max_texts, self.max_body_bytes = classifier, max_texts, max_body_bytes
        self.routes: dict[str, dict[str, Callable[[Receive, dict[str, str]], Awaitable[Any]]]] = {
            "/v1/sentiment": {"POST": self.sentiment},
            "/healthz": {"GET": self.healthz},
            "/v1/model": {"GET": self.model},
        }

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http":
            await self.http(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.classifier.close()  # finishes queued requests, stops the worker thread
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        head = scope["method"] == "HEAD"  # answered like GET, without the body (curl -I, load balancer checks)
        try:
            methods = self.routes.get(scope["path"])
            if methods is None:
                raise HTTPError(404, "Not Found")
            handler = methods.get("GET" if head else scope["method"])
            if handler is None:
                raise HTTPError(405, "Method Not Allowed", {"Allow": ", ".join(methods)})
            body = encode_json(await handler(receive, headers))  # inside: a payload JSON refuses is a 500 too
        except ClientGone:
            return
        except HTTPError as exc:
            await send_json(send, exc.status, encode_json({"error": exc.detail}), exc.headers, head)
            return
        except Exception:
            log.exception("request to %s failed", scope["path"])
            await send_json(send, 500, encode_json({"error": "internal error; see the server log"}), head=head)
            return
        await send_json(send, 200, body, head=head)

    async def sentiment(self, receive: Receive, headers: dict[str, str]) -> dict[str, Any]:
        texts = parse_texts(await read_body(receive, headers, self.max_body_bytes), self.max_texts)
        try:
            predictions = await self.classifier.predict(texts)
        except Overloaded as exc:
            raise HTTPError(503, str(exc), {"Retry-After": "1"}) from None
        return {"predictions": [prediction_json(p) for p in predictions]}

    async def healthz(self, receive: Receive, headers: dict[str, str]) -> dict[str, Any]:
        return {"status": "ok", "rss_mib": round(current_rss_mib(), 1), "peak_rss_mib": round(peak_rss_mib(), 1)}

    async def model(self, receive: Receive, headers: dict[str, str]) -> dict[str, Any]:
        return self.classifier.classifier.bundle.manifest.to_dict()


def create_app(
    classifier: AsyncSentimentClassifier, max_texts: int = 256, max_body_bytes: int = 1_000_000
) -> SentimentApp:
    return SentimentApp(classifier, max_texts, max_body_bytes)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound and listening before anything is announced (clients that connect at once wait in
    the backlog until uvicorn accepts); a taken port is one clear error."""
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted connections only for sockets that say so, and
    # without it Nagle's algorithm and delayed ACKs stall each small response.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(
            f"cannot listen on {host}:{port} ({exc.strerror}); the port is taken or not allowed here, "
            "choose another --port"
        ) from None
    sock.listen(2048)  # uvicorn's default backlog
    return sock


def serve(
    sock: socket.socket,
    classifier: AsyncSentimentClassifier,
    max_texts: int,
    max_body_bytes: int,
    log_level: str = "warning",
) -> None:
    app = create_app(classifier, max_texts, max_body_bytes)
    # One process, one event loop; the batcher's worker thread runs the model. h11: no C extensions to build on a Pi.
    access = log_level in ("info", "debug")
    config = uvicorn.Config(app, http="h11", loop="asyncio", lifespan="on", access_log=access, log_level=log_level)
    uvicorn.Server(config).run(sockets=[sock])
