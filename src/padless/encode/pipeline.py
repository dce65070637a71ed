"""The input pipeline: the transform fitted on train and saved with the model, so inference
encodes exactly as training did (:class:`InputPipeline`).

Three input kinds (``InputPipeline.kind``):

* ``text``: raw strings → :class:`~padless.encode.text.TextEncoder` (clean, tokenize,
  vocabulary fitted on train, truncate) → int64 ids (T,).
* ``ids``: integer token ids given directly (e.g. :func:`padless.data.synthetic.sum_mod`):
  checked against the vocabulary size seen in train; 0 is padding and never a valid id.
* ``numeric``: float features (T, F) → optional sign(x)·log(1 + |x|/s) (``data.log_transform``,
  ``data.log_scale`` s)
  → :class:`~padless.encode.normalizer.Normalizer` fitted on the train split only
  (``data.normalize``) → float32 (T, F).

Sequences longer than ``data.max_steps`` (numeric / ids) or ``text.max_length`` (text) are cut,
keeping the head; both are recorded in the artifact. ``data.patch_size = k`` (numeric) then
folds every k consecutive steps into one step of k*F features (the last, partial patch repeats
its final step), so long raw signals become k times shorter sequences; T' = ceil(T / k).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from padless.config import Config
from padless.data.dataset import Dataset, TextDataset
from padless.encode.normalizer import Normalizer
from padless.encode.text import LIMIT_FIX, TextEncoder
from padless.errors import ArtifactError, data_error, format_error, read_saved_json

logger = logging.getLogger(__name__)


def raw_inputs(ds: Dataset) -> list:
    return ds.texts if isinstance(ds, TextDataset) else ds.sequences


class InputPipeline:
    """The fitted input transform (see the module docstring). ``encode`` returns one array or
    id list per input; ``model_kwargs`` gives the embedding / projection sizes."""

    def __init__(
        self,
        kind: str,
        *,
        text: TextEncoder | None = None,
        normalizer: Normalizer | None = None,
        vocab_size: int | None = None,
        num_features: int | None = None,
        feature_names: list[str] | None = None,
        max_steps: int | None = None,
        patch_size: int = 1,
        log_transform: bool = False,
        log_scale: float = 1.0,
    ):
        self.kind = kind
        self.text = text
        self.normalizer = normalizer
        self.vocab_size = text.vocab_size if text is not None else vocab_size
        self.num_features = num_features
        self.feature_names = feature_names
        self.max_steps = max_steps
        self.patch_size = int(patch_size)
        self.log_transform = bool(log_transform)
        self.log_scale = float(log_scale)

    # -- fitting ------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        ds: Dataset,
        train_rows: Sequence[int],
        cfg: Config,
        *,
        cleaned: Sequence[str] | None = None,
    ) -> InputPipeline:
        """Fit on the training rows only (vocabulary, normalisation statistics). ``cleaned``
        (text only): the train rows' texts cleaned already (:meth:`TextEncoder.clean`), in
        ``train_rows`` order, so they are not cleaned again."""
        if isinstance(ds, TextDataset):
            if cleaned is not None:
                if len(cleaned) != len(train_rows):
                    raise ValueError(f"{len(cleaned)} cleaned texts for {len(train_rows)} rows")
                return cls("text", text=TextEncoder.fit(cleaned, cfg.text, cleaned=True))
            return cls("text", text=TextEncoder.fit([ds.texts[i] for i in train_rows], cfg.text))
        seqs = [ds.sequences[i] for i in train_rows]
        if all(np.issubdtype(s.dtype, np.integer) and s.ndim == 1 for s in seqs):
            vocab = max(int(s.max()) for s in seqs if len(s)) + 1
            return cls("ids", vocab_size=vocab, max_steps=cfg.data.max_steps)
        if cfg.data.log_transform:
            seqs = [_signed_log(s, cfg.data.log_scale) for s in seqs]
        norm = Normalizer.fit(seqs, ds.feature_names) if cfg.data.normalize else None
        return cls(
            "numeric",
            normalizer=norm,
            num_features=ds.num_features,
            feature_names=list(ds.feature_names),
            max_steps=cfg.data.max_steps,
            patch_size=cfg.data.patch_size,
            log_transform=cfg.data.log_transform,
            log_scale=cfg.data.log_scale,
        )

    def model_kwargs(self) -> dict[str, int]:
        """What the model's input layer needs: ``{"vocab_size": V}`` for ids and text, or
        ``{"num_features": F}`` (after patching) for numeric input."""
        if self.kind == "numeric":
            assert self.num_features is not None  # set by fit / load for numeric input
            return {"num_features": int(self.num_features) * self.patch_size}
        assert self.vocab_size is not None  # set by fit / load for ids and text
        return {"vocab_size": int(self.vocab_size)}

    # -- encoding -----------------------------------------------------------------------------
    def encode(
        self,
        inputs: Sequence[Any],
        where: str = "input",
        rows: Sequence[int] | None = None,
        *,
        limit: int | None = None,
        cut: bool = True,
        cleaned: bool = False,
    ) -> list:
        """Encode raw inputs: strings (text), int sequences (ids) or (T, F) arrays (numeric).

        ``limit``: an input of more steps (tokens), before the model's own cap, raises naming
        its row; ``cut=False`` skips that cap (``text.max_length`` / ``data.max_steps``), for
        streams whose pieces are encoded one at a time. ``cleaned`` (text only; ignored
        otherwise): the strings come from ``self.text.clean`` already.
        """
        if self.kind == "text":
            assert self.text is not None  # a text pipeline always holds its encoder
            bad = next((i for i, x in enumerate(inputs) if not isinstance(x, str)), None)
            if bad is not None:
                raise data_error(
                    f"{where} row {rows[bad] if rows is not None else bad}",
                    "a string",
                    type(inputs[bad]).__name__,
                    "this model reads text; pass strings",
                )
            return self.text.encode_batch(
                list(inputs), where=where, rows=rows, limit=limit, cut=cut, cleaned=cleaned
            )
        out = []
        for i, x in enumerate(inputs):
            at = f"{where} row {rows[i] if rows is not None else i}"
            out.append(self._encode_one(x, at, limit, cut))
        if self.kind == "numeric" and self.log_transform:
            out = [_signed_log(x, self.log_scale) for x in out]
        if self.kind == "numeric" and self.normalizer is not None and out:
            out = self.normalizer.transform(out)
        if self.kind == "numeric" and self.patch_size > 1:
            out = [_patch(x, self.patch_size) for x in out]
        return out

    def _encode_one(self, x: Any, at: str, limit: int | None, cut: bool) -> np.ndarray:
        if isinstance(x, str):
            raise data_error(at, "a numeric sequence", "a string", "this model reads sequences")
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError):
            raise data_error(
                at,
                "a rectangular numeric sequence",
                "ragged nesting",
                "give every step the same number of features",
            ) from None
        if arr.size == 0 or arr.shape[0] == 0:
            raise data_error(
                at, "at least one time step", "an empty sequence", "remove empty sequences"
            )
        if self.kind == "ids":
            if arr.ndim != 1 or arr.dtype.kind not in "iu":
                raise data_error(
                    at,
                    "a 1-D sequence of integer token ids",
                    _desc(arr),
                    "pass token ids like [3, 1, 4]",
                )
            lo, hi = int(arr.min()), int(arr.max())
            assert self.vocab_size is not None  # an ids pipeline always knows its vocabulary
            if lo < 1 or hi >= self.vocab_size:
                raise data_error(
                    at,
                    f"token ids in 1..{self.vocab_size - 1} (0 is padding)",
                    f"ids in {lo}..{hi}",
                    "map tokens with the training vocabulary",
                )
            arr = arr.astype(np.int64, copy=False)
        else:
            if arr.ndim == 1 and self.num_features == 1:
                arr = arr[:, None]
            if arr.ndim != 2 or arr.shape[1] != self.num_features or arr.dtype.kind not in "biuf":
                raise data_error(
                    at,
                    f"a numeric (T, {self.num_features}) sequence",
                    _desc(arr),
                    f"give {self.num_features} feature(s) per step",
                )
            arr = arr.astype(np.float32)
            if not np.isfinite(arr).all():
                step = int(np.argwhere(~np.isfinite(arr))[0][0])
                raise data_error(
                    f"{at}, step {step}",
                    "finite values",
                    "NaN or inf",
                    "impute missing values first",
                )
        if limit is not None and arr.shape[0] > limit:
            raise data_error(at, f"at most {limit} steps", f"{arr.shape[0]}", LIMIT_FIX)
        if cut and self.max_steps is not None and arr.shape[0] > self.max_steps:
            arr = arr[: self.max_steps]
        return arr

    @property
    def step_cap(self) -> int | None:
        """The most steps the model reads from one input (longer ones are cut): the text
        ``max_length`` or ``data.max_steps``, in steps after patching; None if unbounded."""
        if self.kind == "text":
            assert self.text is not None
            return self.text.config.max_length
        if self.max_steps is None:
            return None
        return -(-self.max_steps // self.patch_size)

    # -- persistence --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "vocab_size": self.vocab_size,
            "num_features": self.num_features,
            "feature_names": self.feature_names,
            "max_steps": self.max_steps,
            "patch_size": self.patch_size,
            "log_transform": self.log_transform,
            "log_scale": self.log_scale,
            "normalized": self.normalizer is not None,
        }

    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        if self.text is not None:
            self.text.save(d)
        if self.normalizer is not None:
            state = json.dumps(self.normalizer.to_dict(), indent=2)
            (d / "normalizer.json").write_text(state, encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path, meta: dict[str, Any]) -> InputPipeline:
        """Rebuild from an artifact directory and its ``config.json`` ``pipeline`` entry."""
        d = Path(directory)
        info = meta.get("pipeline") or {"kind": meta.get("input", "text")}
        kind = info.get("kind")
        if kind == "text":
            return cls("text", text=TextEncoder.load(d))
        if kind not in ("ids", "numeric"):
            raise ArtifactError(
                format_error(
                    str(d / "config.json"),
                    "input kind text, ids or numeric",
                    repr(kind),
                    "re-train the model",
                )
            )
        norm = None
        if info.get("normalized"):
            norm = read_saved_json(
                d / "normalizer.json", "the normalizer state", Normalizer.from_dict
            )
        return cls(
            kind,
            normalizer=norm,
            vocab_size=info.get("vocab_size"),
            num_features=info.get("num_features"),
            feature_names=info.get("feature_names"),
            max_steps=info.get("max_steps"),
            patch_size=info.get("patch_size", 1),
            log_transform=info.get("log_transform", False),
            log_scale=info.get("log_scale", 1.0),
        )


def _signed_log(x: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """sign(x)·log(1 + |x| / scale): keeps zero and sign; logarithmic above ``scale``, linear
    below it. With scale 1, currents of 0.01-300 A become 0.01-5.7 (small ones stay crowded
    near 0); with scale 0.001 they become 2.4-12.6, one step per factor of e."""
    x = np.asarray(x)
    return (np.sign(x) * np.log1p(np.abs(x) / scale)).astype(np.float32, copy=False)


def _patch(x: np.ndarray, k: int) -> np.ndarray:
    """(T, F) → (ceil(T / k), k * F): k consecutive steps side by side, the last patch padded
    by repeating the final step (never with zeros, which would look like data)."""
    t, f = x.shape
    n = -(-t // k)
    if n * k > t:
        x = np.concatenate([x, np.repeat(x[-1:], n * k - t, axis=0)])
    return np.ascontiguousarray(x.reshape(n, k * f))


def _desc(arr: np.ndarray) -> str:
    return f"{arr.dtype} array of shape {arr.shape}"
