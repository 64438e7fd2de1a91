"""manage.py, the command line's one entry point: a reader that goes away early (`| head -1`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "argv",
    [
        ["run_job", "--list"],  # a project command: fails on its first line
        ["diffsettings", "--all"],  # Django's own, 18 KB: fails mid-output
    ],
)
def test_a_closed_pipe_ends_a_command_quietly_with_141(argv):
    """`predict --upcoming --json | head -1` printed a BrokenPipeError traceback. The read end is
    closed before the command starts, so its first write to stdout fails, every time."""
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    try:
        done = subprocess.run(
            [sys.executable, "manage.py", *argv],
            cwd=ROOT,
            env=env,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""  # no traceback, no "Exception ignored"


def test_a_command_whose_reader_stays_exits_as_before():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "manage.py", "run_job", "--list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "daily_results_sync" in done.stdout
