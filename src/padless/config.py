"""Typed, frozen configuration: one dataclass per stage, loaded from TOML plus ``--set`` overrides.

A config file has one table per stage::

    [data]            # where the examples come from (DataConfig)
    [text]            # cleaning, tokenisation, vocabulary, truncation (TextConfig)
    [model]           # the network (ModelConfig)
    [pretrain]        # optional language-model pre-training on the train texts (PretrainConfig)
    [train]           # the loop (TrainConfig)

Unknown tables or keys fail with the closest valid name, wrong types fail naming the key, and
``--set train.epochs=3`` overrides are parsed as TOML values (``3`` is an int, ``"a"`` or ``a``
a string, ``true`` a bool, ``[1, 2]`` a list).
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from padless.data.sources import SOURCES, unused_data_key
from padless.errors import config_error
from padless.models.names import CELLS, EXECUTIONS, NONLINEARITIES, POOLINGS, TASKS


@dataclass(frozen=True)
class DataConfig:
    """Where examples come from (see :func:`padless.data.sources.load_data`).

    ``source`` is one of:

    * ``"imdb-sample"`` (embedded sample), ``"imdb"`` (official tarball, downloaded and cached,
      or ``path``), ``"table"`` (CSV / TSV / JSONL / Parquet text table at ``path``);
    * ``"ts"`` (UEA/UCR: ``path`` is the folder or ``.../Name`` prefix of a ``Name_TRAIN.ts`` /
      ``Name_TEST.ts`` pair, or one ``.ts`` file plus ``test_path``), ``"long_table"`` (one row
      per time step, grouped by ``id_column``, ordered by ``step_column``);
    * synthetic: ``"sum_mod"``, ``"adding"`` (regression), ``"running_sum_mod"`` (per-step
      tagging), sized by ``train_size`` / ``valid_size`` / ``test_size`` with lengths in
      ``[min_length, max_length]`` and generated from ``seed``.

    ``task`` is ``"auto"`` (inferred from the labels) or forces binary / multiclass /
    multilabel / regression / tagging; it decides how table label cells are read
    (:mod:`padless.data.label_cells`): ``"regression"`` parses numbers (``"0.676"``), and
    ``"auto"`` picks regression only when every train label is a number and one at least is
    not an integer (integer labels such as 0 / 1 stay classes); ``"tagging"`` reads one tag per
    token (text tables) or a per-step label column (long tables). ``multilabel`` reads a set of
    labels per row (a JSON list or text split on ``label_delimiter``; an empty cell is no
    labels). ``label_columns`` (tables and long tables) reads several regression targets, one
    per column, instead of ``label_column``. Rows without a split go to train; ``valid_fraction`` of
    train is held out for validation when the data has no ``valid`` split. Numeric sequences
    are optionally compressed with ``log_transform`` (sign(x)·log(1 + |x| / ``log_scale``), for
    heavy-tailed signals such as currents spanning 0.01-300 A; values well below ``log_scale``
    stay linear, so set it near the smallest magnitude that matters), standardised with train
    statistics (``normalize``), cut to ``max_steps`` and, with ``patch_size`` k > 1, folded into
    k-step patches (k*F features per step). A malformed table row (an unclosed quote, a wrong
    number of fields) raises naming the file and line; ``skip_bad_rows`` skips and counts it
    instead, and ``check_multiline = false`` trusts every quoted field that spans lines (see
    :mod:`padless.data.delimited`).

    ``limit`` N keeps N rows for a quick run, shared among the splits the data has (train,
    valid, test; rows without a split count as train) in proportion to their sizes, at least
    one of each, drawn within each split by ``seed``, kept in file order, and logged ("data.limit
    1000: kept train 750 of 22500, test 250 of 7500"); ``valid_fraction`` then holds out
    validation rows from the kept train rows as usual.

    A key the chosen source ignores is refused when given (in the file or with ``--set``),
    naming what does its job: :data:`padless.data.sources.DATA_KEYS` says which sources read
    each key (``max_length`` is a synthetic length; ``text.max_length`` truncates texts).
    """

    source: str = "imdb-sample"
    path: str | None = None
    test_path: str | None = None
    format: str | None = None
    task: str = "auto"
    text_column: str = "text"
    label_column: str = "label"
    label_columns: tuple[str, ...] | None = None  # several regression targets, one per column
    split_column: str | None = "split"
    id_column: str = "id"
    step_column: str | None = None
    multilabel: bool = False
    label_delimiter: str | None = None
    skip_empty: bool = False
    skip_bad_rows: bool = False  # skip (and count) malformed table rows instead of raising
    check_multiline: bool = True  # refuse a quoted field spanning lines that swallowed rows
    nan_policy: str = "raise"
    log_transform: bool = False
    log_scale: float = 1.0  # log_transform is log(1 + |x| / log_scale): linear below the scale
    normalize: bool = True
    max_steps: int | None = None
    patch_size: int = 1
    valid_fraction: float = 0.1
    limit: int | None = None
    # Encoded splits are cached on disk (padless.encode.store) and reused by the next run on
    # the same files and settings; cache_dir: where (default $PADLESS_CACHE or ~/.cache/padless).
    cache: bool = True
    cache_dir: str | None = None
    # Processes that tokenize a large text table (word tokenizer) while it is read and stored;
    # 0: one per core, 1: none besides this one. The store is the same with any number.
    encode_workers: int = 0
    seed: int = 0  # synthetic data, and data.limit's draw
    train_size: int = 10000
    valid_size: int = 1000
    test_size: int = 1000
    min_length: int = 1
    max_length: int = 100
    modulus: int = 10


@dataclass(frozen=True)
class TextConfig:
    """Text pipeline: clean → tokenize → map to ids (pad = 0, unk = 1) → truncate."""

    lowercase: bool = True
    strip_html: bool = True
    tokenizer: str = "word"  # "word" (regex), "wordpiece" or "bpe" (HF tokenizers)
    max_size: int = 20000
    min_freq: int = 2
    max_length: int = 512
    truncation: str = "head"  # "head", "tail" or "head+tail"
    # 2 adds one bigram id per step (the pair ending at that token), fastText-style: the model
    # sums its embedding into the word's. Bigrams are counted on the training texts; the
    # ngram_max_size most frequent with count >= ngram_min_freq are kept, others add nothing.
    ngrams: int = 1
    ngram_max_size: int = 200000
    ngram_min_freq: int = 3


@dataclass(frozen=True)
class ModelConfig:
    """Embedding → recurrent encoder → masked pooling → linear head."""

    cell: str = "lstm"
    embedding_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.0
    embedding_dropout: float = 0.0
    embedding_skip: bool = False  # head also reads the masked mean of the embeddings
    conv_channels: int = 0  # > 0: Conv1d front end (padding-exact) before the encoder
    conv_kernel: int = 5  # odd
    conv_layers: int = 1
    pooling: str = "mean"
    nonlinearity: str = "tanh"  # "relu" only for cell = "rnn"
    execution: str = "auto"  # "padded", "packed" or "reference" (see padless.models)
    transformer_layers: int = 0  # > 0 adds an RNN → TransformerEncoder hybrid
    transformer_heads: int = 4


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation loop (see :func:`padless.train.train`).

    AdamW with ``lr`` and ``weight_decay``; ``scheduler`` ``"plateau"`` (ReduceLROnPlateau on
    the monitored validation value, ``lr_factor`` / ``lr_patience``), ``"cosine"`` (per step to
    ``min_lr``), ``"onecycle"`` (per step, peak ``lr``) or ``"none"``; ``warmup_steps`` of linear
    warm-up before cosine. ``monitor`` picks the best epoch and drives plateau and early stopping
    (``"auto"``: valid accuracy for classification, valid loss for regression; or ``"loss"``,
    ``"accuracy"``, ``"macro_f1"``, ...). Training is driven by validation: ``epochs`` is a
    ceiling, ``early_stopping`` > 0 stops after that many epochs without improvement and the
    best epoch's weights are kept (0: run every epoch, still keep the best). Data without a
    validation split hold out ``holdout`` of train to choose the epoch count the same way, then
    refit on all of train for that count, replaying the held-out run's per-epoch learning rates
    (:mod:`padless.train.selection`); ``holdout = 0`` trains once and keeps the last epoch.
    ``min_lr`` is the floor of the decaying schedules (plateau and cosine; ``None``: ``lr`` /
    100), so the learning rate never decays to nothing while epochs are left. ``combine``
    ``"auto"``: for token inputs and a per-sequence task with a validation split, fit the
    linear TF-IDF n-gram model after training and, when mixing its probabilities with the
    recurrent model's improves the monitored validation value, save, export and serve the
    mix (weight chosen on validation; :mod:`padless.train.combination`); ``"off"``: never.
    ``sampler`` is ``"bucket"``, ``"token_budget"`` or ``"random"``;
    for the first ``sortagrad_epochs`` epochs its batches run shortest first (a length
    curriculum, "SortaGrad"), which lets recurrent nets learn long-range tasks such as sum-mod.
    ``amp`` is ``"auto"`` (off on CPU, where autocast was measured slower; bf16 on CUDA when
    supported, else fp16), ``"off"``, ``"bf16"`` or ``"fp16"``. ``compile`` wraps the model in
    ``torch.compile`` and pads batches to a multiple of ``pad_to_multiple_of`` (default 64 with
    compile) so it compiles a bounded number of shapes. ``accumulate`` sums the gradients of that
    many batches before each optimizer step (under ``torchrun`` the ranks synchronise only on the
    last of them): the global batch is ``batch_size`` × ``accumulate`` × the number of processes.
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    scheduler: str = "plateau"
    lr_factor: float = 0.5
    lr_patience: int = 1
    min_lr: float | None = None
    warmup_steps: int = 0
    monitor: str = "auto"
    early_stopping: int = 3
    holdout: float = 0.15
    combine: str = "auto"
    seed: int = 0
    deterministic: bool = False
    sampler: str = "bucket"
    sortagrad_epochs: int = 0
    max_tokens: int | None = None
    pad_to_multiple_of: int | None = None
    amp: str = "auto"
    compile: bool = False
    input_noise: float = 0.0
    device: str = "auto"
    flush_denormal: bool = True
    num_threads: int | None = None
    eval_batch_size: int = 256
    keep_checkpoints: int = 2
    tensorboard: bool = False
    memory_check: bool = True
    accumulate: int = 1


@dataclass(frozen=True)
class PretrainConfig:
    """Language-model pre-training of the embedding and encoder before training on labels.

    ``epochs`` > 0 first trains the model as a (bi)directional language model over the train
    split's token ids (see :mod:`padless.train.pretrain`): AdamW at ``lr`` with a cosine decay, a
    sampled softmax with ``negatives`` shared samples per batch, batches of
    ``train.batch_size``. Text inputs with one recurrent layer if bidirectional.
    """

    epochs: int = 0
    lr: float = 2e-3
    negatives: int = 256


@dataclass(frozen=True)
class ServeSettings:
    """``padless serve`` settings (not part of a training config; each is a flag of
    ``padless serve``, see :mod:`padless.serve`)."""

    host: str = "127.0.0.1"
    port: int = 8000
    backend: str = "eager"  # or "onnx" (the file from `padless export`)
    export_file: str | None = None
    threads: int | None = None  # ONNX Runtime intra-op threads
    batching: bool = True
    max_batch_tokens: int = 16384  # padded B x T per model call
    max_wait_ms: float = 2.0  # how long the first waiting request waits for company
    max_queue: int = 4096  # inputs accepted but not yet running; beyond: 503
    max_body_bytes: int = 4 * 1024 * 1024
    max_inputs: int = 256  # per request
    max_steps: int = 20000  # per input, before the model's own cap
    session_ttl_s: float = 600.0
    max_sessions: int = 1000
    retry_after_s: int = 1
    # Connections (see padless.serve.connections): slow or idle clients cannot hold them.
    header_timeout_s: float = 10.0  # a request head must arrive within; else 408 and close
    body_timeout_s: float = 30.0  # the whole body must arrive within; else 408 and close
    keep_alive_s: float = 5.0  # an idle keep-alive connection is closed after
    max_header_bytes: int = 32 * 1024  # request line and headers; else 431 and close
    max_connections: int = 1000  # open connections; requests beyond are 503 (and closed)
    backlog: int = 2048  # connections waiting to be accepted (the listen queue)


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_CHOICES: dict[str, tuple[str, ...]] = {
    "data.source": tuple(SOURCES),
    "data.task": ("auto", *TASKS),
    "data.nan_policy": ("raise", "drop_steps", "zero"),
    "text.tokenizer": ("word", "wordpiece", "bpe"),
    "text.truncation": ("head", "tail", "head+tail"),
    "model.cell": CELLS,
    "model.pooling": POOLINGS,
    "model.nonlinearity": NONLINEARITIES,
    "model.execution": EXECUTIONS,
    "train.sampler": ("bucket", "token_budget", "random"),
    "train.scheduler": ("plateau", "cosine", "onecycle", "none"),
    "train.combine": ("auto", "off"),
    "train.amp": ("auto", "off", "bf16", "fp16"),
}


# (lowest, highest, highest included); None = unbounded
_RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "data.valid_fraction": (0, 1, False),
    "data.encode_workers": (0, None, True),
    "data.limit": (1, None, True),
    "data.max_steps": (1, None, True),
    "data.log_scale": (1e-12, None, True),
    "data.patch_size": (1, None, True),
    "data.train_size": (1, None, True),
    "data.valid_size": (0, None, True),
    "data.test_size": (0, None, True),
    "data.min_length": (1, None, True),
    "data.max_length": (1, None, True),
    "data.modulus": (1, None, True),
    "text.max_size": (3, None, True),
    "text.min_freq": (1, None, True),
    "text.max_length": (1, None, True),
    "text.ngrams": (1, 2, True),
    "text.ngram_max_size": (1, None, True),
    "text.ngram_min_freq": (1, None, True),
    "model.embedding_dim": (1, None, True),
    "model.hidden_size": (1, None, True),
    "model.num_layers": (1, None, True),
    "model.dropout": (0, 1, False),
    "model.embedding_dropout": (0, 1, False),
    "model.transformer_layers": (0, None, True),
    "model.conv_channels": (0, None, True),
    "model.conv_kernel": (1, None, True),
    "model.conv_layers": (1, None, True),
    "model.transformer_heads": (1, None, True),
    "pretrain.epochs": (0, None, True),
    "pretrain.lr": (1e-12, None, True),
    "pretrain.negatives": (1, None, True),
    "train.epochs": (1, None, True),
    "train.batch_size": (1, None, True),
    "train.lr": (1e-12, None, True),
    "train.weight_decay": (0, None, True),
    "train.grad_clip": (0, None, True),
    "train.lr_factor": (1e-12, 1, False),
    "train.lr_patience": (0, None, True),
    "train.min_lr": (0, None, True),
    "train.warmup_steps": (0, None, True),
    "train.input_noise": (0, None, True),
    "train.early_stopping": (0, None, True),
    "train.holdout": (0, 1, False),
    "train.sortagrad_epochs": (0, None, True),
    "train.accumulate": (1, None, True),
    "train.max_tokens": (1, None, True),
    "train.pad_to_multiple_of": (1, None, True),
    "train.num_threads": (1, None, True),
    "train.eval_batch_size": (1, None, True),
    "train.keep_checkpoints": (1, None, True),
}


def _check_range(key: str, value: Any, where: str) -> None:
    bounds = _RANGES.get(key)
    if bounds is None or value is None:
        return
    low, high, inclusive = bounds
    too_high = high is not None and (value > high or (value == high and not inclusive))
    if (low is not None and value < low) or too_high:
        if high is None:
            expected = f"a value >= {low:g}"
        else:
            expected = f"a value in [{low:g}, {high:g}{']' if inclusive else ')'}"
        raise config_error(where, expected, repr(value), f"set {key} within that range")


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"use one of {', '.join(sorted(options))}.{hint}"


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the dataclass field type ``tp`` (int, float, bool, str,
    tuple[str, ...] from a list, X | None)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(tp) is tuple:  # tuple[str, ...]: a non-empty TOML list of strings
        if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise config_error(
            where,
            "a non-empty list of strings",
            f"{value!r} ({type(value).__name__})",
            f'write e.g. {where.split(" ")[-1]} = ["a", "b"]',
        )
    else:  # pragma: no cover - every field uses one of the types above
        return value
    name = getattr(tp, "__name__", str(tp))
    raise config_error(
        where,
        f"a value of type {name}",
        f"{value!r} ({type(value).__name__})",
        f"write e.g. {where.split(' ')[-1]} = {_example(tp)}",
    )


def _example(tp: Any) -> str:
    return {bool: "true", int: "3", float: "0.001", str: '"text"'}.get(tp, "...")


def _build(cls: type, table: Any, prefix: str, origin: str) -> Any:
    if not isinstance(table, dict):
        raise config_error(
            f"{origin}: [{prefix}]",
            "a table of keys",
            repr(table),
            f"write a [{prefix}] section with key = value lines",
        )
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in table.items():
        if key not in names:
            raise config_error(
                f"{origin}: key '{prefix}.{key}'",
                f"a key of [{prefix}]",
                "an unknown key",
                _suggest(key, names),
            )
        where = f"{origin}: key '{prefix}.{key}'"
        val = _coerce(value, hints[key], where)
        choices = _CHOICES.get(f"{prefix}.{key}")
        if choices is not None and val not in choices:
            raise config_error(
                where, f"one of {', '.join(choices)}", repr(val), _suggest(str(val), list(choices))
            )
        _check_range(f"{prefix}.{key}", val, where)
        kwargs[key] = val
    return cls(**kwargs)


_STAGES: dict[str, type] = {
    "data": DataConfig,
    "text": TextConfig,
    "model": ModelConfig,
    "pretrain": PretrainConfig,
    "train": TrainConfig,
}


def config_from_dict(raw: dict[str, Any], origin: str = "<config>") -> Config:
    """Build a :class:`Config` from nested dicts, rejecting unknown tables/keys and bad types."""
    for key in raw:
        if key not in _STAGES:
            raise config_error(
                f"{origin}: table '[{key}]'",
                "one of " + ", ".join(f"[{name}]" for name in _STAGES),
                f"'[{key}]'",
                _suggest(key, list(_STAGES)),
            )
    parts = {name: _build(cls, raw.get(name, {}), name, origin) for name, cls in _STAGES.items()}
    _check_data(parts["data"], origin)
    return Config(**parts)


def _check_data(d: DataConfig, origin: str) -> None:
    """The ``[data]`` keys that only apply together: ``label_columns`` (table sources, several
    regression targets, instead of ``label_column``) and ``multilabel`` (task auto or
    multilabel)."""
    where = f"{origin}: key 'data.label_columns'"
    if d.label_columns is not None:
        if d.source not in ("table", "long_table"):
            expected = 'data.source "table" or "long_table" (the sources with label columns)'
            raise config_error(where, expected, repr(d.source), "remove data.label_columns")
        if d.task not in ("auto", "regression") or d.multilabel:
            expected = 'data.task "regression" or "auto" (several columns are several targets)'
            got = f"data.task = {d.task!r}, data.multilabel = {str(d.multilabel).lower()}"
            raise config_error(where, expected, got, "use data.label_column for this task")
        if len(set(d.label_columns)) < len(d.label_columns) or d.label_column != "label":
            expected = "distinct column names, and data.label_column left unset"
            got = f"{list(d.label_columns)}, data.label_column = {d.label_column!r}"
            raise config_error(where, expected, got, "name each target column once, in one key")
    if d.multilabel and d.task not in ("auto", "multilabel"):
        raise config_error(
            f"{origin}: key 'data.multilabel'",
            'data.task "auto" or "multilabel" (it reads a set of labels per row)',
            f"data.task = {d.task!r}",
            "set data.multilabel = false",
        )


def data_overrides(
    items: Sequence[str], flags: Mapping[str, Any] | None = None, *, allowed: Sequence[str] = ()
) -> dict[str, Any]:
    """The ``[data]`` keys a command line sets: ``--set data.KEY=VALUE`` items, then the
    ``flags`` given (None values are left out), each checked like a config file's key. Other
    stages, and keys outside ``allowed`` (when given), are refused."""
    raw: dict[str, Any] = {}
    for item in items:
        (stage, key), value = parse_override(item)
        if stage != "data" or (allowed and key not in allowed):
            expected = "a [data] key" + (" this command reads" if allowed else "")
            fix = "only data.KEY=VALUE applies to this command"
            if allowed:
                fix = _suggest(key, list(allowed))
            raise config_error(f"--set {item}", expected, f"{stage}.{key}", fix)
        raw[key] = value
    raw.update({k: v for k, v in (flags or {}).items() if v is not None})
    _build(DataConfig, raw, "data", "the command line")  # unknown keys, types, choices
    return raw


def with_data(base: DataConfig, overrides: Mapping[str, Any], origin: str) -> DataConfig:
    """``base`` with the ``overrides`` (from :func:`data_overrides`), checked as a whole."""
    merged = {**dataclasses.asdict(base), **overrides}
    return config_from_dict({"data": merged}, origin).data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``"a.b=value"`` into (["a", "b"], value); the value is read as TOML, else a string."""
    if "=" not in text:
        raise config_error(
            f"--set {text!r}",
            "KEY=VALUE such as train.epochs=3",
            repr(text),
            "write --set stage.key=value",
        )
    key, _, raw = text.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if len(parts) != 2:
        raise config_error(
            f"--set {text!r}",
            "a key of the form stage.key (e.g. train.epochs)",
            repr(key),
            "name the stage table and the key: --set train.epochs=3",
        )
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return parts, value


def load_config(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> Config:
    """Read a TOML config (or defaults when ``path`` is None) and apply ``--set`` overrides."""
    raw: dict[str, Any] = {}
    origin = "<defaults>"
    if path is not None:
        p = Path(path)
        origin = str(p)
        if not p.is_file():
            raise config_error(
                origin,
                "an existing TOML config file",
                "no such file",
                "check the path, or start from configs/imdb-sample.toml",
            )
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise config_error(
                origin,
                "valid UTF-8 TOML",
                f"a parse error ({exc})",
                "fix the syntax at the position named",
            ) from None
    set_items: dict[str, str] = {}  # [data] key -> the --set item that gave it
    for item in overrides:
        (stage, key), value = parse_override(item)
        if stage not in _STAGES:
            raise config_error(
                f"--set {item}",
                "a stage of " + ", ".join(_STAGES),
                repr(stage),
                _suggest(stage, list(_STAGES)),
            )
        raw.setdefault(stage, {})[key] = value
        if stage == "data":
            set_items[key] = f"--set {item}"
    cfg = config_from_dict(raw, origin)
    places = {k: set_items.get(k, f"{origin}: key 'data.{k}'") for k in raw.get("data", {})}
    _check_data_keys(cfg.data, places)
    return cfg


def _check_data_keys(d: DataConfig, places: Mapping[str, str]) -> None:
    """Refuse a ``[data]`` key the user gave that does nothing with the chosen source (the
    table is :data:`padless.data.sources.DATA_KEYS`). ``places``: each key written in the file
    or set with ``--set``, and where. Only given keys count: a saved ``config.json`` lists
    every key (the defaults too) and is read with :func:`config_from_dict`, unchecked."""
    for key, where in places.items():
        unused = unused_data_key(d, key)
        if unused is not None:
            raise config_error(where, *unused)
