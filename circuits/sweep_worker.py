"""Worker processes for Monte Carlo sweeps: one child Python per worker, recycled.

libngspice is a global C library whose memory grows across runs and which cannot be
interrupted from Python, so every measurement runs in a separate child process
(``python -m anamorph.circuits.sweep_worker``) that the parent

- recycles after ``max_tasks`` instances (bounded memory),
- kills when an instance exceeds its timeout (the row becomes ``"timeout"``),
- replaces when it dies (the row becomes ``"failed"`` with the exit code).

Parent and child talk through the child's stdin/stdout with length-prefixed pickles; the
child points its file descriptor 1 at /dev/null so ngspice's own prints cannot corrupt
the stream. Plain ``subprocess`` (not ``multiprocessing``) is used so the same helper
runs inside daemonic Dask worker processes.
"""

from __future__ import annotations

import atexit
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time

_HEADER = struct.Struct("<Q")
STARTUP_TIMEOUT_S = 120.0


def _send(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _recv(stream):
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return EOFError
    (n,) = _HEADER.unpack(head)
    data = stream.read(n)
    if len(data) < n:
        return EOFError
    return pickle.loads(data)


def measure_one(task) -> tuple[str, dict, str]:
    """Run one task ``(circuit, seed, instance, settings)``: ``(status, values, error)``."""
    circuit, seed, instance, settings = task
    try:
        values = circuit.measure(seed, instance, dict(settings))
        return "ok", {str(k): float(v) for k, v in values.items()}, ""
    except Exception as e:  # a non-converging instance is a row, never a crash
        msg = " ".join(str(e).split())[:2000]
        return "failed", {}, f"{type(e).__name__}: {msg}" if msg else type(e).__name__


class Worker:
    """One recycled child process that measures instances one at a time."""

    def __init__(self, max_tasks: int = 20, preload: str | None = None):
        self.max_tasks = max_tasks
        self.preload = preload  # a module the child imports before it reports ready
        self.failure: str | None = None
        self._dead_r, self._dead_w = os.pipe()  # always readable once written: a stand-in
        os.write(self._dead_w, b"x")
        self.proc: subprocess.Popen | None = None
        self.n_done = 0
        self.task_id = None
        self.deadline = float("inf")

    def _start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "anamorph.circuits.sweep_worker",
                *([self.preload] if self.preload else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.n_done = 0
        # the child reports once it has loaded libngspice: start-up is not task time
        ready, _, _ = select.select([self.proc.stdout], [], [], STARTUP_TIMEOUT_S)
        if not ready or _recv(self.proc.stdout) != "ready":
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    @property
    def busy(self) -> bool:
        return self.task_id is not None

    def fileno(self) -> int:
        return self._dead_r if self.proc is None else self.proc.stdout.fileno()

    def submit(self, task_id, task, timeout_s: float) -> None:
        if self.proc is None or self.n_done >= self.max_tasks or self.proc.poll() is not None:
            self.close()
            self._start()
        self.task_id, self.deadline = task_id, time.monotonic() + timeout_s
        if self.proc is None:
            self.failure = "worker process did not start"
            self.deadline = time.monotonic()  # reported at once
            return
        self.failure = None
        try:
            _send(self.proc.stdin, task)
        except (BrokenPipeError, OSError):
            pass  # the child died; the read below reports it

    def result(self) -> tuple[str, dict, str]:
        """Read the finished task's result (call when :meth:`fileno` is readable)."""
        if self.proc is None:
            self.task_id, self.deadline = None, float("inf")
            return "failed", {}, self.failure or "worker process not running"
        reply = _recv(self.proc.stdout)
        self.task_id, self.deadline = None, float("inf")
        if reply is EOFError:
            code = self.proc.wait()
            self.proc = None
            return "failed", {}, f"worker process died (exit code {code})"
        self.n_done += 1
        return reply

    def kill(self) -> None:
        """Stop the child at once (its current task has timed out)."""
        self.task_id, self.deadline = None, float("inf")
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def __del__(self):
        for fd in (self._dead_r, self._dead_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def close(self) -> None:
        if self.proc is not None:
            try:
                _send(self.proc.stdin, None)
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def run(self, task, timeout_s: float) -> tuple[str, dict, str]:
        """Run one task to completion or timeout (blocking)."""
        self.submit(0, task, timeout_s)
        ready, _, _ = select.select([self], [], [], max(self.deadline - time.monotonic(), 0.0))
        if not ready:
            self.kill()
            return "timeout", {}, f"no result within {timeout_s:g} s"
        return self.result()


_LOCK = threading.Lock()
_SHARED: dict[str, Worker] = {}


def run_isolated(task, timeout_s: float, max_tasks: int = 20) -> tuple[str, dict, str]:
    """Run ``task`` in this process's persistent child worker (used by Dask tasks).

    A lock serialises the threads of one Dask worker: one child per worker process.
    """
    with _LOCK:
        worker = _SHARED.setdefault("worker", Worker(max_tasks, task[0].measure.__module__))
        return worker.run(task, timeout_s)


def _close_shared() -> None:
    worker = _SHARED.pop("worker", None)
    if worker is not None:
        worker.close()


atexit.register(_close_shared)


def _child_main() -> None:
    out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    inp = os.fdopen(os.dup(0), "rb")
    try:  # load libngspice and the circuit now: start-up is not a task's time
        import importlib

        from anamorph.ngspice import Simulator

        Simulator()
        for name in sys.argv[1:]:
            importlib.import_module(name)
    except Exception:
        pass  # reported by the first task that needs it
    _send(out, "ready")
    while True:
        task = _recv(inp)
        if task is None or task is EOFError:
            break
        _send(out, measure_one(task))


if __name__ == "__main__":
    _child_main()
