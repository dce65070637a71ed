"""UEA/UCR ``.ts`` files: the time-series classification archive's text format.

A file holds ``@`` header tags (``@problemName``, ``@univariate``, ``@dimensions``,
``@equalLength``, ``@seriesLength``, ``@classLabel true a b c``, ...), then after ``@data`` one
case per line: its dimensions separated by ``:``, the values of a dimension by ``,`` (``?`` is a
missing value), the class label last. :func:`read_ts` returns a
:class:`~padless.data.dataset.SequenceDataset` whose ``sequences[i]`` is float32 (T_i, F), F the
number of dimensions (features ``dim_0`` ..); :func:`read_ts_pair` reads a data set's
``Name_TRAIN.ts`` and ``Name_TEST.ts`` as one dataset with train / test splits.

The built-in parser names the line, dimension and value of every error (a label not declared
in ``@classLabel``, dimensions of different lengths, a value that is not a number);
``engine="aeon"`` parses with aeon instead (``pip install padless[timeseries]``), whose errors
lack the line. Files with time stamps are refused (use a long table). Missing / non-finite
values and empty cases follow ``nan_policy`` and ``skip_empty`` (:mod:`padless.data.numeric`).
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from padless.data.dataset import SequenceDataset
from padless.data.numeric import (
    NAN_POLICIES,
    Item,
    _build,
    _check_choice,
    _normalize_split,
    _number,
    _require_file,
    concat,
)
from padless.errors import data_error, import_optional

logger = logging.getLogger(__name__)

_LABEL_FIX = "fix the label or add it to the '@classLabel' header line"


Cases = list[tuple[int | None, np.ndarray, str | None]]  # (line number, (T, F) values, label)


# ----------------------------------------------------------------------------- .ts format
_TS_FLAGS = ("timestamps", "missing", "univariate", "equallength", "classlabel")


def _ts_tag(h: dict[str, Any], line: str, where: str) -> None:
    """Store one header tag (``@name args``) in ``h``; ``@data`` checks the header as a whole."""
    tag, *args = line.split()
    key, err = tag[1:].lower(), partial(data_error, where)
    if key in _TS_FLAGS:
        flag = args[0].lower() if args else ""
        if flag not in ("true", "false") or (len(args) > 1 and key != "classlabel"):
            raise err(f"'{tag}' followed by true or false", repr(line), f"write '{tag} true|false'")
        h[key] = flag == "true"
        if key == "classlabel":
            h["labels"] = args[1:]
            if h[key] and not args[1:]:
                raise err("the class labels after '@classLabel true'", "none", "list every label")
    elif key in ("dimensions", "serieslength"):
        if len(args) != 1 or not args[0].isdigit() or int(args[0]) < 1:
            raise err(f"'{tag} <positive integer>'", repr(line), "fix the header tag")
        h[key] = int(args[0])
    elif key == "data":
        if h["timestamps"]:
            fix = "convert it to a long table and use read_long_table(..., step_column=...)"
            raise err("a .ts file without time stamps", "'@timeStamps true'", fix)
        if h["univariate"] and h["dimensions"] not in (None, 1):
            got = f"'@dimensions {h['dimensions']}'"
            raise err("'@dimensions 1' with '@univariate true'", got, "make the two tags agree")
        h["data"], h["dimensions"] = True, 1 if h["univariate"] else h["dimensions"]
    elif key != "problemname":
        logger.warning("%s: ignoring unknown header tag %r", where, tag)


def _ts_case(line: str, h: dict[str, Any], where: str) -> tuple[np.ndarray, str | None]:
    """Parse one case line into ``((T, F) float64 values, label)``; ``?`` is a missing value."""
    err, n_dims = partial(data_error, where), h["dimensions"]
    parts, label = line.split(":"), None
    if h["classlabel"] is not False:  # like aeon: without @classLabel the last field is the label
        if len(parts) < 2:
            raise err("dimensions then ':<label>'", "no ':'", "append the class label to the line")
        label = parts.pop().strip()
        if h["classlabel"] and label not in h["labels"]:
            raise err(f"a label declared in '@classLabel' {h['labels']}", repr(label), _LABEL_FIX)
    if n_dims is not None and len(parts) != n_dims:
        expected = f"{n_dims} dimensions (as in the header / first case)"
        raise err(expected, f"{len(parts)} dimensions", "give every case the same dimensions")
    dims = []
    for d, text in enumerate(parts):
        tokens = [t.strip() for t in text.split(",")] if text.strip() else []
        try:
            dims.append(np.array([np.nan if t == "?" else t for t in tokens], dtype=np.float64))
        except ValueError:
            k = [t != "?" and _number(t) is None for t in tokens].index(True)
            where_k, fix = f"{where}, dimension {d}, value {k + 1}", "fix the value (',' separated)"
            raise data_error(where_k, "a number or '?'", repr(tokens[k]), fix) from None
    lengths = [len(d) for d in dims]
    if len(set(lengths)) > 1:
        fix = "pad or trim the dimensions of this case to one length"
        raise err("one length for every dimension of a case", f"lengths {lengths}", fix)
    if h["equallength"] and h["serieslength"] not in (None, lengths[0]):
        expected = f"{h['serieslength']} values per dimension ('@seriesLength')"
        raise err(expected, str(lengths[0]), "fix the case, or set '@equalLength false'")
    return np.stack(dims, axis=1), label


def _parse_ts(path: Path) -> Cases:
    h: dict[str, Any] = dict.fromkeys(_TS_FLAGS + ("dimensions", "serieslength", "data"))
    h["labels"] = []
    cases: Cases = []
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for lineno, raw in enumerate(fh, start=1):
                line, where = raw.strip(), f"{path} line {lineno}"
                if not line or line.startswith("#"):
                    continue
                if h["data"]:
                    values, label = _ts_case(line, h, where)
                    cases.append((lineno, values, label))
                    h["dimensions"] = values.shape[1]
                elif line.startswith("@"):
                    _ts_tag(h, line, where)
                else:
                    fix = "add the '@data' line before the first case"
                    raise data_error(where, "a header tag '@...'", repr(line[:60]), fix)
    except UnicodeDecodeError as exc:
        raise data_error(str(path), "UTF-8 text", str(exc), "re-save the file as UTF-8") from None
    if not cases:
        got = "no cases" if h["data"] else "no '@data' line"
        raise data_error(str(path), "'@data' and at least one case", got, "add them")
    return cases


def _parse_ts_aeon(path: Path) -> Cases:
    aeon = import_optional("aeon.datasets", "read_ts(engine='aeon')", "timeseries")
    try:
        X, y, meta = aeon.load_from_ts_file(str(path), return_meta_data=True)
    except (OSError, ValueError, IndexError) as exc:
        got, fix = f"{type(exc).__name__}: {exc}", "use engine='padless' for a line-level diagnosis"
        raise data_error(str(path), "a .ts file aeon can load", got, fix) from exc
    declared = [str(v) for v in meta.get("class_values", [])] if meta.get("classlabel") else []
    labels = [str(v) for v in y] if len(y) == len(X) else [None] * len(X)
    for k, label in enumerate(labels):
        if declared and label not in declared:
            expected = f"a label declared in '@classLabel' {declared}"
            raise data_error(f"{path} case {k + 1}", expected, repr(label), _LABEL_FIX)
    return [(None, np.asarray(x, np.float64).T, lab) for x, lab in zip(X, labels, strict=True)]


def read_ts(
    path: str | Path,
    *,
    split: str | None = None,
    engine: str = "padless",
    nan_policy: str = "raise",
    skip_empty: bool = False,
) -> SequenceDataset:
    """Read a UEA/UCR ``.ts`` file (ids ``"{stem}:{case}"``, features ``dim_<d>``, split from a
    ``_TRAIN`` / ``_TEST`` stem); ``engine="aeon"`` parses with aeon, whose errors lack the line."""
    path = Path(path)
    _check_choice("engine", engine, ("padless", "aeon"))
    _check_choice("nan_policy", nan_policy, NAN_POLICIES)
    _require_file(path, "an existing .ts file")
    if split is None:
        stem = path.stem.upper()
        split = "train" if stem.endswith("_TRAIN") else "test" if stem.endswith("_TEST") else None
    split = _normalize_split(split, "argument split")
    cases = _parse_ts_aeon(path) if engine == "aeon" else _parse_ts(path)
    items: list[Item] = []
    for row, (lineno, values, label) in enumerate(cases):
        seq_id = f"{path.stem}:{row}"
        where = f"{path} {f'line {lineno}' if lineno else f'case {row + 1}'} (id '{seq_id}')"
        items.append((values, seq_id, label, split, where, None))
    names = [f"dim_{i}" for i in range(cases[0][1].shape[1])]
    return _build(str(path), names, items, nan_policy, skip_empty)


def read_ts_pair(
    directory_or_prefix: str | Path,
    *,
    engine: str = "padless",
    nan_policy: str = "raise",
    skip_empty: bool = False,
) -> SequenceDataset:
    """Read ``Name_TRAIN.ts`` + ``Name_TEST.ts`` from the folder or path prefix ``.../Name``."""
    base = Path(directory_or_prefix)
    prefix = base / base.name if base.is_dir() else base
    paths = [prefix.with_name(f"{prefix.name}_{s}.ts") for s in ("TRAIN", "TEST")]
    for p in paths:
        _require_file(p, "a <Name>_TRAIN.ts / <Name>_TEST.ts pair")
    kw: dict[str, Any] = {"engine": engine, "nan_policy": nan_policy, "skip_empty": skip_empty}
    a, b = read_ts(paths[0], split="train", **kw), read_ts(paths[1], split="test", **kw)
    return concat(a, b, source=str(base))
