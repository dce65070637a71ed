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
