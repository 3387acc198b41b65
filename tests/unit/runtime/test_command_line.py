"""python -m service check-config: validate the configuration without starting the service."""

import json
import os
import subprocess
import sys

from gunicorn_process import REPO_ROOT


def check_config(**environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", "check-config"],
        cwd=REPO_ROOT,
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_valid_configuration_exits_zero_and_prints_settings() -> None:
    """A valid configuration exits 0 and prints the effective settings."""
    result = check_config(CALCULATOR_PRECISION="12")
    assert result.returncode == 0
    assert '"precision": 12' in result.stdout


def test_invalid_configuration_exits_78_with_one_json_line() -> None:
    """An invalid configuration exits with EX_CONFIG and one line naming the problem."""
    result = check_config(CALCULATOR_MAX_BATCH_SIZE="lots")
    assert result.returncode == 78
    (line,) = result.stderr.strip().splitlines()
    assert "max_batch_size = 'lots' from CALCULATOR_MAX_BATCH_SIZE" in json.loads(line)["message"]
