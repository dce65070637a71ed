"""Strict CSV / TSV rows: a stray quote never merges rows.

The parser under every CSV / TSV padless reads: whole files held in memory through
:func:`padless.data.tables.read_table` and :func:`~padless.data.tables.read_columns`
(:func:`read_records`), files streamed by ``padless predict`` (:mod:`padless.deploy.inputs`)
and the IMDB CSV (:mod:`padless.data.imdb`) (:class:`DelimitedReader`). Each data row keeps its
1-based line in the file (the header is line 1; a row spanning lines has the number of its last
line); blank lines hold no row and header names are stripped of surrounding spaces.

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

A malformed row raises naming the file and the line it starts on, with what was expected and
the fix. Passing ``bad_rows=BadRows()`` (``data.skip_bad_rows = true``) skips and records it
instead: only its first line is dropped and the lines after it are read again, so rows a stray
quote swallowed are kept.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter

from padless.errors import data_error

_DELIMITERS = {"csv": ",", "tsv": "\t"}
_KEEP_LINES = 5  # line numbers BadRows keeps
_SEEN_VALUES = 1000  # distinct values remembered per column
_SEEN_LENGTH = 100  # longer values (free text) are not remembered
_REMEMBER_AT_ONCE = 4096  # one-line records whose values are remembered together


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


class _BlockLines(_ListLines):
    """The same as :class:`_ListLines` over lines streamed from a file (any iterable of lines):
    ``BLOCK`` lines at a time are appended to a window that ``csv`` reads at C speed. When the
    next block comes, the lines before the record being read are dropped, so the window holds
    about a block; lines given back are read again from it."""

    BLOCK = 4096

    def __init__(self, lines: Iterable[str], delimiter: str):
        self._source = iter(lines)
        self._offset = 0  # lines dropped from the window's front
        super().__init__([], delimiter)

    def _restart(self, k: int) -> None:
        self._base = self._start = self._end = k
        self._reader = csv.reader(self._feed(k), delimiter=self._delimiter, strict=True)

    def _feed(self, k: int) -> Iterator[str]:
        yield from self._lines[k - self._offset :]
        while block := list(itertools.islice(self._source, self.BLOCK)):
            drop = self._end - self._offset  # self._end: where the record being read starts
            self._lines = self._lines[drop:] + block if drop else self._lines + block
            self._offset += drop
            yield from block

    def taken(self) -> list[tuple[int, str]]:
        return [(i + 1, self._lines[i - self._offset]) for i in range(self._start, self._end)]


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
        self._src = (
            _ListLines(lines, self._delimiter)
            if isinstance(lines, list)
            else _BlockLines(lines, self._delimiter)
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
        """Each well-formed one-line record costs a few operations (the values of a few
        thousand are remembered at once: :meth:`_remember_all`); anything else goes the slow
        way (:meth:`_accept`)."""
        src, width = self._src, len(self.header)
        pending: list[list[str]] = []  # one-line records whose values are not remembered yet
        remember = pending.append if self._remember_rows else None
        while True:
            reader, base = src._reader, src._base
            try:
                for record in reader:
                    end = base + reader.line_num
                    if end - src._end == 1 and len(record) == width:
                        src._start = src._end
                        src._end = end
                        if remember is not None:
                            remember(record)
                            if len(pending) >= _REMEMBER_AT_ONCE:
                                self._remember_all(pending)
                        yield end, record
                        continue
                    self._remember_all(pending)  # the evidence _accept may need
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

    def _accept(self, record: list[str], src: _ListLines) -> bool:
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
        """Keep the short values of ``record`` as evidence of a swallowed row (at most
        ``_SEEN_VALUES`` per column, the first ones seen)."""
        for value, seen in zip(record, self._seen, strict=False):
            if len(seen) < _SEEN_VALUES:
                _remember_value(value, seen)

    def _remember_all(self, records: list[list[str]]) -> None:
        """:meth:`_remember` each of ``records`` (one-line, the header's width), in order, then
        empty the list: a column's distinct values at once, unless they could fill its set
        (the first ones seen must win, so those go one record at a time)."""
        for j, seen in enumerate(self._seen):
            if len(seen) >= _SEEN_VALUES or not records:
                continue
            distinct = set(map(itemgetter(j), records))
            new = {
                v.strip()
                for v in distinct
                if len(v) <= _SEEN_LENGTH or v[0].isspace() or v[-1].isspace()
            }
            new = {v for v in new if v and len(v) <= _SEEN_LENGTH} - seen
            if len(seen) + len(new) <= _SEEN_VALUES:
                seen |= new
                continue
            for record in records:
                if len(seen) >= _SEEN_VALUES:
                    break
                _remember_value(record[j], seen)
        records.clear()

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


def _remember_value(value: str, seen: set[str]) -> None:
    if len(value) > _SEEN_LENGTH and not (value[0].isspace() or value[-1].isspace()):
        return  # free text: too long to remember, and stripping would copy it
    value = value.strip()
    if value and len(value) <= _SEEN_LENGTH:
        seen.add(value)


def read_records(
    lines: list[str],
    where: str,
    kind: str,
    *,
    bad_rows: BadRows | None = None,
    check_multiline: bool = True,
    hint: str = "",
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The stripped header and ``(line, fields)`` of each non-blank record of a whole CSV / TSV
    held in memory (``lines`` kept with their endings): the values of every one-line record of
    the file count as evidence of a swallowed row. The rest as for :class:`DelimitedReader`."""
    csv.field_size_limit(2**31 - 1)
    reader = DelimitedReader(
        lines,
        where,
        kind,
        bad_rows=bad_rows,
        check_multiline=check_multiline,
        seed=lambda: _one_line_records(lines, _DELIMITERS[kind]),
        hint=hint,
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
