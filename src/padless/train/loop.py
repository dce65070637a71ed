"""Training: config → data pipeline → model → loop → artifact, metrics, checkpoints and report.

``train(config, out_dir)`` owns its loop (no framework) and writes::

    out_dir/model/             the artifact (padless.artifact): weights, config, pipeline, labels
    out_dir/metrics.json       final {"train": {...}, "valid": {...}, "test": {...}, ...}
    out_dir/metrics.jsonl      one line per epoch
    out_dir/checkpoints/       epoch-NNNN.pt, written atomically after every epoch (and
                               pretrain/ after language-model pre-training, [pretrain])
    out_dir/report/            loss / accuracy / lr curves and the confusion matrix (PNG)
    out_dir/tensorboard/       with train.tensorboard = true

The loop: AdamW, the loss of the task (padless.evaluate.compute_loss), gradient clipping,
length-bucketed batches, a scheduler (ReduceLROnPlateau by default, cosine or one-cycle),
optional AMP and torch.compile, early stopping and the best validation epoch kept.
``resume=True`` continues from the newest checkpoint (model, optimizer, scheduler, sampler
epoch, RNG states) and ends with the same metrics as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import math
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from padless import __version__
from padless.batching.collate import make_batch
from padless.batching.samplers import BucketBatchSampler, TokenBudgetSampler
from padless.config import Config, TrainConfig
from padless.deploy.artifact import save_artifact
from padless.encode.splits import Prepared, Split, prepare
from padless.errors import TrainingError, config_error
from padless.evaluation.losses import compute_loss, correct_count
from padless.evaluation.runner import run_split
from padless.models.classifier import build_model, model_arguments
from padless.train.checkpoint import CheckpointManager, capture_rng, restore_rng
from padless.train.distributed import World, device_for, setup, teardown
from padless.train.hardware import check_memory, resolve_amp, resolve_device
from padless.train.pretrain import pretrain_language_model

logger = logging.getLogger(__name__)

MINIMISED = ("loss", "mse", "rmse", "mae")
HEADLINE = ("accuracy", "macro_f1", "roc_auc", "micro_f1", "mse", "mae", "r2")
RESUMABLE_CHANGES = {"train.epochs", "train.num_threads", "train.tensorboard"}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_sampler(split: Split, t: TrainConfig, pad_to: int | None, world: World | None = None):
    """The training batch sampler; under ``torchrun`` each rank takes its own share of every
    epoch's batches, the same number on every rank (see :mod:`padless.batching`)."""
    world = world or World()
    shard = {"rank": world.rank, "world_size": world.size}
    lengths = split.lengths()
    if t.sampler == "token_budget":
        budget = t.max_tokens or t.batch_size * int(np.median(lengths))
        longest = int(lengths.max())
        if pad_to:
            longest = -(-longest // pad_to) * pad_to
        return TokenBudgetSampler(
            lengths=lengths,
            max_tokens=max(budget, longest),
            shuffle=True,
            seed=t.seed,
            pad_to_multiple_of=pad_to,
            **shard,
        )
    multiplier = 1 if t.sampler == "random" else 50  # random = one-batch pools, no grouping
    return BucketBatchSampler(
        lengths=lengths,
        batch_size=t.batch_size,
        shuffle=True,
        seed=t.seed,
        bucket_size_multiplier=multiplier,
        **shard,
    )


def _scheduler(optimizer, t: TrainConfig, mode: str, total_steps: int):
    """(scheduler, per_step). Plateau steps once per epoch on the monitored value."""
    if t.scheduler == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=t.lr_factor, patience=t.lr_patience, min_lr=t.min_lr
        )
        return sched, False
    if t.scheduler == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=t.lr, total_steps=total_steps)
        return sched, True
    if t.scheduler == "cosine":
        floor, warm = t.min_lr / t.lr, t.warmup_steps

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            progress = min(1.0, (step - warm) / max(1, total_steps - warm))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), True
    return None, False


def _monitor(t: TrainConfig, task: str) -> tuple[str, str]:
    key = t.monitor if t.monitor != "auto" else ("loss" if task == "regression" else "accuracy")
    return key, "min" if key in MINIMISED else "max"


def _check_resume(saved: dict[str, Any], cfg: Config) -> None:
    now = cfg.to_dict()
    diffs = [
        f"{stage}.{k}: {saved[stage].get(k)!r} -> {v!r}"
        for stage, table in now.items()
        for k, v in table.items()
        if saved.get(stage, {}).get(k) != v and f"{stage}.{k}" not in RESUMABLE_CHANGES
    ]
    if diffs:
        raise config_error(
            "--resume",
            "the config of the checkpointed run (only train.epochs may change)",
            "; ".join(diffs[:5]),
            "resume with the original config, or start a new run in another --out directory",
        )


class _Epochs:
    """Per-epoch bookkeeping: history, best value / epoch / weights, early-stopping count."""

    def __init__(self, mode: str):
        self.mode = mode
        self.history: list[dict[str, Any]] = []
        self.best_value: float | None = None
        self.best_epoch = 0
        self.best_state: dict | None = None
        self.bad_epochs = 0
        self.stopped = False
        self.pretrain: list[dict[str, Any]] = []  # language-model pre-training epochs

    def improved(self, value: float) -> bool:
        if self.best_value is None:
            return True
        return value < self.best_value if self.mode == "min" else value > self.best_value

    def state(self) -> dict[str, Any]:
        return {
            "history": self.history,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "stopped": self.stopped,
            "pretrain": self.pretrain,
        }

    def load(self, s: dict[str, Any]) -> None:
        self.history, self.best_value = list(s["history"]), s["best_value"]
        self.best_epoch, self.best_state = s["best_epoch"], s["best_state"]
        self.bad_epochs, self.stopped = s["bad_epochs"], s["stopped"]
        self.pretrain = list(s.get("pretrain", []))


def train(
    cfg: Config, out_dir: str | Path, *, quiet: bool = False, resume: bool = False
) -> dict[str, Any]:
    """Train per ``cfg`` into ``out_dir`` (see the module docstring); returns the metrics.

    With ``train.flush_denormal`` (default) denormal floats are flushed to zero while training:
    LSTM backward on CPU produces them past ~190 steps and then runs ~10x slower. The flag is
    process-wide, so it (like deterministic mode) is switched back when training ends.
    """
    for dtype in (np.float32, np.float64):  # cache numpy's limits before denormals flush to 0,
        np.finfo(dtype)  # or numpy warns that "the smallest subnormal is zero"
    flushed = cfg.train.flush_denormal and torch.set_flush_denormal(True)
    deterministic = torch.are_deterministic_algorithms_enabled()
    world = setup(cfg.train.device)  # torchrun: join the process group; else a world of one
    try:
        if cfg.train.deterministic:
            torch.use_deterministic_algorithms(True)
        return _train(cfg, Path(out_dir), quiet or not world.main, resume, world)
    finally:
        teardown(world)
        if flushed:
            torch.set_flush_denormal(False)
        torch.use_deterministic_algorithms(deterministic)


def _train(cfg: Config, out: Path, quiet: bool, resume: bool, world: World) -> dict[str, Any]:
    t0 = time.perf_counter()
    t = cfg.train
    out.mkdir(parents=True, exist_ok=True)
    if t.num_threads:
        torch.set_num_threads(t.num_threads)
    seed_everything(t.seed)  # the same initial weights on every rank
    device = device_for(world, resolve_device(t.device))
    if world.distributed and cfg.pretrain.epochs:
        raise config_error(
            "config key 'pretrain.epochs' under torchrun",
            "0 (language-model pre-training runs in one process)",
            repr(cfg.pretrain.epochs),
            "pre-train without torchrun, or set pretrain.epochs = 0",
        )
    amp_dtype = resolve_amp(t.amp, device)

    data: Prepared = prepare(cfg)
    task, labels = data.labels.task, data.labels
    train_split = data.splits["train"]
    model_kwargs = model_arguments(
        cfg.model, num_outputs=labels.num_outputs, task=task, inputs=data.pipeline.model_kwargs()
    )
    pad_to = t.pad_to_multiple_of or (64 if t.compile else None)
    train_lengths = train_split.lengths()
    longest = int(train_lengths.max())
    if t.memory_check:
        check_memory(cfg, data.pipeline.model_kwargs(), longest, labels.num_outputs, device)
    model = build_model(model_kwargs)
    model.to(device)
    # The fused kernel is one pass over each tensor: measured 4x faster than foreach on this
    # 2-core CPU (32M parameters, 93 vs 394 ms per step), which matters for big embeddings.
    fused = True if device.type in ("cpu", "cuda") else None
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=t.lr, weight_decay=t.weight_decay, fused=fused
    )
    sampler = make_sampler(train_split, t, pad_to, world)
    total_steps = 0
    if t.scheduler in ("cosine", "onecycle"):  # per-step schedules need the exact step count
        for e in range(t.epochs):  # this process's optimizer steps per epoch (rank-aware)
            sampler.set_epoch(e)
            total_steps += -(-len(sampler) // t.accumulate)
    monitor, mode = _monitor(t, task)
    scheduler, per_step = _scheduler(optimizer, t, mode, max(1, total_steps))
    scaler = torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None
    # Automatic dynamic shapes: after a second batch size or length is seen those dims become
    # symbolic, so ragged batches cost a few compilations, not one per shape.
    ddp, syncs = None, [0]
    if world.distributed:  # averages gradients over ranks in backward
        ids = [device.index] if device.type == "cuda" else None
        ddp = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        ddp.register_comm_hook(syncs, _counted_allreduce)  # the default all-reduce, counted
        torch.manual_seed(t.seed + world.rank)  # each rank its own dropout masks
    forward = ddp or model
    forward = torch.compile(forward) if t.compile else forward

    def autocast():
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=amp_dtype)

    book = _Epochs(mode)
    ckpts = CheckpointManager(out / "checkpoints", keep=t.keep_checkpoints)
    start = 0
    pre = CheckpointManager(out / "checkpoints" / "pretrain", keep=1)
    if resume and ckpts.latest() is None and pre.latest() is not None:
        state = pre.load()  # killed after pre-training, before the first epoch ended
        _check_resume(state["config"], cfg)
        model.load_state_dict(state["model"])
        book.pretrain = state["pretrain"]
        restore_rng(state["rng"])
        logger.info("resuming after language-model pre-training from %s", pre.latest())
    elif resume:
        path = ckpts.latest()
        if path is None:
            raise config_error(
                "--resume",
                f"a checkpoint in {out / 'checkpoints'}",
                "none",
                "run without --resume to start training",
            )
        state = ckpts.load()
        _check_resume(state["config"], cfg)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        book.load(state["book"])
        start = int(state["epoch"])
        ranks = state.get("rng_ranks")
        restore_rng(ranks[world.rank] if ranks and len(ranks) == world.size else state["rng"])
        logger.info("resuming after epoch %d from %s", start, path)
    else:
        if world.main:
            shutil.rmtree(out / "checkpoints", ignore_errors=True)
        world.barrier()
        if cfg.pretrain.epochs:
            book.pretrain = pretrain_language_model(
                model,
                train_split,
                cfg.pretrain,
                batch_size=t.batch_size,
                grad_clip=t.grad_clip,
                seed=t.seed,
                device=device,
                quiet=quiet,
            )
            pre.save(
                cfg.pretrain.epochs,
                {
                    "model": model.state_dict(),
                    "pretrain": book.pretrain,
                    "rng": capture_rng(),
                    "config": cfg.to_dict(),
                },
            )
    jsonl = out / "metrics.jsonl"
    if world.main:
        jsonl.write_text("".join(json.dumps(r) + "\n" for r in book.history), encoding="utf-8")
    board = _tensorboard(out) if t.tensorboard and world.main else None

    for epoch in range(start, t.epochs):
        if book.stopped:
            break
        model.train()
        sampler.set_epoch(epoch)
        tick, seen, total_loss, n, correct, counted = time.perf_counter(), 0, 0.0, 0, 0, 0
        syncs_before = syncs[0]
        batches = list(sampler)
        if epoch < t.sortagrad_epochs:  # curriculum: shortest batches first (SortaGrad)
            batches.sort(key=lambda b: int(train_lengths[b].max()))
        bar = tqdm(
            batches,
            desc=f"epoch {epoch + 1}/{t.epochs}",
            unit="batch",
            disable=True if quiet else None,
            dynamic_ncols=True,
        )
        accum = t.accumulate
        for step, idx in enumerate(bar):
            batch = make_batch(train_split, idx, task, pad_to).to(device)
            if t.input_noise and batch.inputs.is_floating_point():
                noise = torch.randn_like(batch.inputs) * t.input_noise
                batch = dataclasses.replace(
                    batch, inputs=batch.inputs + noise * batch.mask[..., None]
                )
            first, last = step % accum == 0, (step + 1) % accum == 0 or step + 1 == len(batches)
            # Gradients of the accumulation steps before the last stay local (no all-reduce).
            sync = ddp.no_sync() if ddp is not None and not last else contextlib.nullcontext()
            with sync:
                with autocast():
                    logits = forward(batch.inputs, batch.lengths)
                    loss = compute_loss(logits, batch.labels, task)
                value = loss.item()
                if not math.isfinite(value):
                    latest = ckpts.latest()
                    raise TrainingError(
                        f"epoch {epoch + 1}, step {step + 1}: the loss became {value}. "
                        f"The last good checkpoint is {latest or 'none (first epoch)'}; "
                        "fix: lower train.lr, set train.grad_clip (e.g. 1.0), check the inputs "
                        "for extreme values, then resume with --resume or start again"
                    )
                if first:
                    optimizer.zero_grad(set_to_none=True)
                scaled = loss / accum if accum > 1 else loss
                if scaler is not None:
                    scaler.scale(scaled).backward()
                else:
                    scaled.backward()
            if last:
                if scaler is not None:
                    scaler.unscale_(optimizer)
                if t.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                if per_step:
                    scheduler.step()
            weight = batch.num_tokens if task == "tagging" else len(idx)
            total_loss, n, seen = total_loss + value * weight, n + weight, seen + batch.num_tokens
            c, k = correct_count(logits.detach(), batch.labels, task)
            correct, counted = correct + c, counted + k
            rate = seen / max(time.perf_counter() - tick, 1e-9)
            bar.set_postfix(loss=f"{total_loss / n:.4f}", tok_s=f"{rate:,.0f}", refresh=False)
        # Epoch sums over every rank (a world of one returns them unchanged).
        total_loss, n, seen, correct, counted = world.sum([total_loss, n, seen, correct, counted])
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": total_loss / n,
        }
        if counted:
            record["train_accuracy"] = correct / counted
        record["tokens_per_s"] = seen / (time.perf_counter() - tick)
        if world.distributed:  # what each rank trained on: equal steps, disjoint examples
            shares = world.gather([int(i) for b in batches for i in b])
            steps = world.gather(len(batches))
            record["ranks"] = {
                "steps": steps,
                "examples": [len(x) for x in shares],
                "repeated": sum(len(x) for x in shares) - len(set().union(*map(set, shares))),
                "grad_syncs": syncs[0] - syncs_before,  # all-reduces (buckets x synced steps)
            }
        current = record["train_loss"]
        if "valid" in data.splits:
            v = run_split(
                model,
                data.splits["valid"],
                labels,
                batch_size=t.eval_batch_size,
                device=device,
                autocast=autocast,
                desc="valid",
                quiet=quiet,
                world=world,
            )
            if monitor not in v:
                choices = sorted(k for k, x in v.items() if isinstance(x, (int, float)))
                raise config_error(
                    "config key 'train.monitor'",
                    f"one of {choices}",
                    repr(monitor),
                    "set train.monitor to a validation metric",
                )
            record.update({f"valid_{k}": v[k] for k in ("loss", *HEADLINE) if v.get(k) is not None})
            current = v[monitor]
        record["seconds"] = time.perf_counter() - tick
        if book.improved(current):
            book.best_value, book.best_epoch, book.bad_epochs = current, epoch + 1, 0
            book.best_state = copy.deepcopy(model.state_dict()) if "valid" in data.splits else None
        else:
            book.bad_epochs += 1
            if t.early_stopping and book.bad_epochs >= t.early_stopping:
                book.stopped = True
                logger.info(
                    "early stopping: no %s improvement for %d epochs", monitor, book.bad_epochs
                )
        if scheduler is not None and not per_step:
            scheduler.step(current)
        book.history.append(record)
        rngs = world.gather(capture_rng())  # every rank's, so --resume restores each its own
        if not world.main:
            continue
        with jsonl.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if board is not None:
            for key, x in record.items():
                if key != "epoch":
                    board.add_scalar(key.replace("_", "/", 1), x, epoch + 1)
            board.flush()
        logger.info(
            "epoch %d: %s",
            epoch + 1,
            {k: round(x, 4) if isinstance(x, float) else x for k, x in record.items()},
        )
        ckpts.save(
            epoch + 1,
            {
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "book": book.state(),
                "rng": rngs[0],
                "rng_ranks": rngs if world.distributed else None,
                "config": cfg.to_dict(),
            },
        )
    world.barrier()  # the checkpoint is on disk before any rank goes on
    if board is not None:
        board.close()
    if book.best_state is not None:
        model.load_state_dict(book.best_state)
    elif "valid" not in data.splits:  # no validation: the last epoch's weights are kept
        book.best_epoch = len(book.history)
    return _finish(cfg, out, model, model_kwargs, data, book, device, autocast, quiet, t0, world)


def _counted_allreduce(counter: list[int], bucket):
    """DDP's default gradient all-reduce (mean over ranks), counting the buckets it sends."""
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

    counter[0] += 1
    return default_hooks.allreduce_hook(None, bucket)


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise config_error(
            "config key 'train.tensorboard'",
            "the tensorboard package",
            "it is not installed",
            "pip install 'padless[tensorboard]'",
        ) from None
    return SummaryWriter(str(out / "tensorboard"))


def _finish(cfg, out, model, model_kwargs, data, book, device, autocast, quiet, t0, world):
    metrics: dict[str, Any] = {}
    for name, split in data.splits.items():
        metrics[name] = run_split(
            model,
            split,
            data.labels,
            batch_size=cfg.train.eval_batch_size,
            device=device,
            autocast=autocast,
            desc=name,
            quiet=quiet,
            world=world,
        )
    metrics.update(
        best_epoch=book.best_epoch,
        epochs_completed=len(book.history),
        stopped_early=book.stopped,
        task=data.labels.task,
        labels=list(data.labels.classes),
        history=book.history,
        **({"pretrain": book.pretrain} if book.pretrain else {}),
        seconds=round(time.perf_counter() - t0, 2),
        device=str(device),
        world_size=world.size,
        padless_version=__version__,
        config=cfg.to_dict(),
    )
    if not world.main:  # rank 0 writes the artifact, metrics and report
        return metrics
    model.cpu()
    save_artifact(
        out / "model",
        model,
        model_kwargs,
        data.labels,
        data.pipeline,
        metrics={k: metrics[k] for k in data.splits},
        data_config=cfg.to_dict()["data"],
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    _report(out / "report", metrics, data)
    logger.info("wrote %s, %s and %s", out / "model", out / "metrics.json", out / "report")
    return metrics


def _report(directory: Path, metrics: dict[str, Any], data: Prepared) -> None:
    from padless.train.report import plot_confusion, plot_history

    directory.mkdir(parents=True, exist_ok=True)
    plot_history(metrics["history"], directory)
    final = next((metrics[s] for s in ("test", "valid", "train") if s in metrics), {})
    if final.get("confusion_matrix") is not None:
        plot_confusion(
            final["confusion_matrix"], list(data.labels.classes), directory / "confusion_matrix.png"
        )
