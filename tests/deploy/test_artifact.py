"""Artifacts load without unpickling and refuse tampered, corrupt or incompatible files."""

import json
import pickle

import pytest
import torch

from padless.config import TextConfig
from padless.deploy.artifact import load_artifact, save_artifact
from padless.encode.labels import LabelSpace
from padless.encode.normalizer import Normalizer
from padless.encode.pipeline import InputPipeline
from padless.encode.text import TextEncoder
from padless.errors import ArtifactError
from padless.models.classifier import SequenceClassifier

KWARGS = dict(num_outputs=1, vocab_size=20, embedding_dim=4, hidden_size=3, pooling="last")


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = SequenceClassifier(**KWARGS)
    enc = TextEncoder.fit(["good film", "bad film"] * 3, TextConfig(min_freq=1))
    pipe = InputPipeline("text", text=enc)
    save_artifact(tmp_path / "m", model, KWARGS, LabelSpace("binary", ("neg", "pos")), pipe)
    return tmp_path / "m", model


def test_round_trip(saved):
    path, model = saved
    art = load_artifact(path)
    x, lengths = torch.tensor([[2, 3, 0], [3, 2, 2]]), torch.tensor([2, 3])
    with torch.no_grad():
        torch.testing.assert_close(art.model(x, lengths), model.eval()(x, lengths))
    assert art.labels.classes == ("neg", "pos") and art.pipeline.encode(["good film"])


class Boom:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_payload_is_refused_even_with_a_matching_manifest(saved):
    path, _ = saved
    (path / "model.safetensors").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ArtifactError, match="sha256"):
        load_artifact(path)
    manifest = json.loads((path / "manifest.json").read_text())
    import hashlib

    manifest["files"]["model.safetensors"] = hashlib.sha256(
        (path / "model.safetensors").read_bytes()
    ).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="safetensors"):
        load_artifact(path)


def test_missing_file_and_incompatible_version(saved):
    path, _ = saved
    (path / "vocab.json").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        load_artifact(path)


def test_future_format_version_is_refused(tmp_path):
    torch.manual_seed(0)
    model = SequenceClassifier(**KWARGS)
    pipe = InputPipeline("ids", vocab_size=20)
    d = save_artifact(tmp_path / "m", model, KWARGS, LabelSpace("binary", ("a", "b")), pipe)
    meta = json.loads((d / "config.json").read_text())
    meta["format_version"] = 99
    (d / "config.json").write_text(json.dumps(meta))
    (d / "manifest.json").unlink()
    import hashlib

    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.iterdir()}
    (d / "manifest.json").write_text(json.dumps({"files": files}))
    with pytest.raises(ArtifactError, match="format version"):
        load_artifact(d)


def test_numeric_pipeline_round_trip(tmp_path):
    """A numeric model keeps its normalizer: the loaded pipeline encodes exactly as the saved."""
    torch.manual_seed(0)
    kwargs = dict(num_outputs=3, num_features=2, embedding_dim=4, hidden_size=3)
    model = SequenceClassifier(**kwargs)
    seqs = [torch.randn(5, 2).numpy() * 3 + 1, torch.randn(2, 2).numpy()]
    pipe = InputPipeline("numeric", normalizer=Normalizer.fit(seqs), num_features=2, max_steps=4)
    d = save_artifact(
        tmp_path / "m", model, kwargs, LabelSpace("multiclass", ("a", "b", "c")), pipe
    )
    art = load_artifact(d)
    assert art.meta["input"] == "numeric"
    for a, b in zip(art.pipeline.encode(seqs), pipe.encode(seqs), strict=True):
        assert a.shape == b.shape and a.shape[0] <= 4
        torch.testing.assert_close(torch.from_numpy(a), torch.from_numpy(b))
    (d / "normalizer.json").write_text("{}")
    with pytest.raises(ArtifactError, match="sha256"):
        load_artifact(d)


# ------------------------------------------- config.json schema and sizes against the weights
def resign(d):
    """Rewrite manifest.json over the files as they are now: what a careless edit (or a bug)
    would leave, so only the checks below stand between the files and the loader."""
    import hashlib

    manifest = json.loads((d / "manifest.json").read_text())
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256((d / name).read_bytes()).hexdigest()
    (d / "manifest.json").write_text(json.dumps(manifest))


def edit_json(d, name, change):
    data = json.loads((d / name).read_text())
    data = change(data) or data
    (d / name).write_text(json.dumps(data))
    resign(d)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: [1, 2], "a JSON object"),
        (lambda m: m.update(signed_by="me"), "'signed_by'"),
        (lambda m: m["model"].update(hiden_size=3), "hiden_size"),
        (lambda m: m["model"].update(hidden_size="3"), "hidden_size"),
        (lambda m: m["model"].update(num_outputs=0), "num_outputs"),
        (lambda m: m["model"].update(cell="transformer"), "cell"),
        (lambda m: m["pipeline"].update(kind="audio"), "kind"),
        (lambda m: m.update(model=[]), "'model'"),
    ],
)
def test_config_json_is_checked_against_a_schema(saved, change, message):
    path, _ = saved
    edit_json(path, "config.json", change)
    for model in (True, False):
        with pytest.raises(ArtifactError) as err:
            load_artifact(path, model=model)
        assert message in str(err.value) and "expected" in str(err.value)


@pytest.mark.parametrize(
    "key, value",
    [
        ("hidden_size", 200_000),
        ("embedding_dim", 10**6),
        ("num_layers", 10**9),
        ("vocab_size", 10**12),
    ],
)
def test_an_absurd_size_is_refused_from_the_weights_header_before_building(saved, key, value):
    """hidden_size=200000 would allocate ~640 GB: the sizes are compared with the shapes in the
    safetensors header first (model=False never builds a network at all, so the same refusal
    there shows the check needs no model)."""
    path, _ = saved
    edit_json(path, "config.json", lambda m: m["model"].update({key: value}))
    for model in (False, True):
        with pytest.raises(ArtifactError, match="model.safetensors"):
            load_artifact(path, model=model)


def test_weights_config_mismatch_is_an_artifact_error_not_a_traceback(saved):
    path, _ = saved
    edit_json(path, "config.json", lambda m: m["model"].update(pooling="attention"))
    with pytest.raises(ArtifactError, match="pool.score"):
        load_artifact(path)  # the full shape comparison (a network built on the meta device)


@pytest.mark.parametrize(
    "header",
    [
        (2**40).to_bytes(8, "little") + b"{}",  # a header length far over the cap
        (10).to_bytes(8, "little") + b"{}",  # longer than the file
        (2).to_bytes(8, "little") + b"[]",  # not an object
        b"\x01",  # not even the length
    ],
)
def test_a_bad_weights_header_is_refused_without_reading_on(saved, header):
    path, _ = saved
    (path / "model.safetensors").write_bytes(header)
    resign(path)
    with pytest.raises(ArtifactError, match="model.safetensors.*safetensors"):
        load_artifact(path, model=False)


def test_tensor_offsets_must_tile_the_file(saved):
    path, _ = saved
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[:-4])  # the last tensor lost 4 bytes
    resign(path)
    with pytest.raises(ArtifactError, match="model.safetensors"):
        load_artifact(path, model=False)


# ------------------------------------------------- vocabulary and labels against the weights
def test_a_vocabulary_larger_than_the_embedding_is_refused(saved):
    """Ids past the embedding rows used to load, report ready and fail every prediction."""
    path, _ = saved
    rows = KWARGS["vocab_size"]
    edit_json(path, "vocab.json", lambda v: v["tokens"].extend(f"w{i}" for i in range(rows)))
    for model in (True, False):
        with pytest.raises(ArtifactError, match="embedding") as err:
            load_artifact(path, model=model)
        assert f"{rows}" in str(err.value) and "Fix:" in str(err.value)


def test_an_ids_vocabulary_must_fit_the_embedding(tmp_path):
    torch.manual_seed(0)
    model = SequenceClassifier(**KWARGS)
    pipe = InputPipeline("ids", vocab_size=20)
    d = save_artifact(tmp_path / "m", model, KWARGS, LabelSpace("binary", ("a", "b")), pipe)
    load_artifact(d, model=False)
    edit_json(d, "config.json", lambda m: m["pipeline"].update(vocab_size=50))
    with pytest.raises(ArtifactError, match="embedding"):
        load_artifact(d, model=False)


@pytest.mark.parametrize(
    "labels",
    [
        {"task": "multiclass", "classes": ["neg", "pos", "meh"]},  # 3 names, one logit
        {"task": "binary", "classes": ["neg", "pos", "meh"]},  # one logit, but 3 names
        {"task": "tagging", "classes": ["x"]},  # per-step outputs from a pooled model
    ],
)
def test_labels_must_match_the_head(saved, labels):
    path, _ = saved
    edit_json(path, "labels.json", lambda _: labels)
    for model in (True, False):
        with pytest.raises(ArtifactError, match="labels.json"):
            load_artifact(path, model=model)


def test_numeric_features_must_match_the_weights(tmp_path):
    torch.manual_seed(0)
    kwargs = dict(num_outputs=2, num_features=2, embedding_dim=4, hidden_size=3)
    model = SequenceClassifier(**kwargs)
    seqs = [torch.randn(5, 2).numpy(), torch.randn(3, 2).numpy()]
    pipe = InputPipeline("numeric", normalizer=Normalizer.fit(seqs), num_features=2)
    labels = LabelSpace("multiclass", ("a", "b"))
    d = save_artifact(tmp_path / "m", model, kwargs, labels, pipe)
    load_artifact(d, model=False)
    edit_json(d, "config.json", lambda m: m["pipeline"].update(num_features=3))
    with pytest.raises(ArtifactError, match="features"):
        load_artifact(d, model=False)


def test_save_lists_exactly_the_files_it_wrote(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "model.onnx").write_bytes(b"a stale export of an earlier model")
    torch.manual_seed(0)
    model = SequenceClassifier(**KWARGS)
    labels, pipe = LabelSpace("binary", ("a", "b")), InputPipeline("ids", vocab_size=20)
    save_artifact(d, model, KWARGS, labels, pipe)
    manifest = json.loads((d / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["config.json", "labels.json", "model.safetensors"]


@pytest.mark.parametrize(
    "sets",
    [
        ["text.tokenizer=word"],
        ["text.tokenizer=wordpiece"],
        ["text.tokenizer=word", "text.ngrams=2"],
        ["data.source=adding", "data.normalize=true"],
        ["data.source=adding", "data.normalize=false"],
        ["data.source=sum_mod"],
    ],
)
def test_the_loader_requires_every_file_the_pipeline_writes(tmp_path, sets):
    """The names `load_artifact` requires the manifest to list are exactly the files the input
    pipeline writes: a pipeline file missing from that list would be read unverified."""
    from padless.config import load_config
    from padless.data.sources import load_data
    from padless.deploy.artifact import _input_files
    from padless.encode.pipeline import InputPipeline

    small = ["data.train_size=40", "data.valid_size=8", "data.test_size=8", "data.min_length=2"]
    if not any("source=" in s for s in sets):  # the sample (sizes are synthetic keys)
        small = ["data.limit=200"]
    cfg = load_config(None, [*sets, *small, "text.max_size=300"])
    ds = load_data(cfg.data)
    pipeline = InputPipeline.fit(ds, list(range(len(ds))), cfg)
    pipeline.save(tmp_path)
    info = pipeline.to_dict()
    text = json.loads((tmp_path / "text.json").read_text()) if info["kind"] == "text" else {}
    required = _input_files(
        info["kind"],
        bool(info.get("normalized")),
        text.get("tokenizer", "word"),
        text.get("ngrams", 1),
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(required)
