"""The suite passes however it is started: in the background, SIGINT starts out ignored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CTRL_C_TESTS = [
    "tests/http/test_concurrent_fetch.py::test_ctrl_c_as_a_signal_during_slow_windows",
    "tests/http/test_pace_profiles.py::test_ctrl_c_stops_at_once_when_the_window_has_grown",
]


@pytest.mark.slow
@pytest.mark.timing
def test_the_ctrl_c_tests_pass_with_sigint_ignored() -> None:
    """As ``nohup bash scripts/test.sh &`` starts them: SIGINT set to SIG_IGN before Python."""

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CTRL_C_TESTS],
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        preexec_fn=ignore_sigint,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout
