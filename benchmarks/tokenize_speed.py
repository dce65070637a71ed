"""Word tokenisation speed: today's per-text path, HF ``tokenizers`` WordLevel and the batch
path (padless.encode.words), in tokens per second, on synthetic short texts and on IMDB.

    .venv/bin/python benchmarks/tokenize_speed.py [--rows 100000] [--data PATH] [--repeat 3]

Every row turns texts into vocabulary ids (the vocabulary is fitted on the same texts first,
max_size 20000, min_freq 2) and checks them against the per-text reference
(``vocab.encode(word_tokenize(clean_text(t)))``):

* ``per text (today)``: that reference, text by text (clean, regex findall, dict lookup).
* ``HF WordLevel, ...``: ``Tokenizer.encode_batch_fast`` on texts cleaned by ``clean_batch``
  (HF has no html.unescape), with the Whitespace pre-tokenizer (different tokens: ids not
  equal) or a Split on WORD_PATTERN.
* ``batch: raw -> ids``: ``words.word_ids`` (clean + tokenize + look up, one pass per chunk),
  what ``TextEncoder.encode_batch`` runs, and ``encode_batch`` itself (adds truncation to 512
  and one list per text).
* ``batch: clean / split_words / lookup``: the three steps a store build runs, timed apart.
* ``batch, 2 processes``: ``word_ids`` over blocks of texts in a fork pool of 2 (pool start
  timed separately).

Prints a table and writes benchmarks/results/tokenize_speed.json. Each batch time is the best
of ``--repeat`` runs; the slow baselines (per text, HF) run once. The load average before and
after is printed too: other processes on the machine slow every row.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import multiprocessing
import os
import platform
import time
from collections.abc import Callable
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from padless.config import TextConfig
from padless.encode.text import TextEncoder
from padless.encode.vocab import Vocab
from padless.encode.words import (
    WORD_PATTERN,
    clean_batch,
    clean_text,
    split_words,
    word_ids,
    word_tokenize,
)

ROOT = Path(__file__).resolve().parent
_POOL_VOCAB: Vocab | None = None


def synthetic_texts(n: int, seed: int = 0) -> list[str]:
    """Short review-like rows: log-normal lengths (median 20 words), Zipf-distributed words
    over a 30k vocabulary, ~15% punctuation / contractions / markup / entities, capitalised
    starts, and about 3% of rows with a non-ASCII word."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    freq = np.arange(26, 0, -1, dtype=float)
    sizes = rng.poisson(4, 30000) + 1
    words = list(dict.fromkeys("".join(rng.choice(letters, s, p=freq / freq.sum())) for s in sizes))
    extra = [",", ".", "!", "?", "don't", "it's", "(", ")", '"', "-", "<br />", "&amp;", "...", ":"]
    extra += ["The", "I", "1999", "10/10", "isn't", "film's"]
    foreign = ["café", "naïve", "it’s", "Zoë"]
    lengths = np.maximum(1, rng.lognormal(np.log(20), 0.8, n).astype(np.int64))
    total = int(lengths.sum())
    zipf = rng.zipf(1.2, size=total) - 1
    picks = np.where(zipf < len(words), zipf, rng.integers(0, len(words), total))
    kind = rng.random(total)
    kind[np.cumsum(lengths) - lengths] = 1.0  # every row starts with a word: none is empty
    extras = rng.integers(0, len(extra), total)
    flat = [extra[e] if k < 0.15 else words[w] for k, e, w in zip(kind, extras, picks, strict=True)]
    out, at = [], 0
    for i, length in enumerate(lengths.tolist()):
        row = flat[at : at + length]
        at += length
        if i % 2 == 0:
            row[0] = row[0].capitalize()
        if i % 37 == 0:
            row[-1] = foreign[i % len(foreign)]
        out.append(" ".join(row))
    return out


def imdb_texts(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return [r[0] for r in list(csv.reader(f))[1:]]


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _hf_tokenizer(vocab: Vocab, split: str) -> Any:
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel(vocab.index, unk_token="<unk>"))
    if split == "whitespace":
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
    else:
        pattern = Regex(WORD_PATTERN.pattern)
        tok.pre_tokenizer = pre_tokenizers.Split(pattern, behavior="removed", invert=True)
    return tok


def _pool_init(vocab: Vocab) -> None:
    global _POOL_VOCAB
    _POOL_VOCAB = vocab


def _pool_block(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    assert _POOL_VOCAB is not None
    return word_ids(texts, _POOL_VOCAB, lowercase=True, strip_html=True, cleaned=False)


def measure(name: str, texts: list[str], repeat: int) -> list[dict[str, Any]]:
    vocab = Vocab.build((word_tokenize(clean_text(t)) for t in texts), max_size=20000, min_freq=2)
    rows: list[dict[str, Any]] = []
    t, per_text = best_of(1, lambda: [vocab.encode(word_tokenize(clean_text(x))) for x in texts])
    reference = _flat(chain.from_iterable(per_text))
    del per_text

    def add(method: str, seconds: float, ids: np.ndarray | None, note: str = "") -> None:
        equal = None if ids is None else bool(np.array_equal(ids, reference))
        rows.append(
            {
                "data": name,
                "method": method,
                "texts": len(texts),
                "tokens": len(reference),
                "seconds": seconds,
                "mtok_per_s": len(reference) / seconds / 1e6,
                "ids_equal": equal,
                "note": note,
            }
        )

    add("per text (today)", t, reference)
    cleaned = clean_batch(texts, lowercase=True, strip_html=True)
    for split in ("whitespace", "WORD_PATTERN"):
        tok = _hf_tokenizer(vocab, split)
        t, encodings = best_of(1, partial(tok.encode_batch_fast, cleaned))
        hf_ids = _flat(i for e in encodings for i in e.ids)
        add(f"HF WordLevel, {split}", t, hf_ids, "on cleaned texts")
        del encodings, hf_ids
    t, (ids, _) = best_of(
        repeat, lambda: word_ids(texts, vocab, lowercase=True, strip_html=True, cleaned=False)
    )
    add("batch: raw -> ids", t, ids)
    enc = TextEncoder(TextConfig(max_length=10**9, min_freq=2), vocab=vocab)
    t, lists = best_of(repeat, lambda: enc.encode_batch(texts))
    add("batch: TextEncoder.encode_batch", t, _flat(chain.from_iterable(lists)), "id lists")
    del lists
    t_clean, cleaned = best_of(repeat, lambda: clean_batch(texts, lowercase=True, strip_html=True))
    t_split, (tokens, _) = best_of(repeat, lambda: split_words(cleaned))
    t_lookup, looked = best_of(repeat, lambda: vocab.lookup(tokens))
    add("batch: clean_batch", t_clean, None, "cleaning only")
    add("batch: split_words", t_split, None, "tokenizing only")
    add("batch: Vocab.lookup", t_lookup, None, "ids only (token hashes cached by then)")
    add("batch: clean + split + lookup", t_clean + t_split + t_lookup, looked)
    startup, t, ids = _pooled(texts, vocab, repeat)
    add("batch, 2 processes (fork)", t, ids, f"+ {startup * 1e3:.0f} ms pool start")
    return rows


def _flat(ids: Any) -> np.ndarray:
    return np.fromiter(ids, dtype=np.int64)


def _pooled(texts: list[str], vocab: Vocab, repeat: int) -> tuple[float, float, np.ndarray]:
    """word_ids over 16 blocks of texts in a pool of 2 forked processes: (pool start seconds,
    best encode seconds, ids)."""
    ctx = multiprocessing.get_context("fork")
    start = time.perf_counter()
    with ctx.Pool(2, initializer=_pool_init, initargs=(vocab,)) as pool:
        pool.map(_pool_block, [texts[:10], texts[10:20]])  # started and warm
        startup = time.perf_counter() - start
        block = max(1, len(texts) // 16)
        blocks = [texts[i : i + block] for i in range(0, len(texts), block)]
        t, parts = best_of(repeat, lambda: pool.map(_pool_block, blocks))
    return startup, t, np.concatenate([p[0] for p in parts])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="synthetic rows")
    ap.add_argument("--data", default=str(ROOT.parents[1] / "shared/data/imdb/imdb.csv.gz"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "results" / "tokenize_speed.json"))
    args = ap.parse_args()

    load_before = os.getloadavg()
    rows = measure(f"synthetic ({args.rows} rows)", synthetic_texts(args.rows), args.repeat)
    if Path(args.data).is_file():
        rows += measure("IMDB (50000 reviews)", imdb_texts(Path(args.data)), args.repeat)
    else:
        print(f"{args.data} not found: IMDB rows skipped")
    print(f"{'data':26} {'method':34} {'tokens':>10} {'seconds':>8} {'Mtok/s':>7}  ids equal")
    for r in rows:
        equal = {None: "-", True: "yes", False: "NO"}[r["ids_equal"]]
        print(
            f"{r['data']:26} {r['method']:34} {r['tokens']:10d} {r['seconds']:8.3f} "
            f"{r['mtok_per_s']:7.2f}  {equal:4} {r['note']}"
        )
    load = {"before": load_before, "after": os.getloadavg()}
    print(f"load average (1, 5, 15 min) before {load['before']}, after {load['after']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": platform.platform(),
        "cpus": multiprocessing.cpu_count(),
        "load_average": load,
        "args": vars(args),
    }
    out.write_text(json.dumps({"rows": rows, **meta}, indent=2))
    print(json.dumps({"rows": rows, **meta}))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
