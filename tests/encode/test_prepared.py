"""padless.encode.prepared: the cached data stage gives exactly what the in-memory one gives,
reuses a verified store without reading the data, rebuilds a damaged one, and two processes on
the same data build it once."""

import logging
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pytest

import padless.data.imdb as imdb
import padless.encode.prepared as prepared_mod
from padless.config import load_config
from padless.encode.prepared import prepare, store_directory
from padless.encode.splits import prepare_in_memory
from padless.encode.store import StoredSplit

SHARED_TS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ts"


def _sample(tmp_path, *sets):
    return load_config(
        None, ["data.source=imdb-sample", "data.limit=300", f"data.cache_dir={tmp_path}", *sets]
    )


def _long_table(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["id,t,a,b,label,split"]
    for s in range(40):
        split = "test" if s % 5 == 0 else "train"
        for t in range(int(rng.integers(1, 7))):
            lines.append(f"s{s},{t},{rng.normal():.4f},{rng.normal():.4f},c{s % 3},{split}")
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_same_splits(a, b):
    assert a.labels == b.labels and a.pipeline.to_dict() == b.pipeline.to_dict()
    assert list(a.splits) == list(b.splits)
    for name, sa in a.splits.items():
        sb = b.splits[name]
        assert list(sa.rows) == list(sb.rows)
        np.testing.assert_array_equal(sa.lengths(), sb.lengths())
        for (xa, ya), (xb, yb) in zip(
            sa.samples(range(len(sa))), sb.samples(range(len(sb))), strict=True
        ):
            np.testing.assert_array_equal(np.asarray(xa), np.asarray(xb))
            np.testing.assert_array_equal(np.asarray(ya), np.asarray(yb))


def _configs(tmp_path):
    yield _sample(tmp_path)
    yield load_config(
        None,
        [
            "data.source=long_table",
            f"data.path={_long_table(tmp_path)}",
            "data.id_column=id",
            "data.step_column=t",
            f"data.cache_dir={tmp_path}",
        ],
    )
    if (SHARED_TS / "JapaneseVowels").exists():
        path = SHARED_TS / "JapaneseVowels"
        yield load_config(
            None, ["data.source=ts", f"data.path={path}", f"data.cache_dir={tmp_path}"]
        )


def test_the_store_gives_exactly_the_in_memory_splits(tmp_path):
    for cfg in _configs(tmp_path):
        memory = prepare_in_memory(cfg)
        built, reused = prepare(cfg), prepare(cfg)
        for stored in (built, reused):
            assert all(isinstance(s, StoredSplit) for s in stored.splits.values())
            assert_same_splits(memory, stored)


def test_a_second_run_reads_neither_the_data_nor_the_pipeline_fit(tmp_path, monkeypatch):
    cfg = _sample(tmp_path)
    first = prepare(cfg)

    def fail(cfg):
        raise AssertionError("the data was prepared again")

    monkeypatch.setattr(prepared_mod, "prepare_in_memory", fail)
    assert_same_splits(first, prepare(cfg))


def test_a_warm_run_hashes_no_store_file(tmp_path, monkeypatch):
    cfg = _sample(tmp_path)
    prepare(cfg)
    time.sleep(0.05)  # past the build's timestamp tick: its stamps vouch (padless.encode.stamps)
    prepare(cfg)  # stamps again what the build wrote in its stamps' tick, if anything
    read = []
    real = imdb.sha256_file
    monkeypatch.setattr(imdb, "sha256_file", lambda path: read.append(path) or real(path))
    assert_same_splits(prepare_in_memory(cfg), prepare(cfg))
    assert not [p for p in read if store_directory(cfg) in Path(p).parents]


def test_a_damaged_store_is_rebuilt_with_a_warning(tmp_path, caplog):
    cfg = _sample(tmp_path)
    prepare(cfg)
    first = prepare_in_memory(cfg)  # the mapped store would see the bytes flipped below
    directory = store_directory(cfg)
    path = directory / "train.arrow"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        again = prepare(cfg)
    assert "unusable" in caplog.text and "sha256" in caplog.text
    assert_same_splits(first, again)
    assert "unusable" not in _log_of(lambda: prepare(cfg), caplog)


def _log_of(fn, caplog):
    caplog.clear()
    with caplog.at_level(logging.INFO):
        fn()
    return caplog.text


def test_a_build_left_by_a_dead_run_is_cleared(tmp_path):
    cfg = _sample(tmp_path)
    directory = store_directory(cfg)
    leftover = directory.with_name(f".{directory.name}.99999.tmp")
    leftover.mkdir(parents=True)
    (leftover / "train.arrow").write_bytes(b"half")
    prepare(cfg)
    assert not leftover.exists() and (directory / "store.json").is_file()


def test_no_store_without_the_cache_or_for_synthetic_data(tmp_path):
    assert store_directory(_sample(tmp_path, "data.cache=false")) is None
    synthetic = load_config(None, ["data.source=sum_mod", "data.train_size=20"])
    assert store_directory(synthetic) is None
    prepare(_sample(tmp_path, "data.cache=false"))
    assert not (tmp_path / "stores").exists()


def _prepare_in_child(cache_dir, queue):
    """Prepare the sample, the in-memory stage slowed down so the runs overlap; report the
    log lines and a digest of the splits."""
    import time

    import padless.encode.prepared as mod

    real = mod.prepare_in_memory

    def slow(cfg):
        time.sleep(1.0)
        return real(cfg)

    mod.prepare_in_memory = slow
    records = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    logging.getLogger("padless").addHandler(handler)
    logging.getLogger("padless").setLevel(logging.INFO)
    cfg = load_config(
        None, ["data.source=imdb-sample", "data.limit=300", f"data.cache_dir={cache_dir}"]
    )
    prep = mod.prepare(cfg)
    lengths = prep.splits["train"].lengths()
    queue.put((records, int(lengths.sum()), int(prep.splits["train"].inputs[0].sum())))


def test_two_concurrent_runs_build_the_store_once_and_agree(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_prepare_in_child, args=(tmp_path, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    built = [r for r in results if any("cached the encoded splits" in m for m in r[0])]
    reused = [r for r in results if any("from the cache" in m for m in r[0])]
    assert len(built) == 1 and len(reused) == 1, [r[0] for r in results]
    assert results[0][1:] == results[1][1:]
    assert len(list((tmp_path / "stores").glob("*/store.json"))) == 1


@pytest.mark.slow
def test_training_from_the_store_equals_training_from_memory(tmp_path):
    from padless.train.loop import train

    sets = [
        "data.source=imdb-sample",
        "data.limit=200",
        f"data.cache_dir={tmp_path / 'cache'}",
        "text.max_size=500",
        "text.max_length=40",
        "model.embedding_dim=8",
        "model.hidden_size=8",
        "train.epochs=2",
        "train.device=cpu",
    ]
    stored = train(load_config(None, sets), tmp_path / "a", quiet=True)
    memory = train(load_config(None, [*sets, "data.cache=false"]), tmp_path / "b", quiet=True)
    for split in ("train", "valid", "test"):
        assert stored[split] == memory[split]
    assert [h["train_loss"] for h in stored["history"]] == [
        h["train_loss"] for h in memory["history"]
    ]
