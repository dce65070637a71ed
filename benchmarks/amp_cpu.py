"""Does CPU autocast (bf16) speed up training? The measurement behind ``train.amp = "auto"``
being off on CPU.

    .venv/bin/python benchmarks/amp_cpu.py        # ~2 min here

Trains ``configs/imdb-sample.toml`` for 2 epochs with ``train.amp`` off and bf16, alternating,
twice each, and prints the second epoch's real tokens/s and the validation accuracy.
"""

import json
import logging
from pathlib import Path

from padless.config import load_config
from padless.train.loop import train

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    logging.disable(logging.WARNING)
    res: dict[str, list[int]] = {}
    for amp in ("off", "bf16", "off", "bf16"):
        cfg = load_config(
            ROOT / "configs" / "imdb-sample.toml", ["train.epochs=2", f"train.amp={amp}"]
        )
        m = train(cfg, f"/tmp/padless-amp-{amp}", quiet=True)
        res.setdefault(amp, []).append(round(m["history"][-1]["tokens_per_s"]))
        print(f"amp={amp:<5} {res[amp][-1]:>9,} tok/s  valid accuracy {m['valid']['accuracy']:.3f}")
    off, bf16 = (sum(res[k]) / len(res[k]) for k in ("off", "bf16"))
    print(json.dumps(res), f"bf16 / off = {bf16 / off:.3f}")


if __name__ == "__main__":
    main()
