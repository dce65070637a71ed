"""Where examples come from: in-memory datasets and the readers that build them.

Holds :class:`TextDataset` / :class:`SequenceDataset` (``dataset``), the one table reader for
CSV / TSV / JSONL / Parquet (``tables``) over the strict CSV / TSV parser (``delimited``), with
the text-table and long-table readers on top of it (``text_table``, ``long_table``), which
read label cells by the task (``label_cells``), UEA/UCR ``.ts`` files (``ts``), IMDB
(``imdb``), seeded synthetic tasks (``synthetic``), the NaN / empty-sequence policies of
numeric data (``numeric``) and the registry of ``[data] source`` names with what a DATA
argument means (``sources``).

May import: :mod:`padless.errors`, :mod:`padless.lazy`, numpy; :mod:`padless.config` for type
annotations only (config imports the source registry). Never torch.
"""

from typing import TYPE_CHECKING

from padless.lazy import exports

if TYPE_CHECKING:
    from padless.data.dataset import SequenceDataset, TextDataset, assign_validation
    from padless.data.imdb import download, imdb_sample
    from padless.data.long_table import read_long_table
    from padless.data.sources import SOURCES, load_data, resolve_data
    from padless.data.synthetic import adding_problem, make_splits, running_sum_mod, sum_mod
    from padless.data.tables import infer_format, read_columns, read_table
    from padless.data.text_table import read_text_table
    from padless.data.ts import read_ts, read_ts_pair

_EXPORTS = {
    "TextDataset": "dataset",
    "SequenceDataset": "dataset",
    "assign_validation": "dataset",
    "read_table": "tables",
    "infer_format": "tables",
    "read_columns": "tables",
    "read_text_table": "text_table",
    "read_long_table": "long_table",
    "read_ts": "ts",
    "read_ts_pair": "ts",
    "imdb_sample": "imdb",
    "download": "imdb",
    "sum_mod": "synthetic",
    "adding_problem": "synthetic",
    "running_sum_mod": "synthetic",
    "make_splits": "synthetic",
    "load_data": "sources",
    "resolve_data": "sources",
    "SOURCES": "sources",
}
__all__ = [
    "SOURCES",
    "SequenceDataset",
    "TextDataset",
    "adding_problem",
    "assign_validation",
    "download",
    "imdb_sample",
    "infer_format",
    "load_data",
    "make_splits",
    "read_columns",
    "read_long_table",
    "read_table",
    "read_text_table",
    "read_ts",
    "read_ts_pair",
    "resolve_data",
    "running_sum_mod",
    "sum_mod",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)
