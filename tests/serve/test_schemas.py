"""``padless.serve.schemas``: a request body is parsed within bounds, every failure is a 422 with
a readable ``detail`` (never a 500), and the OpenAPI schema says what the server takes and
every status it answers."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from fastapi import HTTPException  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from padless.serve.schemas import (  # noqa: E402
    MAX_JSON_DEPTH,
    MAX_NUMBER_CHARS,
    decode_body,
    request_models,
)
from tests.serve.server import log_of, metric  # noqa: E402

TEXT = request_models("text", max_inputs=8, max_steps=50)

# (raw body, words expected in the 422 detail)
HOSTILE = [
    (b'{"inputs": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nested at most"),
    (b'{"inputs": ' + b"[" * 100_000, "nested at most"),  # unbalanced, 100 KB
    (b'{"inputs": ' + b'{"a": ' * 500 + b"1" + b"}" * 500 + b"}", "nested at most"),
    (b'{"inputs": [[' + b"7" * 5000 + b"]]}", f"at most {MAX_NUMBER_CHARS} characters"),
    (b'{"inputs": [' + b"1" * 5000 + b".5]}", f"at most {MAX_NUMBER_CHARS} characters"),
    (b'{"inputs": [NaN]}', "got NaN"),
    (b'{"inputs": [-Infinity]}', "got -Infinity"),
    (b'{"inputs": ["\\ud800 alone"]}', "lone surrogate"),
    (b'{"inputs": [null]}', "row 0: expected a string, got null"),
    (b'{"inputs": ["fine", 1e999999]}', "row 1: expected a string"),
    (b'{"inputs": ["a"], "inputs": 3}', "inputs: expected a list"),
    (b'{"inputs": ["a"], "extra": true}', "extra: expected no such field"),
    (b"\xef\xbb\xbf" + b'{"inputs": ["a"]}', "malformed JSON"),
    (b"", "malformed JSON"),
    (b"[]", "expected a JSON object"),
    (b'"' + b"a" * 10_000 + b'"', "expected a JSON object"),
]


def test_hostile_json_is_422_with_a_readable_detail_never_500(served):
    """Deep nesting (a RecursionError in json), 5,000-digit numbers (int's conversion limit),
    NaN, lone surrogates, nulls... on both endpoints that take a body: each is a 422 naming
    the problem, the server logs no traceback and counts no 500."""
    url, proc = served
    start = len(log_of(proc))
    sid = httpx.post(url + "/v1/sessions").json()["session_id"]
    for path in ("/v1/predict", f"/v1/sessions/{sid}/append"):
        for raw, words in HOSTILE:
            r = httpx.post(url + path, content=raw, timeout=30)
            assert r.status_code == 422, (path, raw[:60], r.status_code, r.text[:300])
            detail = r.json()["detail"]
            assert isinstance(detail, str) and detail.startswith("request body: "), detail
            if path == "/v1/predict":  # (an append takes one text: other words)
                assert words in detail, (raw[:60], detail)
    log = log_of(proc, start)
    assert "Traceback" not in log, log
    for route in ("/v1/predict", "/v1/sessions/{session_id}/append"):
        name = f'padless_requests_total{{method="POST",route="{route}",status="500"}}'
        assert metric(url, name, default=0) == 0
    assert httpx.post(url + "/v1/predict", json={"inputs": ["a fine film"]}).status_code == 200


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    value=json_values,
    depth=st.integers(0, 3 * MAX_JSON_DEPTH),
    junk=st.binary(max_size=40),
    cut=st.integers(0, 200),
)
def test_any_body_is_a_valid_request_or_a_422(value, depth, junk, cut):
    """Whatever the bytes (JSON of any shape and depth, cut anywhere, with junk), decoding
    either gives a valid request or raises a 422 with a string detail: nothing else."""
    inputs = "[" * depth + "]" * depth if depth else json.dumps([[value]])
    doc = '{"inputs": ' + inputs + "}"
    for raw in (doc.encode(), doc.encode()[:cut] + junk, junk):
        try:
            decode_body(raw, TEXT.predict)
        except HTTPException as exc:
            assert exc.status_code == 422 and isinstance(exc.detail, str), exc
    if depth + 1 > MAX_JSON_DEPTH:
        with pytest.raises(HTTPException, match="nested at most"):
            decode_body(doc.encode(), TEXT.predict)


def test_request_models_take_exactly_what_each_input_kind_encodes():
    ids = request_models("ids", max_inputs=2, max_steps=3, vocab_size=10)
    ids.predict.model_validate({"inputs": [[1, 9], [3]]})
    for bad in ([[0]], [[10]], [[True]], [[1.0]], [[None]], [[]], [[1, 2, 3, 4]], [[1]] * 3):
        with pytest.raises(ValidationError):
            ids.predict.model_validate({"inputs": bad})
    two = request_models("numeric", max_inputs=2, max_steps=3, num_features=2)
    two.predict.model_validate({"inputs": [[[1, 2.5]], [[0, 0], [1, 1]]]})
    for bad in ([[[1]]], [[[1, "2"]]], [[[1, float("nan")]]], [[[1, None]]], [[1, 2]], [[]]):
        with pytest.raises(ValidationError):
            two.predict.model_validate({"inputs": bad})
    one = request_models("numeric", max_inputs=2, max_steps=3, num_features=1)
    one.append.model_validate({"inputs": [1.0, 2]})
    one.append.model_validate({"inputs": [[1.0], [2]]})
    for bad in ([1.0, [2.0]], [[1.0, 2.0]], [float("inf")], "text"):
        with pytest.raises(ValidationError):
            one.append.model_validate({"inputs": bad})
    for bad in ([None], [""], [3], ["a"] * 9, []):
        with pytest.raises(ValidationError):
            TEXT.predict.model_validate({"inputs": bad})


DOCUMENTED = {
    ("/v1/predict", "post"): {200, 400, 408, 413, 422, 431, 503},
    ("/v1/sessions", "post"): {201, 400, 408, 409, 429, 431, 503},
    ("/v1/sessions/{session_id}/append", "post"): {200, 400, 404, 408, 409, 413, 422, 431, 503},
    ("/v1/sessions/{session_id}", "delete"): {200, 404, 408, 409, 503},
    ("/readyz", "get"): {200, 408, 503},
    ("/healthz", "get"): {200, 408, 503},
    ("/metrics", "get"): {200, 408, 503},
}


def test_the_schema_documents_every_status_and_the_loaded_models_inputs(served):
    """Each operation lists every status the server can answer (the app's and the HTTP
    layer's), and the request body is the loaded text model's: non-null, non-empty strings,
    at most max_inputs of them."""
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    url, _ = served
    doc = httpx.get(url + "/openapi.json").json()
    for (path, method), statuses in DOCUMENTED.items():
        got = {int(code) for code in doc["paths"][path][method]["responses"]}
        assert statuses <= got, (path, method, statuses - got)
    for (path, _method), op in ((k, doc["paths"][k[0]][k[1]]) for k in DOCUMENTED):
        for code, response in op["responses"].items():
            if code.startswith("4") or code.startswith("5"):
                assert response.get("content"), (path, code)
        # What the HTTP layer answers is text; the app's errors are JSON {"detail"}.
        assert set(op["responses"]["431"]["content"]) == {"text/plain"}, path
        assert set(op["responses"]["400"]["content"]) == {"text/plain"}, path
        if "requestBody" in op:
            assert set(op["responses"]["408"]["content"]) == {"text/plain", "application/json"}
    body = doc["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    check = jsonschema_rs.validator_for(body["schema"])
    assert check.is_valid({"inputs": ["a good film", "dull"]})
    for bad in ([None], [""], [3], [["a"]], [], ["a"] * 257):
        assert not check.is_valid({"inputs": bad}), bad
    assert not check.is_valid({"inputs": ["a"], "other": 1})
    append = doc["paths"]["/v1/sessions/{session_id}/append"]["post"]["requestBody"]
    check = jsonschema_rs.validator_for(append["content"]["application/json"]["schema"])
    assert check.is_valid({"inputs": "more text"}) and not check.is_valid({"inputs": None})
