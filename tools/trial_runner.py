"""Runs one worker job in a subprocess with a timeout and returns a typed result, never an exception."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORKER_MODULE = "tools.train_worker"


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return ""


def _failed(kind: str, reason: str, log: Path) -> dict:
    return {"status": "failed", "failure": kind, "error": reason, "log_tail": _tail(log)}


def run_job(job: dict, job_dir: Path, timeout_s: float, module: str = WORKER_MODULE) -> dict:
    """Write the job, run `python -m module job.json`, read result.json.

    A non-zero exit, a missing result or a timeout becomes {"status": "failed", "error": ...}.
    """
    job_dir.mkdir(parents=True, exist_ok=True)
    job = {**job, "out_dir": str(job_dir)}
    job_file, result_file, log_file = job_dir / "job.json", job_dir / "result.json", job_dir / "log.txt"
    result_file.unlink(missing_ok=True)
    job_file.write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
           "TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_TELEMETRY": "1"}
    with log_file.open("w", encoding="utf-8") as log:
        # A new session, so a timeout kills the worker's own children too.
        proc = subprocess.Popen([sys.executable, "-m", module, str(job_file)], stdout=log, stderr=subprocess.STDOUT,
                                cwd=str(PROJECT_ROOT), env=env, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return _failed("timeout", f"timed out after {timeout_s:g} s", log_file)
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (the kernel's out-of-memory killer sends this)" if -code == signal.SIGKILL else ""
        return _failed("oom" if -code == signal.SIGKILL else "crash", f"worker killed by {name}{hint}", log_file)
    if code != 0:
        last = _tail(log_file, 400).strip().splitlines()
        return _failed("crash", f"worker exited with code {code}: {last[-1] if last else 'no output'}", log_file)
    if not result_file.is_file():
        return _failed("no_result", "worker wrote no result", log_file)
    result = json.loads(result_file.read_text(encoding="utf-8"))
    if result.get("status") != "ok":
        result.setdefault("log_tail", _tail(log_file))
    return result
