"""Run a round's trial jobs side by side, at most N at once, and send each job to its executor.

Threads only wait here: every trial runs in its own process (tools.trials.trial_runner) or Ray task
(tools.trials.ray_runner), so the GIL is no bottleneck. Results come back in the order of the plan.
"""
from __future__ import annotations

import contextvars
import copy
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable

from tools.trials import trial_runner


def parallelism(ctx, n_jobs: int) -> int:
    """How many of n_jobs run at once: the context's max_parallel_trials, or its auto value (0): 1 locally
    (a CPU trial already uses every core; one GPU holds one trial), all of them on Ray (its scheduler
    queues tasks by their resource requests)."""
    want = getattr(ctx, "max_parallel_trials", 0) or (n_jobs if getattr(ctx, "trial_executor", "local") == "ray" else 1)
    return max(1, min(want, n_jobs))


def abort_running() -> None:
    """Stop every trial this process runs (an interrupt stops the whole process): local workers are
    killed, Ray tasks cancelled."""
    trial_runner.kill_running()
    if "tools.trials.ray_runner" in sys.modules:  # only if Ray was used: importing it costs a second
        sys.modules["tools.trials.ray_runner"].cancel_running()


def run_all(jobs: list[Callable[[], dict]], max_parallel: int) -> list[dict]:
    """Run the jobs, at most max_parallel at once; their results in the jobs' order.

    A failure of the trial itself (its worker's exit, timeout, OOM or error, a Ray task failure) comes back as
    a failed result from run_job (tools/trials/trial_runner.py, ray_runner.py): that is data. An exception
    raised by a job is a bug in this process's own code, not an experiment's outcome: it stops the other
    trials' workers and goes on up, so it is never mistaken for a failed trial."""
    if max_parallel <= 1 or len(jobs) <= 1:  # in the caller's thread: Ctrl-C reaches run_job directly
        return [job() for job in jobs]
    with ThreadPoolExecutor(max_parallel, thread_name_prefix="trex-trial") as pool:
        # Each job in a copy of this thread's context: LangGraph's stream writer (live progress) lives there.
        futures = [pool.submit(contextvars.copy_context().run, job) for job in jobs]
        try:
            return [f.result() for f in futures]
        except BaseException:  # a job's bug, or Ctrl-C / SystemExit in this thread: stop the workers, go on
            for f in futures:
                f.cancel()
            while not all(f.done() for f in futures):  # again and again: a job may start its worker just now
                abort_running()
                wait(futures, timeout=0.2)
            raise


# Two identical trials of one round (same key, same job dir) must not train at once into one directory:
# the second waits, and takes the first one's result if it finished while it waited.
_DIR_LOCKS: dict[str, threading.Lock] = {}
_DONE: dict[str, tuple[float, dict]] = {}
_GUARD = threading.Lock()


def _once_per_dir(job_dir: Path, run: Callable[[], dict]) -> dict:
    arrived = time.monotonic()
    with _GUARD:
        lock = _DIR_LOCKS.setdefault(str(job_dir), threading.Lock())
    with lock:
        done_at, prior = _DONE.get(str(job_dir), (0.0, {}))
        if done_at > arrived and prior.get("status") == "ok":
            return copy.deepcopy(prior)
        out = run()
        _DONE[str(job_dir)] = (time.monotonic(), copy.deepcopy(out))
        return out


def with_executor(job: dict, ctx) -> dict:
    """The job plus where to run it. The settings travel inside the job (run_job takes them out before the
    worker sees it), so run_job keeps the launcher's signature."""
    keys = ("trial_executor", "max_parallel_trials", "ray_address", "ray_num_cpus", "ray_num_gpus", "ray_memory_mb",
            "chat_model", "keep_workers")
    return {**job, "executor": {k: getattr(ctx, k) for k in keys if hasattr(ctx, k)}}


def _worker_env(ex: dict) -> dict:
    """What the worker's environment adds: the run's chat model, which an llm_judge metric scores with (the
    worker reads TREX_CHAT_MODEL), and its share of torch threads."""
    chat = {"TREX_CHAT_MODEL": ex["chat_model"]} if ex.get("chat_model") else {}
    return {**_threads_env(ex), **chat}


def _threads_env(ex: dict) -> dict:
    """Trials side by side on one machine share its cores: give each its share of torch threads
    (unless the user set OMP_NUM_THREADS)."""
    n = ex.get("max_parallel_trials", 0)
    if n <= 1 or "OMP_NUM_THREADS" in os.environ:
        return {}
    return {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // n))}


JobLauncher = Callable[[dict, Path, float], dict]
"""How a trial job runs: launch(job, job_dir, timeout_s) returns the worker's result dict, a failure as data.
The default is run_job below; tools.trials.runner.JobRunner(launch=...) and trial_jobs.run_training /
run_scoring(..., launch=...) take another (a test's stand-in worker: docs/seams.md)."""


def run_job(job: dict, job_dir: Path, timeout_s: float, module: str = trial_runner.WORKER_MODULE) -> dict:
    """Run one worker job on its executor (a local subprocess, or a Ray task); a typed result. module: the
    worker (`python -m module job.json`); a test's launcher names a stand-in (tests/sleepy_worker.py)."""
    ex = job.get("executor") or {}
    job = {k: v for k, v in job.items() if k != "executor"}
    job_dir = Path(job_dir).absolute()  # the worker runs in its job dir, on this machine or a Ray node
    if ex.get("trial_executor") == "ray":
        from tools.trials.ray_runner import run_on_ray

        return _once_per_dir(job_dir, lambda: run_on_ray(job, job_dir, timeout_s, ex, module))
    kept = bool(ex.get("keep_workers", False))  # off unless the run's settings say so (a script calling run_job)
    return _once_per_dir(job_dir, lambda: trial_runner.run_job(job, job_dir, timeout_s, module=module,
                                                                env=_worker_env(ex), kept=kept))
