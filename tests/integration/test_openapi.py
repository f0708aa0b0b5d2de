"""schemas/openapi.yaml against a live ingest, with schemathesis (from PyPI,
installed by compose/deps.sh): generated valid and invalid requests, every
check, a bounded number of examples (tests/integration/schemathesis.toml)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, SECRET_KEY
from test_ingest import start_ingest

VENV = ROOT / "compose" / ".cache" / "schemathesis" / "bin" / "schemathesis"


def schemathesis():
    found = shutil.which("schemathesis")
    if found:
        return found
    if VENV.exists():
        return str(VENV)
    pytest.fail("schemathesis is missing: compose/deps.sh installs it")


def test_the_api_is_what_openapi_says(start_stage, tmp_path):
    # Development settings: the generated webhook URLs name hosts that do
    # not resolve or are private, which production refuses (422) on purpose.
    _, api = start_ingest(start_stage, FERRY_ALLOW_PRIVATE_NETWORKS="1",
                          FERRY_WEBHOOK_ALLOW_HTTP="1", FERRY_SECRET_KEY=SECRET_KEY)
    cmd = [schemathesis(), "--config-file", str(Path(__file__).with_name("schemathesis.toml")),
           "run", str(ROOT / "schemas" / "openapi.yaml"), "--url", api.base,
           "-H", "Authorization: Bearer key-acme", "--no-color",
           "--generation-database", "none", "--seed", os.environ.get("FERRY_ST_SEED", "7")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    tail = out.stdout[-6000:] + out.stderr[-2000:]
    assert out.returncode == 0, tail
    assert " passed" in out.stdout and "failed" not in out.stdout.split("SUMMARY")[-1], tail
