import logging

import numpy as np
import pytest
from matplotlib.image import imread

from padless.errors import DataError
from padless.train.report import (
    MAX_ANNOTATED_CLASSES,
    _confusion_figure,
    plot_confusion,
    plot_history,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_MAGIC
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100 and img.shape[2] in (3, 4)
    assert img.std() > 0  # something was drawn
    return img


def test_plot_history_full(tmp_path):
    history = [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "valid_loss": 1.2 / e,
            "train_accuracy": 0.5 + e / 20,
            "valid_accuracy": 0.45 + e / 20,
            "lr": 1e-3 * 0.5**e,
            "seconds": 3.0,
        }
        for e in range(1, 6)
    ]
    paths = plot_history(history, tmp_path / "plots")
    assert [p.name for p in paths] == ["loss.png", "accuracy.png", "lr.png"]
    for p in paths:
        assert p.parent == tmp_path / "plots"
        assert_png(p)


def test_plot_history_missing_keys(tmp_path):
    history = [
        {"train_loss": 0.9},  # no epoch: position is used
        {"epoch": 2, "train_loss": 0.7, "valid_loss": None},
        {"epoch": 3, "valid_loss": float("nan")},
        {"epoch": 4, "train_loss": 0.5, "valid_loss": 0.6},
    ]
    paths = plot_history(history, tmp_path)
    assert [p.name for p in paths] == ["loss.png"]
    assert not (tmp_path / "accuracy.png").exists() and not (tmp_path / "lr.png").exists()
    assert_png(paths[0])


def test_plot_history_accuracy_only_and_empty(tmp_path, caplog):
    paths = plot_history([{"epoch": 1, "valid_accuracy": 0.7}], tmp_path / "a")
    assert [p.name for p in paths] == ["accuracy.png"]
    with caplog.at_level(logging.WARNING, logger="padless.train.report"):
        assert plot_history([], tmp_path / "b") == []
        assert plot_history([{"epoch": 1, "valid_loss": None}], tmp_path / "c") == []
    assert "nothing to plot" in caplog.text


def test_plot_history_rejects_non_dict(tmp_path):
    with pytest.raises(DataError, match="history entry 1"):
        plot_history([{"train_loss": 1.0}, 0.5], tmp_path)


@pytest.mark.filterwarnings("error")
def test_plot_confusion(tmp_path):
    cm = [[5, 1, 0], [2, 3, 0], [0, 0, 0]]  # last class: no support (no divide warnings)
    path = plot_confusion(cm, ["cat", "dog", "x" * 80], tmp_path / "sub" / "cm.png")
    assert path == tmp_path / "sub" / "cm.png"
    assert_png(path)
    fig = _confusion_figure(cm, ["cat", "dog", "bird"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["5", "1", "0", "2", "3", "0", "0", "0", "0"]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["cat", "dog", "bird"]
    image = fig.axes[0].images[0].get_array()
    assert np.allclose(image[0], [5 / 6, 1 / 6, 0]) and np.allclose(image[2], 0)


def test_plot_confusion_many_classes_skips_annotations(tmp_path):
    c = MAX_ANNOTATED_CLASSES + 5
    cm = np.random.default_rng(0).integers(0, 20, (c, c))
    names = [f"class-{i}-with-a-rather-long-name" for i in range(c)]
    assert_png(plot_confusion(cm, names, tmp_path / "cm.png"))
    fig = _confusion_figure(cm, names)
    assert len(fig.axes[0].texts) == 0
    shown = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert all(len(s) <= 20 for s in shown) and shown[0].endswith("…")
    assert len(_confusion_figure(cm[:30, :30], names[:30]).axes[0].texts) == 900


@pytest.mark.parametrize(
    "cm,labels,needle",
    [
        ([[1, 2]], ["a"], "square"),
        ([], [], "square"),
        ([[1, 0], [0, 1]], ["a"], "2 label names"),
        ([[1, -1], [0, 1]], ["a", "b"], "non-negative"),
    ],
)
def test_plot_confusion_bad_input(tmp_path, cm, labels, needle):
    with pytest.raises(DataError, match=needle):
        plot_confusion(cm, labels, tmp_path / "cm.png")
    assert not (tmp_path / "cm.png").exists()
