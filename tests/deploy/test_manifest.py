"""padless.deploy.manifest: every file a loader reads is listed in manifest.json and verified
first; names never leave the directory; a malformed manifest is an expected / got / fix error.

The artifact is a real ``padless train`` run on the built-in sample (once per module); each test
tampers with its own copy.
"""

import hashlib
import json
import os
import shutil

import pytest

from padless.cli import main
from padless.deploy.artifact import load_artifact
from padless.errors import ArtifactError

TINY = """
[data]
source = "imdb-sample"
limit = 200
[text]
max_size = 800
max_length = 32
[model]
embedding_dim = 8
hidden_size = 8
[train]
epochs = 1
batch_size = 32
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("manifest")
    cfg = root / "tiny.toml"
    cfg.write_text(TINY)
    assert main(["-q", "train", str(cfg), "--out", str(root / "out")]) == 0
    return root / "out" / "model"


@pytest.fixture
def model_dir(trained, tmp_path):
    """A private copy of the trained artifact, free to tamper with."""
    return shutil.copytree(trained, tmp_path / "model")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edit_manifest(d, change) -> None:
    manifest = json.loads((d / "manifest.json").read_text())
    change(manifest)
    (d / "manifest.json").write_text(json.dumps(manifest))


def other_weights(d) -> None:
    """Replace the weights with other weights of the same shapes (the head's sign flipped)."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(d / "model.safetensors"))
    state["head.weight"] = -state["head.weight"]
    save_file(state, str(d / "model.safetensors"))


# ----------------------------------------------------------------- case 1: nothing unlisted
@pytest.mark.parametrize(
    "name", ["model.safetensors", "config.json", "labels.json", "text.json", "vocab.json"]
)
def test_a_file_dropped_from_the_manifest_is_refused_not_read(model_dir, name):
    if name == "model.safetensors":
        other_weights(model_dir)
    edit_manifest(model_dir, lambda m: m["files"].pop(name))
    for model in (True, False):
        with pytest.raises(ArtifactError, match=f"{name}.*listed in manifest.json"):
            load_artifact(model_dir, model=model)


def test_an_empty_file_list_is_refused(model_dir):
    other_weights(model_dir)
    edit_manifest(model_dir, lambda m: m.update(files={}))
    with pytest.raises(ArtifactError, match="listed in manifest.json"):
        load_artifact(model_dir)


def test_unlisted_files_are_ignored_and_the_listed_ones_still_verified(model_dir):
    (model_dir / "notes.txt").write_text("not part of the model")
    (model_dir / "model.onnx").write_bytes(b"not an export of this model")
    art = load_artifact(model_dir)
    assert art.model is not None and art.pipeline.encode(["a good film"])
    (model_dir / "labels.json").write_text('{"task": "binary", "classes": ["pos", "neg"]}')
    with pytest.raises(ArtifactError, match="labels.json.*sha256"):
        load_artifact(model_dir)


# -------------------------------------------------------- case 2: never outside the directory
@pytest.mark.parametrize("entry", ["../outside.json", "ABSOLUTE", "sub/../../outside.json"])
def test_names_that_leave_the_directory_are_refused(model_dir, tmp_path, entry):
    outside = tmp_path / "outside.json"
    outside.write_text('{"secret": 1}')
    name = str(outside) if entry == "ABSOLUTE" else entry
    edit_manifest(model_dir, lambda m: m["files"].update({name: sha256(outside)}))
    with pytest.raises(ArtifactError, match="a plain file name"):
        load_artifact(model_dir, model=False)


def test_a_symlink_inside_the_artifact_is_refused(model_dir, tmp_path):
    outside = tmp_path / "vocab.json"
    shutil.move(model_dir / "vocab.json", outside)
    os.symlink(outside, model_dir / "vocab.json")  # same bytes: the digest would match
    with pytest.raises(ArtifactError, match="vocab.json.*symlink"):
        load_artifact(model_dir, model=False)


def test_a_symlinked_manifest_is_refused(model_dir, tmp_path):
    outside = tmp_path / "manifest.json"
    shutil.move(model_dir / "manifest.json", outside)
    os.symlink(outside, model_dir / "manifest.json")
    with pytest.raises(ArtifactError, match="manifest.json.*symlink"):
        load_artifact(model_dir, model=False)


# ----------------------------------------------------------- case 3: a malformed manifest
@pytest.mark.parametrize(
    "text, got",
    [
        ("[1, 2]", "a list"),
        ('{"files": ["config.json"]}', "'files'"),
        ('{"files": {"config.json": 5}}', "config.json"),
        ('{"files": {"config.json": "abc"}}', "64 lowercase hex"),
        ('{"files": {}, "signature": "x"}', "'signature'"),
        ("{not json", "JSON"),
        ('"' + "x" * (2 << 20) + '"', "bytes"),
    ],
)
def test_a_malformed_manifest_is_an_expected_got_fix_error(model_dir, text, got):
    (model_dir / "manifest.json").write_text(text)
    with pytest.raises(ArtifactError) as err:
        load_artifact(model_dir, model=False)
    message = str(err.value)
    assert "manifest.json" in message and "expected" in message and "Fix:" in message
    assert got in message


def test_a_missing_manifest_or_directory_says_where_to_point(model_dir, tmp_path):
    (model_dir / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="no manifest"):
        load_artifact(model_dir)
    with pytest.raises(ArtifactError, match="no such directory"):
        load_artifact(tmp_path / "nowhere")


# --------------------------------------------------------------- the module's own contract
def test_add_export_lists_the_file_and_rewrites_the_manifest_in_one_step(model_dir):
    from padless.deploy.manifest import add_export, read_manifest

    before = read_manifest(model_dir)
    (model_dir / "model.onnx").write_bytes(b"pretend export")
    after = add_export(model_dir, "model.onnx")
    assert after.exports == {"model.onnx": sha256(model_dir / "model.onnx")}
    assert dict(after.files) == dict(before.files)  # the core entries are kept as they were
    assert read_manifest(model_dir) == after
    leftovers = [p.name for p in model_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # the temporary file was renamed into place
    assert read_manifest(model_dir).read_export("model.onnx") == b"pretend export"
    (model_dir / "model.onnx").write_bytes(b"another export")
    with pytest.raises(ArtifactError, match="model.onnx.*sha256"):
        read_manifest(model_dir).read_export("model.onnx")
    with pytest.raises(ArtifactError, match="config.json.*a model file"):
        add_export(model_dir, "config.json")  # an export never replaces a model file's entry


def test_load_without_torch_still_verifies_everything(model_dir):
    """The edge install (no torch) reads the manifest and weights header the same way."""
    from tests.deploy.test_predict import run_without_torch

    code = """
        import sys
        from padless.deploy.artifact import load_artifact
        art = load_artifact(sys.argv[1], model=False)
        print(art.labels.task)
    """
    proc = run_without_torch(code, str(model_dir))
    assert proc.returncode == 0 and proc.stdout.strip() == "binary", proc.stderr
    other_weights(model_dir)
    edit_manifest(model_dir, lambda m: m["files"].pop("model.safetensors"))
    proc = run_without_torch(code, str(model_dir))
    assert proc.returncode != 0 and "listed in manifest.json" in proc.stderr, proc.stderr
