"""The test variants: one table of model cases and one ragged-lengths strategy, shared by every
suite that checks exactness.

**Model cases.** :data:`CASES` maps a name to a :class:`Case`: the keyword arguments of a small
:class:`~padless.models.classifier.SequenceClassifier` (on top of :data:`BASE`) plus how its
inputs look (token ids, ``ids_per_step`` ids per step, or ``F`` numeric features). It holds

* the **grid**: every cell × direction × depth × pooling (:data:`CELLS` × :data:`DIRECTIONS` ×
  :data:`DEPTHS` × :data:`POOLINGS`), named ``{cell}-{bi|uni}{layers}-{pooling}``, e.g.
  ``lstm-bi2-mean``;
* the **special cases** (:data:`SPECIAL`), one feature each on top of a grid-like model:
  ReLU RNNs, numeric inputs, conv front ends (kernels 1, 3 and 5, one and two layers), the
  embedding skip (text, numeric, with a conv), bigram ids, tagging, and RNN → Transformer
  hybrids (ReLU and GELU feed-forward), in both directions where a suite needs it.

A suite never lists cases itself: it parametrizes over :func:`select` with one of the named
filters below (each docstring says which suite uses it and why it keeps what it keeps):

============================  ==================================================================
filter                        used by
============================  ==================================================================
:func:`every`                 tests/models/test_exactness.py (each sequence exact alone)
:func:`recurrent_cores`       tests/models/test_exactness.py (encoder level: paths, states, grads)
:func:`stacked_grid`          tests/models/test_exactness.py (classifier execution paths, grads)
:func:`has_conv`              tests/models/test_exactness.py (conv front end)
:func:`skip_without_conv`     tests/models/test_exactness.py (embedding skip = masked mean)
:func:`bigram`                tests/models/test_exactness.py (K ids per step)
:func:`causal`                tests/models/test_streaming.py
:func:`exported`              tests/deploy/test_onnx.py, tests/deploy/test_torchscript.py
============================  ==================================================================

**Ragged lengths.** :func:`ragged_lengths` is the one hypothesis strategy for ragged batches
(any lengths; all equal; short ones plus one long outlier; length 1 in all three). It comes in
two sizes: :data:`SMALL_RAGGED` for the exactness suite, whose oracle is a Python time loop with
gradients, and for the streaming suite (the lengths of the pieces a sequence is fed in), and
:data:`RAGGED` for the export suites (batches up to 64 rows, an outlier of 60 steps). No length
0 and no empty batch: the models reject both with a clear error (``test_bad_lengths_are_clear_
errors``); empty batches belong to the batching suites. :data:`FIXED` and :data:`TIED` are the
fixed ragged batches of the deterministic tests, :meth:`Case.inputs` makes inputs for lengths,
and :func:`padding_and_order` runs one model on a batch, the batch with garbage padding and the
batch reversed (the export suites' padding and order checks).

**Dataset lengths.** :func:`dataset_lengths` (hypothesis: random short lengths, a single
sequence, all equal, one outlier anywhere; up to 200 sequences) and :func:`skewed_lengths`
(seeded log-normal, IMDB-like tail) are the whole-dataset lengths of the sampler and
padding-waste suites (tests/batching/test_samplers.py, tests/batching/test_waste.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import strategies as st

from padless.models.classifier import SequenceClassifier

V, F = 40, 3  # vocabulary size (ids 1..V-1, 0 is padding), numeric features per step
CELLS = ("lstm", "gru", "rnn")
DIRECTIONS = (False, True)  # bidirectional?
DEPTHS = (1, 2)
POOLINGS = ("last", "mean", "max", "attention")
# Every case starts from these (small, so hypothesis runs many examples; bidirectional unless
# a case says otherwise); num_outputs is 1 for binary, 3 otherwise.
BASE: dict[str, Any] = dict(embedding_dim=8, hidden_size=6, bidirectional=True)
_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(SequenceClassifier).parameters.items()
    if p.default is not inspect.Parameter.empty
}


def set_activation(model: SequenceClassifier, activation: Callable, code: int) -> None:
    """Give every transformer layer of a hybrid ``activation``; ``code`` is the layer's
    fast-path tag (``activation_relu_or_gelu``: 1 relu, 2 gelu, 0 other), kept consistent so
    eager runs the same function."""
    for layer in model.encoder.transformer.layers:
        layer.activation, layer.activation_relu_or_gelu = activation, code


@dataclass(frozen=True)
class Case:
    """One model variant: ``options`` are SequenceClassifier keywords over :data:`BASE`;
    ``numeric`` gives it ``F`` float features per step instead of token ids; ``ids_per_step``
    > 1 feeds (B, T, K) ids (word + bigram); ``activation`` is a hybrid's feed-forward
    activation ("relu", the default, or "gelu"); ``grid`` marks the cell × direction × depth ×
    pooling grid."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    numeric: bool = False
    ids_per_step: int = 1
    activation: str = "relu"
    grid: bool = False

    @property
    def kwargs(self) -> dict[str, Any]:
        """The full SequenceClassifier keyword arguments."""
        task = self.options.get("task", _DEFAULTS["task"])
        inputs = {"num_features": F} if self.numeric else {"vocab_size": V}
        return {**BASE, "num_outputs": 1 if task == "binary" else 3, **inputs, **self.options}

    def get(self, key: str) -> Any:
        """One keyword argument, SequenceClassifier's default where the case sets none."""
        return self.kwargs.get(key, _DEFAULTS.get(key))

    cell = property(lambda self: self.get("cell"))
    bidirectional = property(lambda self: self.get("bidirectional"))
    num_layers = property(lambda self: self.get("num_layers"))
    task = property(lambda self: self.get("task"))
    hybrid = property(lambda self: self.get("transformer_layers") > 0)
    conv = property(lambda self: self.get("conv_channels") > 0)
    skip = property(lambda self: self.get("embedding_skip"))

    def model(self, **overrides: Any) -> SequenceClassifier:
        """The case's model in eval mode, its weights drawn from seed 0 (the same weights on
        every call); ``overrides`` replace keyword arguments (e.g. ``execution``)."""
        torch.manual_seed(0)
        model = SequenceClassifier(**{**self.kwargs, **overrides})
        if self.activation == "gelu":
            set_activation(model, torch.nn.functional.gelu, 2)
        return model.eval()

    def inputs(self, lengths, seed: int, pad: int = 0, garbage: bool = False):
        """Right-padded numpy inputs for ``lengths`` plus ``pad`` extra steps, and int64
        lengths; the padded steps are zero or, with ``garbage``, random values. The real steps
        depend on ``seed`` and the lengths only."""
        lengths = list(lengths)
        b, t = len(lengths), max(lengths)
        x = self._draw(np.random.default_rng(seed), (b, t))
        x = np.concatenate([x, np.zeros_like(self._draw(np.random.default_rng(0), (b, pad)))], 1)
        real = np.arange(t + pad)[None, :] < np.asarray(lengths)[:, None]
        real = real.reshape(b, t + pad, *[1] * (x.ndim - 2))
        noise = self._draw(np.random.default_rng(seed + 1), (b, t + pad))
        x = np.where(real, x, noise if garbage else 0).astype(x.dtype)
        return x, np.asarray(lengths, dtype=np.int64)

    def _draw(self, rng, shape):
        if self.numeric:
            return rng.normal(size=(*shape, F)).astype(np.float32)
        k = self.ids_per_step
        return rng.integers(1, V, size=shape if k == 1 else (*shape, k)).astype(np.int64)


def _grid() -> list[Case]:
    return [
        Case(
            f"{cell}-{'bi' if bi else 'uni'}{layers}-{pool}",
            dict(cell=cell, bidirectional=bi, num_layers=layers, pooling=pool),
            grid=True,
        )
        for cell in CELLS
        for bi in DIRECTIONS
        for layers in DEPTHS
        for pool in POOLINGS
    ]


_HYBRID = dict(transformer_layers=1, transformer_heads=2)
SPECIAL = [
    Case("rnn-relu-bi-mean", dict(cell="rnn", nonlinearity="relu", pooling="mean")),
    Case(
        "rnn-relu-uni-last",
        dict(cell="rnn", nonlinearity="relu", pooling="last", bidirectional=False),
    ),
    Case("numeric-gru-last", dict(cell="gru", pooling="last"), numeric=True),
    Case("numeric-lstm-uni-max", dict(pooling="max", bidirectional=False), numeric=True),
    Case("numeric-conv1-mean", dict(conv_channels=6, conv_kernel=1, pooling="mean"), numeric=True),
    Case("numeric-conv5-mean", dict(conv_channels=6, conv_kernel=5, pooling="mean"), numeric=True),
    Case(
        "numeric-conv-skip",  # conv kernel 3, two conv layers
        dict(conv_channels=5, conv_kernel=3, conv_layers=2, embedding_skip=True, pooling="max"),
        numeric=True,
    ),
    Case("numeric-skip-mean", dict(embedding_skip=True, pooling="mean"), numeric=True),
    Case("skip-mean", dict(embedding_skip=True, pooling="mean")),
    Case(
        "lstm-uni-attention-skip",
        dict(pooling="attention", embedding_skip=True, bidirectional=False),
    ),
    Case("bigram-ids", dict(pooling="max", task="binary"), ids_per_step=2),
    Case("tagging", dict(task="tagging")),
    Case("gru-uni-tagging", dict(cell="gru", task="tagging", bidirectional=False)),
    Case("hybrid-bi-mean", dict(transformer_layers=2, transformer_heads=3, pooling="mean")),
    Case("hybrid-uni-last", dict(_HYBRID, bidirectional=False, pooling="last")),
    Case("hybrid-gru-tagging", dict(_HYBRID, cell="gru", task="tagging")),
    Case("hybrid-gelu-attention", dict(_HYBRID, pooling="attention"), activation="gelu"),
]
CASES: dict[str, Case] = {case.name: case for case in [*_grid(), *SPECIAL]}
assert len(CASES) == len(_grid()) + len(SPECIAL), "case names must be unique"


# ------------------------------------------------------------------------------ filters


def every(case: Case) -> bool:
    """Every case. The exactness suite runs each one on ragged batches against itself run
    one sequence at a time, with garbage in the padding."""
    return True


def stacked_grid(case: Case) -> bool:
    """The grid at two layers: every cell × direction × pooling over a stacked encoder. The
    exactness suite's classifier test re-runs all four execution paths with gradients on each
    example, so it takes one depth, the one with a layer-to-layer hand-off; the encoder tests
    (:func:`recurrent_cores`) cover both depths."""
    return case.grid and case.num_layers == 2


def has_conv(case: Case) -> bool:
    """Cases with a conv front end (kernels 1, 3, 5; one and two layers): the exactness suite
    checks that the conv window never reads padding."""
    return case.conv


def skip_without_conv(case: Case) -> bool:
    """Cases with the embedding skip and no conv front end, text and numeric: the exactness
    suite checks the skip is the masked mean of the embedded steps, which it recomputes from
    ``model.embed`` directly (a conv front end sits between the two)."""
    return case.skip and not case.conv


def bigram(case: Case) -> bool:
    """Cases fed K > 1 ids per step: the exactness suite checks their embeddings add up."""
    return case.ids_per_step > 1


def causal(case: Case) -> bool:
    """The cases that can stream (tests/models/test_streaming.py): step t depends on steps
    ≤ t only. Left out: bidirectional models (they read each sequence from its end too),
    RNN → Transformer hybrids (attention sees later steps), conv front ends (the window looks
    ahead) and bigram ids (each joins a token with the next one), as
    :func:`padless.models.streaming.streamable` says."""
    return not (case.bidirectional or case.hybrid or case.conv or case.ids_per_step > 1)


def exported(case: Case) -> bool:
    """The cases the export suites (tests/deploy/test_onnx.py and test_torchscript.py) check
    against eager: all but half of the grid. Of the grid they take one depth per direction,
    unidirectional at one layer and bidirectional at two: the exporters emit every layer from
    the same per-layer code (one ONNX recurrent node, one scripted loop per layer), which these
    already run at both depths and in both directions, and the other 24 grid cases would
    double the two slowest suites' run time without a new export path."""
    return not case.grid or case.num_layers == (2 if case.bidirectional else 1)


def select(keep: Callable[[Case], bool]) -> list:
    """``pytest.param`` for each case that ``keep`` keeps, with the case's name as its id."""
    return [pytest.param(case, id=case.name) for case in CASES.values() if keep(case)]


def recurrent_cores() -> list[tuple[str, bool, int]]:
    """The distinct recurrent cores of the grid as ``(cell, bidirectional, num_layers)``:
    every cell × direction × depth. The exactness suite runs each at encoder level (every
    execution path against the reference loop and ``torch.nn``, states and gradients)."""
    cores = ((c.cell, c.bidirectional, c.num_layers) for c in CASES.values() if c.grid)
    return list(dict.fromkeys(cores))


# ------------------------------------------------------------------------------ lengths


def ragged_lengths(max_len: int, max_batch: int, outlier: int):
    """Lists of lengths ≥ 1, one per row of a batch of up to ``max_batch`` rows, in three
    shapes: any lengths up to ``max_len``; all rows of one length up to ``max_len``; short
    ones (1-4 steps, possibly none) plus one ``outlier``-step row last. Single steps come up in
    all three."""
    return st.one_of(
        st.lists(st.integers(1, max_len), min_size=1, max_size=max_batch),
        st.tuples(st.integers(1, max_len), st.integers(1, max_batch)).map(
            lambda nb: [nb[0]] * nb[1]
        ),
        st.lists(st.integers(1, 4), max_size=max_batch - 1).map(lambda xs: [*xs, outlier]),
    )


# The exactness suite (its oracle is a Python loop over time with gradients, so batches stay
# small) and the streaming suite (the pieces one sequence is appended in).
SMALL_RAGGED = ragged_lengths(max_len=15, max_batch=7, outlier=33)
# The export suites: batches of up to 64 rows, an outlier of 60 steps.
RAGGED = ragged_lengths(max_len=30, max_batch=64, outlier=60)


@st.composite
def dataset_lengths(draw, max_size=200, max_len=300):
    """Lengths of a whole dataset for the samplers and padding accounting: random short ones,
    a single sequence, all equal, or short ones with one ``max_len`` outlier anywhere."""
    kind = draw(st.sampled_from(["random", "single", "equal", "outlier"]))
    if kind == "single":
        return [draw(st.integers(1, max_len))]
    n = draw(st.integers(1, max_size))
    if kind == "equal":
        return [draw(st.integers(1, max_len))] * n
    lengths = draw(st.lists(st.integers(1, 40), min_size=n, max_size=n))
    if kind == "outlier":
        lengths[draw(st.integers(0, n - 1))] = max_len
    return lengths


def skewed_lengths(n: int = 4000, seed: int = 1) -> np.ndarray:
    """``n`` log-normal dataset lengths in [1, 2000] (median ~90, a heavy tail like IMDB's)."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(4.5, 0.8, size=n).astype(np.int64), 1, 2000)


# The fixed ragged batches of the deterministic tests.
FIXED = (5, 1, 12, 3)  # unsorted, a single step, the longest neither first nor last
TIED = (3, 9, 1, 9, 5)  # two rows tie for the longest (a sort must keep them apart)


def padding_and_order(run, case: Case, lengths=FIXED):
    """Outputs of ``run(x, lengths) -> ndarray`` on one ragged batch, on the same batch with
    garbage in 7 extra padded steps, and on the batch reversed (rows put back in order):
    ``(base, padded, flipped)``. An exact model gives the same rows in all three."""
    lengths = list(lengths)
    x, lens = case.inputs(lengths, seed=1)
    noisy, _ = case.inputs(lengths, seed=1, pad=7, garbage=True)
    order = np.arange(len(lengths))[::-1].copy()
    base = run(x, lens)
    return base, run(noisy, lens), run(x[order], lens[order])[np.argsort(order)]
