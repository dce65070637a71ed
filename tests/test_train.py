"""Training on small tables for each label kind; the loss must fall on learnable data."""

import json
import random

import pytest

from padless.config import load_config
from padless.errors import DataError
from padless.train import train

WORDS = {
    "a": ["red", "apple", "fire"],
    "b": ["blue", "sea", "sky"],
    "c": ["green", "leaf", "grass"],
}


def write_table(path, multilabel=False, n=150, seed=0):
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        labels = rng.sample(sorted(WORDS), 2 if multilabel and i % 2 else 1)
        words = [w for lab in labels for w in rng.choices(WORDS[lab], k=rng.randint(1, 6))]
        rng.shuffle(words)
        split = "test" if i % 5 == 0 else "train"
        label = labels if multilabel else labels[0]
        lines.append(json.dumps({"text": " ".join(words), "label": label, "split": split}))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("multilabel", [False, True])
def test_loss_falls_and_metrics_are_written(tmp_path, multilabel):
    data = write_table(tmp_path / "d.jsonl", multilabel)
    cfg = load_config(
        None,
        [
            "data.source=table",
            f"data.path={data}",
            f"data.multilabel={str(multilabel).lower()}",
            "text.min_freq=1",
            "model.embedding_dim=16",
            "model.hidden_size=16",
            "train.epochs=8",
            "train.batch_size=16",
            "train.lr=0.01",
        ],
    )
    metrics = train(cfg, tmp_path / "out", quiet=True)
    history = metrics["history"]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert metrics["test"]["accuracy"] >= 0.8
    labels = json.loads((tmp_path / "out" / "model" / "labels.json").read_text())
    assert labels == {
        "task": "multilabel" if multilabel else "multiclass",
        "classes": ["a", "b", "c"],
    }


def test_label_unseen_in_training_is_an_error(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("text,label,split\nred,a,train\nblue,b,train\nred fire,a,train\ngreen,c,test\n")
    cfg = load_config(
        None, ["data.source=table", f"data.path={data}", "text.min_freq=1", "train.epochs=1"]
    )
    with pytest.raises(DataError, match="'c'"):
        train(cfg, tmp_path / "out", quiet=True)
