"""Every learning task from a table file, end to end: the README's examples (``examples/``)
trained through the CLI, evaluated on a copy of their data with renamed columns (``padless
evaluate --text-column ...``), exported to ONNX and checked against eager, and served (a real
server on a loopback port) with answers checked against the Python predictor. The fast tests
at the top check the command-line options and config keys these paths read through."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest

from padless.cli import main
from padless.config import config_from_dict, data_overrides, load_config
from padless.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
FAST = ["train.epochs=1", "model.hidden_size=8", "model.embedding_dim=8", "train.batch_size=16"]


@dataclass(frozen=True)
class Task:
    """A README example: its config, its data file, the columns renamed in the copy that
    ``padless evaluate`` reads with ``flags``, and the copy's format."""

    config: str
    data: str
    rename: dict[str, str]
    flags: list[str]
    suffix: str = ""  # the copy's suffix, when it changes format
    extra: list[str] = field(default_factory=list)  # more --set for training


TASKS = {
    "binary": Task(
        "binary.toml",
        "reviews.csv",
        {"text": "review", "label": "sentiment", "split": "part"},
        ["--text-column", "review", "--label-column", "sentiment", "--split-column", "part"],
    ),
    "multiclass": Task(
        "multiclass.toml",
        "topics.tsv",
        {"headline": "title", "topic": "class"},
        ["--text-column", "title", "--set", "data.label_column=class"],
    ),
    "multilabel": Task(
        "multilabel.toml", "tags.csv", {"tags": "genres"}, ["--label-column", "genres"]
    ),
    "regression": Task(
        "regression.toml", "scores.csv", {"score": "rating"}, ["--label-column", "rating"], ".jsonl"
    ),
    "targets": Task(
        "regression-targets.toml",
        "scores.csv",
        {"score": "s", "energy": "e"},
        ["--label-column", "s", "--label-column", "e"],
        ".parquet",
    ),
    "tagging": Task("tagging.toml", "pos.jsonl", {"tags": "pos"}, ["--label-column", "pos"]),
    "tagging-long": Task(
        "tagging-long.toml",
        "sensors.csv",
        {"sequence": "sid", "t": "step", "state": "st"},
        ["--id-column", "sid", "--step-column", "step", "--label-column", "st"],
    ),
}


# ----------------------------------------------------------------------------- fast checks
def test_label_columns_and_multilabel_are_checked_with_the_keys_they_need(tmp_path):
    table = ["data.source=table", 'data.label_columns=["y1", "y2"]']
    assert load_config(None, table).data.label_columns == ("y1", "y2")
    saved = json.loads(json.dumps({"data": load_config(None, table).to_dict()["data"]}))
    assert config_from_dict(saved).data.label_columns == ("y1", "y2")  # config.json round trip
    for sets, needle in [
        (['data.label_columns=["y1"]'], '"table" or "long_table"'),
        ([*table, "data.task=multiclass"], "several columns are several targets"),
        ([*table, "data.label_column=y"], "data.label_column left unset"),
        (["data.source=table", 'data.label_columns=["y", "y"]'], "distinct column names"),
        (["data.source=table", "data.label_columns=[]"], "non-empty list of strings"),
        (["data.source=table", "data.label_columns=y"], "non-empty list of strings"),
        (["data.multilabel=true", "data.task=tagging"], "key 'data.multilabel'"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            load_config(None, sets)
    assert data_overrides(["data.text_column=body"], {"label_column": "y", "id_column": None}) == {
        "text_column": "body",
        "label_column": "y",
    }
    with pytest.raises(ConfigError, match="train.epochs"):
        data_overrides(["train.epochs=3"])
    with pytest.raises(ConfigError, match="text_colum"):
        data_overrides(["data.text_colum=body"])
    with pytest.raises(ConfigError, match="data.label_column.*text_column"):
        data_overrides(["data.label_column=y"], allowed=("text_column",))


def test_lengths_reads_rows_without_a_split_as_train_and_takes_column_options(tmp_path, capsys):
    out = str(tmp_path / "report")
    topics = str(EXAMPLES / "data" / "topics.tsv")  # no split column at all
    args = ["lengths", topics, "--text-column", "headline", "--label-column", "topic"]
    assert main([*args, "--out", out]) == 0
    report = json.loads((tmp_path / "report" / "lengths.json").read_text())
    assert report["n"] == 45 and report["data"].startswith(f"{topics} (train")
    assert main(["lengths", str(EXAMPLES / "data" / "reviews.csv"), "--out", out]) == 0
    assert json.loads((tmp_path / "report" / "lengths.json").read_text())["n"] == 41  # 7 test
    sensors = str(EXAMPLES / "data" / "sensors.csv")
    long = ["--id-column", "sequence", "--step-column", "t", "--set", "data.label_column=state"]
    long += ["--set", "data.task=tagging"]  # the state column holds one tag per step
    assert main(["lengths", sensors, *long, "--split", "all", "--out", out]) == 0
    report = json.loads((tmp_path / "report" / "lengths.json").read_text())
    assert report["n"] == 30 and "time steps" in report["data"]
    capsys.readouterr()
    assert main(["lengths", topics, "--text-column", "headline", "--out", out]) == 2
    assert "a label column named 'label'" in capsys.readouterr().err
    assert main(["lengths", topics, "--set", "data.text_colum=headline", "--out", out]) == 2
    assert "text_column" in capsys.readouterr().err


# ----------------------------------------------------------------------------- end to end
def renamed_copy(task: Task, directory: Path) -> Path:
    """The task's data file with its columns renamed (and its format changed, if asked)."""
    src = EXAMPLES / "data" / task.data
    out = directory / f"renamed{task.suffix or src.suffix}"
    if src.suffix == ".jsonl":
        rows = [json.loads(line) for line in src.read_text().splitlines()]
        rows = [{task.rename.get(k, k): v for k, v in r.items()} for r in rows]
        out.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return out
    sep = "\t" if src.suffix == ".tsv" else ","
    header, *lines = src.read_text().splitlines()
    names = [task.rename.get(c, c) for c in header.split(sep)]
    if out.suffix == src.suffix:
        out.write_text("\n".join([sep.join(names), *lines]) + "\n")
        return out
    rows = [dict(zip(names, line.split(sep), strict=True)) for line in lines]
    if out.suffix == ".jsonl":
        out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        typed = {
            c: [float(r[c]) if c in task.rename.values() else r[c] for r in rows] for c in names
        }
        pq.write_table(pa.table(typed), out)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Each task's model directory, trained from its example through the CLI (tiny and fast)."""
    root = tmp_path_factory.mktemp("tasks")
    out = {}
    for name, task in TASKS.items():
        sets = [f"data.path={EXAMPLES / 'data' / task.data}", *FAST, *task.extra]
        argv = ["-q", "train", str(EXAMPLES / task.config), "--out", str(root / name)]
        assert main(argv + [x for s in sets for x in ("--set", s)]) == 0, name
        out[name] = root / name / "model"
    return out


def _predictor(model: Path, backend: str = "eager"):
    from padless.deploy.predict import load

    return load(model, backend=backend)


def _scored(name: str, model: Path):
    """The rows ``padless evaluate`` scores by default (test, else all) as (inputs, labels),
    read with the training settings."""
    from padless.data.sources import load_data

    saved = json.loads((model / "config.json").read_text())["data"]
    ds = load_data(config_from_dict({"data": saved}, "config.json").data)
    rows = [i for i, s in enumerate(ds.splits) if s == "test"] or list(range(len(ds)))
    inputs = ds.texts if hasattr(ds, "texts") else ds.sequences
    return [inputs[i] for i in rows], [ds.labels[i] for i in rows]


def _expected(predictor, inputs: list, labels: list) -> dict:
    """The task metrics computed from the Python predictor's logits (not run_split)."""
    from padless.evaluation.metrics import compute_metrics

    space = predictor.artifact.labels
    logits = predictor.logits(inputs)
    targets = [space.encode(lab) for lab in labels]
    if space.task == "tagging":
        return compute_metrics("tagging", np.concatenate(targets), np.concatenate(logits))
    return compute_metrics(space.task, np.asarray(targets), logits)


HEADLINE = ("examples", "accuracy", "macro_f1", "micro_f1", "mae", "rmse", "r2")


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_evaluate_reads_renamed_columns_and_agrees_with_the_predictor(runs, name, tmp_path, capsys):
    task, model = TASKS[name], runs[name]
    copy = renamed_copy(task, tmp_path)
    assert main(["evaluate", str(model), str(copy), "--format", "json", *task.flags]) == 0
    got = json.loads(capsys.readouterr().out)
    predictor = _predictor(model)
    want = _expected(predictor, *_scored(name, model))
    assert got["task"] == predictor.task and got["labels"] == predictor.labels
    for key in HEADLINE:
        if key in want:
            assert got[key] == pytest.approx(want[key], abs=1e-5), key
    if predictor.task == "regression":
        assert got["per_target"]["mae"] == pytest.approx(want["per_target"]["mae"], abs=1e-5)
    # without the column options the renamed copy is refused, naming what is missing
    assert main(["evaluate", str(model), str(copy)]) == 2
    err = capsys.readouterr().err
    assert "column" in err and "Fix:" in err


@pytest.mark.slow
def test_targets_are_named_after_their_columns_everywhere(runs, tmp_path, capsys):
    model = runs["targets"]
    predictor = _predictor(model)
    assert predictor.task == "regression" and predictor.labels == ["score", "energy"]
    (result,) = predictor.predict(["wonderful warm film"])
    assert list(result) == ["values"] and list(result["values"]) == ["score", "energy"]
    assert main(["evaluate", str(model), str(EXAMPLES / "data" / "scores.csv")]) == 0
    table = capsys.readouterr().out
    assert "target" in table and "score" in table and "energy" in table
    src = tmp_path / "in.txt"
    src.write_text("wonderful warm film\ndull flat plot\n")
    assert (
        main(["predict", str(model), "--input", str(src), "--output", str(tmp_path / "p.csv")]) == 0
    )
    header, first, _ = (tmp_path / "p.csv").read_text().splitlines()
    assert header == "value_score,value_energy"
    assert [float(x) for x in first.split(",")] == pytest.approx(list(result["values"].values()))
    from padless.deploy.evaluate import evaluate_artifact

    one_column = {"label_column": "score"}  # one column for a model of two targets
    with pytest.raises(DataError, match=r"2 target value\(s\)"):
        evaluate_artifact(model, str(EXAMPLES / "data" / "scores.csv"), data_overrides=one_column)
    with pytest.raises(DataError, match="the model's task 'regression'"):
        evaluate_artifact(
            model, str(EXAMPLES / "data" / "scores.csv"), data_overrides={"task": "binary"}
        )
    assert _predictor(runs["regression"]).labels == ["target"]


@pytest.mark.slow
def test_targets_train_through_the_streamed_store(tmp_path):
    """The default path (data.cache = true) of a text table builds the store streaming."""
    task = TASKS["targets"]
    sets = [f"data.path={EXAMPLES / 'data' / task.data}", *FAST, f"data.cache_dir={tmp_path}"]
    argv = ["-q", "train", str(EXAMPLES / task.config), "--out", str(tmp_path / "run")]
    assert main(argv + [x for s in sets for x in ("--set", s)]) == 0
    labels = json.loads((tmp_path / "run" / "model" / "labels.json").read_text())
    assert labels == {"task": "regression", "classes": ["score", "energy"]}


@pytest.mark.slow
def test_predict_reads_a_long_table_by_sequence_id(runs, tmp_path, capsys):
    task, model = TASKS["tagging-long"], runs["tagging-long"]
    copy = renamed_copy(task, tmp_path)
    flags = ["--id-column", "sid", "--step-column", "step"]
    assert main(["predict", str(model), "--input", str(copy), *flags]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    from padless.data.long_table import read_long_table

    kw = {"id_column": "sequence", "step_column": "t", "feature_columns": ["delta", "level"]}
    ds = read_long_table(EXAMPLES / "data" / "sensors.csv", label_column=None, **kw)
    assert [x["id"] for x in lines] == ds.ids and len(lines) == 30
    want = _predictor(model).predict(ds.sequences)
    assert [x["tags"] for x in lines] == [w["tags"] for w in want]
    assert [len(x["tags"]) for x in lines] == [len(s) for s in ds.sequences]


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_onnx_export_equals_eager_on_the_ragged_rows(runs, name):
    pytest.importorskip("onnxruntime")
    from padless.deploy.export import export_artifact

    model = runs[name]
    report = export_artifact(model, None, fmt="onnx")
    assert report["max_abs_diff"] <= 1e-4
    inputs, _ = _scored(name, model)
    predictor = _predictor(model)
    assert len({len(x) for x in predictor.encode_each(inputs)}) > 1  # ragged: padding in play
    eager = predictor.logits(inputs)
    onnx = _predictor(model, "onnx").logits(inputs)
    assert len(onnx) == len(eager) == len(inputs)
    for a, b in zip(onnx, eager, strict=True):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, atol=1e-4)


# ----------------------------------------------------------------------------- serving
@contextmanager
def servers(models: dict[str, tuple[Path, str]]) -> Iterator[dict[str, str]]:
    """``padless serve`` of every ``(model, backend)`` at once (they start in parallel), each
    on a free loopback port; yields {name: url} once every /readyz answers 200."""
    from tests.serve.server import free_port

    procs, urls, logs = {}, {}, {}
    try:
        for name, (model, backend) in models.items():
            port = free_port()
            fd, logs[name] = tempfile.mkstemp(prefix="padless-task-", suffix=".log")
            cmd = [sys.executable, "-m", "padless", "serve", str(model), "--port", str(port)]
            cmd += ["--backend", backend]
            with os.fdopen(fd, "wb") as log:
                procs[name] = subprocess.Popen(
                    cmd, env={**os.environ, "CI": "1"}, stdout=log, stderr=subprocess.STDOUT
                )
            urls[name] = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        waiting = set(models)
        while waiting:
            for name in list(waiting):
                assert procs[name].poll() is None, Path(logs[name]).read_text()
                try:
                    if httpx.get(urls[name] + "/readyz", timeout=1).status_code == 200:
                        waiting.discard(name)
                except httpx.HTTPError:
                    pass
            assert time.monotonic() < deadline, f"not ready: {waiting}"
            time.sleep(0.1)
        yield urls
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs.values():
            Path(log).unlink(missing_ok=True)


def _same(got: dict, want: dict) -> None:
    assert set(got) == set(want), (got, want)
    for key, value in want.items():
        if key == "scores" or key == "values":
            assert list(got[key]) == list(value)
            np.testing.assert_allclose(list(got[key].values()), list(value.values()), atol=1e-5)
        elif key == "value":
            assert got[key] == pytest.approx(value, abs=1e-5)
        else:
            assert got[key] == value, key


# Served by the PyTorch model: a numeric one; the others from their ONNX export (checked
# against eager above), whose server starts without importing torch: seconds, not tens.
EAGER = ("tagging-long",)


@pytest.mark.slow
def test_every_task_is_served_like_the_predictor_answers(runs):
    pytest.importorskip("onnxruntime")
    from padless.deploy.export import export_artifact

    requests, served = {}, {}
    for name, model in runs.items():
        served[name] = (model, "eager" if name in EAGER else "onnx")
        if name not in EAGER and not (model / "model.onnx").is_file():
            export_artifact(model, None, fmt="onnx")
        inputs, _ = _scored(name, model)
        inputs = inputs[:3]
        body = [x if isinstance(x, str) else np.asarray(x).tolist() for x in inputs]
        requests[name] = (body, _predictor(model).predict(inputs))
    with servers(served) as urls:
        for name, (body, want) in requests.items():
            r = httpx.post(urls[name] + "/v1/predict", json={"inputs": body}, timeout=30)
            assert r.status_code == 200, (name, r.text)
            got = r.json()["predictions"]
            assert len(got) == len(want) == 3
            for g, w in zip(got, want, strict=True):
                _same(g, w)
