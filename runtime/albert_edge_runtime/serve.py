"""`albert-edge-run serve`: a small HTTP/JSON service on Starlette + uvicorn (the optional `[serve]` extra).

    POST /v1/sentiment  {"texts": ["...", ...]}  ->  {"predictions": [{"label", "score", "probabilities", "truncated"}]}
    GET  /healthz                                 ->  {"status": "ok", "rss_mib", "peak_rss_mib"}
    GET  /v1/model                                ->  the bundle's manifest

Every error is JSON {"error": "..."} with a 4xx/5xx status; the server keeps serving.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from .batcher import AsyncSentimentClassifier, Overloaded
from .memory import current_rss_mib, peak_rss_mib

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
except ImportError as exc:  # the core runtime stays without a web stack
    raise ImportError("serving needs the optional web stack: pip install 'albert-edge-runtime[serve]'") from exc


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {declared} bytes is over the {limit}-byte limit; send fewer texts")
    body = bytearray()
    # Counted while reading, so a lying or missing Content-Length cannot make us buffer more. (Newer Starlette has
    # max_body_size; this works with every version the extra allows.)
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"body is over the {limit}-byte limit; send fewer texts")
    return bytes(body)


def parse_texts(body: bytes, max_texts: int) -> list[str]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(400, f"body is not valid JSON ({exc}); send {{\"texts\": [\"...\"]}}") from None
    if not isinstance(payload, dict) or "texts" not in payload:
        raise HTTPException(422, 'expected a JSON object with a "texts" list: {"texts": ["..."]}')
    texts = payload["texts"]
    if not isinstance(texts, list):
        raise HTTPException(422, f'"texts" must be a list of strings, not {type(texts).__name__}')
    if len(texts) > max_texts:
        raise HTTPException(413, f"{len(texts)} texts in one request; at most {max_texts}, split the request")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise HTTPException(422, f"texts[{i}] is {type(text).__name__}, not a string")
    return texts


def prediction_json(p: Any) -> dict[str, Any]:
    return {"label": p.label, "score": p.score, "probabilities": p.probabilities, "truncated": p.truncated}


def create_app(classifier: AsyncSentimentClassifier, max_texts: int = 256,
               max_body_bytes: int = 1_000_000) -> Starlette:
    manifest = classifier.classifier.bundle.manifest

    async def sentiment(request: Request) -> JSONResponse:
        texts = parse_texts(await read_body(request, max_body_bytes), max_texts)
        try:
            predictions = await classifier.predict(texts)
        except Overloaded as exc:
            return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "1"})
        return JSONResponse({"predictions": [prediction_json(p) for p in predictions]})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "rss_mib": round(current_rss_mib(), 1),
                             "peak_rss_mib": round(peak_rss_mib(), 1)})

    async def model(request: Request) -> JSONResponse:
        return JSONResponse(manifest)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error; see the server log"
        return JSONResponse({"error": detail}, status_code=status)

    routes = [Route("/v1/sentiment", sentiment, methods=["POST"]), Route("/healthz", healthz, methods=["GET"]),
              Route("/v1/model", model, methods=["GET"])]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        classifier.close()  # finishes queued requests, stops the worker thread

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: http_error},
                     lifespan=lifespan)


def serve(host: str, port: int, classifier: AsyncSentimentClassifier, max_texts: int, max_body_bytes: int) -> None:
    import uvicorn

    app = create_app(classifier, max_texts, max_body_bytes)
    # One process, one event loop; the batcher's worker thread runs the model. h11: no C extensions to build on a Pi.
    uvicorn.run(app, host=host, port=port, http="h11", loop="asyncio", lifespan="on", access_log=False,
                log_level="warning")
