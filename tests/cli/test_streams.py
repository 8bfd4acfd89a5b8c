"""The streams a user hands the CLI: stdout full or closed, stdin closed, a reader that goes away.

Each is a real child process with the real file descriptors (CliRunner swaps the streams for
its own): the answer is one ``animerec:`` line and exit 2, or for a pipe whose reader left
(``| head -1``) silence and 141 (128 + SIGPIPE), as other Unix tools do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEATH_NOTE, REPO

pytestmark = pytest.mark.subprocess


def _animerec(home: Path, *args, **kwargs) -> subprocess.CompletedProcess:
    # Streams buffered as a user's are: PYTHONUNBUFFERED (set in some CI shells) hides failures of the flush at exit.
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, "ANIMEREC_HOME": str(home)}
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "animerec_tui", *map(str, args)], env=env, cwd=REPO, text=True, timeout=120, **kwargs)


def _one_line(done: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2 and a single ``animerec:`` line naming every fragment: no traceback, no 'Exception ignored'."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("animerec: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _close(fd: int):
    return lambda: os.close(fd)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize(
    "args",
    [
        ["favourites", "list", "--json"],
        ["recommend", "--mal-id", DEATH_NOTE, "-k", "3"],  # the table, written by rich
        ["recommend", "--mal-id", DEATH_NOTE, "-k", "3", "--format", "json"],
    ],
    ids=["favourites-json", "recommend-table", "recommend-json"],
)
def test_stdout_on_a_full_disk_is_one_line(tmp_path, args):
    with open("/dev/full", "w") as full:
        done = _animerec(tmp_path / "home", *args, stdout=full)
    _one_line(done, "cannot write to stdout", "No space left on device")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("bad_line", [False, True], ids=["good", "with-a-bad-line"])
def test_a_batch_answered_into_a_full_disk_is_one_line(tmp_path, bad_line):
    # With a bad line the command ends in its own error, and the answers still buffered were
    # flushed at exit: "Exception ignored ... OSError" and exit 120.
    batch = tmp_path / "requests.jsonl"
    batch.write_text("".join(json.dumps({"id": n, "favourites": [DEATH_NOTE]}) + "\n" for n in range(3)) + ("[]\n" if bad_line else ""))
    with open("/dev/full", "w") as full:
        done = _animerec(tmp_path / "home", "recommend", "--batch", batch, "-k", "50", stdout=full)
    _one_line(done, "cannot write to stdout", "No space left on device")


@pytest.mark.parametrize("args", [["favourites", "list", "--json"], ["recommend", "--mal-id", DEATH_NOTE, "-k", "3"]], ids=["json", "table"])
def test_a_closed_stdout_is_one_line_not_silence_or_a_traceback(tmp_path, args):
    # The table was lost without a word (exit 0); the JSON raised AttributeError on None.
    done = _animerec(tmp_path / "home", *args, preexec_fn=_close(1))
    _one_line(done, "cannot write to stdout", "closed")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_help_into_a_full_disk_is_one_line(tmp_path):
    with open("/dev/full", "w") as full:
        done = _animerec(tmp_path / "home", "--help", stdout=full)
    _one_line(done, "cannot write to stdout", "No space left on device")


def test_clear_with_a_closed_stdin_asks_for_yes(tmp_path):
    # sys.stdin is None there: AttributeError on isatty
    done = _animerec(tmp_path / "home", "favourites", "clear", stdout=subprocess.PIPE, preexec_fn=_close(0))
    _one_line(done, "clearing needs confirmation: pass --yes")


def test_batch_from_a_closed_stdin_is_one_line(tmp_path):
    done = _animerec(tmp_path / "home", "recommend", "--batch", "-", stdout=subprocess.PIPE, preexec_fn=_close(0))
    _one_line(done, "--batch -", "stdin is closed")
    assert done.stdout == ""


def test_a_batch_whose_reader_leaves_ends_silently_with_141(tmp_path):
    # `animerec recommend --batch F | head -1`: exit 141 (128 + SIGPIPE) like cat or grep, not 1,
    # and no "Exception ignored ... BrokenPipeError" when the interpreter flushes stdout at exit.
    batch = tmp_path / "requests.jsonl"
    batch.write_text("".join(json.dumps({"id": n, "favourites": [DEATH_NOTE]}) + "\n" for n in range(300)))
    env = {**os.environ, "ANIMEREC_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "animerec_tui", "recommend", "--batch", str(batch), "-k", "100"]
    with subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()  # the reader goes away, as head does after its line
        stderr = process.stderr.read().decode()
        code = process.wait(timeout=120)
    assert json.loads(first)["id"] == 0
    assert code == 141, (code, stderr)
    assert stderr == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_an_error_whose_line_cannot_be_written_keeps_its_exit_code(tmp_path):
    # The line had nowhere to go, and the OSError of writing it turned exit 2 into 1.
    with open("/dev/full", "w") as full:
        done = _animerec(tmp_path / "home", "favourites", "add", "--mal-id", "99999999", stderr=full)
    assert done.returncode == 2
