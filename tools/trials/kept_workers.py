"""Parent side of kept workers (tools/worker/kept_worker.py): worker processes that run one trial job after
another and keep the base model loaded, so a trial pays its imports and model load once per run, not per job.

A worker serves one job at a time; trials side by side take one worker each. An idle worker is reused only
for the same module and the same environment (an environment changed since it started would not reach it),
and at most MAX_IDLE wait. A worker whose job timed out is killed, one that died is dropped; the next job
starts a fresh one. Each worker is started from one long-lived thread: Linux's PR_SET_PDEATHSIG (the worker
dies with its parent) fires when the *thread* that started it ends, and a round's pool threads end.
"""
from __future__ import annotations

import atexit
import os
import select
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools.run.progress_events import wait_until

SERVER_MODULE = "tools.worker.kept_worker"
MAX_IDLE = 2  # idle workers kept at once (each holds a base model in memory)

_SPAWNER = ThreadPoolExecutor(1, thread_name_prefix="trex-kept-worker-spawner")
_IDLE: list["KeptWorker"] = []
_ALL: set["KeptWorker"] = set()
_LOCK = threading.Lock()


class KeptWorker:
    def __init__(self, module: str, env: dict, cwd: str):
        self.key = (module, tuple(sorted(env.items())))
        self.proc: subprocess.Popen = _SPAWNER.submit(
            subprocess.Popen, [sys.executable, "-m", SERVER_MODULE, module], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd, env=env, start_new_session=True).result()
        self._pending = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, job_file: Path) -> None:
        self.proc.stdin.write(f"{job_file}\n".encode())
        self.proc.stdin.flush()

    def finished(self, step: float) -> int | None:
        """The job's exit code once the worker says `done`; the worker's own exit code if it died (killed by
        a signal: negative, as Popen reports it); None while the job runs."""
        ready, _, _ = select.select([self.proc.stdout], [], [], step)
        if not ready:
            return None
        chunk = os.read(self.proc.stdout.fileno(), 4096)
        if not chunk:  # the worker is gone (the job ended its process: os._exit, a signal, the OOM killer)
            return self.proc.wait()
        self._pending += chunk
        if b"\n" not in self._pending:
            return None
        line, _, self._pending = self._pending.partition(b"\n")
        return int(line.split()[1])

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        with _LOCK:
            _ALL.discard(self)


def acquire(module: str, env: dict, cwd: str) -> KeptWorker:
    """An idle live worker for this module and environment, else a new one."""
    key = (module, tuple(sorted(env.items())))
    with _LOCK:
        for worker in list(_IDLE):
            if worker.key == key:
                _IDLE.remove(worker)
                if worker.alive():
                    return worker
    worker = KeptWorker(module, env, cwd)
    with _LOCK:
        _ALL.add(worker)
    return worker


def release(worker: KeptWorker) -> None:
    """Back to the idle list after a finished job; the oldest idle worker goes when too many wait."""
    if not worker.alive():
        worker.kill()
        return
    with _LOCK:
        _IDLE.append(worker)
        surplus = _IDLE[:-MAX_IDLE] if len(_IDLE) > MAX_IDLE else []
        del _IDLE[:len(surplus)]
    for old in surplus:
        old.kill()


def run(worker: KeptWorker, job_file: Path, job_dir: Path, timeout_s: float) -> int:
    """Run one job on the worker; its exit code. Raises subprocess.TimeoutExpired (the caller kills it)."""
    try:
        worker.send(job_file)
    except BrokenPipeError:  # it died while idle (its idle time ran out just now): its exit code
        return worker.proc.wait()
    return wait_until(worker.finished, timeout_s, job_dir, what=f"kept worker {worker.proc.pid}")


def close_all() -> None:
    """Kill every kept worker (idle or busy): at exit, and when a test needs a clean slate."""
    with _LOCK:
        workers = list(_ALL)
        _IDLE.clear()
    for worker in workers:
        worker.kill()


atexit.register(close_all)
