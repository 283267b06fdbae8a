"""Runs one worker job in a subprocess with a timeout and returns a typed result, never an exception."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tools.run.progress_events import PROGRESS_FILE, wait_for
from tools.trials import kept_workers
from trex.redact import redact, redact_file

# Where the `tools` package is imported from (a checkout, or site-packages of an installed wheel): the worker
# imports TREX from there whatever its working directory, which is its own job directory.
IMPORT_ROOT = Path(__file__).resolve().parents[2]
WORKER_MODULE = "tools.worker.train_worker"
PARENT_PID_ENV = "TREX_PARENT_PID"  # the worker exits at once if its parent is no longer this process

# Workers running now, so an interrupted parallel round (tools/trials/trial_pool.py) can stop them all.
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return redact(path.read_text(encoding="utf-8", errors="replace"))[-chars:]
    except OSError:
        return ""


def _failed(kind: str, reason: str, log: Path) -> dict:
    redact_file(log)  # the worker's log stays in the run dir: no key may be left in it
    return {"status": "failed", "failure": kind, "error": redact(reason), "log_tail": _tail(log)}


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's process group (its own children too) and reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def kill_running() -> int:
    """Kill every worker this process is waiting on; returns how many."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        _kill(proc)
    return len(procs)


def run_job(job: dict, job_dir: Path, timeout_s: float, module: str = WORKER_MODULE, env: dict | None = None,
            kept: bool = False) -> dict:
    """Write the job, run `python -m module job.json` (in a new process, or with kept=True in a kept worker
    process that ran earlier jobs: tools/trials/kept_workers.py), read result.json.

    A non-zero exit, a missing result or a timeout becomes {"status": "failed", "error": ...}.
    `env` adds variables to the worker's environment (threads per worker when trials run side by side).
    If this process is interrupted (Ctrl-C, SystemExit) the worker is killed before the exception goes on;
    if it is killed outright, the worker's PR_SET_PDEATHSIG (tools/worker/train_worker.py) takes the worker down.
    """
    job_dir = Path(job_dir).absolute()  # every path a worker reads is absolute: it runs in its own directory
    job_dir.mkdir(parents=True, exist_ok=True)
    job = {**job, "out_dir": str(job_dir)}
    job_file, result_file, log_file = job_dir / "job.json", job_dir / "result.json", job_dir / "log.txt"
    result_file.unlink(missing_ok=True)
    (job_dir / PROGRESS_FILE).unlink(missing_ok=True)  # an earlier job's lines are not this one's progress
    job_file.write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(IMPORT_ROOT), os.environ.get("PYTHONPATH")])),
           "TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_TELEMETRY": "1", **(env or {}),
           PARENT_PID_ENV: str(os.getpid())}
    try:
        code = (_run_kept if kept else _run_fresh)(job_file, job_dir, log_file, timeout_s, module, env)
    except subprocess.TimeoutExpired:
        return _failed("timeout", f"timed out after {timeout_s:g} s", log_file)
    for written in (log_file, result_file):  # written by the worker, kept as artefacts: scrub secrets
        redact_file(written)
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (the kernel's out-of-memory killer sends this)" if -code == signal.SIGKILL else ""
        return _failed("oom" if -code == signal.SIGKILL else "crash", f"worker killed by {name}{hint}", log_file)
    if code != 0:
        last = _tail(log_file, 400).strip().splitlines()
        return _failed("crash", f"worker exited with code {code}: {last[-1] if last else 'no output'}", log_file)
    if not result_file.is_file():
        return _failed("no_result", "worker wrote no result", log_file)
    try:
        result = json.loads(result_file.read_text(encoding="utf-8"))
    except ValueError as err:  # the worker's own output: a failed trial, not a bug of this process
        return _failed("no_result", f"worker wrote an unreadable result: {err}", log_file)
    if not isinstance(result, dict):
        return _failed("no_result", f"worker wrote a result that is not an object: {type(result).__name__}", log_file)
    if result.get("status") != "ok":
        result.setdefault("log_tail", _tail(log_file))
    return result


def _tracked(proc: subprocess.Popen, wait):
    """wait() for the worker, which kill_running can stop meanwhile. On a timeout, Ctrl-C or SystemExit the
    worker is killed before the exception goes on (its new session would let it train on unseen)."""
    with _LIVE_LOCK:
        _LIVE.add(proc)
    try:
        return wait()
    except BaseException:
        _kill(proc)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)


def _run_fresh(job_file: Path, job_dir: Path, log_file: Path, timeout_s: float, module: str, env: dict) -> int:
    with log_file.open("w", encoding="utf-8") as log:
        # A new session, so a timeout kills the worker's own children too.
        proc = subprocess.Popen([sys.executable, "-m", module, str(job_file)], stdout=log, stderr=subprocess.STDOUT,
                                cwd=str(job_dir), env=env, start_new_session=True)
        return _tracked(proc, lambda: wait_for(proc, timeout_s, job_dir))  # forwards the worker's progress lines


def _run_kept(job_file: Path, job_dir: Path, log_file: Path, timeout_s: float, module: str, env: dict) -> int:
    log_file.write_text("", encoding="utf-8")  # the worker appends this job's output here
    worker = kept_workers.acquire(module, env, cwd=str(IMPORT_ROOT))
    try:
        return _tracked(worker.proc, lambda: kept_workers.run(worker, job_file, job_dir, timeout_s))
    finally:
        kept_workers.release(worker)  # a worker that died or was killed is dropped here
