"""The data stage: sources from config, the fitted input pipeline, and its errors."""

from pathlib import Path

import numpy as np
import pytest

from padless.config import load_config
from padless.data.dataset import SequenceDataset
from padless.data.sources import load_data
from padless.encode.labels import LabelSpace
from padless.encode.pipeline import InputPipeline
from padless.encode.prepared import prepare
from padless.encode.splits import encode_split
from padless.errors import DataError

SHARED_TS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ts"


def cfg(*sets):
    return load_config(None, list(sets))


@pytest.mark.parametrize(
    ("source", "kind", "task"),
    [
        ("sum_mod", "ids", "multiclass"),
        ("adding", "numeric", "regression"),
        ("running_sum_mod", "ids", "tagging"),
    ],
)
def test_synthetic_sources(source, kind, task):
    c = cfg(
        f"data.source={source}",
        "data.train_size=50",
        "data.valid_size=10",
        "data.test_size=20",
        "data.min_length=2",
        "data.max_length=9",
        *(["data.task=tagging"] if task == "tagging" else []),
    )
    prep = prepare(c)
    assert prep.pipeline.kind == kind and prep.labels.task == task
    assert {k: len(v) for k, v in prep.splits.items()} == {"train": 50, "valid": 10, "test": 20}
    lengths = prep.splits["train"].lengths()
    assert lengths.min() >= 2 and lengths.max() <= 9
    if task == "tagging":
        for x, t in zip(prep.splits["test"].inputs, prep.splits["test"].targets, strict=True):
            assert len(x) == len(t) and t.dtype == np.int64
    # the synthetic data depend on data.seed, not on the training seed
    again = prepare(c)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(again.splits["test"].inputs, prep.splits["test"].inputs, strict=True)
    )


@pytest.mark.skipif(not SHARED_TS.is_dir(), reason="shared UEA data not present")
def test_ts_source_uses_the_official_split_and_train_statistics():
    prep = prepare(cfg("data.source=ts", f"data.path={SHARED_TS / 'JapaneseVowels'}"))
    sizes = {k: len(v) for k, v in prep.splits.items()}
    assert sizes["test"] == 370 and sizes["train"] + sizes["valid"] == 270
    assert prep.pipeline.kind == "numeric" and prep.pipeline.num_features == 12
    train = np.concatenate(prep.splits["train"].inputs)
    assert np.allclose(train.mean(0), 0, atol=1e-5) and np.allclose(train.std(0), 1, atol=1e-4)
    test = np.concatenate(prep.splits["test"].inputs)
    assert not np.allclose(test.mean(0), 0, atol=1e-3)  # statistics come from train only


def _numeric(max_steps=None):
    return InputPipeline("numeric", num_features=2, max_steps=max_steps)


def test_numeric_encode_checks_and_truncates():
    p = _numeric(max_steps=3)
    out = p.encode([np.ones((5, 2)), [[1, 2]]])
    assert [x.shape for x in out] == [(3, 2), (1, 2)] and out[0].dtype == np.float32
    with pytest.raises(DataError, match=r"row 1.*\(T, 2\)"):
        p.encode([np.ones((2, 2)), np.ones((2, 3))])
    with pytest.raises(DataError, match=r"row 0, step 1.*finite"):
        p.encode([[[0, 0], [np.nan, 1]]])
    with pytest.raises(DataError, match="at least one time step"):
        p.encode([np.zeros((0, 2))])
    with pytest.raises(DataError, match="a numeric sequence"):
        p.encode(["text"])


def test_ids_encode_checks_the_vocabulary():
    p = InputPipeline("ids", vocab_size=11)
    assert p.encode([[1, 10]])[0].tolist() == [1, 10]
    with pytest.raises(DataError, match=r"1\.\.10 \(0 is padding\).*0\.\.3"):
        p.encode([[0, 3]])
    with pytest.raises(DataError, match="1-D sequence of integer"):
        p.encode([[1.5, 2.0]])


def test_text_pipeline_rejects_non_strings():
    prep = prepare(cfg("data.limit=200"))
    with pytest.raises(DataError, match=r"row 1.*a string"):
        prep.pipeline.encode(["fine", 3])


def test_tag_count_must_match_the_steps():
    ds = SequenceDataset([np.array([1, 2, 3])], [["a", "b"]], ["train"], ["0"], ["token"])
    labels = LabelSpace("tagging", ("a", "b"))
    with pytest.raises(DataError, match=r"3 tags \(one per step\).*2 tags"):
        encode_split(ds, InputPipeline("ids", vocab_size=4), labels, [0], "train")


def test_limit_keeps_a_seeded_subset():
    a = load_data(cfg("data.limit=100").data)
    b = load_data(cfg("data.limit=100").data)
    assert len(a) == 100 and a.texts == b.texts


def test_label_space_tasks():
    assert LabelSpace.from_labels([0.5, 1.5]).task == "regression"
    assert LabelSpace.from_labels(["1", "2"], task="multiclass").task == "multiclass"
    with pytest.raises(DataError, match="per-step tags|one tag per step"):
        LabelSpace.from_labels(["a", "b"], task="tagging")
    with pytest.raises(DataError, match="numeric regression target"):
        LabelSpace.from_labels([1.0, "x"], task="regression")
    with pytest.raises(DataError, match="two classes"):
        LabelSpace.from_labels(["a", "b", "c"], task="binary")


def test_patching_folds_steps_and_repeats_the_last():
    p = InputPipeline("numeric", num_features=2, patch_size=3)
    x = np.arange(14, dtype=np.float32).reshape(7, 2)  # 7 steps -> 3 patches
    (out,) = p.encode([x])
    assert out.shape == (3, 6) and p.model_kwargs() == {"num_features": 6}
    assert out[0].tolist() == [0, 1, 2, 3, 4, 5]
    assert out[2].tolist() == [12, 13, 12, 13, 12, 13]  # the final step repeated, not zeros
    again = InputPipeline.load("/nonexistent", {"pipeline": p.to_dict()})
    assert np.array_equal(again.encode([x])[0], out)


@pytest.mark.parametrize("scale", [1.0, 0.001])
def test_log_transform_compresses_before_standardising_and_round_trips(tmp_path, scale):
    from padless.config import load_config

    seqs = [np.array([[0.01], [-3.0], [300.0]]), np.array([[1.0], [2.0]])]
    ds = SequenceDataset(seqs, ["a", "b"], ["train", "train"], ["s0", "s1"], ["x"])
    c = load_config(
        None,
        [
            "data.source=adding",  # a numeric source (log_transform is for numeric inputs)
            "data.log_transform=true",
            f"data.log_scale={scale}",
            "data.valid_fraction=0",
        ],
    )
    p = InputPipeline.fit(ds, [0, 1], c)
    logged = np.sign(seqs[0]) * np.log1p(np.abs(seqs[0]) / scale)
    stats = np.concatenate([logged, np.log1p(seqs[1] / scale)])
    expected = (logged - stats.mean()) / stats.std()
    (out,) = p.encode([seqs[0]])
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    p.save(tmp_path)
    again = InputPipeline.load(tmp_path, {"pipeline": p.to_dict()})
    np.testing.assert_array_equal(again.encode([seqs[0]])[0], out)


def test_log_scale_separates_small_magnitudes():
    """With scale 1, 0.001 and 0.01 map within 0.01 of each other; with scale 0.001 they are
    a factor-of-ten step apart, like 1 and 10."""
    from padless.encode.pipeline import _signed_log

    small = np.array([0.001, 0.01, 1.0, 10.0])
    a = _signed_log(small)
    b = _signed_log(small, 0.001)
    assert a[1] - a[0] < 0.01
    assert b[1] - b[0] == pytest.approx(np.log(11 / 2), rel=1e-5)
    assert b[3] - b[2] == pytest.approx(np.log(10001 / 1001), rel=1e-5)


def test_text_pipeline_takes_cleaned_texts():
    """splits.py cleans once (``pipeline.text.clean``) and passes the cleaned texts to both
    fit and encode: the same pipeline and the same ids as from the raw texts."""
    from padless.data.dataset import TextDataset

    texts = ["A great film.<br />Great!", "A terrible film &amp; plot.", "Great fun", "I don't"]
    ds = TextDataset(texts=texts * 3, labels=["a", "b"] * 6, splits=["train"] * 12)
    c = cfg("text.min_freq=1", "text.max_length=4", "text.ngrams=2", "text.ngram_min_freq=1")
    rows = [0, 1, 2, 3, 5, 6]
    plain = InputPipeline.fit(ds, rows, c)
    assert plain.text is not None
    cleaned = plain.text.clean([ds.texts[i] for i in rows])
    again = InputPipeline.fit(ds, rows, c, cleaned=cleaned)
    assert again.text is not None and again.text.vocab.tokens == plain.text.vocab.tokens
    assert again.text.bigrams.pairs == plain.text.bigrams.pairs
    for a, b in zip(
        plain.encode(texts, rows=[4, 5, 6, 7]),
        again.encode(again.text.clean(texts), rows=[4, 5, 6, 7], cleaned=True),
        strict=True,
    ):
        assert a.shape == b.shape and (a == b).all()
    with pytest.raises(ValueError, match="2 cleaned texts for 6 rows"):
        InputPipeline.fit(ds, rows, c, cleaned=cleaned[:2])
    with pytest.raises(DataError, match="row 5: expected text with at least one token"):
        again.encode(["fine", "<br />"], rows=[4, 5], cleaned=False)
