"""The real app in tmux at 80x24 and 200x50: three "title, ↓, Enter" bursts, three export bursts and
the key bursts of issue 30 (a two-line paste, Tab then keys, x x x, k at the top, the F2 year
boxes, n n n, Esc on an empty query, u after an import), nothing lost.

The script's own default is ten of each (``--rounds 10``); three keep the suite within its time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "tmux_check.py"

pytestmark = [pytest.mark.subprocess, pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]


def test_bursts_in_a_real_terminal_lose_no_add_no_export_and_no_key():
    # The script polls the screen and the files with generous deadlines (START_S, STEP_S), so a
    # machine busy with the rest of the suite slows it down without failing it; this timeout
    # is only a backstop for a wedged tmux.
    done = subprocess.run([sys.executable, str(SCRIPT), "--sizes", "80x24,200x50", "--rounds", "3"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert done.stdout.count("all 3 adds and exports arrived, and every key burst landed") == 2
