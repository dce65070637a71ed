"""The server's request and response bodies, and the parsing that owns their error codes.

The pydantic models (:class:`PredictRequest`, :class:`AppendRequest` and the responses)
document the JSON of each endpoint in the OpenAPI schema at ``/docs``. The endpoints read
their bodies with :func:`parse_body` rather than through FastAPI, so each failure has its own
answer: 413 over ``max_body_bytes`` (checked while reading, before the body is held whole),
422 for invalid UTF-8, malformed JSON or a body of the wrong shape, with a ``detail`` naming
the field; :func:`openapi_body` documents such a self-parsed body.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger(__name__)

Body = TypeVar("Body", bound=BaseModel)


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


def openapi_body(model: type[BaseModel]) -> dict:
    """The ``openapi_extra`` documenting ``model`` as the request body of an endpoint that
    parses its body itself (to own its error codes)."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def parse_body(request: Request, model: type[Body], limit: int) -> Body:
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
