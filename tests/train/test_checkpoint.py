"""Checkpoints round-trip training state exactly, survive crashes and never unpickle code."""

import logging
import math
import os
import pickle
import random
import shlex
from collections import OrderedDict, defaultdict
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau

from padless import __version__
from padless.errors import ArtifactError
from padless.train.checkpoint import CheckpointManager, capture_rng, restore_rng

# ---------------------------------------------------------------- weights_only types


def _weights_only_round_trip(obj, path):
    torch.save(obj, path)
    return torch.load(path, weights_only=True)


def test_plain_types_survive_weights_only(tmp_path):
    value = {
        "big": 2**200,
        "negbig": -(2**70),
        "u32": 2**32 - 1,
        "inf": float("inf"),
        "ninf": float("-inf"),
        "none": None,
        "str": "ü",
        "bytes": b"\x00\xff",
        "complex": 1 + 2j,
        "tuple": (1, (2.5, None)),
        "set": {1, 2},
        "od": OrderedDict(a=1),
        "size": torch.Size([2, 3]),
        "dtype": torch.bfloat16,
        "device": torch.device("cpu"),
        "intkeys": {0: [1], 1: [True]},
    }
    back = _weights_only_round_trip({**value, "nan": float("nan")}, tmp_path / "a.pt")
    assert math.isnan(back.pop("nan"))
    assert back == value and type(back["od"]) is OrderedDict and type(back["tuple"]) is tuple
    param = _weights_only_round_trip(nn.Parameter(torch.ones(2)), tmp_path / "p.pt")
    assert type(param) is nn.Parameter and torch.equal(param, torch.ones(2))
    # save() accepts all of them too
    CheckpointManager(tmp_path / "ck").save(1, {**value, "p": nn.Parameter(torch.ones(2))})


@pytest.mark.parametrize(
    "value",
    [np.float64(1.0), np.int64(3), np.zeros(2), defaultdict(int), Fraction(1, 3)],
    ids=["np.float64", "np.int64", "ndarray", "defaultdict", "Fraction"],
)
def test_save_refuses_what_weights_only_refuses(tmp_path, value):
    with pytest.raises(pickle.UnpicklingError):
        _weights_only_round_trip({"v": value}, tmp_path / "a.pt")
    mgr = CheckpointManager(tmp_path / "ck")
    with pytest.raises(TypeError, match=r"\['v'\].*weights_only"):
        mgr.save(1, {"v": value})
    assert mgr.latest() is None


# ---------------------------------------------------------------- RNG


def _draws():
    return (
        random.random(),
        random.gauss(0, 1),
        np.random.standard_normal(3).tolist(),
        np.random.randint(0, 1000, 3).tolist(),
        torch.rand(3).tolist(),
        torch.randn(2).tolist(),
    )


@pytest.mark.parametrize("bit_generator", ["MT19937", "PCG64"])
def test_rng_round_trip(tmp_path, bit_generator):
    old = np.random.get_bit_generator()
    if bit_generator != "MT19937":
        np.random.set_bit_generator(np.random.PCG64(7))
    try:
        random.seed(1)
        if bit_generator == "MT19937":
            np.random.seed(2)
        torch.manual_seed(3)
        random.gauss(0, 1)  # leaves a cached second gaussian in random's state
        np.random.standard_normal()  # and in NumPy's
        state = _weights_only_round_trip(capture_rng(), tmp_path / "rng.pt")
        expected = _draws()
        random.seed(9)
        np.random.seed(9)
        torch.manual_seed(9)
        assert _draws() != expected
        restore_rng(state)
        assert _draws() == expected
    finally:
        np.random.set_bit_generator(old)


def test_cuda_rng_states_are_captured_and_restored(tmp_path, monkeypatch):
    """No GPU here: fake torch.cuda and check the states travel through the file."""
    fake = [torch.full((16,), 7, dtype=torch.uint8), torch.full((16,), 9, dtype=torch.uint8)]
    restored = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: fake)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device: restored.update({device: s}))
    state = _weights_only_round_trip(capture_rng(), tmp_path / "rng.pt")
    restore_rng(state)
    assert sorted(restored) == [0, 1]
    assert all(torch.equal(restored[i], fake[i]) for i in range(2))


# ---------------------------------------------------------------- full training state

METRICS = [1.0, 0.9, 0.95, 0.97, 0.8, 0.85, 0.9, 0.95, 0.99, 0.7]


def _build(kind, seed):
    torch.manual_seed(seed)
    model = nn.ModuleDict({"lstm": nn.LSTM(3, 5, batch_first=True), "head": nn.Linear(5, 2)})
    opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
    if kind == "plateau":
        sched = ReduceLROnPlateau(opt, factor=0.5, patience=0)
    elif kind == "cosine":
        sched = CosineAnnealingLR(opt, T_max=6, eta_min=1e-4)
    else:
        sched = OneCycleLR(opt, max_lr=0.05, total_steps=len(METRICS))
    return model, opt, sched


def _step(model, opt, sched, kind, i):
    noise = float(np.random.rand()) * random.random()
    x, y = torch.randn(4, 6, 3) + noise, torch.randint(0, 2, (4,))
    out, _ = model["lstm"](x)
    loss = F.cross_entropy(model["head"](out[:, -1]), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if kind == "plateau":
        sched.step(METRICS[i])
    else:
        sched.step()
    return opt.param_groups[0]["lr"], [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("kind", ["plateau", "cosine", "onecycle"])
def test_resume_matches_uninterrupted_run(tmp_path, kind):
    mgr = CheckpointManager(tmp_path / "checkpoints")
    model, opt, sched = _build(kind, 0)
    for i in range(4):
        _step(model, opt, sched, kind, i)
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "rng": capture_rng(),
        "step": 4,
    }
    path = mgr.save(1, state)
    reference = [_step(model, opt, sched, kind, i) for i in range(4, len(METRICS))]
    assert len({lr for lr, _ in reference}) > 1  # the schedule really moves

    random.seed(5)
    np.random.seed(5)
    model2, opt2, sched2 = _build(kind, 1)  # different init and RNG
    ck = mgr.load()
    assert ck["format"] == "padless-checkpoint" and ck["version"] == 1
    assert ck["padless_version"] == __version__ and ck["epoch"] == 1
    assert ck["scheduler"] == torch.load(path, weights_only=True)["scheduler"]
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["optimizer"])
    sched2.load_state_dict(ck["scheduler"])
    restore_rng(ck["rng"])
    resumed = [_step(model2, opt2, sched2, kind, i) for i in range(ck["step"], len(METRICS))]
    for (lr, params), (lr2, params2) in zip(reference, resumed, strict=True):
        assert lr == lr2
        assert all(torch.equal(a, b) for a, b in zip(params, params2, strict=True))


# ---------------------------------------------------------------- crashes and corruption


def test_crash_leftovers_fall_back_to_previous(tmp_path, caplog):
    mgr = CheckpointManager(tmp_path / "checkpoints", keep=3)
    mgr.save(1, {"x": torch.tensor([1.0])})
    p2 = mgr.save(2, {"x": torch.tensor([2.0])})
    data = p2.read_bytes()
    temp = mgr.directory / ".epoch-0004.pt.k1ll3d.tmp"  # killed before os.replace
    temp.write_bytes(data[:100])
    p3 = mgr.path_for(3)
    p3.write_bytes(data[: len(data) // 2])  # truncated (e.g. copied by hand, disk full)
    assert mgr.latest() == p3
    with caplog.at_level(logging.WARNING, logger="padless.train.checkpoint"):
        ck = mgr.load()
    assert ck["epoch"] == 2 and torch.equal(ck["x"], torch.tensor([2.0]))
    assert "epoch-0003.pt" in caplog.text and "falling back to epoch-0002.pt" in caplog.text
    for size in (0, 10, len(data) // 2, len(data) - 30):
        p3.write_bytes(data[:size])
        with pytest.raises(ArtifactError, match=r"epoch-0003\.pt.*unreadable.*without --resume"):
            mgr.load(p3)
    # the next save replaces the bad file and clears the leftover temp file
    mgr.save(3, {"x": torch.tensor([3.0])})
    assert mgr.load()["epoch"] == 3 and not temp.exists()


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    mgr = CheckpointManager(tmp_path / "checkpoints")
    p1 = mgr.save(1, {"x": 1})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        mgr.save(2, {"x": 2})
    monkeypatch.undo()
    assert mgr.latest() == p1 and mgr.load()["x"] == 1
    assert sorted(p.name for p in mgr.directory.iterdir()) == ["epoch-0001.pt"]


def test_every_checkpoint_bad_or_missing(tmp_path):
    mgr = CheckpointManager(tmp_path / "checkpoints")
    with pytest.raises(ArtifactError, match="no such directory.*without --resume"):
        mgr.load()
    with pytest.raises(ArtifactError, match="no such file"):
        mgr.load(tmp_path / "epoch-0001.pt")
    mgr.directory.mkdir()
    assert mgr.latest() is None
    with pytest.raises(ArtifactError, match="no checkpoints"):
        mgr.load()
    torch.save({"weights": torch.ones(1)}, mgr.path_for(1))
    with pytest.raises(ArtifactError, match="padless-checkpoint file, got format None"):
        mgr.load()
    torch.save({"format": "padless-checkpoint", "version": 2}, mgr.path_for(2))
    with pytest.raises(ArtifactError, match="version 1, got version 2"):
        mgr.load(mgr.path_for(2))
    with pytest.raises(ArtifactError, match="2 unreadable ones"):
        mgr.load()


def test_save_rejects_reserved_keys_and_bad_keep(tmp_path):
    mgr = CheckpointManager(tmp_path)
    with pytest.raises(ValueError, match="reserved"):
        mgr.save(1, {"format": "mine"})
    with pytest.raises(ValueError, match="epoch"):
        mgr.save(1, {"epoch": 2})
    with pytest.raises(ValueError, match="keep"):
        CheckpointManager(tmp_path, keep=0)


def test_keep_prunes_oldest_by_epoch_number(tmp_path):
    mgr = CheckpointManager(tmp_path / "checkpoints", keep=2)
    for epoch in range(1, 6):
        mgr.save(epoch, {"epoch": epoch})
    assert [p.name for p in mgr.checkpoints()] == ["epoch-0004.pt", "epoch-0005.pt"]
    one = CheckpointManager(tmp_path / "one", keep=1)
    one.save(9999, {})
    one.save(10000, {})  # sorts numerically, not as text
    assert [p.name for p in one.checkpoints()] == ["epoch-10000.pt"]
    assert one.load()["epoch"] == 10000


# ---------------------------------------------------------------- malicious files


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


@pytest.mark.skipif(os.name == "nt", reason="payload uses touch")
def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    mgr = CheckpointManager(tmp_path / "checkpoints")
    mgr.directory.mkdir()
    raw = pickle.dumps(Payload(marker), protocol=2)
    mgr.path_for(1).write_bytes(raw)  # a bare pickle
    disguised = {"format": "padless-checkpoint", "version": 1, "model": Payload(marker)}
    torch.save(disguised, mgr.path_for(2))  # a real torch zip file
    for path in (mgr.path_for(1), mgr.path_for(2)):
        with pytest.raises(ArtifactError, match="unreadable.*(posix|os).system"):
            mgr.load(path)
    with pytest.raises(ArtifactError):
        mgr.load()
    assert not marker.exists()
    pickle.loads(raw)  # the payload is live: an unrestricted unpickler runs it
    assert marker.exists()
