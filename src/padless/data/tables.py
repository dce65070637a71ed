"""The one reader of data tables: CSV, TSV, JSONL and Parquet files.

Both table readers build on it: text tables (:mod:`padless.data.text_table`) take the rows as
dicts (:func:`read_table`), long tables (:mod:`padless.data.long_table`) take whole columns
(:func:`read_columns`, a :class:`Columns` view). Either way each data row keeps the number
errors cite: its 1-based ``line`` in the file for CSV / TSV / JSONL (the header is line 1; a
row spanning lines has the number of its last line) or its 1-based ``row`` for Parquet.
``padless predict`` streams CSV / TSV through the same parser (:class:`DelimitedReader`).

The format comes from ``fmt`` or the file suffix (:func:`infer_format`). Text files may be
gzip-compressed (recognised by their content, not their name) and may start with a UTF-8
byte-order mark; blank lines hold no row; CSV / TSV header names are stripped of surrounding
spaces. A bad file raises a :class:`~padless.errors.DataError` naming the file and line: invalid
UTF-8, a malformed row (below), a corrupt gzip or Parquet file. Parquet needs pyarrow
(``pip install padless[parquet]``).

**Malformed rows: never merged, never dropped unasked.** Python's ``csv`` module lets a quoted
field run across newlines, so one stray quote can silently swallow the rows after it (and the
last one's label). CSV and TSV are read strictly here; a row is malformed when

* a quoted field does not end with a quote followed by the delimiter or the line's end
  (``"a"b,c``), or a quote is still open at the end of the file;
* it has more or fewer fields than the header;
* a quoted field spanning lines looks like a stray quote that swallowed rows. Multi-line text
  is legal CSV and is read, unless a line inside the field reads on its own as a row of this
  table: the header's number of fields, one of which (outside the multi-line field's column)
  is a value its column holds in a one-line row of the file (a label, a split name). The line
  the quote opens on is read as if the quote were a stray character, and only its fields after
  the quote count; the line the field closes on is not read (its tail is the rest of the row
  either way). A one-column table gives no such evidence, so its multi-line fields are read;
  so is a stray quote in the last column that swallows exactly one row ending in a quote, which
  no rule can tell from text. ``check_multiline=False`` (``data.check_multiline = false``)
  trusts every multi-line field.

JSONL: a line that is not a JSON object is malformed. Parquet is typed: nothing to check.
A malformed row raises naming the file and the line it starts on, with what was expected and
the fix. Passing ``bad_rows=BadRows()`` (``data.skip_bad_rows = true``) skips and records it
instead: only its first line is dropped and the lines after it are read again, so rows a stray
quote swallowed are kept.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from padless.errors import data_error, import_optional

TABLE_FORMATS = ("csv", "tsv", "jsonl", "parquet")

_ALIASES = {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet", "txt": "tsv"}

Row = dict[str, Any]

SKIP_HINT = "; or set data.skip_bad_rows = true to skip and count such rows"


@dataclass(frozen=True)
class Columns:
    """A table as whole columns: ``cells[name][i]`` is data row ``i``'s value (text for CSV /
    TSV; typed, None when absent, for JSONL / Parquet). ``names`` keeps the header as written,
    duplicates included; ``numbers[i]`` is the row's ``unit`` number (``line`` or ``row``)."""

    path: Path
    names: list[str]
    cells: dict[str, list[Any]]
    unit: str
    numbers: Sequence[int]

    def __len__(self) -> int:
        return len(self.numbers)

    def ref(self, i: int) -> str:
        """How errors name data row ``i``, e.g. ``"line 7"`` or ``"row 6"``."""
        return f"{self.unit} {self.numbers[i]}"


def infer_format(path: Path, fmt: str | None = None) -> str:
    """Return the table format from ``fmt`` or the file suffix (``.csv``, ``.tsv``, ``.jsonl``,
    ``.parquet``, each optionally ``.gz``; ``.json`` / ``.ndjson`` are JSONL, ``.pq`` Parquet,
    ``.txt`` TSV). ``fmt`` is case-insensitive."""
    if fmt is not None:
        if fmt.lower() not in TABLE_FORMATS:
            raise data_error(
                str(path),
                f"a format among {', '.join(TABLE_FORMATS)}",
                repr(fmt),
                "pass format='csv' (or tsv, jsonl, parquet)",
            )
        return fmt.lower()
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1].lstrip(".") if suffixes else ""
    ext = _ALIASES.get(ext, ext)
    if ext not in TABLE_FORMATS:
        raise data_error(
            str(path),
            "a file ending in .csv, .tsv, .jsonl or .parquet (optionally .gz)",
            f"suffix {''.join(path.suffixes) or '(none)'}",
            "rename the file or pass format='csv' (or tsv, jsonl, parquet)",
        )
    return ext


def read_table(
    path: str | Path,
    fmt: str | None = None,
    *,
    bad_rows: BadRows | None = None,
    check_multiline: bool = True,
) -> tuple[list[str], list[tuple[int, Row]]]:
    """Read a table into ``(columns, [(line_number, row_dict), ...])``.

    ``line_number`` is the 1-based line of the row in the file (the header is line 1 for CSV/TSV;
    the row index + 1 for Parquet), so errors can point at it. A malformed row (see the module
    docstring) raises, or with ``bad_rows`` given is skipped and recorded in it;
    ``check_multiline=False`` trusts quoted fields that span lines.
    """
    p, kind = _existing(path, fmt)
    if kind == "parquet":
        table = _read_parquet(p)
        return list(table.column_names), [(i + 1, row) for i, row in enumerate(table.to_pylist())]
    if kind == "jsonl":
        return _read_jsonl(p, bad_rows)
    header, records = _read_delimited(p, kind, bad_rows, check_multiline)
    return header, [(n, dict(zip(header, rec, strict=True))) for n, rec in records]


def read_columns(
    path: str | Path,
    fmt: str | None = None,
    *,
    bad_rows: BadRows | None = None,
    check_multiline: bool = True,
) -> Columns:
    """Read a table column by column (see :class:`Columns`). JSONL rows may hold different
    keys: the columns are every key in order of first appearance, None where a row lacks one.
    ``bad_rows``, ``check_multiline``: as for :func:`read_table`."""
    p, kind = _existing(path, fmt)
    if kind == "parquet":
        table = _read_parquet(p)
        numbers = range(1, table.num_rows + 1)
        return Columns(p, list(table.column_names), table.to_pydict(), "row", numbers)
    if kind == "jsonl":
        names, rows = _read_jsonl(p, bad_rows)
        cells = {name: [row.get(name) for _, row in rows] for name in names}
        return Columns(p, names, cells, "line", [n for n, _ in rows])
    header, records = _read_delimited(p, kind, bad_rows, check_multiline)
    cells = {name: [rec[j] for _, rec in records] for j, name in enumerate(header)}
    return Columns(p, header, cells, "line", [n for n, _ in records])


# ----------------------------------------------------------------------------- formats
def _existing(path: str | Path, fmt: str | None) -> tuple[Path, str]:
    p = Path(path)
    if not p.is_file():
        raise data_error(
            str(p),
            "an existing data file",
            "no such file",
            "check the path (relative paths are resolved from the current directory)",
        )
    return p, infer_format(p, fmt)


def _read_parquet(p: Path) -> Any:
    """The file as a ``pyarrow.Table``."""
    pq = import_optional("pyarrow.parquet", f"{p} (Parquet)", "parquet")
    try:
        return pq.read_table(p)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        fix = "check the file (write it again with pyarrow or pandas)"
        raise data_error(str(p), "a Parquet file", str(exc), fix) from None


def _read_text_file(path: Path) -> str:
    """Read a (possibly gzipped) UTF-8 file; invalid UTF-8 raises naming the line."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            got, fix = f"{type(exc).__name__}: {exc}", "compress or download the file again"
            raise data_error(str(path), "a complete gzip file", got, fix) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise data_error(
            f"{path} line {line}",
            "UTF-8 text",
            f"invalid byte {raw[exc.start : exc.start + 1]!r} at byte offset {exc.start}",
            "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None


def _read_jsonl(p: Path, bad_rows: BadRows | None) -> tuple[list[str], list[tuple[int, Row]]]:
    rows: list[tuple[int, Row]] = []
    cols_seen: dict[str, None] = {}
    for lineno, line in enumerate(_read_text_file(p).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            expected, got = "one JSON object per line", f"invalid JSON ({exc.msg})"
        else:
            if isinstance(obj, dict):
                cols_seen.update(dict.fromkeys(obj))
                rows.append((lineno, obj))
                continue
            expected, got = "a JSON object", type(obj).__name__
        if bad_rows is None:
            fix = 'write each line as {"text": ..., "label": ...}, or remove it' + SKIP_HINT
            raise data_error(f"{p} line {lineno}", expected, got, fix)
        bad_rows.add(lineno, got)
    return list(cols_seen), rows


def _read_delimited(
    p: Path, kind: str, bad_rows: BadRows | None, check_multiline: bool
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The stripped header and ``(line, fields)`` of each non-blank record of a CSV / TSV."""
    lines = io.StringIO(_read_text_file(p), newline="").readlines()
    csv.field_size_limit(2**31 - 1)
    reader = DelimitedReader(
        lines,
        str(p),
        kind,
        bad_rows=bad_rows,
        check_multiline=check_multiline,
        seed=lambda: _one_line_records(lines, _DELIMITERS[kind]),
        hint=SKIP_HINT,
    )
    return reader.header, list(reader)


def _one_line_records(lines: list[str], delimiter: str) -> Iterator[list[str]]:
    """The data records of ``lines`` that take one line, read leniently (a first pass that
    tells :class:`DelimitedReader` the values each column holds)."""
    reader = csv.reader(lines, delimiter=delimiter)
    before = 1
    try:
        next(reader, None)  # the header
        for record in reader:
            if reader.line_num == before + 1:
                yield record
            before = reader.line_num
    except csv.Error:
        return


# ----------------------------------------------------------------------------- strict CSV / TSV
_DELIMITERS = {"csv": ",", "tsv": "\t"}
_KEEP_LINES = 5  # line numbers BadRows keeps
_SEEN_VALUES = 1000  # distinct values remembered per column
_SEEN_LENGTH = 100  # longer values (free text) are not remembered


@dataclass
class BadRows:
    """Malformed rows skipped on request (``data.skip_bad_rows = true``): ``count`` of them,
    and ``first``, the ``(line, reason)`` of the first few."""

    count: int = 0
    first: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        if len(self.first) < _KEEP_LINES:
            self.first.append((line, reason))

    def __str__(self) -> str:
        shown = "; ".join(f"line {n} ({why})" for n, why in self.first)
        more = f"; and {self.count - len(self.first)} more" if self.count > len(self.first) else ""
        return f"{self.count} malformed row{'s' * (self.count != 1)} skipped: {shown}{more}"


class _ListLines:
    """Lines held in a list, read by ``csv`` at C speed: a record's lines are sliced out only
    when one is wrong. Lines are numbered from 1."""

    def __init__(self, lines: list[str], delimiter: str):
        self._lines, self._delimiter = lines, delimiter
        self._restart(0)

    def _restart(self, k: int) -> None:
        self._base = self._start = self._end = k
        rest = map(self._lines.__getitem__, range(k, len(self._lines)))
        self._reader = csv.reader(rest, delimiter=self._delimiter, strict=True)

    def read(self) -> list[str]:
        """The next record (StopIteration at the end; csv.Error for a malformed one)."""
        self._start = self._end
        try:
            return next(self._reader)
        finally:
            self._end = self._base + self._reader.line_num

    def span(self) -> int:
        return self._end - self._start

    def last(self) -> int:
        return self._end

    def taken(self) -> list[tuple[int, str]]:
        """``(number, line)`` of the lines the last record took."""
        return [(i + 1, self._lines[i]) for i in range(self._start, self._end)]

    def give_back(self, taken: list[tuple[int, str]]) -> None:
        """Read again from the second of the ``taken`` lines."""
        if len(taken) > 1:
            self._restart(taken[1][0] - 1)


class _StreamLines:
    """The same as :class:`_ListLines` over lines streamed from a file: each line the ``csv``
    reader takes is kept until the record is done, and lines given back are read again."""

    def __init__(self, lines: Iterable[str], delimiter: str):
        self._lines = iter(lines)
        self._back: deque[tuple[int, str]] = deque()
        self._n = 0
        self._taken: list[tuple[int, str]] = []
        self._reader = csv.reader(self, delimiter=delimiter, strict=True)

    def __iter__(self) -> _StreamLines:
        return self

    def __next__(self) -> str:
        if self._back:
            item = self._back.popleft()
        else:
            line = next(self._lines)
            self._n += 1
            item = (self._n, line)
        self._taken.append(item)
        return item[1]

    def read(self) -> list[str]:
        self._taken = []
        return next(self._reader)

    def span(self) -> int:
        return len(self._taken)

    def last(self) -> int:
        return self._taken[-1][0]

    def taken(self) -> list[tuple[int, str]]:
        return list(self._taken)

    def give_back(self, taken: list[tuple[int, str]]) -> None:
        self._back.extendleft(reversed(taken[1:]))


class DelimitedReader:
    """A strict CSV / TSV reader over lines kept with their endings (a list, or an iterable
    streamed from a file opened with ``newline=""``): ``header`` (names stripped), then
    iterating gives ``(line, fields)`` for each data row, rows of a malformed one never merged
    (see the module docstring for the rules). ``where`` names the file in errors. A malformed
    row raises, or with ``bad_rows`` is recorded there and skipped, its later lines read again.
    ``seed``, when given, returns the file's one-line records: called at the first multi-line
    field, so that values of the whole file count as evidence of a swallowed row (without it,
    those of the rows read so far do, as when streaming). ``hint`` is added to each fix."""

    def __init__(
        self,
        lines: Iterable[str],
        where: str,
        kind: str,
        *,
        bad_rows: BadRows | None = None,
        check_multiline: bool = True,
        seed: Callable[[], Iterable[list[str]]] | None = None,
        hint: str = "",
    ):
        self.where, self.kind, self.bad_rows = where, kind, bad_rows
        self.check_multiline, self._seed, self._hint = check_multiline, seed, hint
        self._delimiter = _DELIMITERS[kind]
        self._src: _ListLines | _StreamLines = (
            _ListLines(lines, self._delimiter)
            if isinstance(lines, list)
            else _StreamLines(lines, self._delimiter)
        )
        self._remember_rows = seed is None  # else the seed tells every value at once
        first: list[str] = []
        try:
            while not first:  # blank lines before the header hold nothing
                first = self._src.read()
        except StopIteration:
            raise data_error(where, "a header row", "an empty file", "add a header line") from None
        except csv.Error as exc:
            taken = self._src.taken()
            n = taken[0][0] if taken else 1
            fix = "quote header names that contain the delimiter or quotes"
            expected = f"a valid {kind.upper()} header"
            raise data_error(f"{where} line {n}", expected, str(exc), fix) from None
        self.header = [name.strip() for name in first]
        self._seen: list[set[str]] = [set() for _ in self.header]

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        src = self._src
        if isinstance(src, _ListLines):
            yield from self._iter_list(src)
            return
        while True:
            try:
                record = src.read()
            except StopIteration:
                return
            except csv.Error as exc:
                taken = src.taken()
                self._malformed(taken, self._syntax(exc, taken))
                continue
            if self._accept(record, src):
                yield src.last(), record

    def _iter_list(self, src: _ListLines) -> Iterator[tuple[int, list[str]]]:
        """:meth:`__iter__` for lines in a list: each well-formed one-line record costs a few
        operations; anything else goes the slow way (:meth:`_accept`)."""
        width, remember = len(self.header), self._remember_rows
        while True:
            reader, base = src._reader, src._base
            try:
                for record in reader:
                    end = base + reader.line_num
                    if end - src._end == 1 and len(record) == width:
                        src._start = src._end
                        src._end = end
                        if remember:
                            self._remember(record)
                        yield end, record
                        continue
                    src._start, src._end = src._end, end
                    if self._accept(record, src):
                        yield end, record
                    if src._reader is not reader:  # lines given back: a new reader
                        break
                else:
                    return
            except csv.Error as exc:
                src._start, src._end = src._end, base + reader.line_num
                taken = src.taken()
                self._malformed(taken, self._syntax(exc, taken))

    def _accept(self, record: list[str], src: _ListLines | _StreamLines) -> bool:
        """Whether ``record``, just read, is a row: False for a blank line or a malformed
        record (raised, or recorded and its later lines given back)."""
        width = len(self.header)
        if not record:
            return False
        if len(record) != width:
            taken = src.taken()
            got = f"{len(record)} fields"
            if len(taken) > 1:
                got += f" in a row running from line {taken[0][0]} to line {taken[-1][0]}"
            expected = f"{width} fields like the header ({', '.join(self.header)})"
            fix = "quote fields that contain the delimiter, quotes or newlines, or fix the row"
            self._malformed(taken, (expected, got, f"{len(record)} fields, not {width}"), fix)
            return False
        if src.span() > 1:
            taken = src.taken()
            swallowed = self._swallowed(record, taken)
            if swallowed is not None:
                self._malformed(taken, swallowed)
                return False
        elif self._remember_rows:
            self._remember(record)
        return True

    # -- what is wrong
    def _syntax(self, exc: csv.Error, taken: list[tuple[int, str]]) -> tuple[str, str, str]:
        expected = (
            f"valid {self.kind.upper()}: a quoted field closes with a quote followed by the "
            "delimiter or the end of the line"
        )
        if not taken:
            return expected, str(exc), "invalid"
        start, end = taken[0][0], taken[-1][0]
        if "end of data" in str(exc):
            return expected, f"a quote opened on line {start} never closes", "unclosed quote"
        got = f"{exc} on line {end}"
        if end > start:
            got += f", in a quoted field opened on line {start} (an unclosed quote?)"
            return expected, got, f"unclosed quote ({exc} on line {end})"
        return expected, got, str(exc)

    def _swallowed(
        self, record: list[str], taken: list[tuple[int, str]]
    ) -> tuple[str, str, str] | None:
        """Why a record spanning lines looks like a stray quote swallowing rows, or None."""
        width = len(self.header)
        if not self.check_multiline or width < 2:
            return None
        if self._seed is not None:
            for seeded in self._seed():
                self._remember(seeded)
            self._seed = None
        j = next((i for i, f in enumerate(record) if "\n" in f or "\r" in f), width - 1)
        start, first = taken[0]
        suspect: tuple[int, str] | None = None
        head = self._split(first)
        if len(head) > j:  # the line the quote opens on, the quote read as a stray character
            row = head[:j] + self._split(head[j].rstrip("\r\n"))
            if self._is_row(row, range(j + 1, width)):
                suspect = start, first
        for n, line in taken[1:-1] if suspect is None else ():
            if self._is_row(self._split(line), (i for i in range(width) if i != j)):
                suspect = n, line
                break
        if suspect is None:
            return None
        n, line = suspect
        expected = "a quoted field spanning lines to hold text, not rows"
        got = (
            f"a quote opened on line {start} runs to line {taken[-1][0]}, and line {n} "
            f"reads as a row of its own: {line.rstrip()[:80]!r}"
        )
        return expected, got, "unclosed quote"

    def _split(self, line: str) -> list[str]:
        """One line's fields, read leniently (a quote left open runs to the line's end)."""
        try:
            return next(csv.reader([line], delimiter=self._delimiter), [])
        except csv.Error:
            return []

    def _is_row(self, row: list[str], columns: Iterable[int]) -> bool:
        """``row`` has the header's width and, in one of ``columns``, a value seen there."""
        if len(row) != len(self.header):
            return False
        return any(row[i].strip() in self._seen[i] for i in columns if row[i].strip())

    def _remember(self, record: list[str]) -> None:
        for value, seen in zip(record, self._seen, strict=False):
            value = value.strip()
            if value and len(value) <= _SEEN_LENGTH and len(seen) < _SEEN_VALUES:
                seen.add(value)

    def _malformed(
        self, taken: list[tuple[int, str]], why: tuple[str, str, str], fix: str | None = None
    ) -> None:
        """Raise for a malformed record, or record it and give back all but its first line."""
        expected, got, reason = why
        start = taken[0][0] if taken else 0
        if self.bad_rows is None:
            if fix is None:
                fix = (
                    'close or remove the stray quote (inside a quoted field write a quote as ""),'
                    " and quote fields that contain the delimiter, quotes or newlines"
                )
            if expected.startswith("a quoted field spanning"):
                fix += "; if the field really spans lines, set data.check_multiline = false"
            raise data_error(f"{self.where} line {start}", expected, got, fix + self._hint)
        self.bad_rows.add(start, reason)
        self._src.give_back(taken)
