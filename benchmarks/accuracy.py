"""Accuracy bar (issue 4): train each recipe in configs/ from scratch and score the test split.

    .venv/bin/python benchmarks/accuracy.py                       # every task (~16 min here)
    .venv/bin/python benchmarks/accuracy.py --only sum-mod,jv     # a subset
    .venv/bin/python benchmarks/accuracy.py --only imdb-sample,imdb-2k,imdb-5k   # issue 18 slices

Each recipe runs as ``padless train CONFIG --out DIR`` in a fresh process (the wall-clock time
is the whole command: data loading, vocabulary, training, the final evaluation of every split
and the artifact). The test split is never used for model selection: the recipes pick their
best epoch on a validation split carved out of train (or hold one out to choose the epoch
count, then refit: padless.train.selection). Every run but tagging passes ``--baseline``: the
baseline (TF-IDF n-grams + logistic regression on text, MiniRocket on series) fitted on the
same splits, and text runs may ship the combined model (``train.combine``); the table shows
both. For IMDB the same run also fits scikit-learn's own TF-IDF uni+bigram vectorizer on the
raw review texts + logistic regression (C chosen on valid), the baseline of earlier stops.
Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

IMDB = SHARED / "imdb" / "imdb.csv.gz"
# name: (config, data.path override or None, metric, bar, time limit s or None, higher is better)
TASKS = {
    "imdb": ("imdb.toml", IMDB, "accuracy", 0.915, 1800, True),
    "jv": ("japanese-vowels.toml", SHARED / "ts" / "JapaneseVowels", "accuracy", 0.99, None, True),
    "plaid": ("plaid.toml", SHARED / "ts" / "PLAID", "accuracy", 0.90, None, True),
    "sum-mod": ("sum-mod.toml", None, "accuracy", 0.99, 300, True),
    "adding": ("adding.toml", None, "mse", 0.01, None, False),
    "tagging": ("running-sum-tagging.toml", None, "accuracy", 0.99, None, True),
    # the default text recipe on small slices of IMDB train (issue 18): data.limit keeps each
    # split in proportion (seeded), so 4,000 rows are 2,000 train (200 of them valid) + 2,000
    # test. The bar: validation >= the baseline's, or the combined model chosen.
    "imdb-sample": ("imdb-sample.toml", None, "accuracy", None, None, True),
    "imdb-2k": ("imdb-sample.toml", IMDB, "accuracy", None, None, True),
    "imdb-5k": ("imdb-sample.toml", IMDB, "accuracy", None, None, True),
}
EXTRA = {
    "imdb-2k": ["data.source=imdb", "data.limit=4000"],
    "imdb-5k": ["data.source=imdb", "data.limit=10000"],
}
NO_BASELINE = {"tagging"}  # per-step tags: no baseline


def run_recipe(name: str, out: Path, extra: list[str]) -> dict:
    config, data, metric, bar, limit, higher = TASKS[name]
    cmd = [
        sys.executable,
        "-m",
        "padless",
        "-q",
        "train",
        str(ROOT / "configs" / config),
        "--out",
        str(out / name),
        "--overwrite",  # a rerun replaces the previous run of the recipe
    ]
    if data is not None:
        cmd += ["--set", f"data.path={data}"]
    for item in EXTRA.get(name, []) + extra:
        cmd += ["--set", item]
    if name not in NO_BASELINE:
        cmd += ["--baseline"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "CI": "1"})
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"task": name, "error": proc.stderr[-2000:], "seconds": seconds}
    metrics = json.loads((out / name / "metrics.json").read_text())
    value = metrics["test"][metric]
    base = metrics.get("baseline", {})
    mixed = metrics.get("combination", {})
    valid = metrics.get("valid", {}).get(metric)  # None when refit on all of train
    if bar is None:  # a slice: validation at least the baseline's, or the combined model chosen
        ok = bool(mixed.get("combined")) or (valid is not None and valid >= base["valid"][metric])
    else:
        ok = (value >= bar if higher else value <= bar) and (limit is None or seconds <= limit)
    return {
        "task": name,
        "config": f"configs/{config}",
        "metric": metric,
        "bar": bar,
        "time_limit_s": limit,
        "test": value,
        "valid": valid,
        "baseline": base.get("name"),
        "baseline_test": base.get("test", {}).get(metric),
        "baseline_valid": base.get("valid", {}).get(metric),
        "ngram_weight": mixed.get("weight"),
        "selection_epochs": metrics.get("selection", {}).get("epochs"),
        "seconds": round(seconds, 1),
        "train_seconds": metrics["seconds"],
        "best_epoch": metrics["best_epoch"],
        "epochs": metrics["epochs_completed"],
        "pass": ok,
        "command": " ".join(cmd[1:]).replace(str(ROOT) + "/", ""),
    }


def tfidf_baseline(out: Path) -> dict:
    """TF-IDF uni+bigram + logistic regression on the IMDB split the recipe uses."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from padless.config import load_config
    from padless.data.dataset import assign_validation
    from padless.data.sources import load_data

    t0 = time.perf_counter()
    cfg = load_config(ROOT / "configs" / "imdb.toml", [f"data.path={TASKS['imdb'][1]}"])
    ds = load_data(cfg.data)
    names = assign_validation(ds.splits, cfg.data.valid_fraction, cfg.train.seed)
    rows = {s: [i for i, n in enumerate(names) if n == s] for s in ("train", "valid", "test")}
    text = {s: [ds.texts[i] for i in r] for s, r in rows.items()}
    y = {s: [ds.labels[i] == "pos" for i in r] for s, r in rows.items()}
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_df=0.9, sublinear_tf=True)
    x_train = vec.fit_transform(text["train"])
    x_valid, x_test = vec.transform(text["valid"]), vec.transform(text["test"])
    best = None
    for c in (1.0, 4.0, 16.0, 64.0):
        clf = LogisticRegression(C=c, max_iter=2000).fit(x_train, y["train"])
        acc = clf.score(x_valid, y["valid"])
        if best is None or acc > best[0]:
            best = (acc, c, clf)
    valid_acc, c, clf = best
    return {
        "task": "imdb-tfidf-logreg",
        "metric": "accuracy",
        "test": clf.score(x_test, y["test"]),
        "valid": valid_acc,
        "C": c,
        "features": x_train.shape[1],
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(TASKS), help=f"subset of {','.join(TASKS)}")
    ap.add_argument("--out", default="/tmp/padless-accuracy", help="run directories")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "accuracy.json"))
    ap.add_argument("--set", action="append", default=[], help="extra override for every run")
    args = ap.parse_args()
    wanted = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = sorted(set(wanted) - set(TASKS))
    if unknown:
        ap.error(f"unknown task(s) {unknown}; choose from {sorted(TASKS)}")
    out = Path(args.out)
    results = []
    for name in wanted:
        data = TASKS[name][1]
        if data is not None and not Path(data).exists():
            results.append({"task": name, "error": f"data not found: {data}"})
            continue
        res = run_recipe(name, out, args.set)
        results.append(res)
        print(json.dumps(res), flush=True)
        if name == "imdb" and "error" not in res:
            base = tfidf_baseline(out)
            results.append(base)
            print(json.dumps(base), flush=True)
    print()
    head = f"{'task':<20}{'metric':<10}{'bar':>8}{'test':>9}{'valid':>9}"
    print(f"{head}{'base test':>10}{'base val':>10}{'mix w':>7}{'wall s':>9}  result")
    for r in results:
        if "error" in r:
            print(f"{r['task']:<20}ERROR {r['error'][-200:]}")
            continue
        bar = r.get("bar")
        limit = f" in <= {r['time_limit_s']} s" if r.get("time_limit_s") else ""
        verdict = ("PASS" if r["pass"] else "FAIL") + limit if "pass" in r else "baseline"
        cells = [_cell(r.get(k)) for k in ("valid", "baseline_test", "baseline_valid")]
        print(
            f"{r['task']:<20}{r['metric']:<10}{'' if bar is None else bar:>8}"
            f"{r['test']:>9.4f}{cells[0]:>9}{cells[1]:>10}{cells[2]:>10}"
            f"{_cell(r.get('ngram_weight'), 1):>7}{r['seconds']:>9.1f}  {verdict}"
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "overrides": args.set,
    }
    Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"wrote {args.json}")


def _cell(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
