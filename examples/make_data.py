"""Writes the tiny example tables of ``examples/data/`` (seeded: the same files every time).

    python examples/make_data.py

Each file is a few dozen rows of made-up text or numbers, one per learning task of the
README's "Your own data" section; no external data.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent / "data"
FILLER = "the film story plot acting was a and it".split()
POSITIVE = "wonderful warm funny great moving superb".split()
NEGATIVE = "dull boring awful long flat weak".split()


def _write_csv(name: str, header: list[str], rows: list[list], delimiter: str = ",") -> None:
    with open(HERE / name, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _split(i: int) -> str:
    return "test" if i % 7 == 0 else ""  # empty: train (a share of it becomes valid)


def reviews(rng: random.Random) -> None:
    """Binary: a review and pos / neg."""
    rows = []
    for i in range(48):
        good = i % 2 == 0
        words = rng.sample(POSITIVE if good else NEGATIVE, 2) + rng.sample(FILLER, i % 5)
        rng.shuffle(words)
        rows.append([" ".join(words), "pos" if good else "neg", _split(i)])
    _write_csv("reviews.csv", ["text", "label", "split"], rows)


def topics(rng: random.Random) -> None:
    """Multi-class, as TSV without a split column: a headline and its topic."""
    words = {
        "sport": "goal match team score coach".split(),
        "food": "bread soup spicy recipe oven".split(),
        "tech": "laptop code server chip app".split(),
    }
    rows = []
    for i in range(45):
        topic = list(words)[i % 3]
        text = rng.sample(words[topic], 2 + i % 2) + rng.sample(FILLER, i % 4)
        rng.shuffle(text)
        rows.append([" ".join(text), topic])
    _write_csv("topics.tsv", ["headline", "topic"], rows, delimiter="\t")


def tags(rng: random.Random) -> None:
    """Multi-label: a review and its tags split on '|'; an empty cell is no tags."""
    cues = {"funny": "joke laugh", "scary": "ghost scream", "sad": "tears loss"}
    rows = []
    for i in range(48):
        chosen = sorted(t for t in cues if rng.random() < 0.35)
        words = [w for t in chosen for w in cues[t].split()[: 1 + i % 2]] + rng.sample(FILLER, 3)
        rng.shuffle(words)
        rows.append([" ".join(words), "|".join(chosen), _split(i)])
    _write_csv("tags.csv", ["text", "tags", "split"], rows)


def scores(rng: random.Random) -> None:
    """Regression, one target (score) or two (score, energy): numbers as CSV text."""
    rows = []
    for i in range(48):
        n_pos, n_neg = rng.randint(0, 3), rng.randint(0, 3)
        words = rng.sample(POSITIVE, n_pos) + rng.sample(NEGATIVE, n_neg) + rng.sample(FILLER, 2)
        rng.shuffle(words)
        score = (n_pos - n_neg) / 3 + rng.uniform(-0.05, 0.05)
        energy = 0.5 * len(words) - 3.125
        text = "1e-3" if i == 5 else f"{score:.3f}"  # numbers as tables write them
        rows.append([" ".join(words), text, f"{energy:g}", _split(i)])
    _write_csv("scores.csv", ["text", "score", "energy", "split"], rows)


def pos(rng: random.Random) -> None:
    """Per-step tagging, JSON lines: a sentence and one part-of-speech tag per word."""
    lexicon = {
        "D": "the a this".split(),
        "A": "big red small old".split(),
        "N": "dog cat bird car".split(),
        "V": "runs sleeps sings stops".split(),
    }
    with open(HERE / "pos.jsonl", "w", encoding="utf-8") as f:
        for i in range(40):
            shape = ["D"] + ["A"] * rng.randint(0, 2) + ["N", "V"]
            if rng.random() < 0.3:
                shape += ["D", "N"]
            words = [rng.choice(lexicon[t]) for t in shape]
            row = {"text": " ".join(words), "tags": shape, "split": _split(i)}
            f.write(json.dumps(row) + "\n")


def sensors(rng: random.Random) -> None:
    """Per-step tagging from a long table: one row per time step of each sequence, the state
    of each step (up when the reading rose) in its own column."""
    rows = []
    for s in range(30):
        level = rng.uniform(0, 1)
        for t in range(rng.randint(3, 8)):
            delta = rng.uniform(-1, 1)
            level += delta
            state = "up" if delta > 0 else "down"
            rows.append([f"s{s:02d}", t, f"{delta:.3f}", f"{level:.3f}", state, _split(s)])
    _write_csv("sensors.csv", ["sequence", "t", "delta", "level", "state", "split"], rows)


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for i, make in enumerate((reviews, topics, tags, scores, pos, sensors)):
        make(random.Random(i))


if __name__ == "__main__":
    main()
