"""The setup phase: a run's parts built from the config, before any checkpoint is read."""

import contextlib

import pytest
import torch
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

from padless.config import load_config
from padless.errors import ConfigError
from padless.train.distributed import World
from padless.train.run import build_run


def tiny(*extra):
    return load_config(
        None,
        [
            "data.source=sum_mod",
            "data.modulus=3",
            "data.train_size=60",
            "data.valid_size=20",
            "data.test_size=20",
            "data.max_length=8",
            "model.embedding_dim=8",
            "model.hidden_size=8",
            *extra,
        ],
    )


def test_a_single_process_run_trains_the_model_itself(tmp_path):
    run = build_run(tiny(), tmp_path / "out", True, World())
    assert run.forward is run.model and run.ddp is None and run.scaler is None
    assert isinstance(run.scheduler, ReduceLROnPlateau) and not run.per_step
    assert (run.monitor, run.book.mode, run.task) == ("accuracy", "max", "multiclass")
    assert run.checkpoints.directory == tmp_path / "out" / "checkpoints"
    assert run.lengths.tolist() == run.train_split.lengths().tolist()
    assert run.pad_to is None and isinstance(run.autocast(), contextlib.nullcontext)
    assert next(run.model.parameters()).device == run.device == torch.device("cpu")


def test_the_seed_fixes_the_initial_weights(tmp_path):
    a, b = (build_run(tiny("train.seed=5"), tmp_path / n, True, World()) for n in "ab")
    c = build_run(tiny("train.seed=6"), tmp_path / "c", True, World())
    wa, wb, wc = (dict(r.model.state_dict()) for r in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_compile_pads_batches_and_wraps_the_forward(tmp_path):
    run = build_run(tiny("train.compile=true", "train.scheduler=cosine"), tmp_path, True, World())
    assert run.pad_to == 64 and run.forward is not run.model
    assert isinstance(run.scheduler, LambdaLR) and run.per_step


def test_bf16_autocast_on_cpu(tmp_path):
    run = build_run(tiny("train.amp=bf16"), tmp_path, True, World())
    with run.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


def test_pretraining_under_torchrun_is_refused_before_loading_data(tmp_path):
    table = ["data.source=table", f"data.path={tmp_path / 'missing.csv'}"]  # never read
    cfg = load_config(None, [*table, "pretrain.epochs=1", "model.hidden_size=8"])
    with pytest.raises(ConfigError, match="pretrain.epochs"):
        build_run(cfg, tmp_path, True, World(rank=0, size=2))


def test_ddp_takes_the_counting_gradient_hook(tmp_path):
    """DDP checks a comm hook's runtime annotations; a one-process gloo group runs the hook."""
    import torch.distributed as dist

    from padless.train.run import _distribute

    if not dist.is_available():
        pytest.skip("torch built without distributed support")
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        run = build_run(tiny(), tmp_path, True, World())
        two = World(rank=0, size=2)  # what torchrun's rank 0 sees; the group itself has one
        ddp, syncs = _distribute(run.model, run.cfg.train, two, run.device)
        assert ddp is not None and syncs.count == 0
        batch = torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2])
        ddp(*batch).sum().backward()
        synced = syncs.count
        assert synced >= 1  # one all-reduce per gradient bucket
        with ddp.no_sync():  # an accumulation step before the last: gradients stay local
            ddp(*batch).sum().backward()
        assert syncs.count == synced
    finally:
        dist.destroy_process_group()
