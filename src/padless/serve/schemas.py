"""``padless serve``: a FastAPI app on uvicorn with micro-batching and stateful streaming.

Endpoints (OpenAPI at ``/docs``):

* ``POST /v1/predict`` ``{"inputs": [text | [[float, ...], ...] | [id, ...], ...]}`` →
  ``{"predictions": [{"label", "scores"}, ...]}`` in input order. Inputs from concurrent
  requests are gathered by :class:`~padless.batcher.MicroBatcher` into length-grouped batches.
* ``POST /v1/sessions`` → ``{"session_id"}``; ``POST /v1/sessions/{id}/append``
  ``{"inputs": text | steps}`` → the prediction for everything appended so far, from the
  carried recurrent state (:mod:`padless.streaming`); ``DELETE /v1/sessions/{id}``.
  Models that cannot stream (bidirectional, ...) answer 409 with the reason.
* ``GET /healthz`` (the process is up), ``GET /readyz`` (the model is loaded), ``GET /metrics``
  (Prometheus text).

Bad input never reaches the model: a body over ``max_body_bytes`` is 413, malformed JSON,
invalid UTF-8, wrong types, empty ``inputs`` and inputs over ``max_inputs`` / ``max_steps``
are 422 with a ``detail`` naming the field or row, the limit and the fix; a full queue is 503
with ``Retry-After``; an unknown session 404; too many sessions 429. The model is loaded once,
in the app's lifespan; on shutdown, requests in flight finish first (uvicorn stops accepting,
then the batcher drains).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger(__name__)

class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[Any] = Field(
        min_length=1,
        description="texts (text models), token-id lists (ids models) or lists of steps, "
        "each a list of floats (numeric models)",
    )


class Prediction(BaseModel):
    label: str | None = None
    labels: list[str] | None = None
    scores: dict[str, float] | None = None
    value: float | list[float] | None = None
    tags: list[str] | None = None


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class AppendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: str | list[Any] = Field(
        description="the new steps: a piece of text (split at a word boundary), token ids, "
        "or a list of steps of floats"
    )


class AppendResponse(BaseModel):
    session_id: str
    steps: int
    prediction: Prediction


class SessionResponse(BaseModel):
    session_id: str
    ttl_s: float


def _openapi_body(model: type[BaseModel]) -> dict:
    """Document a request body that the endpoint parses itself (to own its error codes)."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def parse_body(request: Request, model: type[BaseModel], limit: int) -> BaseModel:
    """Read, decode and validate a JSON body: 413 over ``limit`` bytes, 422 for invalid
    UTF-8, malformed JSON or a body of the wrong shape, with a readable ``detail``."""
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > limit:
        raise HTTPException(413, f"request body: expected at most {limit} bytes, got {size}")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise HTTPException(413, f"request body: expected at most {limit} bytes, got more")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(
            422, f"request body: expected UTF-8 JSON, got invalid UTF-8 at byte {exc.start}"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HTTPException(
            422,
            f"request body: expected JSON, got malformed JSON at line {exc.lineno} column "
            f"{exc.colno} ({exc.msg})",
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HTTPException(422, _validation_detail(exc)) from None


def _validation_detail(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "body"
        parts.append(f"{loc}: {err['msg']}")
    return "request body: " + "; ".join(parts)
