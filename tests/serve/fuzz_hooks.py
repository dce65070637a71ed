"""Schemathesis hooks of ``test_schema_fuzz.py`` (loaded through ``SCHEMATHESIS_HOOKS``).

A text model's request schema says each input is a non-empty string. What no JSON schema can
say, and the schema's description does, is that a text must keep at least one token after
cleaning (blank, underscore-only or markup-only texts are 422) and have at most ``max_steps``
tokens. Positive examples are the ones the schema allows: this filter drops the positive ones
the model's own encoder refuses (``PADLESS_FUZZ_MODEL``, ``PADLESS_FUZZ_MAX_STEPS``), so
``positive_data_acceptance`` holds the server to everything else. Negative examples are never
filtered.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

from padless.errors import DataError

_predictor: Any = None


def _encoder() -> Any:
    global _predictor
    if _predictor is None:
        import padless

        _predictor = padless.load(os.environ["PADLESS_FUZZ_MODEL"])
    return _predictor


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return True
    body = case.body
    if not isinstance(body, dict) or "inputs" not in body:
        return True
    items = body["inputs"] if isinstance(body["inputs"], list) else [body["inputs"]]
    if not items or not all(isinstance(x, str) for x in items):
        return True
    try:
        _encoder().encode_each(items, limit=int(os.environ.get("PADLESS_FUZZ_MAX_STEPS", "20000")))
    except DataError:
        return False
    return True
