"""``padless serve``: a FastAPI app on uvicorn with micro-batching and stateful streaming.

Holds :func:`create_app` (the routes and the lifespan that loads the model once), the
:class:`State` the lifespan builds, and :func:`serve` (uvicorn). Request bodies are parsed by
:mod:`padless.serve.schemas`. Endpoints (OpenAPI at ``/docs``):

* ``POST /v1/predict`` ``{"inputs": [text | [[float, ...], ...] | [id, ...], ...]}`` →
  ``{"predictions": [{"label", "scores"}, ...]}`` in input order. Inputs from concurrent
  requests are gathered by :class:`~padless.serve.batcher.MicroBatcher` into length-grouped batches.
* ``POST /v1/sessions`` → ``{"session_id"}``; ``POST /v1/sessions/{id}/append``
  ``{"inputs": text | steps}`` → the prediction for everything appended so far, from the
  carried recurrent state (:mod:`padless.models.streaming`); ``DELETE /v1/sessions/{id}``.
  Models that cannot stream (bidirectional, ...) answer 409 with the reason.
* ``GET /healthz`` (the process is up), ``GET /readyz`` (200 once the model is loaded and one
  warm-up batch ran through it, which loads, or builds once, its C++ kernels; 503 before),
  ``GET /metrics`` (Prometheus text).

Bad input never reaches the model, and nothing a client sends is a 500 (bodies are parsed by
:func:`~padless.serve.schemas.parse_body`): a body over ``max_body_bytes`` is 413, a body not
received within ``body_timeout_s`` 408; malformed or over-deep JSON, over-long numbers,
invalid UTF-8, wrong types, empty ``inputs`` and inputs over ``max_inputs`` / ``max_steps``
are 422 with a ``detail`` naming the field or row, the limit and the fix; a full queue is 503
with ``Retry-After``; an unknown session 404; a model that cannot stream 409; too many
sessions 429; a client that goes away mid-request is counted as 499, never as a 500. Every
status is in the OpenAPI schema, whose request bodies are those of the loaded model
(:func:`~padless.serve.schemas.request_models`).

Connections (:func:`serve`): a request head must arrive within ``header_timeout_s`` of the
connection opening or of the previous response and be at most ``max_header_bytes`` (408 / 431,
:mod:`padless.serve.connections`); beyond ``max_connections`` open connections requests are
503 (uvicorn's ``limit_concurrency``); idle keep-alive connections close after
``keep_alive_s``. The model is loaded once, in the app's lifespan; on shutdown, requests in
flight finish first (uvicorn stops accepting, then the batcher drains).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.routing import Match, Route

from padless import __version__
from padless.config import ServeSettings
from padless.deploy.predict import Predictor, load, pad
from padless.errors import DataError
from padless.serve.batcher import BatchStats, MicroBatcher, QueueFull, stack_rows
from padless.serve.monitoring import Metrics, instrument
from padless.serve.schemas import (
    AppendRequest,
    AppendResponse,
    DeletedResponse,
    ErrorResponse,
    HealthResponse,
    PredictRequest,
    PredictResponse,
    ReadyResponse,
    RequestModels,
    SessionResponse,
    openapi_body,
    parse_body,
    request_models,
)
from padless.serve.sessions import Session, SessionsFull, SessionStore

if TYPE_CHECKING:
    from padless.models.streaming import Stream

logger = logging.getLogger(__name__)


class State:
    """What the lifespan builds once: the predictor, batcher, sessions and metrics."""

    def __init__(self, model_dir: str | Path, settings: ServeSettings):
        self.settings = settings
        self.predictor: Predictor = load(
            model_dir,
            backend=settings.backend,
            onnx_path=settings.export_file,
            threads=settings.threads,
        )
        self.tagging = self.predictor.task == "tagging"
        pipe = self.predictor.artifact.pipeline
        self.requests = request_models(
            pipe.kind,
            max_inputs=settings.max_inputs,
            max_steps=settings.max_steps,
            vocab_size=pipe.vocab_size,
            num_features=pipe.num_features,
        )
        self.metrics = Metrics()
        stats = BatchStats(on_batch=self.metrics.observe_batch)
        self.batcher = MicroBatcher(
            self._run,
            max_batch_tokens=settings.max_batch_tokens,
            max_wait_ms=settings.max_wait_ms,
            max_queue=settings.max_queue,
            enabled=settings.batching,
            stats=stats,
        )
        self.stream: Stream | None = None
        self.sessions: SessionStore | None = None
        self.no_stream = self._stream_refusal()
        model = self.predictor.artifact.model
        if self.no_stream is None and model is not None:
            from padless.models.streaming import Stream, StreamState

            self.stream = Stream(model)
            self.sessions = SessionStore(StreamState, settings.max_sessions, settings.session_ttl_s)
        self.metrics.track(lambda: self.batcher.depth, lambda: len(self.sessions or ()))
        self.ready = False
        self.stage = "warming up"  # then "ready"; /readyz reports it

    def warm_up_inputs(self) -> list:
        """Two raw inputs of different lengths the model accepts (text, ids or numeric)."""
        pipe = self.predictor.artifact.pipeline
        if pipe.kind == "text":
            return ["a good film", "the plot was dull and far too long, but the cast was fine"]
        if pipe.kind == "ids":
            top = max(1, min(3, int(pipe.vocab_size or 2) - 1))
            return [[top] * 3, [1, top] * 6]
        steps = max(1, pipe.patch_size)
        return [
            np.zeros((3 * steps, pipe.num_features or 1)).tolist(),
            np.ones((12 * steps, pipe.num_features or 1)).tolist(),
        ]

    async def warm_up(self) -> None:
        """One batch through the model on its worker thread (this loads the C++ kernels, or
        builds them once when the environment has none), then ready: /readyz answers 200."""
        start = time.perf_counter()
        try:
            encoded = self.predictor.encode_each(self.warm_up_inputs(), where="warm-up input")
            await self.batcher.call(self._run, sorted(encoded, key=len))
        except Exception:  # the model will answer (or refuse) real inputs on its own
            logger.exception("the warm-up batch failed; serving anyway")
        gc.freeze()  # what the warm-up loaded (kernels) lives as long as the process
        self.stage = "ready"
        self.ready = True
        logger.info("ready after a %.1f s warm-up", time.perf_counter() - start)

    def _stream_refusal(self) -> str | None:
        model = self.predictor.artifact.model  # None unless the eager backend loaded it
        if self.settings.backend != "eager" or model is None:
            return "streaming needs the eager backend (an exported graph takes whole sequences)"
        from padless.models.streaming import streamable

        pipe = self.predictor.artifact.pipeline
        bigrams = pipe.kind == "text" and pipe.text is not None and pipe.text.bigrams is not None
        return streamable(model, 2 if bigrams else 1, pipe.patch_size)

    def streaming(self) -> tuple[Stream, SessionStore]:
        """The stream and its sessions; 409 with the reason when this model cannot stream."""
        if self.no_stream is not None or self.stream is None or self.sessions is None:
            raise HTTPException(409, f"this model cannot stream: {self.no_stream}")
        return self.stream, self.sessions

    def encode(self, inputs: list, *, cut: bool = True) -> list:
        """Validated inputs → encoded ones; 422 when the encoder refuses one (a text with no
        token, too many tokens, ...), naming its row. Any other error the encoder raises on a
        client's inputs is a 422 too (logged in one line), never a 500."""
        try:
            return self.predictor.encode_each(
                inputs, where="inputs", limit=self.settings.max_steps, cut=cut
            )
        except DataError as exc:
            raise HTTPException(422, str(exc)) from None
        except Exception as exc:
            logger.warning("inputs the encoder could not read: %s: %.200s", type(exc).__name__, exc)
            raise HTTPException(
                422,
                f"inputs: expected inputs this model can encode, got ones its encoder refused "
                f"({type(exc).__name__}). Fix: check them against the schema at /docs",
            ) from None

    def _run(self, batch: list) -> list:
        """Worker thread: one length-sorted batch of encoded inputs → one logits row each."""
        x, lengths = pad(batch)
        return stack_rows(self.predictor.run(x, lengths), lengths, self.tagging)

    def results(self, rows: list[np.ndarray]) -> list[dict]:
        """One request's logits rows → its predictions (one vectorised call per request)."""
        if self.tagging:
            return [{"tags": [r["label"] for r in self.predictor.results(x)]} for x in rows]
        return self.predictor.results(np.stack(rows))


def create_app(model_dir: str | Path, settings: ServeSettings | None = None) -> FastAPI:
    """The FastAPI app serving the model directory ``model_dir`` (loaded at startup)."""
    settings = settings or ServeSettings()
    app = FastAPI(
        title="padless",
        version=__version__,
        summary="Recurrent models on ragged sequences: micro-batched prediction and streaming",
        lifespan=_lifespan(model_dir, settings),
    )
    instrument(app)
    _add_probes(app)
    _add_predict(app, settings)
    _add_sessions(app, settings)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]]
        return JSONResponse({"detail": "request: " + "; ".join(parts)}, status_code=422)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with the request bodies of the loaded model (those the endpoints
    validate with; the generic ones before the lifespan has loaded it)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    state = getattr(app.state, "padless", None)
    models = state.requests if state is not None else RequestModels(PredictRequest, AppendRequest)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    paths = schema["paths"]
    paths["/v1/predict"]["post"]["requestBody"] = openapi_body(models.predict, components)
    append = paths["/v1/sessions/{session_id}/append"]["post"]
    append["requestBody"] = openapi_body(models.append, components)
    if state is not None:
        app.openapi_schema = schema
    return schema


def _text() -> dict[str, Any]:
    """A text/plain response body (a new dict each time: FastAPI adds to those it is given)."""
    return {"text/plain": {"schema": {"type": "string"}}}


# What the HTTP layer answers on any route (text/plain; uvicorn and padless.serve.connections).
_HTTP_LAYER = {
    400: "not a valid HTTP/1.1 request",
    408: "the request head did not arrive within header_timeout_s",
    431: "a request head over max_header_bytes",
    503: "over max_connections open connections (the connection is closed)",
}


def _responses(**why: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: the HTTP layer's, and the app's errors ``why`` (keyed
    ``e404`` ...: a JSON ``{"detail"}``; text/plain from the HTTP layer too where it has one)."""
    out: dict[int | str, dict[str, Any]] = {
        code: {"description": text, "content": _text()} for code, text in _HTTP_LAYER.items()
    }
    for key, description in why.items():
        code = int(key[1:])
        doc: dict[str, Any] = {"model": ErrorResponse, "description": description}
        if code in _HTTP_LAYER:
            doc["description"] = f"{description}; or {_HTTP_LAYER[code]}"
            doc["content"] = _text()
        out[code] = doc
    return out


_BODY_ERRORS = {
    "e408": "the body did not arrive within body_timeout_s",
    "e413": "a body over max_body_bytes",
    "e422": "invalid input: malformed or over-deep JSON, wrong types, over the limits "
    "(max_inputs, max_steps), or a text with no token after cleaning",
}


def _lifespan(
    model_dir: str | Path, settings: ServeSettings
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """Load the model and start the batcher on startup; drain the batcher on shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = State(model_dir, settings)
        await state.batcher.start()
        app.state.padless = state
        # The model and the libraries loaded so far live as long as the process: keep them out
        # of the cyclic collector, whose full passes would otherwise walk them under load.
        gc.collect()
        gc.freeze()
        # Accept connections now (/healthz, /readyz 503) and warm up meanwhile: ready after.
        warm = asyncio.create_task(state.warm_up())
        logger.info("serving %s (%s backend)", model_dir, settings.backend)
        try:
            yield
        finally:
            state.ready = False
            state.stage = "stopping"
            if not warm.done():
                warm.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await warm
            await state.batcher.stop()  # requests already queued are answered first

    return lifespan


def _state_of(request: Request) -> State:
    return request.app.state.padless


def _add_probes(app: FastAPI) -> None:
    """``GET /healthz``, ``/readyz`` and ``/metrics``."""

    @app.get("/healthz", response_model=HealthResponse, responses=_responses())
    async def healthz() -> dict:
        return {"status": "ok"}

    ready_503 = {
        "model": ReadyResponse,
        "description": f"warming up or stopping; or {_HTTP_LAYER[503]}",
        "content": _text(),
    }

    @app.get("/readyz", response_model=ReadyResponse, responses={**_responses(), 503: ready_503})
    async def readyz(request: Request) -> JSONResponse:
        state = getattr(request.app.state, "padless", None)
        ok = state is not None and state.ready
        stage = state.stage if state is not None else "loading"
        return JSONResponse({"ready": ok, "stage": stage}, status_code=200 if ok else 503)

    @app.get("/metrics", response_class=PlainTextResponse, responses=_responses())
    async def metrics(request: Request) -> Response:
        body, content_type = _state_of(request).metrics.render()
        return Response(body, media_type=content_type)


def _add_predict(app: FastAPI, settings: ServeSettings) -> None:
    """``POST /v1/predict``, micro-batched."""

    @app.post(
        "/v1/predict",
        response_model=PredictResponse,
        response_model_exclude_none=True,
        responses=_responses(**_BODY_ERRORS, e503="the queue is full (see Retry-After)"),
    )
    async def predict(request: Request) -> Response:
        state = _state_of(request)
        body: Any = await parse_body(
            request, state.requests.predict, settings.max_body_bytes, settings.body_timeout_s
        )
        encoded = state.encode(body.inputs)
        try:
            rows = await state.batcher.submit(encoded)
        except QueueFull:
            raise HTTPException(
                503,
                "the server is at capacity (queue full); retry after the Retry-After seconds",
                headers={"Retry-After": str(settings.retry_after_s)},
            ) from None
        state.metrics.inputs.inc(len(encoded))
        # Already plain JSON types: skip re-validating them through the response model.
        payload = json.dumps({"predictions": state.results(rows)}).encode()
        return Response(payload, media_type="application/json")

    # The hot path: the same handler as a plain Starlette route ahead of FastAPI's, which skips
    # FastAPI's per-request dependency machinery (measured +10-15% requests/s under load). The
    # FastAPI route above stays for the OpenAPI schema at /docs.
    app.router.routes.insert(0, _PlainRoute("/v1/predict", predict, methods=["POST"]))


def _add_sessions(app: FastAPI, settings: ServeSettings) -> None:
    """The streaming session routes: create, append, delete."""

    @app.post(
        "/v1/sessions",
        response_model=SessionResponse,
        status_code=201,
        responses=_responses(
            e409="this model cannot stream (the reason is in the detail)",
            e429="max_sessions live sessions already (see Retry-After)",
        ),
    )
    async def create_session(request: Request) -> dict:
        _, sessions = _state_of(request).streaming()
        try:
            sid = sessions.create()
        except SessionsFull as exc:
            raise HTTPException(
                429,
                f"too many streaming sessions ({exc}); delete finished ones or retry later",
                headers={"Retry-After": str(settings.retry_after_s)},
            ) from None
        return {"session_id": sid, "ttl_s": settings.session_ttl_s}

    @app.post(
        "/v1/sessions/{session_id}/append",
        response_model=AppendResponse,
        response_model_exclude_none=True,
        responses=_responses(
            **_BODY_ERRORS,
            e404="an unknown or expired session",
            e409="this model cannot stream (the reason is in the detail)",
        ),
    )
    async def append(session_id: str, request: Request) -> dict:
        state = _state_of(request)
        stream, session = _session(state, session_id)
        body: Any = await parse_body(
            request, state.requests.append, settings.max_body_bytes, settings.body_timeout_s
        )
        (steps,) = state.encode([body.inputs], cut=False)
        cap = state.predictor.artifact.pipeline.step_cap
        async with session.lock:
            if cap is not None and session.state.steps + len(steps) > cap:
                raise HTTPException(
                    422,
                    f"session {session_id}: expected at most {cap} steps in all (the model's "
                    f"cap), got {session.state.steps} + {len(steps)}. Fix: start a new session",
                )
            logits = await state.batcher.call(stream.append, session.state, steps)
            total = session.state.steps
        (prediction,) = state.results([logits])
        return {"session_id": session_id, "steps": total, "prediction": prediction}

    @app.delete(
        "/v1/sessions/{session_id}",
        response_model=DeletedResponse,
        responses=_responses(
            e404="an unknown or expired session",
            e409="this model cannot stream (the reason is in the detail)",
            e422="an invalid path",
        ),
    )
    async def delete_session(session_id: str, request: Request) -> dict:
        state = _state_of(request)
        _session(state, session_id)  # 409 / 404 first
        state.streaming()[1].delete(session_id)
        return {"deleted": session_id}


class _PlainRoute(Route):
    """A Starlette route that records itself in the scope, as FastAPI's do (the request
    metrics label requests by ``scope["route"].path``)."""

    def matches(self, scope):
        match, child = super().matches(scope)
        if match != Match.NONE:
            child["route"] = self
        return match, child


def _session(state: State, session_id: str) -> tuple[Stream, Session]:
    """The stream and the live session ``session_id``: 409 when the model cannot stream, 404
    for an unknown or expired id."""
    stream, sessions = state.streaming()
    session = sessions.get(session_id)
    if session is None:
        raise HTTPException(
            404,
            f"session {session_id}: expected a live session, got an unknown or expired id. "
            "Fix: POST /v1/sessions for a new one",
        )
    return stream, session


def serve(model_dir: str | Path, settings: ServeSettings, graceful_s: float = 30.0) -> None:
    """Run the app with uvicorn until SIGINT / SIGTERM (then finish requests in flight)."""
    import uvicorn

    from padless.serve.connections import guarded_protocol

    app = create_app(model_dir, settings)

    def closed(reason: str) -> None:
        state = getattr(app.state, "padless", None)
        if state is not None:
            state.metrics.closed.labels(reason).inc()

    protocol = guarded_protocol(settings.header_timeout_s, settings.max_header_bytes, closed)
    if protocol is None:
        logger.warning(
            "httptools is not installed: request heads have no deadline (header_timeout_s). "
            "Fix: pip install 'uvicorn[standard]'"
        )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol or "h11",
        log_level="warning",
        # uvicorn annotates int but waits with asyncio, which takes the float seconds we pass.
        timeout_graceful_shutdown=graceful_s,  # type: ignore[arg-type]
        timeout_keep_alive=settings.keep_alive_s,  # type: ignore[arg-type]
        limit_concurrency=settings.max_connections,
        backlog=settings.backlog,
        h11_max_incomplete_event_size=settings.max_header_bytes,  # h11 only
        access_log=False,
    )
    server = uvicorn.Server(config)
    logger.info("padless serve on http://%s:%d (docs at /docs)", settings.host, settings.port)
    server.run()  # uvloop and httptools when installed (uvicorn[standard])
