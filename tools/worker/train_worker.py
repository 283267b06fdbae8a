"""Entry point of one training or evaluation subprocess: `python -m tools.worker.train_worker JOB.json`.

Runs out of the graph's process so a crash, a NaN or a hang costs one trial, never the run. Writes
result.json next to the job file; the launcher turns a missing result or a non-zero exit into a
failed trial.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

from tools.worker.model_loading import seed_everything


def peak_memory_mb() -> float:
    """This process's peak resident memory: Linux's VmHWM (a kept worker resets it before each job:
    tools/worker/kept_worker.py), else getrusage's lifetime peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def failure_kind(err: BaseException) -> str | None:
    """The kind of an expected trial failure, or None for a bug (left to crash with its traceback)."""
    from tools.worker.backends import BackendUnavailable
    from tools.worker.lora_training import DivergedError

    text = str(err).lower()
    if isinstance(err, MemoryError) or "out of memory" in text or "can't allocate memory" in text:
        return "oom"
    if isinstance(err, DivergedError):
        return "diverged"
    if isinstance(err, BackendUnavailable):
        return "unavailable"
    return None


def cap_memory(megabytes: int) -> None:
    """Cap this process's address space, so a trial that needs more fails as out-of-memory instead of
    dragging the machine into swap or the kernel's OOM killer. Only the soft limit: a kept worker
    (tools/worker/kept_worker.py) runs later jobs with their own cap, or none (0)."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if megabytes > 0:
        limit = megabytes * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    else:
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this worker when the process that started it dies (trex killed, a
    Ray worker lost), so a resumed run never finds a stray copy still training. Exit at once if that parent
    is gone already (it died before prctl took effect). Elsewhere only the second check applies."""
    expected = os.environ.get("TREX_PARENT_PID")  # set by tools.trials.trial_runner.run_job
    if not expected:  # not started by the launcher (a test calling main() in its own process)
        return
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != int(expected):
        sys.exit(f"the process that started this worker ({expected}) is gone: not training")


def run(raw: dict, out_dir: Path) -> dict:
    from tools.run.progress_events import ProgressLog  # read by the parent while it waits (live progress)
    from trex.jobs import TrainJob, job_from_dict

    job = job_from_dict(raw)  # a key the schema does not know, or a missing one, stops here by name
    ProgressLog(out_dir).write("job_phase", phase="loading model", mode=job.mode)
    seed_everything(int(job.config.get("seed", 0)))
    if isinstance(job, TrainJob):
        from tools.worker.lora_training import train

        return train(job, out_dir)
    from tools.worker.scoring import evaluate

    return evaluate(job)


def main(job_path: str) -> int:
    die_with_parent()
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    out_dir = Path(job["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    cap_memory(int(job.get("memory_mb") or 0))
    started = time.time()
    try:
        result = run(job, out_dir)
    except Exception as err:  # noqa: BLE001 - expected failures become typed results, bugs re-raise
        kind = failure_kind(err)
        if kind is None:
            raise
        traceback.print_exc()
        result = {"status": "failed", "failure": kind, "error": f"{type(err).__name__}: {err}"[:500]}
    result.update(wall_s=round(time.time() - started, 2), peak_memory_mb=round(peak_memory_mb(), 1))
    from trex.redact import redact_obj  # an error text may quote a key (a hub 401, a bad URL): never store it

    (out_dir / "result.json").write_text(json.dumps(redact_obj(result)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
