"""The ``padless`` command line: ``train``, ``evaluate``, ``predict``, ``export``, ``serve``,
``lengths``, ``kernels``.

Errors caused by input (data, config, artifacts) print one readable line and exit with code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from padless import __version__
from padless.errors import PadlessError, data_error

logger = logging.getLogger("padless")


def _cmd_train(args: argparse.Namespace) -> int:
    from padless.config import load_config
    from padless.train.loop import train

    cfg = load_config(args.config, args.set)  # errors surface before any process starts
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _torchrun(args)
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    metrics = train(
        cfg,
        out,
        quiet=args.quiet,
        resume=args.resume,
        overwrite=args.overwrite,
        baseline=args.baseline,
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # rank 0 reports
    summary = _scores(metrics)
    if "baseline" in metrics:
        summary["baseline"] = {"name": metrics["baseline"]["name"], **_scores(metrics["baseline"])}
    print(json.dumps({"out": str(out), "seconds": metrics["seconds"], **summary}))
    return 0


def _scores(metrics: dict) -> dict:
    """The float metrics of each split in ``metrics``, rounded for one console line."""
    return {
        k: {m: round(v, 4) for m, v in metrics[k].items() if isinstance(v, float)}
        for k in ("train", "valid", "test")
        if k in metrics
    }


def _cmd_baseline(args: argparse.Namespace) -> int:
    from padless.config import Config, DataConfig, load_config, with_data
    from padless.data.sources import resolve_data
    from padless.encode.prepared import prepare
    from padless.evaluation.baseline import fit_baseline

    if args.data.endswith(".toml"):
        cfg = load_config(args.data, args.set)
    else:
        given = _data_overrides(args)
        if "source" not in given and ({"id_column", "step_column"} & set(given)):
            given["source"] = "long_table"
        like = with_data(DataConfig(source="table"), given, "the command line")
        cfg = Config(data=resolve_data(args.data, like, keep=set(given)))
    result = fit_baseline(prepare(cfg), seed=cfg.train.seed, patch_size=cfg.data.patch_size).report
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps({"name": result["name"], "seconds": result["seconds"], **_scores(result)}))
    return 0


def _torchrun(args: argparse.Namespace) -> int:
    """``padless train --nproc N``: the same command under ``torchrun --standalone`` (one
    machine, N processes, a free rendezvous port)."""
    import subprocess

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += [f"--nproc_per_node={args.nproc}", "-m", "padless"]
    cmd += ["-q"] if args.quiet else []
    cmd += ["train", args.config] + [f"--set={x}" for x in args.set]
    cmd += (["--out", args.out] if args.out else []) + (["--resume"] if args.resume else [])
    cmd += ["--overwrite"] if args.overwrite else []
    cmd += ["--baseline"] if args.baseline else []
    logger.info("running %s", " ".join(cmd))
    return subprocess.run(cmd, check=False).returncode


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from padless.deploy.evaluate import evaluate_artifact
    from padless.evaluation.metrics import format_metrics

    result = evaluate_artifact(
        args.model,
        args.data,
        split=args.split,
        batch_size=args.batch_size,
        quiet=args.quiet,
        backend=args.backend,
        export_file=args.export_file,
        data_overrides=_data_overrides(args),
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.format == "json":
        print(json.dumps(result))
    else:
        print(format_metrics(result, result["labels"]))
    return 0


def _data_overrides(args: argparse.Namespace, allowed: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ``[data]`` keys the command line sets: ``--set data.KEY=VALUE``, then the column
    flags given (``--label-column`` twice or more: ``data.label_columns``)."""
    from padless.config import data_overrides

    flags = {
        k: getattr(args, k, None)
        for k in ("text_column", "split_column", "id_column", "step_column")
    }
    labels = getattr(args, "label_column", None) or []
    flags["label_columns" if len(labels) > 1 else "label_column"] = (
        labels if len(labels) > 1 else labels[0] if labels else None
    )
    return data_overrides(args.set, flags, allowed=allowed)


def _csv_row(result: dict) -> dict:
    """One flat CSV row from a prediction (label + one column per class score), after the
    sequence ``id`` when it has one."""
    if "id" in result:
        return {"id": result["id"], **_csv_row({k: v for k, v in result.items() if k != "id"})}
    if "values" in result:  # several regression targets
        return {f"value_{k}": v for k, v in result["values"].items()}
    if "tags" in result:
        return {"tags": " ".join(result["tags"])}
    if "value" in result:
        v = result["value"]
        return {"value": " ".join(map(str, v)) if isinstance(v, list) else v}
    if "labels" in result:  # multi-label
        head = {"labels": "|".join(result["labels"])}
    else:
        head = {"label": result["label"]}
    return {**head, **{f"score_{k}": v for k, v in result["scores"].items()}}


def _cmd_predict(args: argparse.Namespace) -> int:
    import contextlib
    import csv

    from tqdm.auto import tqdm

    from padless.deploy.predict import load
    from padless.progress import show_bars

    predictor = load(args.model, backend=args.backend, onnx_path=args.onnx, threads=args.threads)
    as_csv = bool(args.output) and args.output.lower().endswith(".csv")
    path = Path(args.input)
    size = path.stat().st_size if args.input != "-" and path.is_file() else None  # bar total
    count = 0
    with contextlib.ExitStack() as stack:
        out: TextIO
        if args.output:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            out = stack.enter_context(open(args.output, "w", encoding="utf-8", newline=""))
        else:
            out = sys.stdout
        writer = None
        bar = stack.enter_context(
            tqdm(total=size, unit="B", unit_scale=True, disable=not show_bars(args.quiet))
        )
        inputs, ids = _predict_inputs(args, predictor, bar.update)
        for offset, chunk, where in inputs:
            for k, result in enumerate(predictor.predict(chunk, where=where, offset=offset)):
                if ids is not None:
                    result = {"id": ids[offset + k], **result}
                if as_csv:
                    row = _csv_row(result)
                    if writer is None:
                        writer = csv.DictWriter(out, fieldnames=list(row))
                        writer.writeheader()
                    writer.writerow(row)
                else:
                    out.write(json.dumps(result) + "\n")
            count += len(chunk)
            bar.set_postfix(inputs=count, refresh=False)
        out.flush()
    if args.output:
        logger.info("wrote %d predictions to %s", count, args.output)
    return 0


_PREDICT_KEYS = (
    "text_column",
    "check_multiline",
    "id_column",
    "step_column",
    "format",
    "nan_policy",
    "skip_bad_rows",
)


def _predict_inputs(args: argparse.Namespace, predictor: Any, progress: Any) -> tuple[Any, Any]:
    """``(chunks, ids)``: ``(offset, inputs, where)`` chunks of ``padless predict``'s input,
    read like the training data (its ``[data]`` settings, then the command line's), and the
    sequence id of each input (None but for a long table: one row per time step, read whole,
    for a numeric model trained on one or when ``--id-column`` is given)."""
    from padless.deploy.inputs import input_kind, read_inputs
    from padless.deploy.predict import read_long_inputs

    given = _data_overrides(args, _PREDICT_KEYS)
    data = {**(predictor.artifact.meta.get("data") or {}), **given}
    pipe = predictor.artifact.pipeline
    kind = input_kind(args.input)
    by_id = "id_column" in given or data.get("source") == "long_table"
    table = kind in ("csv", "tsv", "parquet") or (kind == "jsonl" and "id_column" in given)
    if pipe.kind == "numeric" and by_id and table:
        ids, seqs = read_long_inputs(args.input, data, pipe.feature_names or [])
        size = args.chunk_size
        where = f"{args.input} (sequences in order of first appearance)"
        return ((o, seqs[o : o + size], where) for o in range(0, len(seqs), size)), ids
    # The input is read a chunk at a time (memory stays flat on large files); inside a chunk
    # the predictor runs length-sorted batches; results are written in input order.
    text_column = str(data.get("text_column") or "text")
    check_multiline = bool(data.get("check_multiline", True))
    chunks = read_inputs(
        args.input,
        args.chunk_size,
        progress,
        text_column=text_column,
        check_multiline=check_multiline,
    )
    return chunks, None


def _cmd_export(args: argparse.Namespace) -> int:
    from padless.deploy.evaluate import evaluate_artifact
    from padless.deploy.export import export_artifact
    from padless.train.loop import HEADLINE

    report = export_artifact(args.model, args.out, fmt=args.format)
    if args.eval:  # score the model and its export on real data, side by side
        backend = "torchscript" if args.format == "torchscript" else "onnx"
        scores = {}
        for name, kind, path in (("eager", "eager", None), (args.format, backend, report["path"])):
            m = evaluate_artifact(
                args.model,
                args.eval,
                split=args.split,
                backend=kind,
                export_file=path,
                quiet=args.quiet,
            )
            scores[name] = {k: m[k] for k in HEADLINE if m.get(k) is not None}
        change = {k: scores[args.format][k] - v for k, v in scores["eager"].items()}
        report["eval"] = {
            "data": args.eval,
            "split": m["split"],
            "examples": m["examples"],
            **scores,
            "change": change,
        }
        logger.info("on %s (%s): %s", args.eval, m["split"], report["eval"])
    print(json.dumps(report))
    return 0


def _lengths_of(args: argparse.Namespace) -> tuple[np.ndarray, str]:
    """Lengths of DATA's examples in ``--split`` (rows without a split are train): the time
    steps of numeric sequences (a .ts file, or a long table when ``--id-column`` /
    ``--step-column`` or ``--set data.source=long_table`` say so), else the tokens of each text
    (a table read by the column options, an IMDB tarball / folder / CSV, 'imdb' or
    'imdb-sample'; see :func:`padless.data.sources.resolve_data`)."""
    from padless.config import DataConfig, with_data
    from padless.data.dataset import TextDataset
    from padless.data.sources import load_data, resolve_data

    given = _data_overrides(args)
    if "source" not in given and ({"id_column", "step_column"} & set(given)):
        given["source"] = "long_table"
    like = with_data(DataConfig(source="table"), given, "the command line")
    ds = load_data(resolve_data(args.data, like, keep=set(given)))
    if args.split != "all":
        rows = [i for i, s in enumerate(ds.splits) if (s or "train") == args.split]
        if not rows:
            raise data_error(
                args.data,
                f"rows in split '{args.split}' (rows without a split are train)",
                "none",
                "pass --split all, or a split the data has",
            )
        ds = ds.subset(rows)
    if not isinstance(ds, TextDataset):  # numeric sequences, in time steps
        return ds.lengths(), f"{args.data} ({args.split}, time steps)"
    if args.tokenizer == "whitespace":
        lengths = [len(t.split()) for t in ds.texts]
    else:
        from padless.encode.text import clean_text, word_tokenize

        lengths = [len(word_tokenize(clean_text(t))) for t in ds.texts]
    label = f"{args.data} ({args.split}, {args.tokenizer} tokens)"
    return np.asarray(lengths, dtype=np.int64), label


def _cmd_lengths(args: argparse.Namespace) -> int:
    from padless.batching.waste import analyze_lengths, format_report, plot_histogram

    start = time.perf_counter()
    lengths, label = _lengths_of(args)
    cap = None if args.cap <= 0 else args.cap
    report = analyze_lengths(
        lengths, batch_size=args.batch_size, cap=cap, seed=args.seed, max_tokens=args.max_tokens
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_histogram(lengths, out / "lengths.png", cap=cap)
    (out / "lengths.json").write_text(json.dumps({"data": label, **report.to_dict()}, indent=2))
    print(f"data: {label}")
    print(format_report(report))
    print(
        f"wrote {out / 'lengths.png'} and {out / 'lengths.json'} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import dataclasses

    from padless.config import ServeSettings
    from padless.serve.app import serve

    names = {f.name for f in dataclasses.fields(ServeSettings)}
    settings = ServeSettings(**{k: v for k, v in vars(args).items() if k in names})
    serve(args.model, settings, graceful_s=args.graceful_timeout)
    return 0


def _serve_parser(sub) -> None:
    from padless.config import ServeSettings

    d = ServeSettings()
    p = _command(
        sub, "serve", help="HTTP server: micro-batched /v1/predict, streaming sessions, /metrics"
    )
    p.add_argument("model", help="model directory, e.g. runs/imdb/model")
    p.add_argument("--host", default=d.host)
    p.add_argument("--port", type=int, default=d.port)
    p.add_argument("--backend", choices=("eager", "onnx"), default=d.backend)
    p.add_argument("--export-file", help="ONNX file for --backend onnx (default MODEL/model.onnx)")
    p.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads")
    p.add_argument(
        "--no-batching",
        dest="batching",
        action="store_false",
        help="run every request on its own (the baseline of benchmarks/serve_load.py)",
    )
    p.add_argument("--max-batch-tokens", type=int, default=d.max_batch_tokens, help="padded B x T")
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=d.max_wait_ms,
        help="how long a request waits for others to batch with",
    )
    p.add_argument("--max-queue", type=int, default=d.max_queue, help="waiting inputs; then 503")
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes, help="else 413")
    p.add_argument("--max-inputs", type=int, default=d.max_inputs, help="per request, else 422")
    p.add_argument("--max-steps", type=int, default=d.max_steps, help="per input, else 422")
    p.add_argument("--session-ttl-s", type=float, default=d.session_ttl_s)
    p.add_argument("--max-sessions", type=int, default=d.max_sessions, help="then 429")
    p.add_argument(
        "--header-timeout-s",
        type=float,
        default=d.header_timeout_s,
        help="seconds for a request head to arrive (from connect or the last response); "
        "then 408 and close",
    )
    p.add_argument(
        "--body-timeout-s",
        type=float,
        default=d.body_timeout_s,
        help="seconds for a request body to arrive; then 408 and close",
    )
    p.add_argument(
        "--keep-alive-s", type=float, default=d.keep_alive_s, help="idle keep-alive; then close"
    )
    p.add_argument(
        "--max-header-bytes", type=int, default=d.max_header_bytes, help="then 431 and close"
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=d.max_connections,
        help="open connections; requests beyond are 503",
    )
    p.add_argument("--backlog", type=int, default=d.backlog, help="the listen queue")
    p.add_argument(
        "--graceful-timeout", type=float, default=30.0, help="seconds to finish requests on stop"
    )
    p.set_defaults(func=_cmd_serve)


def _kernel_sources() -> list[Path]:
    from padless.nn import kernels

    return kernels.sources()


def _cmd_kernels_build(args: argparse.Namespace) -> int:
    from padless.nn import extension

    sources = _kernel_sources()
    try:
        done = extension.build(sources, force=args.force, verbose=args.verbose)
    except RuntimeError as exc:
        print(f"padless kernels build: failed: {exc}", file=sys.stderr)
        print("padless runs its exact (slower) fallback without the kernels", file=sys.stderr)
        return 1
    b = done.build
    for err in done.errors:
        print(f"note: {err}", file=sys.stderr)
    verb = "built" if done.compiled else "already built, loaded"
    if done.waited:
        verb = "built by another process meanwhile, loaded"
    print(f"{verb} {b.name} ({b.variant}: {' '.join(b.cflags)}) in {done.seconds:.1f} s")
    print(f"  where: {b.directory}")
    print(f"  key:   {b.digest} = {_key_summary(b.key)}")
    if os.environ.get("PADLESS_NO_EXT", "") not in ("", "0"):
        print("  note:  PADLESS_NO_EXT is set: padless will not use them until it is unset")
    return 0


def _key_summary(key: dict) -> str:
    sources = ", ".join(f"{k}:{v[:8]}" for k, v in key["sources"].items())
    return (
        f"padless {key['padless']}, torch {key['torch']}, python {key['python']}, "
        f"{key['platform']}, {key['compiler']} {' '.join(key['cflags'] + key['ldflags'])}, "
        f"cpu {key['cpu']}, sources {sources}"
    )


def _cmd_kernels_status(args: argparse.Namespace) -> int:
    from padless.nn import extension

    st = extension.status(_kernel_sources())
    if args.json:
        st = {
            **st,
            "build": st["build"].name if st["build"] else None,
            "builds": [
                {"name": b.name, "variant": b.variant, "directory": str(b.directory), "key": b.key}
                for b in st["builds"]
            ],
        }
        print(json.dumps(st))
        return 0 if st["built"] else 1
    b = st["build"]
    if b is not None:
        secs = st["info"].get("build_seconds")
        print(f"built for this environment: {b.name} ({b.variant})")
        print(f"  where: {b.directory}")
        print(f"  key:   {b.digest} = {_key_summary(b.key)}")
        if secs is not None:
            print(f"  built {st['info'].get('built_at', '?')} in {secs} s")
    else:
        print("not built for this environment")
    if st["reason"]:
        print(f"  why not in use: {st['reason']}" if b else f"  why: {st['reason']}")
    if st["others"]:
        print(f"  other builds here (other keys): {', '.join(st['others'])}")
    return 0 if st["built"] else 1


def _kernels_parser(sub: Any) -> None:
    p = _command(
        sub,
        "kernels",
        help="build the fused C++ kernels for this environment, or show whether they are built",
    )
    ksub = p.add_subparsers(dest="kernels_command", required=True, metavar="ACTION")
    b = _command(
        ksub,
        "build",
        help="compile the kernels into this environment (once; `make install` runs it)",
    )
    b.add_argument("--force", action="store_true", help="recompile even when built")
    b.add_argument("-v", "--verbose", action="store_true", help="show the compiler output")
    b.set_defaults(func=_cmd_kernels_build)
    s = _command(ksub, "status", help="whether the kernels are built here, and why not")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.set_defaults(func=_cmd_kernels_status)


DESCRIPTION = (
    "Train, evaluate, export and serve exact recurrent models on variable-length sequences. "
    "Run `padless COMMAND --help` for a command's options."
)
_QUIET_HELP = "no progress bars or info logs; warnings and errors still show"


def _command(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand parser that also takes ``-q`` after the command (``padless train -q``);
    its SUPPRESS default keeps a ``-q`` given before the command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=_QUIET_HELP
    )
    return sub.add_parser(name, parents=[common], **kwargs)


def _data_options(p: argparse.ArgumentParser, default: str, labels: bool = True) -> None:
    """The column options of a command that reads data, as in training's ``[data]`` table."""
    g = p.add_argument_group(f"how the data is read (default: {default})")
    g.add_argument("--text-column", metavar="NAME", help="the text column (data.text_column)")
    if labels:
        g.add_argument(
            "--label-column",
            metavar="NAME",
            action="append",
            help="the label column (data.label_column); repeat it for several regression "
            "targets (data.label_columns)",
        )
        g.add_argument(
            "--split-column", metavar="NAME", help="the split column, or none (data.split_column)"
        )
    g.add_argument(
        "--id-column", metavar="NAME", help="long tables: the sequence id column (data.id_column)"
    )
    g.add_argument(
        "--step-column", metavar="NAME", help="long tables: the time step column (data.step_column)"
    )
    g.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="data.KEY=VALUE",
        help="any other [data] key, as in `padless train --set` (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="padless", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"padless {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help=_QUIET_HELP)
    sub = parser.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")

    p = _command(sub, "train", help="train a model from a TOML config")
    p.add_argument("config", help="TOML config, e.g. configs/imdb-sample.toml")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="STAGE.KEY=VALUE",
        help="override a config value (repeatable), e.g. --set train.epochs=1",
    )
    p.add_argument("--out", help="output directory (default runs/<config name>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its newest checkpoint (same config)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the earlier run in --out (its model, metrics and checkpoints); "
        "without it (or --resume) a directory holding a run is refused",
    )
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also fit the baseline (TF-IDF n-grams + logistic regression for text, MiniRocket "
        "for series) on the same splits; metrics.json and the report show model vs baseline",
    )
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="train with N processes (DistributedDataParallel, gloo on CPU / NCCL on GPU): "
        "shortcut for torchrun --standalone --nproc_per_node N -m padless train ...",
    )
    p.set_defaults(func=_cmd_train)

    p = _command(
        sub,
        "baseline",
        help="fit the baseline alone: TF-IDF n-grams + logistic regression (text), MiniRocket "
        "(series), on the splits training would use",
    )
    p.add_argument(
        "data",
        help="a training config (.toml; --set takes any STAGE.KEY=VALUE then), or DATA read as "
        "`padless lengths` reads it: a table, IMDB tarball/CSV/folder, UEA .ts file or folder, "
        "imdb or imdb-sample",
    )
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE")
    _data_options(p, "a text table: text, label, split")
    p.set_defaults(func=_cmd_baseline)

    p = _command(
        sub, "evaluate", help="accuracy, macro-F1, ROC-AUC and confusion matrix of a model on data"
    )
    p.add_argument("model", help="model directory, e.g. runs/imdb-sample/model")
    p.add_argument(
        "data",
        help="data read like the model's training data: a table, IMDB tarball/CSV/folder, "
        "UEA .ts file or folder, or imdb / imdb-sample / the synthetic task name",
    )
    p.add_argument(
        "--split",
        default=None,
        help="train, valid, test or all (default: test "
        "when the data has a test split, else all rows)",
    )
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument(
        "--backend",
        choices=("eager", "onnx", "torchscript"),
        default="eager",
        help="score the PyTorch model or an exported file (see `padless export`)",
    )
    p.add_argument(
        "--export-file", help="the exported file (default MODEL/model.onnx or model-torchscript.pt)"
    )
    p.add_argument("--json", metavar="FILE", help="also write the metrics as JSON to FILE")
    p.add_argument(
        "--format", choices=("table", "json"), default="table", help="what to print (default table)"
    )
    _data_options(p, "the model's training settings")
    p.set_defaults(func=_cmd_evaluate)

    p = _command(sub, "predict", help="predict with a trained model; one JSON line per input")
    p.add_argument("model", help="model directory, e.g. runs/imdb-sample/model")
    p.add_argument(
        "--input",
        default="-",
        help="a table (.csv, .tsv, .parquet; one input per row, from --text-column; for a "
        "numeric model trained on a long table, one row per time step), a .jsonl "
        "file with a 'text' or 'inputs' field, a text file with one input per line, or - for "
        "stdin (default); optionally gzipped",
    )
    _data_options(p, "the model's training settings", labels=False)
    p.add_argument(
        "--backend",
        choices=("eager", "onnx", "torchscript"),
        default="eager",
        help="eager (PyTorch), onnx (ONNX Runtime) or torchscript, on the file from "
        "`padless export`",
    )
    p.add_argument(
        "--onnx",
        "--export-file",
        dest="onnx",
        help="the exported file for --backend onnx / torchscript (default "
        "MODEL/model.onnx or MODEL/model-torchscript.pt)",
    )
    p.add_argument(
        "--output",
        help="write predictions to FILE: .csv (label and score columns) or JSON lines "
        "(default: JSON lines on stdout)",
    )
    p.add_argument("--chunk-size", type=int, default=4096, help="inputs read and encoded per chunk")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="ONNX Runtime intra-op threads for --backend onnx (default: one per core; 1 is "
        "often fastest for one input at a time)",
    )
    p.set_defaults(func=_cmd_predict)

    p = _command(sub, "export", help="export a model to ONNX with lengths kept inside the graph")
    p.add_argument("model", help="model directory, e.g. runs/imdb-sample/model")
    p.add_argument(
        "--format",
        choices=("onnx", "onnx-int8", "torchscript"),
        default="onnx",
        help="onnx (fp32), onnx-int8 (ONNX Runtime dynamic quantisation of the fp32 graph) "
        "or torchscript",
    )
    p.add_argument(
        "--out",
        help="file to write (default MODEL/model.onnx, MODEL/model-int8.onnx or "
        "MODEL/model-torchscript.pt, where `padless predict --backend` looks)",
    )
    p.add_argument(
        "--eval",
        metavar="DATA",
        help="also score the model and the export on DATA (read like `padless evaluate`'s) "
        "and report the change, e.g. the int8 accuracy change",
    )
    p.add_argument("--split", default=None, help="the split of --eval DATA (default test)")
    p.set_defaults(func=_cmd_export)

    _serve_parser(sub)

    p = _command(sub, "lengths", help="length histogram and padding waste per batching strategy")
    p.add_argument(
        "data",
        help="CSV/TSV/JSONL/Parquet file, IMDB tarball or CSV, a .ts file, "
        "'imdb' (cached download) or 'imdb-sample'",
    )
    p.add_argument("--split", default="train", help="split to analyse, or 'all' (default train)")
    p.add_argument("--tokenizer", choices=("whitespace", "word"), default="whitespace")
    p.add_argument("--cap", type=int, default=512, help="truncation cap before batching (0: none)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-tokens", type=int, default=None, help="token budget per batch")
    p.add_argument("--seed", type=int, default=0)
    _data_options(p, "text, label, split")
    p.add_argument("--out", default="lengths-report", help="where to write the PNG and JSON")
    p.set_defaults(func=_cmd_lengths)

    _kernels_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; INFO logs unless ``-q``. Bars are drawn only for a person at a
    terminal (:func:`padless.progress.interactive`); under CI or in a log file the INFO lines
    (one per training epoch) are the progress."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except PadlessError as exc:
        print(f"padless {args.command}: error: {exc}", file=sys.stderr)
        return 2
