"""padless.deploy.predict: padding to the graph's arrays, streamed input files, and the ONNX backend
running with PyTorch absent (the [edge] install)."""

import csv
import gzip
import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from padless.cli import main
from padless.deploy.inputs import read_inputs
from padless.deploy.predict import pad
from padless.errors import DataError

# Trained on a table whose text column is "review": `padless predict` reads tables by it.
TINY = """
[data]
source = "table"
path = "{path}"
text_column = "review"
limit = 300
[text]
max_size = 1500
max_length = 48
[model]
embedding_dim = 8
hidden_size = 8
bidirectional = true
[train]
epochs = 1
batch_size = 32
"""

TEXTS = [
    "great film",
    "awful, boring film with a dull plot and worse acting",
    "ok",
    "a fine, moving story",
    "bad",
]


# ------------------------------------------------------------------------------------- results
def _predictor_of(space):
    """A Predictor reduced to its label space (``results`` reads nothing else)."""
    from types import SimpleNamespace

    from padless.deploy.predict import Predictor

    p = Predictor.__new__(Predictor)
    p.artifact = SimpleNamespace(labels=space)
    return p


def test_results_of_one_or_several_regression_targets_and_of_tags():
    from padless.encode.labels import LabelSpace

    one = _predictor_of(LabelSpace("regression", ("target",)))
    assert one.results(np.array([[0.5], [-2.0]])) == [{"value": 0.5}, {"value": -2.0}]
    two = _predictor_of(LabelSpace("regression", ("score", "energy")))
    got = two.results(np.array([[0.5, -1.0], [2.0, 0.25]]))
    assert got == [
        {"values": {"score": 0.5, "energy": -1.0}},
        {"values": {"score": 2.0, "energy": 0.25}},
    ]
    assert list(got[0]["values"]) == ["score", "energy"]  # the trained column order
    tags = _predictor_of(LabelSpace("tagging", ("D", "N")))
    assert [r["label"] for r in tags.results(np.array([[0.0, 2.0], [1.0, -1.0]]))] == ["N", "D"]


def test_read_long_inputs_takes_the_feature_columns_by_id_and_step(tmp_path):
    from padless.deploy.predict import read_long_inputs

    path = tmp_path / "long.csv"
    path.write_text("sid,t,a,label,b\ns2,1,3,x,4\ns1,0,1,x,2\ns2,0,5,y,6\n")
    ids, seqs = read_long_inputs(path, {"id_column": "sid", "step_column": "t"}, ["b", "a"])
    assert ids == ["s2", "s1"]
    assert [s.tolist() for s in seqs] == [[[6.0, 5.0], [4.0, 3.0]], [[2.0, 1.0]]]
    with pytest.raises(DataError, match="'c'"):
        read_long_inputs(path, {"id_column": "sid"}, ["a", "c"])


# ----------------------------------------------------------------------------------------- pad
def test_pad_keeps_order_and_zero_fills_each_kind():
    x, lengths = pad([[3, 4, 5], [7], [1, 2]])
    assert x.dtype == np.int64 and lengths.dtype == np.int64
    assert x.tolist() == [[3, 4, 5], [7, 0, 0], [1, 2, 0]] and lengths.tolist() == [3, 1, 2]
    x, _ = pad([np.ones((2, 2), np.int64), np.full((1, 2), 9)])  # K ids per step
    assert x.shape == (2, 2, 2) and x[1].tolist() == [[9, 9], [0, 0]]
    x, lengths = pad([np.ones((1, 3), np.float32), np.ones((4, 3), np.float32)])
    assert x.dtype == np.float32 and x.shape == (2, 4, 3) and x[0, 1:].sum() == 0
    with pytest.raises(DataError, match="at least one input"):
        pad([])
    with pytest.raises(DataError, match="row 1"):
        pad([[1], []])


# ----------------------------------------------------------------------------- streamed input
def test_read_inputs_streams_chunks_in_order_with_offsets(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes("".join(f"text {i}\r\n" for i in range(7)).encode())
    seen = []
    chunks = list(read_inputs(str(src), chunk_size=3, progress=seen.append))
    assert [(o, len(c)) for o, c, _ in chunks] == [(0, 3), (3, 3), (6, 1)]
    assert [t for _, c, _ in chunks for t in c] == [f"text {i}" for i in range(7)]
    assert sum(seen) == src.stat().st_size  # the progress bar reaches the file size


def test_read_inputs_is_lazy_a_late_error_comes_after_earlier_chunks(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"one\ntwo\nthree\n\xff\xfe broken\n")
    it = read_inputs(str(src), chunk_size=2)
    assert next(it)[1] == ["one", "two"]  # yielded before the bad line was read
    with pytest.raises(DataError, match="line 4.*UTF-8"):
        list(it)


def test_read_inputs_jsonl_fields_blank_lines_and_errors(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a"}\n\n{"inputs": [[0.5], [1.5]]}\n')
    (chunk,) = [c for _, c, _ in read_inputs(str(src))]
    assert chunk == ["a", [[0.5], [1.5]]]
    auto = tmp_path / "in.txt"  # a first line starting with "{" means JSON lines too
    auto.write_text('{"text": "b"}\n')
    assert next(read_inputs(str(auto)))[1] == ["b"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"txt": "b"}\n')
    with pytest.raises(DataError, match="line 2.*inputs"):
        list(read_inputs(str(bad)))
    empty = tmp_path / "empty.txt"
    empty.write_text("a\n\nb\n")
    with pytest.raises(DataError, match="line 2.*empty line"):
        list(read_inputs(str(empty)))
    with pytest.raises(DataError, match="no such file"):
        list(read_inputs(str(tmp_path / "missing.txt")))


# ----------------------------------------------------------------------------- tables
@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny model trained once for the module, on the IMDB sample written as a CSV table
    with the text in a column named "review"."""
    from padless.data.imdb import imdb_sample

    root = tmp_path_factory.mktemp("tiny")
    ds = imdb_sample()
    with open(root / "reviews.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "label", "split"])
        writer.writerows(zip(ds.texts, ds.labels, ds.splits, strict=True))
    cfg = root / "tiny.toml"
    cfg.write_text(TINY.format(path=(root / "reviews.csv").as_posix()))
    assert main(["-q", "train", str(cfg), "--out", str(root / "out")]) == 0
    return root / "out" / "model"


# Texts with what breaks reading one input per line: a comma, quotes, a line break.
ROWS = [*TEXTS, 'a "quoted" word, then more', "a review over\ntwo lines, with a comma"]


def write_table(path, column="review", texts=ROWS):
    """``texts`` in column ``column`` of a table (by the suffix: CSV, TSV, optionally gzipped,
    or Parquet), with an id column before it and a label column after."""
    rows = [[str(i), t, "pos"] for i, t in enumerate(texts)]
    if path.suffix == ".parquet":
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        ids, texts_, labels = (list(c) for c in zip(*rows, strict=True))
        pq.write_table(pa.table({"id": ids, column: texts_, "label": labels}), path)
        return path
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter="\t" if ".tsv" in path.suffixes else ",")
    writer.writerows([["id", column, "label"], *rows])
    data = buf.getvalue().encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def predict_file(model, path, *args):
    out = path.parent / f"{path.name}.out.jsonl"
    args = ["predict", str(model), "--input", str(path), "--output", str(out), *args]
    assert main(args) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("name", ["in.csv", "in.tsv.gz", "in.parquet"])
def test_cli_predict_reads_a_table_one_result_per_row_in_order(model, tmp_path, name):
    import padless

    expected = json.loads(json.dumps(padless.load(model).predict(ROWS)))
    path = write_table(tmp_path / name)  # the text column the model was trained with
    assert predict_file(model, path, "--chunk-size", "3") == expected


def test_cli_predict_text_column_and_its_errors(model, tmp_path, capsys):
    import padless

    expected = json.loads(json.dumps(padless.load(model).predict(ROWS)))
    path = write_table(tmp_path / "in.csv", column="body")
    assert main(["predict", str(model), "--input", str(path)]) == 2
    err = capsys.readouterr().err
    assert "a text column named 'review'" in err and "--text-column" in err and "body" in err
    assert predict_file(model, path, "--text-column", "body") == expected
    jsonl = tmp_path / "in.jsonl"  # JSON lines: the text column, else "text" / "inputs"
    jsonl.write_text("".join(json.dumps({"body": t}) + "\n" for t in ROWS))
    assert predict_file(model, jsonl, "--text-column", "body") == expected
    bad = write_table(tmp_path / "bad.csv", texts=["good", "fine"])
    bad.write_text(bad.read_text().replace("0,good", '0,"good'))  # a stray quote on line 2
    assert main(["predict", str(model), "--input", str(bad)]) == 2
    assert "bad.csv line 2: expected" in capsys.readouterr().err


def test_cli_predict_plain_text_keeps_one_input_per_line(model, tmp_path):
    import padless

    lines = ["text,label", "great film, really", '"quoted']  # header-like lines are texts here
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines) + "\n")
    got = predict_file(model, src)
    assert got == json.loads(json.dumps(padless.load(model).predict(lines)))


# ------------------------------------------------------------------------ ONNX without torch
@pytest.fixture(scope="module")
def exported(model):
    pytest.importorskip("onnxruntime")
    assert main(["-q", "export", str(model)]) == 0  # MODEL/model.onnx
    return model


# Runs in a fresh interpreter where `import torch` (and so safetensors.torch) raises.
NO_TORCH = "import sys; sys.modules['torch'] = None\n"


def run_without_torch(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "1"}
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_blocking_torch_really_blocks_it():
    proc = run_without_torch("import torch")
    assert proc.returncode != 0 and "torch" in proc.stderr


def test_onnx_backend_predicts_without_torch_same_as_eager(exported, tmp_path, capsys):
    import padless

    eager = padless.load(exported).predict(TEXTS)
    code = """
        import json, sys
        import padless
        p = padless.load(sys.argv[1], backend="onnx", threads=1)
        assert p.artifact.model is None
        x, lengths = p.encode(json.loads(sys.argv[2]))
        print(json.dumps({"predict": p.predict(json.loads(sys.argv[2])),
                          "shape": list(x.shape), "lengths": lengths.tolist(),
                          "torch": "torch" in sys.modules and sys.modules["torch"] is not None}))
    """
    proc = run_without_torch(code, str(exported), json.dumps(TEXTS))
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["torch"] is False
    assert got["lengths"] == [len(x) for x in padless.load(exported).encode_each(TEXTS)]
    assert [r["label"] for r in got["predict"]] == [r["label"] for r in eager]
    for a, b in zip(got["predict"], eager, strict=True):
        np.testing.assert_allclose(
            list(a["scores"].values()), list(b["scores"].values()), atol=1e-5
        )


def test_cli_predict_onnx_without_torch_streams_a_file(exported, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["predict", str(exported), "--input", str(src), "--output", str(out)]) == 0
    expected = [json.loads(x) for x in out.read_text().splitlines()]
    cli = "from padless.cli import main; sys.exit(main(sys.argv[1:]))"
    edge_out = tmp_path / "edge.jsonl"
    args = [str(exported), "--input", str(src), "--output", str(edge_out), "--chunk-size", "2"]
    proc = run_without_torch(cli, "predict", *args, "--backend", "onnx", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(x) for x in edge_out.read_text().splitlines()]
    assert [r["label"] for r in got] == [r["label"] for r in expected]
    # The eager backend needs torch, and says so rather than failing with a traceback.
    proc = run_without_torch(cli, "predict", *args)
    assert proc.returncode == 2 and "--backend onnx" in proc.stderr, proc.stderr
