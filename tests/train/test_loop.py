"""Training on small tables for each label kind; the loss must fall on learnable data."""

import json
import math
import random

import pytest

from padless.config import load_config
from padless.errors import ConfigError, DataError, TrainingError
from padless.train.loop import epoch_line, train

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


# ---------------------------------------------------------------------------- numeric tasks
def small(source, *extra, epochs=6):
    return load_config(
        None,
        [
            f"data.source={source}",
            "data.train_size=400",
            "data.valid_size=100",
            "data.test_size=100",
            "data.max_length=12",
            "model.embedding_dim=16",
            "model.hidden_size=32",
            "model.bidirectional=false",
            f"train.epochs={epochs}",
            "train.batch_size=32",
            "train.lr=0.01",
            *extra,
        ],
    )


def test_regression_loss_falls_and_reports_mse(tmp_path):
    cfg = small(
        "adding",
        "data.min_length=4",
        "data.normalize=false",
        "model.pooling=last",
        "data.train_size=2000",
        epochs=8,
    )
    metrics = train(cfg, tmp_path / "out", quiet=True)
    history = metrics["history"]
    assert metrics["task"] == "regression"
    assert history[-1]["train_loss"] < 0.2 * history[0]["train_loss"]
    assert {"mse", "mae", "r2"} <= set(metrics["test"])
    assert metrics["test"]["mse"] < 0.05 and metrics["test"]["r2"] > 0.7  # mean guess: 0.167
    assert "confusion_matrix" not in metrics["test"]
    import padless

    pred = padless.load(tmp_path / "out" / "model").predict([[[0.5, 1.0], [0.2, 0.0], [0.3, 1.0]]])
    assert isinstance(pred[0]["value"], float)


def test_tagging_counts_real_steps_only(tmp_path):
    cfg = small("running_sum_mod", "data.task=tagging", "data.modulus=3", epochs=8)
    metrics = train(cfg, tmp_path / "out", quiet=True)
    assert metrics["task"] == "tagging"
    test = metrics["test"]
    # examples counts real steps: the sum of the test lengths, not B * T
    from padless.data.synthetic import make_splits

    ds = make_splits("running_sum_mod", 400, 100, 100, seed=0, k=3, max_length=12)
    assert test["examples"] == int(ds.split("test").lengths().sum())
    assert metrics["history"][-1]["train_loss"] < 0.7 * metrics["history"][0]["train_loss"]
    import padless

    p = padless.load(tmp_path / "out" / "model")
    out = p.predict([[1, 2, 3], [4]])
    assert [len(r["tags"]) for r in out] == [3, 1]
    assert all(t in ("0", "1", "2") for r in out for t in r["tags"])


def test_outputs_checkpoints_jsonl_and_report(tmp_path):
    cfg = small("sum_mod", "data.modulus=3", epochs=3)
    metrics = train(cfg, tmp_path / "out", quiet=True)
    out = tmp_path / "out"
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3] == [r["epoch"] for r in metrics["history"]]
    assert {"train_loss", "valid_loss", "valid_accuracy", "lr", "tokens_per_s"} <= set(lines[0])
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["epoch-0002.pt", "epoch-0003.pt"]  # keep_checkpoints = 2
    report = {p.name for p in (out / "report").iterdir()}
    assert {"loss.png", "accuracy.png", "confusion_matrix.png"} <= report
    assert {"accuracy", "macro_f1", "confusion_matrix"} <= set(metrics["test"])
    assert 1 <= metrics["best_epoch"] <= 3


def test_early_stopping_and_schedulers(tmp_path):
    cfg = small(
        "sum_mod",
        "data.modulus=3",
        "train.lr=1e-9",
        "train.early_stopping=2",
        "train.monitor=loss",
        epochs=10,
    )
    metrics = train(cfg, tmp_path / "a", quiet=True)
    assert metrics["stopped_early"] and metrics["epochs_completed"] < 10
    for sched in ("cosine", "onecycle", "none"):
        cfg = small(
            "sum_mod",
            "data.modulus=3",
            f"train.scheduler={sched}",
            "train.warmup_steps=3",
            epochs=2,
        )
        m = train(cfg, tmp_path / sched, quiet=True)
        lrs = [r["lr"] for r in m["history"]]
        if sched == "none":
            assert lrs == [0.01, 0.01]
        else:
            assert lrs[-1] < 0.01  # annealed by the end


def test_nan_loss_stops_with_the_last_good_checkpoint(tmp_path):
    cfg = small(
        "adding",
        "data.min_length=4",
        "data.normalize=false",
        "train.lr=1e6",
        "train.grad_clip=0",
        "train.scheduler=none",
        epochs=30,
    )
    with pytest.raises(TrainingError, match=r"loss became (nan|inf).*checkpoint"):
        train(cfg, tmp_path / "out", quiet=True)


def test_model_too_large_fails_before_allocating(tmp_path):
    cfg = small("sum_mod", "model.hidden_size=200000")
    with pytest.raises(ConfigError, match=r"GiB.*model.hidden_size"):
        train(cfg, tmp_path / "out", quiet=True)
    assert not (tmp_path / "out" / "model").exists()


def test_missing_column_names_it(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("review,label\nred,a\nblue,b\n")
    cfg = load_config(None, ["data.source=table", f"data.path={data}"])
    with pytest.raises(DataError, match="text"):
        train(cfg, tmp_path / "out", quiet=True)


@pytest.mark.slow
def test_compile_and_bf16_autocast_train(tmp_path):
    """train.compile wraps the model in torch.compile (automatic dynamic shapes keep ragged
    batches from recompiling per shape); train.amp=bf16 runs CPU autocast."""
    for extra in (["train.compile=true"], ["train.amp=bf16"]):
        cfg = small("sum_mod", "data.modulus=3", *extra, epochs=2)
        metrics = train(cfg, tmp_path / extra[0].split("=")[0], quiet=True)
        assert all(math.isfinite(r["train_loss"]) for r in metrics["history"])
        assert metrics["test"]["examples"] == 100


def test_amp_and_device_choices():
    import torch

    from padless.train.hardware import resolve_amp, resolve_device

    cpu = torch.device("cpu")
    assert resolve_amp("auto", cpu) is None and resolve_amp("off", cpu) is None
    assert resolve_amp("bf16", cpu) is torch.bfloat16
    with pytest.raises(ConfigError, match="train.amp"):
        resolve_amp("fp16", cpu)
    assert resolve_device("cpu") == cpu
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="train.device"):
            resolve_device("cuda")


def test_tensorboard_logs_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    cfg = small("sum_mod", "data.modulus=3", "train.tensorboard=true", epochs=2)
    train(cfg, tmp_path / "out", quiet=True)
    events = list((tmp_path / "out" / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_input_noise_perturbs_float_inputs_only(tmp_path):
    base = ("adding", "data.min_length=4", "data.train_size=300")
    plain = train(small(*base, epochs=2), tmp_path / "plain", quiet=True)
    noisy = train(small(*base, "train.input_noise=0.5", epochs=2), tmp_path / "noisy", quiet=True)
    assert noisy["history"][0]["train_loss"] != plain["history"][0]["train_loss"]
    ids = ("sum_mod", "data.train_size=300")
    a = train(small(*ids, epochs=1), tmp_path / "a", quiet=True)
    b = train(small(*ids, "train.input_noise=0.5", epochs=1), tmp_path / "b", quiet=True)
    assert a["history"][0]["train_loss"] == b["history"][0]["train_loss"]  # token ids: no noise


def test_without_validation_the_last_epoch_is_kept_and_reported(tmp_path):
    extra = ("data.min_length=4", "data.valid_size=0", "data.valid_fraction=0")
    metrics = train(small("adding", *extra, epochs=3), tmp_path)
    assert "valid" not in metrics and metrics["best_epoch"] == 3


def _one_batch_run(path, *extra):
    from padless.train.distributed import World
    from padless.train.loop import _batch
    from padless.train.run import build_run

    cfg = small("sum_mod", "data.modulus=3", "model.dropout=0", "train.scheduler=none", *extra)
    run = build_run(cfg, path, True, World())
    run.sampler.set_epoch(0)
    return run, _batch(run, next(iter(run.sampler)))


def test_accumulated_steps_and_the_grad_scaler_take_the_plain_step(tmp_path):
    """Two accumulated halves of a batch's loss step like the whole loss once (no step after
    the first), and the fp16 GradScaler path (scale, unscale, clip, step) like the plain one:
    the same clipped gradients and weights."""
    import torch

    from padless.train.loop import _step

    plain, (batch, labels) = _one_batch_run(tmp_path / "plain")
    initial = {k: v.clone() for k, v in plain.model.state_dict().items()}
    _step(plain, batch, labels, (0, 0), first=True, last=True)
    want = plain.model.state_dict()
    assert not all(torch.equal(want[k], initial[k]) for k in want)  # it stepped

    accumulated, _ = _one_batch_run(tmp_path / "accumulated", "train.accumulate=2")
    _step(accumulated, batch, labels, (0, 0), first=True, last=False)
    got = accumulated.model.state_dict()
    assert all(torch.equal(got[k], initial[k]) for k in got)  # gradients kept, no step yet
    _step(accumulated, batch, labels, (0, 1), first=False, last=True)

    scaled, _ = _one_batch_run(tmp_path / "scaled")
    scaled.scaler = torch.amp.GradScaler("cpu")  # what train.amp = "fp16" adds on CUDA
    _step(scaled, batch, labels, (0, 0), first=True, last=True)
    grads = {k: p.grad for k, p in plain.model.named_parameters()}  # kept after the step
    for run in (accumulated, scaled):
        got = run.model.state_dict()
        assert all(torch.allclose(got[k], want[k], atol=1e-6) for k in want)
        for k, p in run.model.named_parameters():  # AdamW hides a gradient's scale; these don't
            assert torch.allclose(p.grad, grads[k], rtol=1e-4, atol=1e-7), k


def test_epoch_line_names_loss_metrics_speed_and_eta():
    record = {
        "epoch": 2,
        "lr": 0.001,
        "train_loss": 0.69314,
        "train_accuracy": 0.5,
        "tokens_per_s": 41203.4,
        "valid_loss": 0.68,
        "valid_accuracy": 0.55,
        "seconds": 3.14,
        "ranks": {"steps": [3, 3]},
    }
    line = epoch_line(record, 5, elapsed=6.3, eta=3725.0)
    assert line == (
        "epoch 2/5: train_loss=0.6931 train_accuracy=0.5000 valid_loss=0.6800 "
        "valid_accuracy=0.5500 lr=0.001 tokens/s=41,203 epoch=3.1s elapsed=6.3s eta=1h02m"
    )
    assert epoch_line(record, 5, elapsed=65.0, eta=0.0).endswith("elapsed=1m05s eta=0.0s")
