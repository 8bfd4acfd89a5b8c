"""Worker processes for ``recommend --batch``: the loaded engine forked ``jobs`` times, each
copy answering the chunks of lines sent to it, the answers read back in the order sent.

One process answers about 400 requests a second on one of this project's 2-core machines (the
Intel Xeon), most of it the bounds' matrix products and the transformer, work that a second
process on the other core doubles when the machine is idle and still adds to when another
program keeps a core busy (the scheduler then gives the three runnable processes two thirds
of a core each). Threads would share one interpreter: the ranking's many small steps hold the
GIL. BLAS threads within one product wait for each other at every step, which is why a busy
core made two of them 2.4-2.9x slower (benchmarks/HISTORY.md).

Messages are length-prefixed bytes over a socket pair per worker (the batch sends its raw
lines and gets its answer lines back; never pickle). Each worker
has a sender thread in the parent, so the parent reading one worker's answer never waits on
writing another's request (a full socket buffer both ways would otherwise deadlock).
Workers are forked before any thread starts and exit with ``os._exit`` (the parent's stdout
buffer is never written twice). A worker whose parent dies reads end-of-file and exits.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable

from animerec_tui.defaults import JOBS_LIMIT
from training.errors import UserError

_HEADER = struct.Struct("!Q")


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system says; else every core)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_jobs(threads: int) -> int:
    """Workers for a batch when --jobs is not given: one per usable core, each with ``threads`` threads."""
    return max(1, min(JOBS_LIMIT, usable_cores() // max(threads, 1)))


def can_fork() -> bool:
    return hasattr(os, "fork")


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_HEADER.pack(len(payload)))
    sock.sendall(payload)


def _read(sock: socket.socket, size: int) -> bytes | None:
    """Exactly ``size`` bytes, or None at end-of-file before the first; end-of-file within them is an EOFError."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            if got == 0:
                return None
            raise EOFError("a message was cut short")
        got += n
    return bytes(buffer)


def _receive(sock: socket.socket) -> bytes | None:
    header = _read(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    body = _read(sock, size) if size else b""
    if body is None:
        raise EOFError("a message was cut short")
    return body


_ANSWER, _USER_ERROR, _BUG = b"a", b"u", b"b"
"""The first byte of a reply: an answer, a UserError (JSON: message, exit code), a bug (its traceback)."""


def _serve(sock: socket.socket, answer: Callable[[bytes], bytes]) -> None:
    """A worker's loop: answer each message until the parent closes its end."""
    while (body := _receive(sock)) is not None:
        try:
            reply = _ANSWER + answer(body)
        except UserError as exc:
            reply = _USER_ERROR + json.dumps({"message": str(exc), "exit_code": exc.exit_code}).encode("utf-8")
        except Exception:  # a bug: the parent raises it with this traceback
            reply = _BUG + traceback.format_exc().encode("utf-8", "replace")
        _send(sock, reply)


def _sender(sock: socket.socket, outbox: queue.SimpleQueue) -> None:
    while (payload := outbox.get()) is not None:
        try:
            _send(sock, payload)
        except OSError:  # the worker is gone: reading its answer says so
            return
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _how(status: int | None) -> str:
    if status is None:
        return ""
    if os.WIFSIGNALED(status):
        killed = os.WTERMSIG(status)
        return f" (killed by signal {killed}{', perhaps for memory' if killed == signal.SIGKILL else ''})"
    return f" (exit status {os.WEXITSTATUS(status)})"


class WorkerError(RuntimeError):
    """A worker failed with an exception that is not the user's (its traceback is the message)."""


class WorkerPool:
    """``jobs`` copies of this process answering with ``answer`` (bytes in, bytes out).
    ``submit`` sends a message to the next worker in turn; ``result`` returns the answer to
    the oldest message not yet answered. Use as a context manager: leaving it stops the workers."""

    def __init__(self, jobs: int, answer: Callable[[bytes], bytes]) -> None:
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        sys.stdout.flush()
        sys.stderr.flush()
        pairs = [socket.socketpair() for _ in range(jobs)]
        self.pids: list[int] = []
        self.sockets: list[socket.socket] = []
        for n, (mine, theirs) in enumerate(pairs):
            try:
                pid = os.fork()
            except OSError as exc:  # a process limit, or no memory for the copy: stop the ones started
                for sock in self.sockets:
                    sock.close()
                for a, b in pairs[n:]:
                    a.close()
                    b.close()
                for started in self.pids:
                    os.waitpid(started, 0)
                raise UserError(f"cannot start batch worker process {n + 1} of {jobs} ({exc.strerror or exc}); use fewer --jobs, or --jobs 1") from None
            if pid == 0:  # the worker: keep its own end only, answer, never return into the parent's code
                code = 0
                try:
                    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C reaches the whole process group: end quietly
                    for other, (a, b) in enumerate(pairs):
                        a.close()
                        if other != n:
                            b.close()
                    _serve(theirs, answer)
                except BaseException:
                    code = 1
                finally:
                    os._exit(code)
            theirs.close()
            self.pids.append(pid)
            self.sockets.append(mine)
        self.outboxes: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in range(jobs)]
        self.threads = [threading.Thread(target=_sender, args=(s, box), daemon=True) for s, box in zip(self.sockets, self.outboxes)]
        for thread in self.threads:
            thread.start()
        self.waiting: deque[int] = deque()
        """The worker of each message not yet answered, oldest first."""
        self.turn = 0

    @property
    def jobs(self) -> int:
        return len(self.pids)

    @property
    def outstanding(self) -> int:
        """Messages sent and not yet answered."""
        return len(self.waiting)

    def submit(self, payload: bytes) -> None:
        worker = self.turn
        self.turn = (self.turn + 1) % self.jobs
        self.outboxes[worker].put(payload)
        self.waiting.append(worker)

    def result(self) -> bytes:
        """The answer to the oldest message not yet answered (a worker's UserError raised as one)."""
        worker = self.waiting.popleft()
        try:
            body = _receive(self.sockets[worker])
        except (EOFError, OSError):
            body = None
        if body is None:
            status = self._status(worker)
            if status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT:
                raise KeyboardInterrupt  # Ctrl-C reached the workers first
            raise UserError(f"a batch worker process (pid {self.pids[worker]}) stopped without answering{_how(status)}; "
                            "the lines before are written; run again, or with --jobs 1")
        kind, rest = body[:1], body[1:]
        if kind == _USER_ERROR:
            said = json.loads(rest)
            raise UserError(said["message"], exit_code=int(said["exit_code"]))
        if kind == _BUG:
            raise WorkerError(f"a batch worker failed:\n{rest.decode('utf-8', 'replace')}")
        return rest

    def _status(self, worker: int) -> int | None:
        """How worker ``worker`` ended (os.waitpid's status), waiting a second at most; None if it has not."""
        for _ in range(50):
            try:
                pid, status = os.waitpid(self.pids[worker], os.WNOHANG)
            except ChildProcessError:
                return None
            if pid:
                self.pids[worker] = -1
                return status
            time.sleep(0.02)
        return None

    def close(self, abandon: bool = False) -> None:
        """Tell every worker to stop (end-of-file; ``abandon``: a SIGTERM, without finishing its chunk), and reap them."""
        if abandon:
            for pid in self.pids:
                if pid > 0:
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
        for box in self.outboxes:
            box.put(None)
        for thread in self.threads:
            thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()  # a worker busy on an answer then fails to send it, and exits
        for pid in self.pids:
            if pid > 0:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.close(abandon=kind is not None)
