"""Language-model pre-training: no step sees the word it predicts, padding never counts, the
LM loss falls, and a run killed after pre-training resumes to the same final metrics."""

import json
import random
import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.batching.batch import collate
from padless.config import PretrainConfig, load_config
from padless.encode.splits import Split
from padless.errors import ConfigError
from padless.models.classifier import SequenceClassifier
from padless.train.loop import train
from padless.train.pretrain import (
    SampledSoftmax,
    check_pretrainable,
    lm_pairs,
    pretrain_language_model,
)

V, H = 40, 8


def model(**kw):
    torch.manual_seed(0)
    args = dict(num_outputs=2, vocab_size=V, embedding_dim=6, hidden_size=H, bidirectional=True)
    return SequenceClassifier(**{**args, **kw}).eval()


def ragged(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(2, V, size=n) for n in lengths]


def run(m, seqs, pad_to=None):
    b = collate([(s, 0) for s in seqs], pad_to_multiple_of=pad_to)
    out, _ = m.encoder(m.embed(b.inputs), b.lengths, return_state=False)
    return out, b


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=1, max_size=5), st.integers(0, 10**6))
def test_no_step_sees_the_word_it_predicts(lengths, seed):
    """Changing token t+1 leaves the forward state at t unchanged, changing token t-1 leaves the
    backward state at t unchanged, and the pairs are the per-sequence ones in order."""
    m = model()
    seqs = ragged(lengths, seed)
    rng = random.Random(seed)
    i = rng.randrange(len(seqs))
    if len(seqs[i]) < 2:
        return
    t = rng.randrange(len(seqs[i]) - 1)
    out, b = run(m, seqs)
    changed = [s.copy() for s in seqs]
    changed[i][t + 1] = (changed[i][t + 1] + 1 - 2) % (V - 2) + 2  # a different real id
    out2, _ = run(m, changed)
    assert torch.equal(out[i, t, :H], out2[i, t, :H])  # forward at t did not read t+1
    changed = [s.copy() for s in seqs]
    changed[i][t] = (changed[i][t] + 1 - 2) % (V - 2) + 2
    out3, _ = run(m, changed)
    assert torch.equal(out[i, t + 1, H:], out3[i, t + 1, H:])  # backward at t+1 did not read t
    h, target = lm_pairs(out, b.inputs, b.lengths, H, bidirectional=True)
    n = sum(len(s) - 1 for s in seqs)
    assert h.shape == (2 * n, H)
    expected = np.concatenate(
        [np.concatenate([s[1:] for s in seqs]), np.concatenate([s[:-1] for s in seqs])]
    )
    assert np.array_equal(target.numpy(), expected)  # no padding id among the targets


def test_loss_does_not_depend_on_padding_amount():
    m = model()
    seqs = ragged([1, 5, 9, 3], seed=4)
    counts = np.bincount(np.concatenate(seqs), minlength=V)
    head = SampledSoftmax(counts, H, negatives=16)
    losses = []
    for pad_to in (None, 16, 64):
        out, b = run(m, seqs, pad_to)
        h, target = lm_pairs(out, b.inputs, b.lengths, H, bidirectional=True)
        losses.append(head(h, target, torch.Generator().manual_seed(0)))
    assert losses[0].item() == pytest.approx(losses[1].item(), abs=1e-6)
    assert losses[0].item() == pytest.approx(losses[2].item(), abs=1e-6)


def test_sampled_softmax_masks_accidental_hits_and_never_samples_padding():
    counts = np.array([1000, 5, 1, 1])  # padding id 0 is the most "frequent"
    head = SampledSoftmax(counts, H, negatives=64)
    assert head.q[0] == 0
    draws = torch.multinomial(head.q, 1000, replacement=True, generator=torch.Generator())
    assert (draws != 0).all()
    h = torch.randn(3, H)
    loss = head(h, torch.tensor([1, 1, 1]), torch.Generator().manual_seed(1))
    assert torch.isfinite(loss)  # the target among the negatives is masked, not doubled


@pytest.mark.parametrize(
    "kw, named",
    [
        (dict(conv_channels=4), "conv_channels"),
        (dict(transformer_layers=1, transformer_heads=2), "transformer_layers"),
        (dict(num_layers=2), "num_layers"),
    ],
)
def test_models_that_would_see_the_target_are_rejected(kw, named):
    with pytest.raises(ConfigError, match=named) as err:
        check_pretrainable(model(**kw))
    assert "pretrain.epochs" in str(err.value)
    check_pretrainable(model(num_layers=2, bidirectional=False))  # stacked one-way is fine
    with pytest.raises(ConfigError, match="numeric"):
        check_pretrainable(SequenceClassifier(num_outputs=2, num_features=3))


def test_language_model_loss_falls_and_the_head_is_untouched():
    rng = np.random.default_rng(0)
    # A corpus with structure to learn: id k is followed by k + 1 (mod V).
    seqs = []
    for _ in range(200):
        start, n = rng.integers(2, V), rng.integers(3, 20)
        seqs.append((start - 2 + np.arange(n)) % (V - 2) + 2)
    split = Split(inputs=seqs, targets=[0] * len(seqs), rows=list(range(len(seqs))))
    m = model()
    head = {k: v.clone() for k, v in m.head.state_dict().items()}
    history = pretrain_language_model(
        m,
        split,
        PretrainConfig(epochs=20, lr=2e-2, negatives=16),
        batch_size=32,
        grad_clip=1.0,
        seed=0,
        device=torch.device("cpu"),
        quiet=True,
    )
    assert [r["epoch"] for r in history] == list(range(1, 21))
    assert history[-1]["lm_loss"] < 0.5 * history[0]["lm_loss"]
    assert all(torch.equal(v, m.head.state_dict()[k]) for k, v in head.items())


def _table(path, n=120):
    rng = random.Random(0)
    words = {"a": ["red", "apple", "fire", "warm"], "b": ["blue", "sea", "sky", "cold"]}
    lines = []
    for i in range(n):
        label = rng.choice("ab")
        text = " ".join(rng.choices(words[label], k=rng.randint(2, 8)))
        split = "test" if i % 5 == 0 else "train"
        lines.append(json.dumps({"text": text, "label": label, "split": split}))
    path.write_text("\n".join(lines) + "\n")
    return path


def _final(out):
    m = json.loads((out / "metrics.json").read_text())
    drop = ("seconds", "tokens_per_s")
    strip = lambda rows: [{k: v for k, v in r.items() if k not in drop} for r in rows]  # noqa: E731
    return (
        {k: m[k] for k in ("train", "valid", "test", "best_epoch")},
        strip(m["history"]),
        strip(m["pretrain"]),
    )


def test_train_pretrains_records_it_and_resumes_after_it(tmp_path):
    """A run killed after pre-training (only checkpoints/pretrain/ exists) resumes from the
    pre-trained weights and ends with the same metrics as the uninterrupted run."""
    data = _table(tmp_path / "d.jsonl")
    cfg = load_config(
        None,
        [
            "data.source=table",
            f"data.path={data}",
            "data.valid_fraction=0.2",
            "text.min_freq=1",
            "model.embedding_dim=8",
            "model.hidden_size=8",
            "pretrain.epochs=2",
            "pretrain.negatives=4",
            "train.epochs=3",
            "train.batch_size=16",
            "train.num_threads=1",
        ],
    )
    full = train(cfg, tmp_path / "full", quiet=True)
    assert [r["epoch"] for r in full["pretrain"]] == [1, 2]
    assert full["config"]["pretrain"]["epochs"] == 2
    out = tmp_path / "killed"
    train(cfg, out, quiet=True)
    for p in (out / "checkpoints").glob("epoch-*.pt"):
        p.unlink()
    (out / "metrics.json").unlink()
    shutil.rmtree(out / "model")
    assert (out / "checkpoints" / "pretrain" / "epoch-0002.pt").is_file()
    train(cfg, out, quiet=True, resume=True)
    assert _final(out) == _final(tmp_path / "full")


def test_bigram_inputs_are_rejected(tmp_path):
    data = _table(tmp_path / "d.jsonl")
    cfg = load_config(
        None,
        [
            "data.source=table",
            f"data.path={data}",
            "text.min_freq=1",
            "text.ngrams=2",
            "text.ngram_min_freq=1",
            "pretrain.epochs=1",
            "train.epochs=1",
        ],
    )
    with pytest.raises(ConfigError, match="ngrams"):
        train(cfg, tmp_path / "out", quiet=True)
