"""padless.evaluation.runner: a model run over an encoded split gives metrics that do not depend
on the batching."""

import pytest

import padless
from padless.encode.prepared import prepare
from padless.evaluation.runner import run_split


def test_split_metrics_do_not_depend_on_batch_size(tagging_run):
    cfg, out = tagging_run
    model = padless.load(out / "model").artifact.model
    prep = prepare(cfg)
    results = [
        run_split(model, prep.splits["test"], prep.labels, batch_size=b) for b in (1, 7, 256)
    ]
    for r in results[1:]:
        assert r["accuracy"] == results[0]["accuracy"]
        assert r["confusion_matrix"] == results[0]["confusion_matrix"]
        assert r["loss"] == pytest.approx(results[0]["loss"], rel=1e-5)
