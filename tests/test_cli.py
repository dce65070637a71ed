"""The CLI end to end, in-process: train on a tiny config → artifact → predict; and the errors."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from padless.cli import build_parser, main

TINY = """
[data]
source = "imdb-sample"
limit = 400
[text]
max_size = 2000
max_length = 64
[model]
embedding_dim = 16
hidden_size = 16
[train]
epochs = 1
batch_size = 32
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    cfg = root / "tiny.toml"
    cfg.write_text(TINY)
    assert main(["-q", "train", str(cfg), "--out", str(root / "out"), "--set", "train.seed=1"]) == 0
    return root / "out"


def test_train_writes_artifact_and_metrics(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert {"train", "valid", "test"} <= set(metrics)
    assert metrics["config"]["train"]["seed"] == 1
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    files = {p.name for p in (trained / "model").iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "labels.json",
        "vocab.json",
        "text.json",
        "manifest.json",
    } <= files


def test_predict_from_stdin_and_jsonl(trained, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"great film\nawful film\n")))
    assert main(["predict", str(trained / "model"), "--input", "-"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert line["label"] in ("neg", "pos")
        assert abs(sum(line["scores"].values()) - 1) < 1e-5
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "great film"}\n{"text": "awful film"}\n')
    assert main(["predict", str(trained / "model"), "--input", str(src)]) == 0
    assert [json.loads(x) for x in capsys.readouterr().out.splitlines()] == lines


def test_python_api_matches_cli(trained):
    import padless

    p = padless.load(trained / "model")
    assert p.labels == ["neg", "pos"]
    out = p.predict(["great film", "awful film"])
    logits = p.logits(["awful film", "great film"])
    assert logits.shape == (2, 1)
    assert (logits[1, 0] > 0) == (out[0]["label"] == "pos")


def run_error(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    return err


def test_config_errors_name_the_key(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nepochz = 1\n")
    err = run_error(["train", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert "train.epochz" in err and "Did you mean 'epochs'" in err


def test_data_errors_are_readable(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("text,label\nfine,a\nalso fine,a\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[data]\nsource = "table"\npath = "{data}"\n')
    err = run_error(["train", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert "two classes" in err and "only ['a']" in err
    err = run_error(
        ["train", str(cfg), "--set", "data.text_column=body", "--out", str(tmp_path / "o")], capsys
    )
    assert "'body'" in err and "d.csv" in err


def test_predict_errors(trained, tmp_path, capsys):
    err = run_error(["predict", str(tmp_path / "missing"), "--input", "-"], capsys)
    assert "manifest" in err
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n\xff\xfe\n")
    err = run_error(["predict", str(trained / "model"), "--input", str(bad)], capsys)
    assert "line 2" in err and "UTF-8" in err
    blank = tmp_path / "blank.txt"
    blank.write_text("fine\n\n")
    assert "line 2" in run_error(["predict", str(trained / "model"), "--input", str(blank)], capsys)


def test_tampered_artifact_is_refused(trained, tmp_path, capsys):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(trained / "model", copy)
    (copy / "labels.json").write_text('{"task": "binary", "classes": ["pos", "neg"]}')
    assert "sha256" in run_error(["predict", str(copy), "--input", "-"], capsys)


def test_lengths_command(tmp_path, capsys):
    assert main(["lengths", "imdb-sample", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "bucket" in out and "random" in out
    report = json.loads((tmp_path / "lengths.json").read_text())
    assert report["n"] == 2000 and report["data"].startswith("imdb-sample")
    assert {s["name"] for s in report["strategies"]} >= {
        "fixed",
        "random",
        "bucket",
        "token_budget",
    }
    assert (tmp_path / "lengths.png").stat().st_size > 1000


def test_console_script_and_module_entry_points():
    out = subprocess.run(
        [sys.executable, "-m", "padless", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("padless ")


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    names = {"train", "baseline", "evaluate", "predict", "export", "serve", "lengths", "kernels"}
    assert set(commands) == names
    for name, parser in commands.items():
        assert f"    {name} " in out, name  # listed, with its one-line help
        assert "-q, --quiet" in parser.format_help(), name


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_before_or_after_the_command(where, tmp_path):
    args = ["lengths", "imdb-sample", "--out", str(tmp_path)]
    argv = ["-q", *args] if where == "before" else [*args, "-q"]
    assert build_parser().parse_args(argv).quiet is True
    assert build_parser().parse_args(args).quiet is False
    assert main(argv) == 0


def _train_subprocess(tmp_path: Path, argv: list[str], ci: str) -> subprocess.CompletedProcess:
    """``padless`` as CI runs it: a child process, output to pipes (no terminal), ``CI`` set."""
    import os

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    argv = [str(cfg) if a == "CFG" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    env = {**os.environ, "CI": ci}
    cmd = [sys.executable, "-m", "padless", *argv]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_ci_logs_one_line_per_epoch_and_no_bars(tmp_path):
    argv = ["train", "CFG", "--out", "OUT", "--set", "train.epochs=2"]
    out = _train_subprocess(tmp_path, argv, ci="1")
    assert "\r" not in out.stderr  # no progress bar redraws in the log
    lines = [x for x in out.stderr.splitlines() if "padless.train.loop: epoch " in x]
    assert [x.split(": ", 2)[1] for x in lines] == ["epoch 1/2", "epoch 2/2"], out.stderr
    for line in lines:
        assert line.startswith("INFO ")
        for key in ("train_loss=", "valid_accuracy=", "tokens/s=", "elapsed=", "eta="):
            assert key in line, line
    assert lines[-1].endswith("eta=0.0s")
    assert json.loads(out.stdout.splitlines()[-1])["out"] == str(tmp_path / "out")


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_silences_the_epoch_lines(where, tmp_path):
    argv = ["train", "CFG", "--out", "OUT"]
    argv = ["-q", *argv] if where == "before" else [*argv, "-q"]
    out = _train_subprocess(tmp_path, argv, ci="true")
    assert "INFO" not in out.stderr and "\r" not in out.stderr, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["out"] == str(tmp_path / "out")


def test_model_config_conflicts_are_config_errors(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY)
    err = run_error(
        ["train", str(cfg), "--set", "model.nonlinearity=relu", "--out", str(tmp_path / "o")],
        capsys,
    )
    assert "[model]" in err and "nonlinearity" in err
    err = run_error(
        [
            "train",
            str(cfg),
            "--set",
            "model.transformer_layers=1",
            "--set",
            "model.transformer_heads=5",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert "nhead" in err


def test_numeric_model_predict_and_evaluate_from_the_cli(tmp_path, capsys):
    """A numeric (adding-problem) model: train, predict from JSONL "inputs", evaluate."""
    out = tmp_path / "out"
    recipe = Path(__file__).resolve().parents[1] / "configs" / "adding.toml"
    argv = ["-q", "train", str(recipe), "--out", str(out)]
    for item in (
        "data.train_size=200",
        "data.valid_size=40",
        "data.test_size=40",
        "data.max_length=20",
        "model.hidden_size=8",
        "train.epochs=1",
    ):
        argv += ["--set", item]
    assert main(argv) == 0
    capsys.readouterr()
    src = tmp_path / "in.jsonl"
    rows = [[[0.5, 1], [0.1, 0], [0.25, 1]], [[0.9, 1], [0.9, 1]]]
    src.write_text("".join(json.dumps({"inputs": r}) + "\n" for r in rows))
    assert main(["predict", str(out / "model"), "--input", str(src)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and all(isinstance(r["value"], float) for r in lines)
    import padless

    arrays, lengths = padless.load(out / "model").encode(rows)
    assert arrays.dtype.name == "float32" and arrays.shape == (2, 3, 2)
    assert lengths.dtype.name == "int64" and lengths.tolist() == [3, 2]
    assert (arrays[1, 2] == 0).all()  # right-padded with zeros
    assert main(["evaluate", str(out / "model"), "adding", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "regression" and result["examples"] == 40 and "mse" in result
    src.write_text('{"inputs": [[0.5, 1, 3]]}\n')
    assert main(["predict", str(out / "model"), "--input", str(src)]) == 2
    assert "(T, 2)" in capsys.readouterr().err


def test_bigram_skip_model_round_trips_through_the_artifact(tmp_path):
    import numpy as np

    import padless

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    extra = ["--set", "text.ngrams=2", "--set", "text.ngram_min_freq=2"]
    extra += ["--set", "model.embedding_skip=true"]
    assert main(["-q", "train", str(cfg), "--out", str(tmp_path / "out"), *extra]) == 0
    model_dir = tmp_path / "out" / "model"
    assert (model_dir / "bigrams.json").is_file()
    p = padless.load(model_dir)
    texts = ["a great great film", "awful, boring film", "not bad at all", "great"]
    (enc,) = p.encode_each(["a great great film"])
    assert enc.ndim == 2 and enc.shape[1] == 2 and (enc[:, 1] > 0).any()  # bigram ids kept
    arrays, lengths = p.encode(texts)
    assert arrays.dtype == np.int64 and arrays.shape == (4, lengths.max(), 2)
    assert lengths.tolist() == [len(x) for x in p.encode_each(texts)]
    together = p.logits(texts)
    alone = np.concatenate([p.logits([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize("bigrams", [False, True])
def test_export_onnx_from_the_cli_matches_the_predictor(tmp_path, capsys, bigrams):
    """`padless export` writes an ONNX file whose outputs on the artifact's own encoding of
    ragged texts equal Predictor.logits (word ids, or word + bigram ids per step)."""
    import numpy as np

    import padless

    ort = pytest.importorskip("onnxruntime")
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    extra = ["--set", "text.ngrams=2", "--set", "text.ngram_min_freq=2"] if bigrams else []
    assert main(["-q", "train", str(cfg), "--out", str(tmp_path / "out"), *extra]) == 0
    model_dir = tmp_path / "out" / "model"
    onnx_path = tmp_path / "m.onnx"
    capsys.readouterr()
    assert main(["export", str(model_dir), "--out", str(onnx_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "onnx" and report["max_abs_diff"] <= 1e-4
    p = padless.load(model_dir)
    texts = ["a great great film", "awful", "not bad at all, a fine and moving story", "ok film"]
    arrays, lengths = p.encode(texts)  # the arrays the graph takes, in input order
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feeds = {"inputs": arrays, "lengths": lengths}
    assert feeds["inputs"].ndim == (3 if bigrams else 2)
    got = sess.run(None, feeds)[0]
    np.testing.assert_allclose(got, p.logits(texts), atol=1e-4)
    assert run_error(["export", str(tmp_path / "nope"), "--out", str(onnx_path)], capsys)


def test_export_onnx_int8_is_smaller_keeps_lengths_and_stays_close(trained, tmp_path, capsys):
    import numpy as np
    import onnx

    import padless

    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "m8.onnx"
    capsys.readouterr()
    assert main(["export", str(trained / "model"), "--format", "onnx-int8", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "onnx-int8" and report["bytes"] < 0.5 * report["fp32_bytes"]
    graph = onnx.load(str(out)).graph
    lstm = [n for n in graph.node if n.op_type == "DynamicQuantizeLSTM"]
    assert lstm and all(n.input[4] for n in lstm)  # still fed sequence_lens
    assert not list(tmp_path.glob("*.pre.onnx"))  # the intermediate file is removed
    p = padless.load(trained / "model")
    texts = ["a great great film", "awful", "not bad at all, a fine and moving story", "ok"]
    arrays, lengths = p.encode(texts)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"inputs": arrays, "lengths": lengths})[0]
    np.testing.assert_allclose(got, p.logits(texts), atol=0.05)  # int8: close, not exact


@pytest.mark.parametrize("backend", ["onnx", "torchscript"])
def test_predict_with_an_exported_backend_matches_eager_and_checks_the_file(
    trained, tmp_path, capsys, backend
):
    import numpy as np

    pytest.importorskip("onnxruntime")
    model = trained / "model"
    exported = model / ("model.onnx" if backend == "onnx" else "model-torchscript.pt")
    src = tmp_path / "in.txt"
    src.write_text("great film\nawful, boring film with a dull plot\nok\n")
    predict = ["predict", str(model), "--input", str(src), "--backend", backend]
    assert main(predict) == 2
    assert "padless export" in capsys.readouterr().err  # no export yet: says how to make it
    fmt = "onnx" if backend == "onnx" else "torchscript"
    assert main(["export", str(model), "--format", fmt]) == 0  # default file in MODEL/
    assert exported.is_file()
    capsys.readouterr()
    outputs = {}
    for name in ("eager", backend):
        assert main(["predict", str(model), "--input", str(src), "--backend", name]) == 0
        outputs[name] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in outputs[backend]] == [r["label"] for r in outputs["eager"]]
    for a, b in zip(outputs[backend], outputs["eager"], strict=True):
        np.testing.assert_allclose(
            list(a["scores"].values()), list(b["scores"].values()), atol=1e-5
        )
    # An export of other weights is refused: re-stamp a copy with another digest.
    other = tmp_path / exported.name
    if backend == "onnx":
        import onnx

        proto = onnx.load(str(exported))
        for prop in proto.metadata_props:
            if prop.key == "padless.weights_sha256":
                prop.value = "0" * 64
        onnx.save(proto, str(other))
    else:
        import torch

        extra = {"padless.json": ""}
        module = torch.jit.load(str(exported), _extra_files=extra)
        meta = {**json.loads(extra["padless.json"]), "padless.weights_sha256": "0" * 64}
        torch.jit.save(module, str(other), _extra_files={"padless.json": json.dumps(meta)})
    err = run_error([*predict, "--export-file", str(other)], capsys)
    assert "re-export" in err and "000000000000" in err
    exported.unlink()  # leave the shared fixture as it was


def test_predict_writes_csv_or_jsonl_in_input_order_across_chunks(trained, tmp_path, capsys):
    import csv

    model = str(trained / "model")
    texts = [
        "great film",
        "awful, boring film with a dull plot",
        "ok",
        "a fine, moving story",
        "bad",
    ]
    src = tmp_path / "in.txt"
    src.write_text("\n".join(texts) + "\n")
    assert main(["predict", model, "--input", str(src)]) == 0
    expected = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    out = tmp_path / "p.jsonl"
    assert (
        main(["predict", model, "--input", str(src), "--output", str(out), "--chunk-size", "2"])
        == 0
    )
    assert [json.loads(x) for x in out.read_text().splitlines()] == expected
    out = tmp_path / "sub" / "p.csv"
    assert (
        main(["predict", model, "--input", str(src), "--output", str(out), "--chunk-size", "2"])
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert [r["label"] for r in rows] == [e["label"] for e in expected]
    assert set(rows[0]) == {"label", "score_neg", "score_pos"}
    assert float(rows[1]["score_pos"]) == pytest.approx(expected[1]["scores"]["pos"])
    # Chunked reading still names the input's own row in errors.
    src = tmp_path / "bad.jsonl"
    lines = [{"text": t} for t in texts[:3]] + [{"inputs": [1, 2]}]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    err = run_error(["predict", model, "--input", str(src), "--chunk-size", "2"], capsys)
    assert "row 3" in err


def test_export_eval_reports_the_int8_change_and_evaluate_scores_exports(trained, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    model = str(trained / "model")
    out = tmp_path / "m8.onnx"
    argv = ["export", model, "--format", "onnx-int8", "--out", str(out), "--eval", "imdb-sample"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)["eval"]
    assert report["split"] == "test" and report["examples"] == 500
    assert report["change"]["accuracy"] == pytest.approx(
        report["onnx-int8"]["accuracy"] - report["eager"]["accuracy"]
    )
    assert abs(report["change"]["accuracy"]) <= 0.05
    scored = {}
    fp32 = tmp_path / "m.onnx"
    assert main(["export", model, "--out", str(fp32)]) == 0
    capsys.readouterr()
    for backend, path in (("eager", None), ("onnx", fp32), ("onnx", out)):
        argv = ["evaluate", model, "imdb-sample", "--format", "json", "--backend", backend]
        assert main(argv + (["--export-file", str(path)] if path else [])) == 0
        scored[str(path)] = json.loads(capsys.readouterr().out)
    assert scored["None"]["accuracy"] == report["eager"]["accuracy"]
    assert scored[str(fp32)]["accuracy"] == scored["None"]["accuracy"]  # fp32 graph: same answers
    assert scored[str(fp32)]["loss"] == pytest.approx(scored["None"]["loss"], abs=1e-5)
    assert scored[str(out)]["accuracy"] == report["onnx-int8"]["accuracy"]


def test_kernels_build_then_status(capsys, monkeypatch):
    """`padless kernels build` builds (or loads) the kernels of this environment and says
    where, with which key and how long; `padless kernels status` then reports them built."""
    monkeypatch.delenv("PADLESS_KERNELS_DIR", raising=False)
    code = main(["kernels", "build"])
    out, err = capsys.readouterr()
    if code != 0:  # no toolchain: the failure says so, with the fix
        assert "padless kernels build" in err and "fallback" in err, err
        pytest.skip(f"the kernels cannot be built here: {err}")
    first, where, key = out.splitlines()[:3]
    assert first.startswith(("built ", "already built, ")) and " padless_kernels_" in first
    assert first.split(" in ")[-1].endswith(" s")
    directory = Path(where.split("where:")[1].strip())
    assert directory.is_relative_to(Path(sys.prefix).resolve())
    assert (directory / "build.json").is_file()
    assert key.split()[1] == directory.name.removeprefix("padless_kernels_")
    assert "torch" in key and "sources" in key
    assert main(["kernels", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["built"] and status["build"] == directory.name and status["reason"] is None


def test_kernels_status_says_why_not_built(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PADLESS_KERNELS_DIR", str(tmp_path))  # an empty root: nothing built
    assert main(["kernels", "status"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("not built for this environment")
    assert str(tmp_path) in out and "run `padless kernels build`" in out
    monkeypatch.setenv("PADLESS_NO_EXT", "1")
    assert main(["kernels", "status"]) == 1
    assert "disabled by PADLESS_NO_EXT" in capsys.readouterr().out
