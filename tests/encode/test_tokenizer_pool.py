"""padless.encode.tokenizer_pool: worker processes tokenize chunks exactly as this process
does, hand results back in order, fail loudly, and never re-run the caller's script."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from padless.encode.text import clean_batch, split_words
from padless.encode.tokenizer_pool import Codes, TokenizerPool, tokenize_chunk, word_codes

TEXT = st.lists(
    st.sampled_from(
        list("ab Z'_-.,!\x00\t<>&;éß\u0301\u00a0日本\ud800") + ["don't", "<br/>", "&amp;"]
    ),
    max_size=30,
).map("".join)


@pytest.fixture(scope="module")
def pool():
    with TokenizerPool(2, lowercase=True, strip_html=True) as p:
        yield p


@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.lists(TEXT, max_size=8), max_size=5))
def test_results_equal_this_process_in_order(pool, chunks):
    """Any texts (``\\x00``, lone surrogates, combining marks, HTML): the words, indices
    and counts of each chunk equal :func:`tokenize_chunk` here, in the chunks' order."""
    got = list(pool.imap(enumerate(chunks)))
    assert [k for k, _ in got] == list(range(len(chunks)))
    for (_, (words, local, counts)), texts in zip(got, chunks, strict=True):
        want_words, want_local, want_counts = tokenize_chunk(texts, True, True)
        assert words == want_words
        np.testing.assert_array_equal(local, want_local)
        np.testing.assert_array_equal(counts, want_counts)


def test_a_dead_worker_raises_naming_it():
    with TokenizerPool(2, lowercase=True, strip_html=True) as p:
        p._procs[1].kill()
        p._procs[1].wait()
        with pytest.raises(RuntimeError, match="tokenizer worker 1 failed: it exited"):
            list(p.imap((i, ["some text"] * 1000) for i in range(4)))


def test_a_script_without_a_main_guard_runs_once(tmp_path):
    """Workers are ``python -m`` subprocesses, not multiprocessing's spawn: the caller's
    script is not imported again (it would run its training a second time, or fail)."""
    data = tmp_path / "t.csv"
    data.write_text("text,label\n" + "".join(f"word{i % 9} more text,{i % 2}\n" for i in range(50)))
    script = tmp_path / "train_me.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from padless.config import load_config
            from padless.encode.prepared import prepare
            print("script ran")
            cfg = load_config(None, ["data.source=table", "data.path={data}",
                "data.cache_dir={tmp_path / "cache"}", "data.encode_workers=2"])
            print(sorted(prepare(cfg).splits))
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["script ran", "['train', 'valid']"]


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT, max_size=12))
def test_word_codes_equal_split_words_then_codes(texts):
    cleaned = clean_batch(texts, lowercase=True, strip_html=True)
    fast_codes, slow_codes = Codes(), Codes()
    ids, counts = word_codes(cleaned, fast_codes)
    tokens, want_counts = split_words(cleaned)
    np.testing.assert_array_equal(counts, want_counts)
    np.testing.assert_array_equal(ids, slow_codes.codes(tokens))
    assert fast_codes.values == slow_codes.values  # first-appearance order


def test_no_worker_processes_means_tokenizing_here(tmp_path, monkeypatch, caplog):
    """Where no process can be started, the build tokenizes in this process and says so."""
    from padless.config import load_config
    from padless.encode import tokenizer_pool
    from padless.encode.prepared import prepare
    from padless.encode.splits import prepare_in_memory
    from tests.encode.test_prepared import assert_same_splits

    data = tmp_path / "t.csv"
    data.write_text("text,label\n" + "".join(f"word{i % 9} more text,{i % 2}\n" for i in range(50)))
    cfg = load_config(
        None,
        [
            "data.source=table",
            f"data.path={data}",
            f"data.cache_dir={tmp_path / 'cache'}",
            "data.encode_workers=2",
        ],
    )

    def refuse(*args, **kwargs):
        raise PermissionError("no processes here")

    monkeypatch.setattr(tokenizer_pool.subprocess, "Popen", refuse)
    with caplog.at_level("WARNING"):
        stored = prepare(cfg)
    assert "tokenizing in this process: no worker processes" in caplog.text
    assert_same_splits(prepare_in_memory(cfg), stored)
