"""scripts/quickstart.sh's `predict --upcoming` step, run from the script's own function with a stub
in place of `manage.py predict` (the command's exit statuses are tested in
tests/predictions/test_commands.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "quickstart.sh"


def _function(name: str) -> str:
    """The definition of shell function `name` (one line, or up to its closing `}` line)."""
    text = SCRIPT.read_text()
    match = re.search(rf"^{name}\(\) \{{[^\n]*\}}$", text, re.M) or re.search(
        rf"^{name}\(\) \{{.*?^\}}$", text, re.S | re.M
    )
    assert match, f"{name}() not found in {SCRIPT}"
    return match.group(0)


@pytest.mark.parametrize(
    ("exit_status", "step_status", "said"),
    [
        (0, 0, None),
        (3, 0, "no upcoming races on the calendar (season over): nothing to predict"),
        (1, 1, None),
    ],
)
def test_off_season_predict_is_not_reported_as_a_failure(tmp_path, exit_status, step_status, said):
    stub = tmp_path / "python"
    stub.write_text(f'#!/bin/sh\necho "stub $*"\nexit {exit_status}\n')
    stub.chmod(0o755)
    program = "\n".join(
        [
            "set -euo pipefail",
            _function("log"),
            _function("predict_upcoming"),
            f"PY={stub}",
            'if predict_upcoming; then echo "step=0"; else echo "step=$?"; fi',
        ]
    )
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "stub manage.py predict --upcoming" in result.stdout
    assert f"step={step_status}" in result.stdout
    if said:
        assert said in result.stderr
    else:
        assert "no upcoming races" not in result.stderr
