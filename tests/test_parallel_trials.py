"""A round's trials run side by side (ctx.max_parallel_trials), results in the plan's order; the cache
still comes first; a failed trial is data; and no worker outlives the process that started it.

Training is played by tests/sleepy_worker.py (it sleeps and records when it ran): these tests are about
the fan-out and the process handling, not the training loop.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from functools import partial

import pytest
from langgraph.runtime import Runtime

import tools.trials.trial_runner as trial_runner
from trex.context import Context
from tools.data.spec_loading import parse_spec
from trex.state import State
from memory.run_log import read_events
from memory.trial_cache import TrialCache
from nodes.evaluate import evaluate
from nodes.train import train
from tools.data.datasets import prepare_splits
from tools.trials.runner import JobRunner
from tools.trials.trial_pool import run_all
from tests.fake_runner import launcher

REPO = Path(__file__).resolve().parent.parent
STARTED = "sleepy_started.jsonl"  # tests/sleepy_worker.py records each job it runs there, in the cache_dir
CFG = {"lr": 1e-3, "epochs": 1, "lora_r": 4, "lora_alpha": 8, "batch_size": 4, "max_samples": 16,
       "layer_fraction": 1.0, "template": "plain", "seed": 0}


@pytest.fixture
def fake_training() -> JobRunner:
    """TREX's trial runner whose worker jobs run the sleepy stand-in (TREX's own launcher, another module)."""
    return JobRunner(launch=launcher("tests.sleepy_worker"))


def started(tmp_path) -> list[dict]:
    """The config["fake"] of every job a worker really ran under ctx_for(tmp_path)'s cache, in the order they
    started: the sleepy worker records each as it starts (tests/sleepy_worker.py)."""
    log = tmp_path / "cache" / STARTED
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


@pytest.fixture
def prepared(tiny_task, tmp_path):
    spec = parse_spec(tiny_task)
    return spec, prepare_splits(spec, tmp_path / "data")


def ctx_for(tmp_path, **kw) -> Context:
    return Context(runs_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "cache"), trial_timeout_s=60,
                   device="cpu", **kw)


def run_round(prepared, tmp_path, trials, ctx, runner, node_id="n1"):
    """The train node on one planned round under root, its trials run by runner; returns the node it wrote."""
    spec, data = prepared
    tree = {"root": {"id": "root", "parent": None, "trials": [], "results": {}, "status": "evaluated"},
            node_id: {"id": node_id, "parent": "root", "round": 1, "trials": trials, "results": {},
                      "status": "planned"}}
    state = State(task=spec.model_dump(), run_dir=str(tmp_path / "run"), data=data, tree=tree, current=node_id)
    return train(state, Runtime(context=ctx), runner)["tree"][node_id], state


def trial(tid, sleep=0.2, **fake):
    return {**CFG, "id": tid, "fake": {"sleep": sleep, "tag": tid, **fake}}


def times(result):
    return json.loads((Path(result["adapter"]) / "times.json").read_text())


def test_a_round_fans_out_bounded_by_max_parallel_trials_and_keeps_the_plan_order(prepared, tmp_path, fake_training):
    trials = [trial("t0", 3.0), trial("t1", 1.0), trial("t2", 1.0)]
    began = time.time()
    node, state = run_round(prepared, tmp_path, trials, ctx_for(tmp_path, max_parallel_trials=2), fake_training)
    wall = time.time() - began
    res = node["results"]
    assert list(res) == ["t0", "t1", "t2"] and all(r["status"] == "ok" for r in res.values())
    t0, t1, t2 = (times(res[t]) for t in ("t0", "t1", "t2"))
    assert t1["start"] < t0["end"] and t0["start"] < t1["end"]  # t0 and t1 really ran at the same time
    assert t2["start"] >= t1["end"] - 0.05 or t2["start"] >= t0["end"] - 0.05  # a third waited for a free slot
    assert t1["end"] < t0["end"]  # finished out of order, reported in order
    assert wall < 3.0 + 1.0 + 1.0  # less than the trials one after another
    ends = [e["trial"] for e in read_events(state.run_dir) if e["event"] == "train_end"]
    assert ends.index("t1") < ends.index("t0")  # the event log has the real times


def test_one_at_a_time_by_default_on_the_local_executor(prepared, tmp_path, fake_training):
    node, _ = run_round(prepared, tmp_path, [trial("t0", 0.5), trial("t1", 0.5)], ctx_for(tmp_path), fake_training)
    t0, t1 = times(node["results"]["t0"]), times(node["results"]["t1"])
    assert t1["start"] >= t0["end"]


def test_cached_trials_start_no_process(prepared, tmp_path, fake_training):
    ctx = ctx_for(tmp_path, max_parallel_trials=2)
    run_round(prepared, tmp_path, [trial("t0"), trial("t1")], ctx, fake_training)
    assert len(started(tmp_path)) == 2
    # The next round repeats both configs (other ids) and adds one: only the new one starts a worker.
    again = [trial("t0") | {"id": "a"}, trial("b", 0.3), trial("t1")]
    node, _ = run_round(prepared, tmp_path, again, ctx, fake_training, node_id="n2")
    res = node["results"]
    assert [res[t]["cached"] for t in ("a", "b", "t1")] == [True, False, True]
    assert len(started(tmp_path)) == 3 and started(tmp_path)[-1]["tag"] == "b"


def test_identical_trials_of_one_round_train_once(prepared, tmp_path, fake_training):
    node, _ = run_round(prepared, tmp_path, [trial("t0", 1.0), trial("t0", 1.0) | {"id": "t1"}],
                        ctx_for(tmp_path, max_parallel_trials=2), fake_training)
    res = node["results"]
    assert len(started(tmp_path)) == 1  # the twin waited for the first and took its result
    assert res["t0"]["adapter"] == res["t1"]["adapter"] and res["t1"]["status"] == "ok"


def test_a_failed_trial_is_data_and_the_round_goes_on(prepared, tmp_path, fake_training, monkeypatch):
    ctx = ctx_for(tmp_path, max_parallel_trials=2)
    node, state = run_round(prepared, tmp_path, [trial("t0", fail=True), trial("t1")], ctx, fake_training)
    bad, good = node["results"]["t0"], node["results"]["t1"]
    assert bad["status"] == "failed" and bad["failure"] == "crash" and "exited with code 3" in bad["error"]
    assert "failing on purpose" in bad["log_tail"] and good["status"] == "ok"
    # Evaluation runs through the same pool; the failed trial scores the metric's worst value.
    scored = evaluate(State(**{**state.__dict__, "tree": {**state.tree, "n1": node}}), Runtime(context=ctx),
                      fake_training)
    assert {t: r["score"] for t, r in scored["tree"]["n1"]["results"].items()} == {"t0": 0.0, "t1": 0.5}


@pytest.mark.parametrize("max_parallel", [1, 2])
def test_a_bug_in_the_orchestration_raises_and_is_never_a_failed_trial(prepared, tmp_path, fake_training,
                                                                        monkeypatch, max_parallel):
    """Only the trial's own failures are data; an exception in this process's code is a bug and goes on up."""
    with pytest.raises(ZeroDivisionError):
        run_all([lambda: {"status": "ok"}, lambda: 1 / 0], max_parallel=max_parallel)

    def broken_put(self, key, value):
        raise KeyError("a bug in the trial cache")

    monkeypatch.setattr(TrialCache, "put", broken_put)  # the parent's bookkeeping after a worker that trained fine
    with pytest.raises(KeyError, match="a bug in the trial cache"):
        run_round(prepared, tmp_path, [trial("t0"), trial("t1")], ctx_for(tmp_path, max_parallel_trials=max_parallel),
                  fake_training)


# --- no worker outlives trex --------------------------------------------------------------------------

def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has stopped; nothing may be left to reap it in a container


def wait_for(check, timeout_s=30.0):
    end = time.time() + timeout_s
    while time.time() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    return check()


DRIVER = """
import signal, sys, time
from pathlib import Path
# Ctrl-C in a terminal raises KeyboardInterrupt; a test run started in the background (`cmd &`, nohup, some CI
# runners) inherits SIGINT ignored, and so would this driver: restore Python's own handler.
signal.signal(signal.SIGINT, signal.default_int_handler)
import langgraph.config  # noqa: F401 - warm: run_job's first wait imports it, seconds on a loaded machine
from tools.trials.trial_pool import run_all
from tools.trials.trial_runner import run_job
def job(name):
    return lambda: run_job({"sleep": 60}, Path(sys.argv[1]) / name, 120, module="tests.sleepy_worker")
try:
    run_all([job("a"), job("b")], int(sys.argv[2]))  # 1: in this thread; 2: side by side in a pool
except KeyboardInterrupt:
    print("interrupted", flush=True)
    time.sleep(60)  # stays alive (as a server would): the worker must be gone all the same
"""


def start_driver(job_dir: Path, parallel: int = 1):
    """A process that runs trials through run_job (as trex does); returns it and its workers' pids."""
    job_dir.mkdir(parents=True, exist_ok=True)
    with (job_dir / "driver.err").open("w") as err:  # what the driver said, for a failure's message
        proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(job_dir), str(parallel)], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=err, text=True)
    pid_files = [job_dir / name / "worker.pid" for name in ("a", "b")[:parallel]]
    assert wait_for(lambda: all(f.is_file() and f.read_text() for f in pid_files)), "the workers never started"
    workers = [int(f.read_text()) for f in pid_files]
    assert all(alive(w) for w in workers)
    return proc, workers


def interrupt(driver, tries: int = 5) -> str:
    """Ctrl-C the driver and return its first line. A SIGINT that lands while Python runs a finaliser (garbage
    collection during an import) is reported as "ignored" and lost, as a user's first Ctrl-C can be: press again."""
    import select

    for _ in range(tries):
        driver.send_signal(signal.SIGINT)
        ready, _, _ = select.select([driver.stdout], [], [], 5)
        if ready:
            return driver.stdout.readline().strip()
    return ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_killing_trex_kills_its_training_worker(tmp_path):
    driver, (worker,) = start_driver(tmp_path / "job")
    driver.kill()  # SIGKILL: no handler runs in trex
    driver.wait()
    assert wait_for(lambda: not alive(worker), 10), "the worker kept training after trex was killed"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("parallel", [1, 2])
def test_ctrl_c_kills_the_workers_before_trex_goes_on(tmp_path, parallel):
    driver, workers = start_driver(tmp_path / "job", parallel)
    try:
        said = interrupt(driver)
        assert said == "interrupted", f"driver (exit {driver.poll()}) said {said!r}; stderr: {(tmp_path / 'job' / 'driver.err').read_text()}"
        assert not any(alive(w) for w in workers) and driver.poll() is None  # gone while trex still runs
    finally:
        driver.kill()
        driver.wait()


def test_a_worker_whose_parent_is_gone_does_not_train(tmp_path):
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"mode": "train", "out_dir": str(tmp_path / "out")}))
    env = {**os.environ, "PYTHONPATH": str(REPO), trial_runner.PARENT_PID_ENV: str(os.getppid())}  # not its parent
    out = subprocess.run([sys.executable, "-m", "tools.worker.train_worker", str(job)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "is gone: not training" in out.stderr
    assert not (tmp_path / "out").exists()


def test_live_progress_of_trials_run_side_by_side_reaches_the_stream(prepared, tmp_path, fake_training):
    """The pool's threads run in the node's context, so their train_start/train_end events are streamed."""
    from langgraph.graph import END, START, StateGraph

    g = StateGraph(State, context_schema=Context)
    g.add_node("train", partial(train, runner=fake_training))
    g.add_edge(START, "train")
    g.add_edge("train", END)
    spec, data = prepared
    trials = [trial("t0", 0.5), trial("t1", 0.5)]
    tree = {"root": {"id": "root", "parent": None, "trials": [], "results": {}, "status": "evaluated"},
            "n1": {"id": "n1", "parent": "root", "round": 1, "trials": trials, "results": {}, "status": "planned"}}
    state = {"task": spec.model_dump(), "run_dir": str(tmp_path / "run"), "data": data, "tree": tree, "current": "n1"}
    events = list(g.compile().stream(state, stream_mode="custom", context=ctx_for(tmp_path, max_parallel_trials=2)))
    seen = sorted((e["kind"], e["trial"]) for e in events if e.get("kind") in ("train_start", "train_end"))
    assert seen == [("train_end", "t0"), ("train_end", "t1"), ("train_start", "t0"), ("train_start", "t1")]


def test_two_runs_sharing_a_cache_never_train_one_trial_into_the_same_directory(prepared, tmp_path, fake_training):
    """Two runs start the very same trial at once: one trains, the other waits for it and takes the cached result."""
    import threading

    from tools.trials.trial_jobs import run_training

    spec, data = prepared
    ctx = ctx_for(tmp_path)
    out = {}
    launch = fake_training.launch
    runs = [threading.Thread(target=lambda i=i: out.update(
        {i: run_training(spec, data, {**trial("t0", 1.5), "id": f"t{i}"}, ctx, launch=launch)})) for i in range(2)]
    for t in runs:
        t.start()
    for t in runs:
        t.join(60)
    assert len(started(tmp_path)) == 1  # one training process for the two runs
    assert {r["status"] for r in out.values()} == {"ok"} and out[0]["adapter"] == out[1]["adapter"]
    assert sorted(r["cached"] for r in out.values()) == [False, True]
