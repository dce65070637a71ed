"""Training entry point: config → data → text pipeline → model → loop → artifact + metrics.

``train(config, out_dir)`` owns its loop (no framework): AdamW, the loss implied by the label
space (BCE-with-logits for binary and multi-label, cross-entropy for multi-class), gradient
clipping, length-bucketed batches, and the best validation epoch kept. It writes
``out_dir/model/`` (see :mod:`padless.artifact`) and ``out_dir/metrics.json``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from padless import datasets
from padless.artifact import save_artifact
from padless.batching import BucketBatchSampler, TokenBudgetSampler, collate
from padless.config import Config, DataConfig
from padless.data import LabelSpace, TextDataset, assign_validation, read_text_table
from padless.errors import ConfigError, data_error
from padless.models import SequenceClassifier
from padless.text import TextEncoder

logger = logging.getLogger(__name__)


def load_data(cfg: DataConfig) -> TextDataset:
    """Read the dataset a :class:`DataConfig` names (embedded sample, IMDB or a table)."""
    if cfg.source == "imdb-sample":
        ds = datasets.imdb_sample()
    elif cfg.source == "imdb":
        ds = datasets.imdb(cfg.path, skip_empty=cfg.skip_empty)
    else:
        if cfg.path is None:
            raise data_error(
                "config key 'data.path'",
                "a path to a CSV/TSV/JSONL/Parquet file",
                "nothing",
                'set data.path = "train.csv" (or --set data.path=...)',
            )
        ds = read_text_table(
            cfg.path,
            text_column=cfg.text_column,
            label_column=cfg.label_column,
            split_column=cfg.split_column,
            fmt=cfg.format,
            multilabel=cfg.multilabel,
            label_delimiter=cfg.label_delimiter,
            skip_empty=cfg.skip_empty,
        )
    if cfg.limit is not None and cfg.limit < len(ds):
        rng = np.random.default_rng(0)
        ds = ds.subset(np.sort(rng.permutation(len(ds))[: cfg.limit]))
        logger.info("data.limit: using %d of the rows", cfg.limit)
    return ds


@dataclass
class Split:
    """One split, encoded: token id lists and label targets (int class or multi-hot list)."""

    ids: list[list[int]]
    targets: list[Any]

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))


def encode_splits(
    ds: TextDataset, encoder: TextEncoder, labels: LabelSpace, names: list[str]
) -> dict[str, Split]:
    out = {}
    for name in ("train", "valid", "test"):
        rows = [i for i, s in enumerate(names) if s == name]
        if not rows:
            continue
        texts = [ds.texts[i] for i in rows]
        ids = encoder.encode_batch(texts, where=f"{ds.source} ({name} split)", rows=rows)
        targets = [labels.encode(ds.labels[i], where=f"{ds.source} row {i}, label") for i in rows]
        out[name] = Split(ids, targets)
    return out


def loss_function(labels: LabelSpace) -> nn.Module:
    return nn.CrossEntropyLoss() if labels.task == "multiclass" else nn.BCEWithLogitsLoss()


def _targets(batch_labels: Tensor, labels: LabelSpace) -> Tensor:
    if labels.task == "binary":
        return batch_labels.float()[:, None]  # (B, 1)
    return batch_labels  # (B,) int64 or (B, C) float


def predictions(logits: Tensor, labels: LabelSpace) -> Tensor:
    """Class ids (B,) for binary/multi-class, 0/1 matrix (B, C) for multi-label."""
    if labels.task == "binary":
        return (logits[:, 0] > 0).long()
    if labels.task == "multiclass":
        return logits.argmax(-1)
    return (logits > 0).long()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    split: Split,
    labels: LabelSpace,
    batch_size: int = 256,
    desc: str = "eval",
    quiet: bool = True,
) -> dict[str, float]:
    """Loss and accuracy (exact match for multi-label) over a split, in length-sorted batches."""
    model.eval()
    sampler = BucketBatchSampler(lengths=split.lengths(), batch_size=batch_size, shuffle=False)
    loss_fn = loss_function(labels)
    total_loss, correct, n = 0.0, 0, 0
    for idx in tqdm(sampler, desc=desc, disable=True if quiet else None, leave=False):
        batch = collate([(split.ids[i], split.targets[i]) for i in idx])
        logits = model(batch.inputs, batch.lengths)
        target = _targets(batch.labels, labels)
        total_loss += loss_fn(logits, target).item() * len(idx)
        pred = predictions(logits, labels)
        ok = pred == batch.labels if labels.task != "multilabel" else (pred == target).all(-1)
        correct += int(ok.sum())
        n += len(idx)
    return {"loss": total_loss / n, "accuracy": correct / n, "examples": n}


def _sampler(split: Split, cfg: Config):
    t = cfg.train
    lengths = split.lengths()
    if t.sampler == "token_budget":
        max_tokens = t.max_tokens or t.batch_size * int(np.median(lengths))
        return TokenBudgetSampler(
            lengths=lengths,
            max_tokens=max(max_tokens, int(lengths.max())),
            shuffle=True,
            seed=t.seed,
        )
    if t.sampler == "random":
        # Random batches = bucketing with one-batch pools: no length grouping at all.
        return BucketBatchSampler(
            lengths=lengths,
            batch_size=t.batch_size,
            shuffle=True,
            seed=t.seed,
            bucket_size_multiplier=1,
        )
    return BucketBatchSampler(lengths=lengths, batch_size=t.batch_size, shuffle=True, seed=t.seed)


def train(cfg: Config, out_dir: str | Path, *, quiet: bool = False) -> dict[str, Any]:
    """Train per ``cfg`` and write ``out_dir/model/`` and ``out_dir/metrics.json``.

    With ``train.flush_denormal`` (default) denormal floats are flushed to zero while training:
    LSTM backward on CPU produces them past ~190 steps and then runs ~10x slower. The flag is
    process-wide, so it is switched off again when training ends.
    """
    flushed = cfg.train.flush_denormal and torch.set_flush_denormal(True)
    try:
        return _train(cfg, out_dir, quiet)
    finally:
        if flushed:
            torch.set_flush_denormal(False)


def _train(cfg: Config, out_dir: str | Path, quiet: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = cfg.train
    torch.manual_seed(t.seed)
    if t.num_threads:
        torch.set_num_threads(t.num_threads)

    ds = load_data(cfg.data)
    names = assign_validation(ds.splits, cfg.data.valid_fraction, t.seed)
    train_rows = [i for i, s in enumerate(names) if s == "train"]
    if not train_rows:
        raise data_error(
            ds.source,
            "rows in the train split",
            "none",
            "check the split column values (train / valid / test)",
        )
    labels = LabelSpace.from_labels(
        [ds.labels[i] for i in train_rows], where=f"{ds.source}, label column (train split)"
    )
    encoder = TextEncoder.fit([ds.texts[i] for i in train_rows], cfg.text)
    splits = encode_splits(ds, encoder, labels, names)
    counts = {k: len(v) for k, v in splits.items()}
    logger.info(
        "data: %s rows %s, labels %s (%s)", ds.source, counts, list(labels.classes), labels.task
    )

    m = cfg.model
    model_kwargs = dict(
        num_outputs=labels.num_outputs,
        vocab_size=encoder.vocab_size,
        embedding_dim=m.embedding_dim,
        hidden_size=m.hidden_size,
        cell=m.cell,
        num_layers=m.num_layers,
        bidirectional=m.bidirectional,
        dropout=m.dropout,
        pooling=m.pooling,
        task=labels.task,
        nonlinearity=m.nonlinearity,
        execution=m.execution,
        transformer_layers=m.transformer_layers,
        transformer_heads=m.transformer_heads,
    )
    try:
        model = SequenceClassifier(**model_kwargs)
    except ValueError as exc:  # e.g. relu with an LSTM, heads not dividing the model size
        raise ConfigError(f"config [model]: {exc}") from None
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    loss_fn = loss_function(labels)
    sampler = _sampler(splits["train"], cfg)

    history, best, best_state = [], -1.0, None
    train_split = splits["train"]
    for epoch in range(t.epochs):
        model.train()
        sampler.set_epoch(epoch)
        seen_tokens, total_loss, n = 0, 0.0, 0
        tick = time.perf_counter()
        bar = tqdm(
            sampler,
            desc=f"epoch {epoch + 1}/{t.epochs}",
            disable=True if quiet else None,
            unit="batch",
        )
        for idx in bar:
            batch = collate([(train_split.ids[i], train_split.targets[i]) for i in idx])
            logits = model(batch.inputs, batch.lengths)
            loss = loss_fn(logits, _targets(batch.labels, labels))
            if not math.isfinite(loss.item()):
                raise FloatingPointError(
                    f"epoch {epoch + 1}: the loss became {loss.item()}; "
                    "lower train.lr or set train.grad_clip"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if t.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
            optimizer.step()
            seen_tokens += batch.num_tokens
            total_loss += loss.item() * len(idx)
            n += len(idx)
            rate = seen_tokens / max(time.perf_counter() - tick, 1e-9)
            bar.set_postfix(loss=f"{total_loss / n:.4f}", tok_s=f"{rate:,.0f}")
        record = {
            "epoch": epoch + 1,
            "train_loss": total_loss / n,
            "tokens_per_s": seen_tokens / (time.perf_counter() - tick),
        }
        if "valid" in splits:
            v = evaluate(model, splits["valid"], labels, t.eval_batch_size, "valid", quiet)
            record.update(valid_loss=v["loss"], valid_accuracy=v["accuracy"])
            if v["accuracy"] > best:
                best, best_state = v["accuracy"], copy.deepcopy(model.state_dict())
        history.append(record)
        logger.info("epoch %d: %s", epoch + 1, {k: round(v, 4) for k, v in record.items()})
    if best_state is not None:
        model.load_state_dict(best_state)

    metrics: dict[str, Any] = {}
    for name, split in splits.items():
        metrics[name] = evaluate(model, split, labels, t.eval_batch_size, name, quiet)
    metrics["history"] = history
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    metrics["config"] = dataclasses.asdict(cfg)
    save_artifact(
        out / "model", model, model_kwargs, labels, encoder, metrics={k: metrics[k] for k in splits}
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    logger.info("wrote %s and %s", out / "model", out / "metrics.json")
    return metrics
