"""Fixtures of the serve tests: two small text models, trained once per session."""

import pytest

from padless.cli import main


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """{"uni": a unidirectional model (it streams), "bi": a bidirectional one (it cannot)}."""
    from tests.serve.server import BASE

    root = tmp_path_factory.mktemp("serve")
    out = {}
    for name, bi in (("uni", "false"), ("bi", "true")):
        cfg = root / f"{name}.toml"
        cfg.write_text(BASE.format(bi=bi))
        assert main(["-q", "train", str(cfg), "--out", str(root / name)]) == 0
        out[name] = root / name / "model"
    return out


@pytest.fixture(scope="session")
def served(models):
    """(url, process) of one server of the unidirectional model with the default settings,
    shared by the tests that need no flags of their own (read its log with ``log_of``)."""
    from tests.serve.server import server

    with server(models["uni"], env={"CI": ""}) as running:  # not quiet: info logs too
        yield running
