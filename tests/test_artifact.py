"""Artifacts load without unpickling and refuse tampered, corrupt or incompatible files."""

import json
import pickle

import pytest
import torch

from padless.artifact import load_artifact, save_artifact
from padless.config import TextConfig
from padless.data import LabelSpace
from padless.errors import ArtifactError
from padless.models import SequenceClassifier
from padless.text import TextEncoder

KWARGS = dict(num_outputs=1, vocab_size=20, embedding_dim=4, hidden_size=3, pooling="last")


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = SequenceClassifier(**KWARGS)
    enc = TextEncoder.fit(["good film", "bad film"] * 3, TextConfig(min_freq=1))
    save_artifact(tmp_path / "m", model, KWARGS, LabelSpace("binary", ("neg", "pos")), enc)
    return tmp_path / "m", model


def test_round_trip(saved):
    path, model = saved
    art = load_artifact(path)
    x, lengths = torch.tensor([[2, 3, 0], [3, 2, 2]]), torch.tensor([2, 3])
    with torch.no_grad():
        torch.testing.assert_close(art.model(x, lengths), model.eval()(x, lengths))
    assert art.labels.classes == ("neg", "pos") and art.encoder.encode("good film")


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
    d = save_artifact(tmp_path / "m", model, KWARGS, LabelSpace("binary", ("a", "b")), None)
    meta = json.loads((d / "config.json").read_text())
    meta["format_version"] = 99
    (d / "config.json").write_text(json.dumps(meta))
    (d / "manifest.json").unlink()
    import hashlib

    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.iterdir()}
    (d / "manifest.json").write_text(json.dumps({"files": files}))
    with pytest.raises(ArtifactError, match="format version"):
        load_artifact(d)
