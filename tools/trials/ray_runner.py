"""Run one worker job as a Ray task: the same subprocess worker (tools.worker.train_worker), on whichever node
Ray picks, so timeouts, out-of-memory and crashes are handled exactly as locally.

Files are not shipped back: the worker writes its adapter, result.json and log.txt under the job dir
(the run dir or TREX_CACHE_DIR), so on a real cluster both must be on storage every node shares (NFS,
a mounted bucket). The task returns the typed result and the log's tail. A task whose Ray worker is
lost (process killed, node died) is retried once by Ray, then it is a failed trial: "lost_worker".
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from tools.trials.trial_runner import IMPORT_ROOT

RETRIES = 1  # Ray re-runs a task whose worker or node died this many times
QUEUE_SLACK_S = 300  # per attempt, on top of the trial timeout: start-up and a wait for free resources
PID_FILE = "ray_task.pids"  # one line per attempt: pid and host of the Ray worker that ran it
FORWARD_ENV = ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT", "TRANSFORMERS_OFFLINE")  # the driver's, for workers
SHIP_EXCLUDES = [".venv", ".git", "runs", "**/__pycache__", "*.egg-info", ".pytest_cache"]

_INIT_LOCK = threading.Lock()
_LIVE: set = set()  # ObjectRefs in flight, so an interrupted round can cancel them
_LIVE_LOCK = threading.Lock()
_REMOTE = None


def connect(address: str = "") -> None:
    """Join the Ray cluster at address once per process (or start a local Ray when no address is given)."""
    import ray

    with _INIT_LOCK:
        if ray.is_initialized():
            return
        if address:
            # A remote cluster's workers get this checkout's code (2-3 MB) through Ray's runtime_env.
            ray.init(address=address, log_to_driver=False,
                     runtime_env={"working_dir": str(IMPORT_ROOT), "excludes": SHIP_EXCLUDES})
        else:
            ray.init(include_dashboard=False, log_to_driver=False)


def _remote():
    """The Ray remote function, made once (each ray.remote() would export the function again)."""
    global _REMOTE
    if _REMOTE is not None:
        return _REMOTE
    import ray

    # Defined in here so Ray (cloudpickle) ships it by value: a Ray node needs TREX's code at `root` (the
    # same path, e.g. a shared checkout) or in the working_dir Ray shipped (the task's cwd), not this module.
    def trex_trial(job: dict, job_dir: str, timeout_s: float, module: str, root: str, env: dict) -> dict:
        import os
        import socket
        import sys
        from pathlib import Path

        if not (Path(root) / "tools" / "trials" / "trial_runner.py").is_file():
            root = os.getcwd()
        if root not in sys.path:
            sys.path.insert(0, root)
        from tools.trials.trial_runner import _tail, run_job

        out_dir = Path(job_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        with (out_dir / "ray_task.pids").open("a", encoding="utf-8") as f:  # PID_FILE: one line per attempt
            f.write(f"{os.getpid()} {socket.gethostname()}\n")
        result = run_job(job, out_dir, timeout_s, module=module, env=env)
        return {"result": result, "log_tail": _tail(out_dir / "log.txt"), "node": socket.gethostname()}

    _REMOTE = ray.remote(max_retries=RETRIES)(trex_trial)
    return _REMOTE


def _infeasible(ex: dict) -> str | None:
    """Why no live node can ever run one trial with the requested resources, or None."""
    import ray

    need = {"CPU": ex["ray_num_cpus"], "GPU": ex["ray_num_gpus"], "memory": ex["ray_memory_mb"] * 2**20}
    need = {k: v for k, v in need.items() if v}
    for node in ray.nodes():
        have = node.get("Resources", {})
        if node.get("Alive") and all(have.get(k, 0) >= v for k, v in need.items()):
            return None
    asked = ", ".join(f"{k} {v:g}" for k, v in need.items())
    return (f"no node of the Ray cluster has what one trial asks for ({asked}): "
            "lower ray_num_cpus/ray_num_gpus/ray_memory_mb or add nodes")


def _attempts(job_dir: Path) -> int:
    try:
        return len((job_dir / PID_FILE).read_text(encoding="utf-8").splitlines())
    except OSError:
        return 0


def _failed(kind: str, error: str, job_dir: Path) -> dict:
    from trex.redact import redact
    from tools.trials.trial_runner import _tail

    return {"status": "failed", "failure": kind, "error": redact(error)[:500], "log_tail": _tail(job_dir / "log.txt"),
            "executor": {"kind": "ray", "attempts": _attempts(job_dir)}}


def _wait(ray, ref, wait_s: float, job_dir: Path):
    """ray.get with a timeout; meanwhile the worker's progress lines (written to the shared job dir) go to
    the run's live stream, as tools.run.progress_events.wait_for does for a local worker."""
    from tools.run.progress_events import POLL_S, PROGRESS_FILE, _Tail, _writer

    deadline = time.monotonic() + wait_s
    if _writer() is not None:
        tail = _Tail(job_dir / PROGRESS_FILE)
        while not ray.wait([ref], timeout=max(0.0, min(POLL_S, deadline - time.monotonic())))[0]:
            tail.forward()
            if time.monotonic() >= deadline:
                break
        tail.forward()
    return ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))


def cancel_running() -> None:
    import ray

    with _LIVE_LOCK:
        refs = list(_LIVE)
    for ref in refs:
        ray.cancel(ref, force=True)  # force: the Ray worker dies, and its trial subprocess with it


def run_on_ray(job: dict, job_dir: Path, timeout_s: float, ex: dict, module: str) -> dict:
    """Submit the job as a Ray task and wait for it; a typed result, never an exception.

    ex: the run's executor settings (tools.trials.trial_pool.with_executor): ray_address, ray_num_cpus,
    ray_num_gpus, ray_memory_mb."""
    import ray
    from ray import exceptions as rex

    ex = {"ray_address": "", "ray_num_cpus": 1.0, "ray_num_gpus": 0.0, "ray_memory_mb": 0, **ex}
    connect(ex["ray_address"])
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / PID_FILE).unlink(missing_ok=True)
    problem = _infeasible(ex)
    if problem:
        return _failed("unavailable", problem, job_dir)
    opts = {"num_cpus": ex["ray_num_cpus"], "num_gpus": ex["ray_num_gpus"]}
    if ex["ray_memory_mb"]:
        opts["memory"] = ex["ray_memory_mb"] * 2**20
    env = {k: os.environ[k] for k in FORWARD_ENV if k in os.environ}
    env["OMP_NUM_THREADS"] = str(max(1, int(ex["ray_num_cpus"])))  # torch's threads = the CPUs Ray gave it
    if ex.get("chat_model"):
        env["TREX_CHAT_MODEL"] = ex["chat_model"]  # an llm_judge metric scores with the run's chat model
    ref = _remote().options(**opts).remote(job, str(job_dir), timeout_s, module, str(IMPORT_ROOT), env)
    with _LIVE_LOCK:
        _LIVE.add(ref)
    wait_s = (RETRIES + 1) * (timeout_s + QUEUE_SLACK_S)
    try:
        out = _wait(ray, ref, wait_s, job_dir)
    except rex.GetTimeoutError:
        ray.cancel(ref, force=True)
        return _failed("timeout", f"no result from Ray within {wait_s:g} s (queued for resources, or hung)", job_dir)
    except rex.OutOfMemoryError as err:  # Ray's memory monitor killed the worker
        return _failed("oom", f"Ray killed the trial's worker for memory: {str(err)[:300]}", job_dir)
    except (rex.WorkerCrashedError, rex.NodeDiedError, rex.ObjectLostError, rex.LocalRayletDiedError,
            rex.RaySystemError) as err:
        return _failed("lost_worker", f"the Ray worker running this trial was lost on every attempt "
                                      f"({RETRIES + 1}): {type(err).__name__}", job_dir)
    except rex.TaskCancelledError:
        return _failed("crash", "the Ray task was cancelled", job_dir)
    except rex.RayError as err:  # the task itself raised: e.g. TREX's code is not importable on that node
        return _failed("crash", f"Ray task failed: {str(err)[-400:]}", job_dir)
    except BaseException:  # Ctrl-C: no trial may go on training unseen
        ray.cancel(ref, force=True)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(ref)
    result = out["result"]
    result["executor"] = {"kind": "ray", "node": out["node"], "attempts": _attempts(job_dir)}
    log = job_dir / "log.txt"
    if not log.is_file():  # the run dir is not shared with that node: keep at least the log's tail here
        log.write_text(out["log_tail"], encoding="utf-8")
    adapter = result.get("adapter")
    if result.get("status") == "ok" and adapter and not Path(adapter).exists():
        return _failed("storage", f"the trial wrote {adapter} on Ray node {out['node']}, which this machine cannot "
                                  "see: put the run and cache dirs (TREX_RUNS_DIR, TREX_CACHE_DIR) on shared storage",
                       job_dir)
    if result.get("status") != "ok":
        result.setdefault("log_tail", out["log_tail"])
    return result
