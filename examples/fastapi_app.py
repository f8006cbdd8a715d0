"""On-device sentiment inside a FastAPI backend, without torch.

pip install ./runtime fastapi uvicorn
uvicorn examples.fastapi_app:app --port 8000
curl -X POST localhost:8000/sentiment -H 'Content-Type: application/json' -d '{"texts": ["这个产品很好"]}'
"""

from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from albert_edge_runtime import AsyncSentimentClassifier, Overloaded


class SentimentRequest(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=64)


@asynccontextmanager
async def lifespan(app: FastAPI):
    # One classifier per process: concurrent requests are micro-batched in its worker thread.
    app.state.classifier = AsyncSentimentClassifier.load(max_batch=32, max_wait_ms=0.0, max_queue=256)
    yield
    app.state.classifier.close()


app = FastAPI(lifespan=lifespan)


@app.post("/sentiment")
async def sentiment(body: SentimentRequest, request: Request) -> list[dict]:
    try:
        predictions = await request.app.state.classifier.predict(body.texts)
    except Overloaded as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    return [{"label": p.label, "score": round(p.score, 4), "truncated": p.truncated} for p in predictions]
