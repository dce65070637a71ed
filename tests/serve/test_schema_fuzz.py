"""The real server against its own OpenAPI schema, with schemathesis: requests generated from
``/openapi.json`` (boundary coverage of every keyword, random fuzzing, and stateful chains
through the sessions' links), valid and invalid ones, each response run through every check
(``--checks all``: no 5xx, documented status, content type, headers and body; valid data
accepted, invalid data rejected; unsupported methods 405 with ``Allow``; ...). Bounded by a
fixed seed and ``--max-examples``; ``fuzz_hooks.py`` says which generated texts it sets aside
and why."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("schemathesis")
pytest.importorskip("httpx")

from tests.serve.server import log_of, metric  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_server_conforms_to_its_own_openapi_schema(served, models, tmp_path):
    url, proc = served
    start = len(log_of(proc))
    report = tmp_path / "report"
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        url + "/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "30",
        "--seed",
        "1",
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--generation-database",
        "none",
        "--report",
        "json",
        "--report-dir",
        str(report),
        "--no-color",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "SCHEMATHESIS_HOOKS": "tests.serve.fuzz_hooks",
        "PADLESS_FUZZ_MODEL": str(models["uni"]),
    }
    run = subprocess.run(
        cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False
    )
    output = run.stdout[-6000:] + run.stderr[-3000:]
    (path,) = report.glob("*.json")
    result = json.loads(path.read_text())
    cases = result["test_cases"]
    assert run.returncode == 0 and result["failures"] == [] and result["errors"] == [], output
    assert cases["with_failures"] == 0 and cases["errored"] == 0, output
    assert cases["generated"] >= 200, cases  # it did run: coverage, fuzzing and stateful
    assert result["operations"]["tested"] == result["operations"]["total"] == 7, output
    for phase in ("coverage", "fuzzing", "stateful"):
        assert result["phases"][phase]["status"] == "success", (phase, output)
    print(f"schemathesis: {cases['generated']} cases, 0 failures")  # noqa: T201
    assert "Traceback" not in log_of(proc, start)
    assert (
        metric(url, 'padless_requests_total{method="POST",route="/v1/predict",status="500"}', 0)
        == 0
    )
