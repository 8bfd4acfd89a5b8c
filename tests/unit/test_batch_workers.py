"""``recommend --batch --jobs``: forked workers answer in order, say how they failed, and leave no process behind."""

from __future__ import annotations

import io
import json
import os
import signal
import time

import pytest

from animerec_tui.batch_workers import WorkerError, WorkerPool, default_jobs, usable_cores
from animerec_tui.engine import Engine, Filters
from animerec_tui.recommend_command import run_batch
from tests.conftest import DEATH_NOTE, FMA_B, NARUTO, STEINS_GATE
from training.errors import UserError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the workers are forked")


@pytest.fixture(autouse=True)
def _deadline():
    """A deadlocked pool fails the test instead of hanging the suite."""
    signal.alarm(60)
    yield
    signal.alarm(0)


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def _json(answer):
    """``answer`` of a JSON message, as the pool's bytes in and out."""
    return lambda payload: json.dumps(answer(json.loads(payload))).encode()


def _submit(pool: WorkerPool, message) -> None:
    pool.submit(json.dumps(message).encode())


def _result(pool: WorkerPool):
    return json.loads(pool.result())


@_json
def _answer(message):
    kind = message["kind"]
    if kind == "user":
        raise UserError("a bad request", exit_code=3)
    if kind == "bug":
        return 1 // 0
    if kind == "die":
        os._exit(7)
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    return {"echo": message["n"], "pid": os.getpid(), "size": len(message.get("blob", ""))}


def test_answers_come_back_in_the_order_sent_from_every_worker():
    with WorkerPool(3, _answer) as pool:
        for n in range(10):
            _submit(pool, {"kind": "echo", "n": n})
        answers = [_result(pool) for _ in range(10)]
        pids = list(pool.pids)
    assert [a["echo"] for a in answers] == list(range(10))
    assert {a["pid"] for a in answers} == set(pids) and os.getpid() not in pids
    assert all(_gone(pid) for pid in pids)


def test_large_messages_both_ways_do_not_deadlock():
    blob = "x" * (3 << 20)  # far past a socket's buffer, while the other side writes too
    with WorkerPool(2, _json(lambda m: {"back": m["blob"]})) as pool:
        for n in range(6):
            _submit(pool, {"n": n, "blob": blob})
        assert all(_result(pool)["back"] == blob for _ in range(6))


def test_a_users_error_in_a_worker_is_the_same_error_here():
    with WorkerPool(2, _answer) as pool:
        _submit(pool, {"kind": "user"})
        with pytest.raises(UserError, match="a bad request") as raised:
            pool.result()
    assert raised.value.exit_code == 3


def test_a_bug_in_a_worker_is_raised_with_its_traceback():
    with WorkerPool(1, _answer) as pool:
        _submit(pool, {"kind": "bug"})
        with pytest.raises(WorkerError, match="ZeroDivisionError"):
            pool.result()
        _submit(pool, {"kind": "echo", "n": 1})  # the worker goes on
        assert _result(pool)["echo"] == 1


@pytest.mark.parametrize(("kind", "said"), [("die", "exit status 7"), ("kill", "killed by signal 9")])
def test_a_worker_that_stops_is_one_line_naming_how(kind, said):
    with pytest.raises(UserError, match="stopped without answering") as raised:
        with WorkerPool(2, _answer) as pool:
            pids = list(pool.pids)
            _submit(pool, {"kind": kind, "n": 0})
            time.sleep(0.2)
            pool.result()
    assert said in str(raised.value) and "\n" not in str(raised.value)
    assert all(_gone(pid) for pid in pids)


def test_leaving_on_an_error_stops_busy_workers_at_once():
    started = time.perf_counter()
    with pytest.raises(RuntimeError):
        with WorkerPool(2, lambda m: time.sleep(30) or b"") as pool:
            pids = list(pool.pids)
            pool.submit(b"")
            pool.submit(b"")
            raise RuntimeError("the reader went away")
    assert time.perf_counter() - started < 10
    assert all(_gone(pid) for pid in pids)


def test_default_jobs_is_a_worker_per_usable_core_for_its_threads():
    assert default_jobs(1) == max(1, usable_cores())
    assert default_jobs(10_000) == 1


@pytest.fixture(scope="module")
def engine(tiny_model, catalog) -> Engine:
    return Engine(tiny_model, catalog)


def _run(engine: Engine, text: bytes, jobs: int, chunk: int) -> tuple[int, str]:
    sink = io.StringIO()
    bad = run_batch(engine, io.BytesIO(text), sink, 3, Filters(), chunk=chunk, jobs=jobs)
    return bad, sink.getvalue()


def test_a_batch_answered_by_workers_is_the_same_to_the_last_byte(engine):
    assert engine.forkable
    favourites = [[DEATH_NOTE], [FMA_B, NARUTO], [STEINS_GATE, DEATH_NOTE, FMA_B], [NARUTO]]
    lines = []
    for n in range(41):
        if n % 9 == 4:  # bad lines among the chunks: their error objects keep their places
            lines.append(b'{"id": "bad", "favourites": [true]}')
        else:
            lines.append(json.dumps({"id": n, "favourites": favourites[n % 4], "exclude": [FMA_B] if n % 5 == 0 else []}).encode())
    text = b"\n".join(lines) + b"\n"
    alone = _run(engine, text, 1, 4)
    assert alone[0] == 5
    assert _run(engine, text, 3, 4) == alone
    assert _run(engine, text, 2, 1000) == alone  # fewer than a chunk: answered here, no worker started
    out = [json.loads(line) for line in alone[1].splitlines()]
    assert [a["id"] for a in out] == [json.loads(line)["id"] for line in lines]


def test_raw_lines_reach_the_workers_as_read(engine, monkeypatch):
    """Blank lines, a byte order mark, bytes that are not UTF-8 and a line past the limit: the
    same answers and error objects, with the same line numbers, from the workers."""
    monkeypatch.setattr("animerec_tui.recommend_command.MAX_LINE_BYTES", 200)
    good = [json.dumps({"id": n, "favourites": [DEATH_NOTE, NARUTO][: 1 + n % 2]}).encode() for n in range(12)]
    lines = [b"\xef\xbb\xbf" + good[0], b"", b"  ", good[1], b"\xff\xfe not utf-8", good[2], b'{"id": "long", "favourites": [' + b"1, " * 100 + b"1]}"]
    lines += good[3:] + [b"[1535]", b"\t"]
    text = b"\r\n".join(lines) + b"\n"
    alone = _run(engine, text, 1, 3)
    assert alone[0] == 3
    errors = [json.loads(line) for line in alone[1].splitlines() if "error" in line]
    assert [e["line"] for e in errors] == [5, 7, 17]
    assert _run(engine, text, 2, 3) == alone


def test_a_worker_that_cannot_start_is_one_line_and_the_started_ones_stop(monkeypatch):
    started: list[int] = []
    fork = os.fork

    def fork_once():
        if started:
            raise OSError(11, "Resource temporarily unavailable")
        pid = fork()
        if pid:
            started.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork_once)
    with pytest.raises(UserError, match="cannot start batch worker process 2 of 3 .Resource temporarily unavailable.; use fewer --jobs"):
        WorkerPool(3, _answer)
    assert len(started) == 1 and _gone(started[0])
