"""The server's request and response bodies, and the parsing that owns their error codes.

:func:`request_models` builds the request models of one loaded model: what ``inputs`` holds
depends on the model's input kind (non-empty strings for text models, lists of token ids in
the vocabulary for ids models, lists of steps of finite numbers for numeric models), and the
server's limits (``max_inputs``, ``max_steps``) are part of the schema. The same models
validate the bodies and document them in the OpenAPI schema at ``/docs`` (:func:`openapi_body`),
so the schema says what the server accepts; what no JSON schema can say (a text must keep at
least one token after cleaning and have at most ``max_steps`` tokens) is in its description.

The endpoints read their bodies with :func:`parse_body` rather than through FastAPI, so each
failure has its own answer and nothing a client sends can become a 500:

* 413 over ``max_body_bytes`` (from ``Content-Length``, else while reading, before the body is
  held whole); 408 when the body has not arrived ``body_timeout_s`` seconds after the request
  started (a client trickling its body cannot hold the connection); both close the connection;
* 422 for invalid UTF-8, JSON nested deeper than :data:`MAX_JSON_DEPTH` or with a number
  longer than :data:`MAX_NUMBER_CHARS` characters (both checked on the raw bytes before
  parsing, so the parser never recurses or converts without bound), ``NaN`` / ``Infinity``,
  malformed JSON, a body of the wrong shape, and, as a catch-all, any other error raised while
  decoding or validating it; each ``detail`` names the field or row, what was expected and what
  came;
* a client that goes away mid-body raises :class:`~starlette.requests.ClientDisconnect`, which
  the request metrics count as a client event (499), not a server error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import numpy as np
from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError
from pydantic import create_model as _create_model

logger = logging.getLogger(__name__)

Body = TypeVar("Body", bound=BaseModel)

MAX_JSON_DEPTH = 16  # the deepest valid body is 4: {"inputs": [[[x, ...], ...], ...]}
MAX_NUMBER_CHARS = 100  # a float's shortest repr is at most 24 characters
CLOSE = {"Connection": "close"}  # the rest of the body is not read: end the connection

# A JSON string (escapes included): blanked before the structure is scanned.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_LONG_NUMBER = re.compile(rb"[-+.0-9eE]{%d,}" % (MAX_NUMBER_CHARS + 1))
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


# -- requests --------------------------------------------------------------------------------
class PredictRequest(BaseModel):
    """``POST /v1/predict`` before a model is loaded (the loaded model's own is stricter)."""

    model_config = ConfigDict(extra="forbid")
    inputs: list[Any] = Field(
        min_length=1,
        description="texts (text models), token-id lists (ids models) or lists of steps, "
        "each a list of floats (numeric models)",
    )


class AppendRequest(BaseModel):
    """``POST /v1/sessions/{id}/append`` before a model is loaded."""

    model_config = ConfigDict(extra="forbid")
    inputs: str | list[Any] = Field(
        description="the new steps: a piece of text (split at a word boundary), token ids, "
        "or a list of steps of floats"
    )


@dataclass(frozen=True)
class RequestModels:
    """The request models of one loaded model (see :func:`request_models`)."""

    predict: type[BaseModel]
    append: type[BaseModel]


def request_models(
    kind: str,
    *,
    max_inputs: int,
    max_steps: int,
    vocab_size: int | None = None,
    num_features: int | None = None,
) -> RequestModels:
    """The request models for a model reading ``kind`` inputs ("text", "ids" or "numeric"):
    ``inputs`` of 1..``max_inputs`` items for /v1/predict, one item for an append."""
    one: Any  # the type of one input
    if kind == "text":
        one = Annotated[
            StrictStr,
            Field(
                min_length=1,
                description="a text with at least one token after cleaning (markup-only or "
                f"blank texts are 422) and at most {max_steps} tokens (max_steps)",
            ),
        ]
        piece: Any = Annotated[
            StrictStr,
            Field(min_length=1, description="the next piece of text, split at a word boundary"),
        ]
    elif kind == "ids":
        top = max(1, int(vocab_size or 2) - 1)
        token = Annotated[StrictInt, Field(ge=1, le=top)]
        one = piece = Annotated[
            list[token],
            Field(
                min_length=1,
                max_length=max_steps,
                description=f"token ids in 1..{top} (0 is padding), at most {max_steps} steps",
            ),
        ]
    else:
        width = int(num_features or 1)
        value = Annotated[float, Field(strict=True, allow_inf_nan=False)]
        step = Annotated[list[value], Field(min_length=width, max_length=width)]
        steps: Any = Annotated[
            list[step],
            Field(min_length=1, max_length=max_steps),
        ]
        if width == 1:  # one feature: a step may be a bare number
            bare = Annotated[list[value], Field(min_length=1, max_length=max_steps)]
            steps = bare | steps
        one = piece = Annotated[
            steps,
            Field(description=f"1..{max_steps} steps (max_steps) of {width} finite number(s) each"),
        ]
    batch: Any = Annotated[
        list[one],
        Field(
            min_length=1,
            max_length=max_inputs,
            description=f"1..{max_inputs} inputs (max_inputs), answered in this order",
        ),
    ]
    predict = _create_model(
        "PredictRequest", __config__=ConfigDict(extra="forbid"), inputs=(batch, ...)
    )
    append = _create_model(
        "AppendRequest", __config__=ConfigDict(extra="forbid"), inputs=(piece, ...)
    )
    return RequestModels(predict, append)


# -- responses -------------------------------------------------------------------------------
class Prediction(BaseModel):
    label: str | None = None
    labels: list[str] | None = None
    scores: dict[str, float] | None = None
    value: float | list[float] | None = None
    values: dict[str, float] | None = None  # regression with several targets, by name
    tags: list[str] | None = None


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class AppendResponse(BaseModel):
    session_id: str
    steps: int
    prediction: Prediction


class SessionResponse(BaseModel):
    session_id: str
    ttl_s: float


class DeletedResponse(BaseModel):
    deleted: str


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    ready: bool
    stage: str


class ErrorResponse(BaseModel):
    """Every error the app answers: ``detail`` says what was expected, what came and the fix."""

    detail: str


def openapi_body(model: type[BaseModel], components: dict | None = None) -> dict:
    """The OpenAPI ``requestBody`` documenting ``model`` as the JSON body of an endpoint that
    parses its body itself (to own its error codes); nested definitions go to
    ``components`` (the schema's ``components.schemas``) when given."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    if components is not None:
        components.update(defs)
    return {"required": True, "content": {"application/json": {"schema": schema}}}


# -- parsing ---------------------------------------------------------------------------------
async def parse_body(
    request: Request, model: type[Body], limit: int, timeout_s: float | None = None
) -> Body:
    """Read, decode and validate a JSON body (see the module docstring for each answer)."""
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > limit:
        raise HTTPException(
            413,
            f"request body: expected at most {limit} bytes (max_body_bytes), got {size}. "
            "Fix: split the request",
            headers=CLOSE,
        )
    chunks, total = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise HTTPException(
                        413,
                        f"request body: expected at most {limit} bytes (max_body_bytes), got "
                        "more. Fix: split the request",
                        headers=CLOSE,
                    )
                chunks.append(chunk)
    except TimeoutError:
        raise HTTPException(
            408,
            f"request body: expected the whole body within {timeout_s:g} s (body_timeout_s), "
            f"got {total} bytes. Fix: send the body at once",
            headers=CLOSE,
        ) from None
    return decode_body(b"".join(chunks), model)


def decode_body(raw: bytes, model: type[Body]) -> Body:
    """``raw`` bytes → a valid ``model``; any failure is a 422 with a readable detail."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(
            422, f"request body: expected UTF-8 JSON, got invalid UTF-8 at byte {exc.start}"
        ) from None
    check_json_bounds(raw)
    try:
        data = json.loads(text, parse_constant=_no_constant)
        if "\\u" in text:  # escapes may encode lone surrogates, which are not text
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except HTTPException:
        raise
    except json.JSONDecodeError as exc:
        raise HTTPException(
            422,
            f"request body: expected JSON, got malformed JSON at line {exc.lineno} column "
            f"{exc.colno} ({exc.msg})",
        ) from None
    except UnicodeEncodeError:
        raise HTTPException(
            422,
            "request body: expected valid Unicode text, got a lone surrogate escape "
            "(\\ud800-\\udfff). Fix: escape characters as UTF-16 pairs, or send them as UTF-8",
        ) from None
    except Exception as exc:  # nothing a client sends may become a 500
        logger.info("unreadable request body: %s: %.200s", type(exc).__name__, exc)
        raise HTTPException(
            422, f"request body: expected JSON, got unreadable JSON ({type(exc).__name__})"
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        batch = "Predict" in model.__name__  # /v1/predict: inputs is a list of inputs
        raise HTTPException(422, validation_detail(exc, batch)) from None
    except Exception as exc:
        logger.info("request body failed validation: %s: %.200s", type(exc).__name__, exc)
        raise HTTPException(
            422, f"request body: expected {model.__name__}, got an invalid body"
        ) from None


def check_json_bounds(raw: bytes) -> None:
    """422 when ``raw`` (JSON text) nests deeper than :data:`MAX_JSON_DEPTH` or holds a number
    over :data:`MAX_NUMBER_CHARS` characters: checked on the bytes, in linear time, before
    any parser recurses into the nesting or converts the number."""
    bare = _STRING.sub(b'""', raw)  # structure, numbers and literals only
    number = _LONG_NUMBER.search(bare)
    if number is not None:
        got = number.end() - number.start()
        raise HTTPException(
            422,
            f"request body: expected numbers of at most {MAX_NUMBER_CHARS} characters, got one "
            f"of {got}. Fix: send plain decimal or float numbers",
        )
    brackets = bare.translate(None, _NOT_BRACKETS)
    if len(brackets) <= MAX_JSON_DEPTH:
        return
    codes = np.frombuffer(brackets, dtype=np.uint8)
    opens = (codes == ord("[")) | (codes == ord("{"))
    depth = np.cumsum(np.where(opens, 1, -1))
    if int(depth.max()) > MAX_JSON_DEPTH:
        raise HTTPException(
            422,
            f"request body: expected JSON nested at most {MAX_JSON_DEPTH} deep, got "
            f'{int(depth.max())} levels. Fix: send {{"inputs": [...]}} as documented at /docs',
        )


def _no_constant(name: str) -> Any:
    raise HTTPException(
        422,
        f"request body: expected finite JSON numbers, got {name}. "
        "Fix: impute or drop missing values first",
    )


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "finite_number": "a finite number",
    "list_type": "a list",
    "dict_type": "a JSON object",
    "model_type": "a JSON object",
    "missing": "this field",
}


def validation_detail(exc: ValidationError, batch: bool = True) -> str:
    """A pydantic error → ``request body: inputs row 2, step 0: expected ..., got ...``;
    ``batch``: ``inputs`` is a list of inputs (/v1/predict), not one input (an append)."""
    parts = []
    for err in exc.errors()[:5]:
        where, kind, ctx = _where(err["loc"]), err["type"], err.get("ctx") or {}
        got = _got(err.get("input"))
        if kind == "too_long" and where == "inputs" and batch:
            parts.append(
                f"inputs: expected at most {ctx.get('max_length')} inputs per request "
                f"(max_inputs), got {ctx.get('actual_length')}. Fix: split the request"
            )
        elif kind == "too_long":
            parts.append(
                f"{where}: expected at most {ctx.get('max_length')} items, got "
                f"{ctx.get('actual_length')}. Fix: shorten it (max_steps / feature count)"
            )
        elif kind == "too_short":
            parts.append(
                f"{where}: expected at least {ctx.get('min_length')} "
                f"{'input' if where == 'inputs' else 'item'}(s), got {ctx.get('actual_length')}"
            )
        elif kind == "extra_forbidden":
            parts.append(f'{where}: expected no such field, got one. Fix: send only "inputs"')
        elif kind == "missing":
            parts.append(f'{where}: expected this field, got none. Fix: send {{"inputs": [...]}}')
        elif kind in _EXPECTED:
            parts.append(f"{where}: expected {_EXPECTED[kind]}, got {got}")
        else:
            parts.append(f"{where}: {err['msg']}, got {got}")
    return "request body: " + "; ".join(parts)


def _where(loc: tuple) -> str:
    """``("inputs", 2, "list[...]", 0, 1)`` → ``inputs row 2, step 0, feature 1``."""
    names = [str(x) for x in loc if not isinstance(x, int)][:1] or ["body"]
    rows = [x for x in loc if isinstance(x, int)]
    labels = ("row", "step", "feature")
    return ", ".join(
        [f"{names[0]} {labels[0]} {rows[0]}" if rows else names[0]]
        + [f"{label} {i}" for label, i in zip(labels[1:], rows[1:], strict=False)]
    )


def _got(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, str)):
        return f"{type(value).__name__} {str(value)[:40]!r}"
    return type(value).__name__
