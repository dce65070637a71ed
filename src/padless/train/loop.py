"""The training loop: config → data pipeline → model → epochs → artifact, metrics and report.

``train(config, out_dir)`` owns its loop (no framework) and writes::

    out_dir/model/             the artifact (padless.deploy.artifact): weights, config,
                               pipeline, labels
    out_dir/metrics.json       final {"train": {...}, "valid": {...}, "test": {...}, ...}
    out_dir/metrics.jsonl      one line per epoch
    out_dir/selection/         without a validation split: the held-out run that chose the
                               epoch count (padless.train.selection), its metrics.json and
                               checkpoints
    out_dir/checkpoints/       epoch-NNNN.pt, written atomically after every epoch (and
                               pretrain/ after language-model pre-training, [pretrain])
    out_dir/report/            loss / accuracy / lr curves and the confusion matrix (PNG)
    out_dir/tensorboard/       with train.tensorboard = true

The loop reads as its phases: setup (:func:`padless.train.run.build_run`), the start, fresh or
resumed (:func:`padless.train.resume.start`), then per epoch :func:`_train_epoch` (batch steps
with gradient accumulation, ``no_sync`` under DDP, a NaN check, clipping and AMP),
:func:`_validate` (validation metrics, the monitored value, best weights, early stopping, the
plateau scheduler) and :func:`_end_epoch` (``metrics.jsonl``, TensorBoard, the checkpoint),
and :func:`_finish` (final metrics on every split, the artifact, the report).

AdamW, the loss of the task (:func:`padless.evaluation.losses.compute_loss`), gradient
clipping, length-bucketed batches, a scheduler (ReduceLROnPlateau by default, cosine or
one-cycle), optional AMP and torch.compile, early stopping and the best validation epoch kept.
``resume=True`` continues from the newest checkpoint (model, optimizer, scheduler, sampler
epoch, RNG states) and ends with the same metrics as an uninterrupted run.

The run holds ``out_dir`` from start to end (:func:`padless.train.outdir.claim`): a second
training into it is refused, and so is a directory holding an earlier run unless ``resume``
or ``overwrite``. Nothing is written half: checkpoints, ``metrics.json`` and the artifact
appear whole (the artifact is built beside ``model/`` and renamed into place), and a full or
read-only disk stops the run with a :class:`~padless.errors.TrainingError` naming the path,
the bytes needed and the checkpoint to resume from.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from padless import __version__
from padless.batching.batch import Batch, make_batch
from padless.config import Config
from padless.deploy.artifact import save_artifact
from padless.encode.prepared import prepare
from padless.encode.splits import Prepared
from padless.errors import TrainingError, config_error
from padless.evaluation.baseline import Baseline, compare, fit_baseline, format_comparison
from padless.evaluation.losses import compute_loss, correct_count
from padless.evaluation.runner import run_split
from padless.progress import show_bars
from padless.train.checkpoint import capture_rng, state_bytes
from padless.train.combination import attach, can_combine, combine, fit_path
from padless.train.distributed import World, setup, teardown
from padless.train.outdir import check_space, claim, staged_dir, write_text, writing
from padless.train.resume import epoch_state, start
from padless.train.run import Run, build_run
from padless.train.selection import needs_selection, plan_refit

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

logger = logging.getLogger(__name__)

HEADLINE = ("accuracy", "macro_f1", "roc_auc", "micro_f1", "mse", "mae", "r2")


def train(
    cfg: Config,
    out_dir: str | Path,
    *,
    quiet: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    baseline: bool = False,
) -> dict[str, Any]:
    """Train per ``cfg`` into ``out_dir`` (see the module docstring); returns the metrics.

    ``baseline``: first fit the baseline of the data's kind on the same splits
    (:func:`padless.evaluation.baseline.fit_baseline`); ``metrics.json`` then holds it under
    ``"baseline"`` and the comparison under ``"versus_baseline"``, the report in
    ``report/baseline.txt``, and the log shows the table.

    ``out_dir`` must not hold an earlier run (``model/``, ``metrics.json``, checkpoints) unless
    ``resume`` (continue it) or ``overwrite`` (remove its outputs first), and no other training
    may be using it.

    With ``train.flush_denormal`` (default) denormal floats are flushed to zero while training:
    LSTM backward on CPU produces them past ~190 steps and then runs ~10x slower. The flag is
    process-wide, so it (like deterministic mode) is switched back when training ends.
    """
    for dtype in (np.float32, np.float64):  # cache numpy's limits before denormals flush to 0,
        np.finfo(dtype)  # or numpy warns that "the smallest subnormal is zero"
    flushed = cfg.train.flush_denormal and torch.set_flush_denormal(True)
    deterministic = torch.are_deterministic_algorithms_enabled()
    world = setup(cfg.train.device)  # torchrun: join the process group; else a world of one
    out, clean = Path(out_dir), False
    try:
        with claim(out, world, resume=resume, overwrite=overwrite):
            if cfg.train.deterministic:
                torch.use_deterministic_algorithms(True)
            metrics = _train(cfg, out, quiet or not world.main, resume, world, baseline=baseline)
        clean = True
        return metrics
    finally:
        teardown(world, clean)
        if flushed:
            torch.set_flush_denormal(False)
        torch.use_deterministic_algorithms(deterministic)


def _train(
    cfg: Config,
    out: Path,
    quiet: bool,
    resume: bool,
    world: World,
    final: bool = True,
    baseline: bool = False,
) -> dict[str, Any]:
    """The phases in order: data, (without a validation split) the held-out selection of the
    epoch count, setup, start, the epochs, finish. ``final``: write the artifact and report
    (the selection run of :mod:`padless.train.selection` writes only its metrics)."""
    started = time.perf_counter()
    data = prepare(cfg)
    replay, extra, weight = None, {}, None
    if final and needs_selection(cfg, data):

        def selection(c: Config, directory: Path, again: bool) -> dict[str, Any]:
            return _train(c, directory, quiet, again, world, final=False)

        refit = plan_refit(cfg, out, resume, selection)
        extra = {"selection": refit.summary, "config": cfg.to_dict()}  # the config as given
        cfg, replay, weight = refit.cfg, refit.lr, refit.mix_weight
        resume = resume and any((out / "checkpoints").rglob("*.pt"))  # the refit had begun
    report, path = _fit_beside(cfg, data, world, baseline, final)
    if report is not None:
        extra["baseline"] = report
    plan = None if resume else 0
    run = build_run(cfg, out, quiet, world, plan_epoch=plan, data=data, replay=replay)
    run.started = time.perf_counter() if "selection" in extra else started  # refit: its own
    if world.main:  # a checkpoint holds the weights, AdamW's two moments and the best weights
        need = 4 * state_bytes(run.model.state_dict())
        check_space(out / "checkpoints", need, "write the first checkpoint")
    first = start(run, resume)
    board = _open_logs(run)
    began = time.perf_counter()
    for done, epoch in enumerate(range(first, cfg.train.epochs), start=1):
        if run.book.stopped:
            break
        tick = time.perf_counter()
        record = _train_epoch(run, epoch, tick)
        _validate(run, epoch, record, tick)
        _end_epoch(run, epoch, record, board)
        if world.main:
            _log_epoch(run, record, time.perf_counter() - began, done)
    world.barrier()  # the checkpoint is on disk before any rank goes on
    if board is not None:
        board.close()
    book = run.book
    if book.best_state is not None:
        run.model.load_state_dict(book.best_state)
    elif "valid" not in run.data.splits:  # no validation: the last epoch's weights are kept
        book.best_epoch = len(book.history)
    if path is not None and "valid" in run.data.splits:
        extra["combination"] = combine(run, path)
    elif path is not None and weight:  # a refit: the weight its hold-out selection chose
        attach(run, path, weight)
        extra["combination"] = {"path": path.name, "weight": weight, "combined": True}
    return _finish(run, started, final, extra)


def _fit_beside(
    cfg: Config, data: Prepared, world: World, wanted: bool, final: bool
) -> tuple[dict[str, Any] | None, Any]:
    """(the baseline's report for ``metrics.json``, the linear path a combined model would
    mix in), fitted before training so an unsupported task fails at once. The baseline is
    fitted on rank 0 when ``--baseline`` asks for it; the path on every rank when the run may
    combine (every rank then evaluates the same model). On tokens the baseline's n-gram model
    is the path, so its report comes free; numeric series fit the rocket path beside aeon's
    MiniRocket baseline."""
    combining = can_combine(cfg, data)
    same = data.pipeline.kind != "numeric"  # on tokens the baseline is the path itself
    fitted: Baseline | None = None
    if (wanted and final and world.main) or (combining and same):
        fitted = fit_baseline(data, seed=cfg.train.seed, patch_size=cfg.data.patch_size)
    path = fit_path(cfg, data, fitted) if combining else None
    report = fitted.report if fitted is not None and final and world.main else None
    return report, path


@dataclasses.dataclass
class _Totals:
    """Running sums of one epoch on this rank: weighted loss, its weight, real tokens seen,
    correct predictions and how many were counted (tagging weighs by tokens, else examples)."""

    loss: float = 0.0
    weight: int = 0
    tokens: int = 0
    correct: int = 0
    counted: int = 0


def _train_epoch(run: Run, epoch: int, tick: float) -> dict[str, Any]:
    """One pass over this rank's batches of ``epoch`` (0-based); returns the epoch's record."""
    t = run.cfg.train
    run.model.train()
    run.sampler.set_epoch(epoch)
    sums, syncs_before = _Totals(), run.syncs.count
    if run.replay is not None:  # a refit repeats the held-out run's rate of this epoch
        for group in run.optimizer.param_groups:
            group["lr"] = run.replay[epoch]
    batches = run.sampler.batches()  # index arrays: no list per batch before the first step
    if epoch < t.sortagrad_epochs:  # curriculum: shortest batches first (SortaGrad)
        batches.sort(key=lambda b: int(run.lengths[b].max()))
    bar = tqdm(
        batches,
        desc=f"epoch {epoch + 1}/{t.epochs}",
        unit="batch",
        disable=not show_bars(run.quiet),
        dynamic_ncols=True,
    )
    for step, idx in enumerate(bar):
        batch, labels = _batch(run, idx)
        if run.started is not None:  # how long the data stage and setup took, once
            ready = time.perf_counter() - run.started
            logger.info("first training batch ready %.2f s after the run started", ready)
            run.started = None
        first = step % t.accumulate == 0
        last = (step + 1) % t.accumulate == 0 or step + 1 == len(batches)
        if run.tuner is not None:
            run.tuner.start()
        value, logits = _step(run, batch, labels, (epoch, step), first, last)
        if run.tuner is not None:
            run.tuner.stop(batch.num_tokens)
        weight = batch.num_tokens if run.task == "tagging" else len(idx)
        sums.loss, sums.weight = sums.loss + value * weight, sums.weight + weight
        sums.tokens += batch.num_tokens
        c, k = correct_count(logits.detach(), labels, run.task)
        sums.correct, sums.counted = sums.correct + c, sums.counted + k
        rate = sums.tokens / max(time.perf_counter() - tick, 1e-9)
        bar.set_postfix(loss=f"{sums.loss / sums.weight:.4f}", tok_s=f"{rate:,.0f}", refresh=False)
    return _epoch_record(run, epoch, tick, sums, batches, syncs_before)


def _batch(run: Run, idx: Sequence[int] | np.ndarray) -> tuple[Batch, Tensor]:
    """(batch, its labels): examples ``idx`` of the train split on the device, float inputs
    with ``train.input_noise`` Gaussian noise on the real steps."""
    batch = make_batch(run.train_split, idx, run.task, run.pad_to).to(run.device)
    noise_scale = run.cfg.train.input_noise
    if noise_scale and batch.inputs.is_floating_point():
        noise = torch.randn_like(batch.inputs) * noise_scale
        batch = dataclasses.replace(batch, inputs=batch.inputs + noise * batch.mask[..., None])
    assert batch.labels is not None  # every training example has a target
    return batch, batch.labels


def _step(
    run: Run, batch: Batch, labels: Tensor, where: tuple[int, int], first: bool, last: bool
) -> tuple[float, Tensor]:
    """Forward and backward of one batch at ``where`` (0-based epoch, step); returns the
    loss value and the logits. ``first`` / ``last``: the batch opens / closes an accumulation
    window (zero the gradients / take the optimizer step)."""
    accum = run.cfg.train.accumulate
    # Gradients of the accumulation steps before the last stay local (no all-reduce).
    sync = run.ddp.no_sync() if run.ddp is not None and not last else contextlib.nullcontext()
    with sync:
        with run.autocast():
            logits = run.forward(batch.inputs, batch.lengths)
            loss = compute_loss(logits, labels, run.task)
        value = loss.item()
        if not math.isfinite(value):
            latest = run.checkpoints.latest()
            raise TrainingError(
                f"epoch {where[0] + 1}, step {where[1] + 1}: the loss became {value}. "
                f"The last good checkpoint is {latest or 'none (first epoch)'}; "
                "fix: lower train.lr, set train.grad_clip (e.g. 1.0), check the inputs "
                "for extreme values, then resume with --resume or start again"
            )
        if first:
            run.optimizer.zero_grad(set_to_none=True)
        scaled = loss / accum if accum > 1 else loss
        if run.scaler is not None:
            run.scaler.scale(scaled).backward()
        else:
            scaled.backward()
    if last:
        _optimizer_step(run)
    return value, logits


def _optimizer_step(run: Run) -> None:
    """Unscale (fp16), clip, step the optimizer and a per-step scheduler."""
    scaler, clip = run.scaler, run.cfg.train.grad_clip
    if scaler is not None:
        scaler.unscale_(run.optimizer)
    if clip > 0:
        nn.utils.clip_grad_norm_(run.model.parameters(), clip)
    if scaler is not None:
        scaler.step(run.optimizer)
        scaler.update()
    else:
        run.optimizer.step()
    if run.per_step and run.scheduler is not None:
        run.scheduler.step()


def _epoch_record(
    run: Run,
    epoch: int,
    tick: float,
    sums: _Totals,
    batches: list[np.ndarray],
    syncs_before: int,
) -> dict[str, Any]:
    """The epoch's line of ``metrics.jsonl`` so far: sums over every rank (a world of one
    returns them unchanged) and, under torchrun, what each rank trained on."""
    world = run.world
    loss, weight, tokens, correct, counted = world.sum(
        [sums.loss, sums.weight, sums.tokens, sums.correct, sums.counted]
    )
    record: dict[str, Any] = {
        "epoch": epoch + 1,
        "lr": run.optimizer.param_groups[0]["lr"],
        "train_loss": loss / weight,
        "threads": run.tuner.chosen if run.tuner is not None else torch.get_num_threads(),
    }
    if counted:
        record["train_accuracy"] = correct / counted
    record["tokens_per_s"] = tokens / (time.perf_counter() - tick)
    if world.distributed:  # equal steps, disjoint examples
        shares = world.gather([int(i) for b in batches for i in b])
        record["ranks"] = {
            "steps": world.gather(len(batches)),
            "examples": [len(x) for x in shares],
            "repeated": sum(len(x) for x in shares) - len(set().union(*map(set, shares))),
            "grad_syncs": run.syncs.count - syncs_before,  # all-reduces (buckets x synced steps)
        }
    return record


def _validate(run: Run, epoch: int, record: dict[str, Any], tick: float) -> None:
    """Add the validation metrics to ``record``; update the best epoch / weights and early
    stopping on the monitored value (the train loss without a validation split); step a
    plateau scheduler on it."""
    t, book, monitor = run.cfg.train, run.book, run.monitor
    current = record["train_loss"]
    valid = run.data.splits.get("valid")
    if valid is not None:
        v = run_split(
            run.model,
            valid,
            run.data.labels,
            batch_size=t.eval_batch_size,
            device=run.device,
            autocast=run.autocast,
            desc="valid",
            quiet=run.quiet,
            world=run.world,
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

    def snapshot() -> dict[str, Any] | None:
        return copy.deepcopy(run.model.state_dict()) if valid is not None else None

    book.observe(current, epoch + 1, snapshot, t.early_stopping)
    if book.stopped:
        logger.info("early stopping: no %s improvement for %d epochs", monitor, book.bad_epochs)
    if isinstance(run.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        run.scheduler.step(current)  # the per-epoch scheduler (per-step ones step in _step)


def _open_logs(run: Run) -> SummaryWriter | None:
    """Rewrite ``metrics.jsonl`` with the epochs done so far (none, or a resumed run's);
    open the TensorBoard writer when asked for. Rank 0 only; returns the writer or None."""
    if not run.world.main:
        return None
    lines = "".join(json.dumps(r) + "\n" for r in run.book.history)
    with writing(run.out / "metrics.jsonl", "write the epoch log"):
        write_text(run.out / "metrics.jsonl", lines)
    return _tensorboard(run.out) if run.cfg.train.tensorboard else None


def _end_epoch(run: Run, epoch: int, record: dict[str, Any], board: SummaryWriter | None) -> None:
    """Keep ``record``; rank 0 appends it to ``metrics.jsonl`` and TensorBoard and writes the
    epoch checkpoint (with every rank's RNG state)."""
    run.book.history.append(record)
    rngs = run.world.gather(capture_rng())  # every rank's, so --resume restores each its own
    if not run.world.main:
        return
    with writing(run.out / "metrics.jsonl", "append to the epoch log"):
        with (run.out / "metrics.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    if board is not None:
        for key, x in record.items():
            if key != "epoch":
                board.add_scalar(key.replace("_", "/", 1), x, epoch + 1)
        board.flush()
    run.checkpoints.save(epoch + 1, epoch_state(run, epoch + 1, rngs))


def _log_epoch(run: Run, record: dict[str, Any], elapsed: float, done: int) -> None:
    """Log the epoch's one INFO line (:func:`epoch_line`). It is the progress a CI log or a
    file shows, where there are no bars (:mod:`padless.progress`). ``elapsed``: wall seconds
    since this process's first epoch began; ``done``: its epochs so far. The ETA is their mean
    wall time (training, validation and the checkpoint) times the epochs left, none once early
    stopping has fired."""
    total = run.cfg.train.epochs
    left = 0 if run.book.stopped else total - record["epoch"]
    logger.info("%s", epoch_line(record, total, elapsed, elapsed / done * left))


_NOT_METRICS = ("epoch", "lr", "tokens_per_s", "seconds", "ranks", "threads")


def epoch_line(record: dict[str, Any], epochs: int, elapsed: float, eta: float) -> str:
    """``record`` (a ``metrics.jsonl`` line) as one greppable line, e.g. ``epoch 2/5:
    train_loss=0.6931 train_accuracy=0.5120 valid_loss=0.6874 valid_accuracy=0.5500
    lr=0.001 tokens/s=41,203 epoch=3.1s elapsed=6.3s eta=9.4s``."""
    metrics = [
        f"{k}={x:.4f}"
        for k, x in record.items()
        if k not in _NOT_METRICS and isinstance(x, (int, float))
    ]
    return (
        f"epoch {record['epoch']}/{epochs}: {' '.join(metrics)} lr={record['lr']:.3g} "
        f"tokens/s={record['tokens_per_s']:,.0f} epoch={_duration(record['seconds'])} "
        f"elapsed={_duration(elapsed)} eta={_duration(eta)}"
    )


def _duration(seconds: float) -> str:
    """``3.1s``, ``4m05s`` or ``2h03m``: short enough for a log line, exact enough for an ETA."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _tensorboard(out: Path) -> SummaryWriter:
    """A TensorBoard ``SummaryWriter`` into ``out/tensorboard`` (the package is optional)."""
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


def _finish(run: Run, started: float, final: bool, extra: dict[str, Any]) -> dict[str, Any]:
    """Final metrics of the kept weights on every split (a selection run: on its held-out
    split only); rank 0 writes ``metrics.json`` and, when ``final``, the artifact and the
    report. ``extra`` joins the metrics. Returns the metrics."""
    cfg, data, world, out = run.cfg, run.data, run.world, run.out
    metrics: dict[str, Any] = {}
    for name, split in data.splits.items():
        if not final and name != "valid":
            continue
        metrics[name] = run_split(
            run.model,
            split,
            data.labels,
            batch_size=cfg.train.eval_batch_size,
            device=run.device,
            autocast=run.autocast,
            desc=name,
            quiet=run.quiet,
            world=world,
        )
    book = run.book
    metrics.update(
        best_epoch=book.best_epoch,
        epochs_completed=len(book.history),
        stopped_early=book.stopped,
        task=data.labels.task,
        labels=list(data.labels.classes),
        history=book.history,
        **({"pretrain": book.pretrain} if book.pretrain else {}),
        seconds=round(time.perf_counter() - started, 2),
        device=str(run.device),
        world_size=world.size,
        padless_version=__version__,
        config=cfg.to_dict(),
    )
    metrics.update(extra)
    if "baseline" in extra:
        metrics["versus_baseline"] = compare(metrics, extra["baseline"])
        name = extra["baseline"]["name"]
        logger.info("model vs baseline:\n%s", format_comparison(metrics["versus_baseline"], name))
    if not world.main:  # rank 0 writes the artifact, metrics and report
        return metrics
    if not final:
        with writing(out / "metrics.json", "write the selection's metrics"):
            write_text(out / "metrics.json", json.dumps(metrics, indent=2))
        return metrics
    run.model.cpu()
    latest = run.checkpoints.latest()
    then = f"rerun with --resume: it only writes the outputs, from {latest}" if latest else ""
    need = state_bytes(run.model.state_dict()) + 1024 * 1024  # weights, vocabulary, JSON
    with writing(out / "model", "write the model artifact", need, then):
        check_space(out / "model", need, "write the model artifact", then)
        with staged_dir(out / "model") as staged:  # model/ appears whole, or not at all
            save_artifact(
                staged,
                run.model,
                run.model_kwargs,
                data.labels,
                data.pipeline,
                metrics={k: metrics[k] for k in data.splits},
                data_config=cfg.to_dict()["data"],
            )
    with writing(out / "metrics.json", "write the final metrics", then=then):
        write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    from padless.train.report import write_report  # matplotlib: only once training is done

    with writing(out / "report", "write the report", then=then):
        write_report(out / "report", metrics, list(data.labels.classes))
    logger.info("wrote %s, %s and %s", out / "model", out / "metrics.json", out / "report")
    return metrics
