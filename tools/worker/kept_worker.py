"""A kept worker process: runs job after job, each exactly as `python -m MODULE JOB.json` would, and keeps what
the jobs imported (torch, transformers, peft) and the base model they loaded (tools/worker/model_loading.py)
between them. Started by tools/trials/kept_workers.py as `python -m tools.worker.kept_worker MODULE`.

Why: a fresh process per trial spends ~10 s importing and loading before it trains, and an evaluation job of
45 examples is mostly that. A job still runs outside the graph's process, so a crash or a hang costs one trial:
the parent kills this process and the next trial starts a new one.

Protocol: the parent writes one job file path per line on stdin; after each job this process writes
`done <exit code>` on its stdout. A job's own output goes to log.txt beside its job file. It exits at the end
of its input, or after IDLE_S seconds without a job (a server that ran one run an hour ago holds no model).
"""
from __future__ import annotations

import gc
import os
import runpy
import select
import sys
import traceback
from pathlib import Path

IDLE_S = float(os.environ.get("TREX_KEPT_WORKER_IDLE_S", "300"))


def _exit_code(err: SystemExit) -> int:
    if err.code is None:
        return 0
    if isinstance(err.code, int):
        return err.code
    print(err.code, file=sys.stderr)  # sys.exit("message"): Python prints it and exits 1
    return 1


def run_one(module: str, job_path: str) -> int:
    """Run `python -m module job_path` in this process, its output appended to the job's log.txt."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log = os.open(Path(job_path).parent / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    argv, home = sys.argv, os.getcwd()
    try:
        sys.argv = [module, job_path]
        os.chdir(Path(job_path).parent)  # as a fresh worker, which runs in its job directory
        _reset_peaks()
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as err:
        return _exit_code(err)
    except BaseException:  # noqa: BLE001 - as an uncaught exception ends `python -m`: traceback, exit 1
        traceback.print_exc()
        return 1
    finally:
        sys.argv = argv
        os.chdir(home)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        gc.collect()  # the trial's model copy, optimizer and data go now, not when the next job needs memory


def _reset_peaks() -> None:
    """A job reports its own peak memory, not an earlier job's: Linux's peak resident size (VmHWM, which the
    worker reports) and torch's peak GPU memory are kept per process."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak resident set size
    except OSError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _next_job(buffer: bytearray) -> str | None:
    """The next job path from stdin; None at the end of input or after IDLE_S idle seconds."""
    while b"\n" not in buffer:
        ready, _, _ = select.select([0], [], [], IDLE_S)
        if not ready:
            return None
        chunk = os.read(0, 4096)
        if not chunk:
            return None
        buffer.extend(chunk)
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.decode("utf-8").strip()


def main(module: str) -> int:
    from tools.worker.model_loading import KEEP_MODEL_ENV  # keep the base model between jobs
    from tools.worker.train_worker import die_with_parent

    die_with_parent()
    os.environ[KEEP_MODEL_ENV] = "1"
    channel = os.fdopen(os.dup(1), "w", buffering=1)  # the parent reads `done` lines here, jobs print to logs
    buffer = bytearray()
    while (job_path := _next_job(buffer)) is not None:
        code = run_one(module, job_path)
        channel.write(f"done {code}\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
