"""Trials as Ray tasks on a local Ray (2 CPUs): the real worker and tiny model train two trials at once,
logs and results come back, and a Ray worker killed mid-trial is retried once, then a failed trial."""
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from langgraph.runtime import Runtime

import tools.trials.trial_runner as trial_runner
from tools.data.spec_loading import parse_spec
from trex.state import State
from memory.run_log import read_events
from nodes.evaluate import evaluate
from nodes.train import train
from tools.data.datasets import prepare_splits
from tools.trials.trial_pool import run_job, with_executor

ray = pytest.importorskip("ray")

CFG = {"lr": 2e-3, "epochs": 1, "lora_r": 4, "lora_alpha": 8, "batch_size": 4, "max_samples": 16,
       "layer_fraction": 1.0, "template": "plain", "seed": 0}


@pytest.fixture(scope="module")
def local_ray():
    """A fresh local Ray for this module ("local": never someone else's cluster), shut down after."""
    started = time.time()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    print(f"ray.init took {time.time() - started:.1f} s")
    yield
    ray.shutdown()


@pytest.fixture
def ray_context(context, local_ray):
    context.trial_executor = "ray"
    context.ray_num_cpus = 1
    return context


def test_two_real_trials_run_at_once_as_ray_tasks(tiny_task, tmp_path, ray_context):
    """Through a graph, so the live progress the Ray workers write reaches the run's stream too."""
    from langgraph.graph import END, START, StateGraph

    from trex.context import Context

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    trials = [{**CFG, "id": "t0"}, {**CFG, "id": "t1", "lr": 1e-3}]
    tree = {"root": {"id": "root", "parent": None, "trials": [], "results": {}, "status": "evaluated"},
            "n1": {"id": "n1", "parent": "root", "round": 1, "trials": trials, "results": {}, "status": "planned"}}
    state = State(task=spec.model_dump(), run_dir=str(tmp_path / "run"), data=data, tree=tree, current="n1")
    g = StateGraph(State, context_schema=Context)
    g.add_node("train", train)
    g.add_edge(START, "train")
    g.add_edge("train", END)
    progress, node = [], None
    # max_parallel_trials 0 = auto: the whole round on Ray
    for mode, chunk in g.compile().stream(state, stream_mode=["updates", "custom"], context=ray_context):
        if mode == "custom":
            progress.append(chunk)
        elif "train" in chunk:
            node = chunk["train"]["tree"]["n1"]
    res = node["results"]
    assert list(res) == ["t0", "t1"]
    for r in res.values():
        assert r["status"] == "ok", r.get("error")
        assert (Path(r["adapter"]) / "adapter_model.safetensors").is_file()
        assert r["train"]["executor"]["kind"] == "ray" and r["train"]["executor"]["attempts"] == 1
        assert "step 4/4 loss" in (Path(r["adapter"]).parent / "log.txt").read_text()  # its log, in the shared dir
    events = {(e["event"], e["trial"]): e["t"] for e in read_events(state.run_dir) if "trial" in e}
    assert events["train_start", "t1"] < events["train_end", "t0"]  # both trained at the same time
    losses = {e["trial"] for e in progress if e["kind"] == "train_loss"}
    assert losses == {"t0", "t1"}  # the workers' live loss, read from the shared job dirs while they ran
    scored = evaluate(State(**{**state.__dict__, "tree": {**tree, "n1": node}}), Runtime(context=ray_context))
    scored = scored["tree"]["n1"]
    assert all(0.0 <= r["score"] <= 1.0 and r["eval"]["cached"] for r in scored["results"].values())


def fake_job(tmp_path, ctx, sleep):
    job = {"mode": "train", "config": {"fake": {"sleep": sleep}}}
    return with_executor(job, ctx), tmp_path / "job"


def run_in_background(job, job_dir):
    box = {}
    thread = threading.Thread(target=lambda: box.update(out=run_job(job, job_dir, 120, module="tests.sleepy_worker")))
    thread.start()
    return thread, box


def task_pid(job_dir: Path, attempt: int, timeout_s=60.0) -> int:
    """Pid of the Ray worker process running the given attempt (the task writes one line per attempt)."""
    end = time.time() + timeout_s
    pids = job_dir / "ray_task.pids"
    while time.time() < end:
        lines = pids.read_text().splitlines() if pids.is_file() else []
        if len(lines) >= attempt and (job_dir / "worker.pid").is_file():
            return int(lines[attempt - 1].split()[0])
        time.sleep(0.05)
    raise AssertionError(f"attempt {attempt} never started")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def trial_process_gone(job_dir: Path, timeout_s=10.0) -> bool:
    pid, end = int((job_dir / "worker.pid").read_text()), time.time() + timeout_s
    while alive(pid) and time.time() < end:
        time.sleep(0.05)
    return not alive(pid)


def test_a_killed_ray_worker_is_retried_once(tmp_path, ray_context):
    job, job_dir = fake_job(tmp_path, ray_context, sleep=3)
    thread, box = run_in_background(job, job_dir)
    os.kill(task_pid(job_dir, 1), signal.SIGKILL)  # the Ray worker dies mid-trial
    assert trial_process_gone(job_dir)  # ...and takes its training subprocess with it
    thread.join(90)
    out = box["out"]
    assert out["status"] == "ok" and out["executor"]["attempts"] == 2  # Ray ran it again, to the end
    assert json.loads((job_dir / "times.json").read_text())["end"] > 0


def test_a_ray_worker_lost_twice_is_a_failed_trial(tmp_path, ray_context):
    job, job_dir = fake_job(tmp_path, ray_context, sleep=30)
    thread, box = run_in_background(job, job_dir)
    os.kill(task_pid(job_dir, 1), signal.SIGKILL)
    os.kill(task_pid(job_dir, 2), signal.SIGKILL)
    thread.join(90)
    out = box["out"]
    assert out["status"] == "failed" and out["failure"] == "lost_worker" and out["executor"]["attempts"] == 2
    assert "WorkerCrashedError" in out["error"]


def test_a_trial_no_node_can_hold_fails_at_once(tmp_path, ray_context):
    ray_context.ray_num_gpus = 1  # this Ray has no GPU
    job, job_dir = fake_job(tmp_path, ray_context, sleep=0)
    out = run_job(job, job_dir, 120, module="tests.sleepy_worker")
    assert out["status"] == "failed" and out["failure"] == "unavailable" and "GPU 1" in out["error"]


def test_importing_the_graph_does_not_import_ray():
    import subprocess
    import sys

    code = "import graph.main, sys; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=trial_runner.IMPORT_ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
