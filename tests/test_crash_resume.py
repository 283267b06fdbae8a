"""Crash-resume: `trex run` as a real process, SIGKILLed (with every process it started) during start-up,
evaluation, planning and training, then `trex resume RUN_DIR` until it finishes — with SQLite and with
PostgreSQL checkpoints. Nothing finished is lost or trained again, the killed work runs again, and the
final tree is whole.

How each kill point is reached, deterministically: a sitecustomize.py that the test puts on the run's
PYTHONPATH logs every process start (trex and each trial worker, with its job file) and every job a kept worker runs and, when asked,
holds trex inside one function (a graph node, or the opening of the checkpointer); the test waits
for that log line (or hold marker) and kills then.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph.checkpointing import open_checkpointer
from graph.main import build_graph
from trex.tree import ROOT
from memory.run_log import read_events

TREX = Path(sys.executable).with_name("trex")
HOOK = '''\
# Test-only: written by tests/test_crash_resume.py onto the PYTHONPATH of the `trex` it starts.
import os, sys
if os.environ.get("TREX_TEST_LAUNCHES"):  # every process of the run: trex and its trial workers
    with open(os.environ["TREX_TEST_LAUNCHES"], "a") as f:
        f.write(" ".join(sys.argv) + "\\n")
    if "tools.worker.kept_worker" in sys.orig_argv:  # a kept worker runs job after job: log each as a launch
        import runpy
        _run_module = runpy.run_module

        def _logged(*args, **kwargs):
            with open(os.environ["TREX_TEST_LAUNCHES"], "a") as f:
                f.write(" ".join(sys.argv) + "\\n")  # the kept worker sets argv to [module, job] per job
            return _run_module(*args, **kwargs)

        runpy.run_module = _logged
_target = os.environ.pop("TREX_TEST_PAUSE_IN", "")  # popped: workers must not hold
if _target:  # module|function|marker: hold inside this function until killed
    import functools, importlib, time
    _module, _name, _marker = _target.split("|")
    _mod = importlib.import_module(_module)
    _real = getattr(_mod, _name)

    @functools.wraps(_real)  # keeps the signature LangGraph reads (state, runtime)
    def _held(*args, **kwargs):
        with open(_marker, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(3600)
        return _real(*args, **kwargs)

    setattr(_mod, _name, _held)
'''


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return kids


def _tree_of(pid: int) -> list[int]:
    kids, todo, found = _children(), [pid], []
    while todo:
        p = todo.pop()
        found.append(p)
        todo += kids.get(p, [])
    return found


def kill_everything(proc: subprocess.Popen) -> None:
    """SIGKILL trex's process group and the group of every process below it (trial workers run in their
    own session), as a crash of the machine or of the job would."""
    groups = set()
    for pid in _tree_of(proc.pid):
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            pass
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.wait(timeout=30) == -signal.SIGKILL


class Run:
    def __init__(self, tmp: Path, cache_dir: Path, url: str | None):
        self.tmp, self.url, self.dir = tmp, url, tmp / "run"
        self.launches, self.hook = tmp / "launches.txt", tmp / "hook"
        self.hook.mkdir()
        (self.hook / "sitecustomize.py").write_text(HOOK)
        self.env = {**os.environ, "TREX_CACHE_DIR": str(cache_dir), "TREX_DEVICE": "cpu", "TREX_MAX_EVAL_EXAMPLES": "12",
                    "TREX_TRIAL_TIMEOUT_S": "300", "TREX_TEST_LAUNCHES": str(self.launches),
                    "TREX_CHECKPOINT_URL": "",  # SQLite unless a test says otherwise (and whatever .env says)
                    # one worker job per trial is what these tests count (halving's pause and continuation are
                    # two: tests/test_successive_halving.py)
                    "TREX_HALVING": "off",
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(self.hook), os.environ.get("PYTHONPATH")]))}
        self.env.pop("PGPASSWORD", None)
        self.n = 0

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        self.n += 1
        cmd = [str(TREX)] if TREX.is_file() else [sys.executable, "-m", "graph.cli.commands"]
        self.log = (self.tmp / f"trex-{self.n}.log").open("w")
        return subprocess.Popen(cmd + list(args), env={**self.env, **env}, cwd=self.tmp, stdout=self.log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return (self.tmp / f"trex-{self.n}.log").read_text()

    def launched(self, part: str) -> int:
        """How many processes were started with `part` in their command line."""
        lines = self.launches.read_text().splitlines() if self.launches.is_file() else []
        return sum(part in line for line in lines)

    def wait_for(self, proc: subprocess.Popen, what: str, ready, timeout: float = 300) -> None:
        end = time.time() + timeout
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"trex exited ({proc.returncode}) before {what}:\n{self.output()[-3000:]}")
            if time.time() > end:
                kill_everything(proc)
                pytest.fail(f"timed out waiting for {what}:\n{self.output()[-3000:]}")
            time.sleep(0.02)


def assert_whole_tree(tree: dict, rounds: int) -> None:
    """One root; rounds 0..R each once; every node evaluated with every trial scored; visits and values
    as backpropagation leaves them (each round adds one visit and its reward to itself and its ancestors)."""
    assert [n["id"] for n in tree.values() if n.get("parent") is None] == [ROOT]
    assert sorted(n["round"] for n in tree.values()) == list(range(rounds + 1))
    for node in tree.values():
        assert node["status"] == "evaluated", node["id"]
        assert set(node["results"]) == {t["id"] for t in node["trials"]}
        assert all("score" in r for r in node["results"].values())
        if node["parent"] is not None:
            assert tree[node["parent"]]["round"] < node["round"]
        below = [m for m in tree.values() if node["id"] in _ancestors(tree, m["id"])]
        assert node["visits"] == len(below), node["id"]
        assert node["value"] == pytest.approx(sum(m["reward"] for m in below)), node["id"]


def _ancestors(tree: dict, node_id: str | None) -> list[str]:
    out = []
    while node_id is not None:
        out.append(node_id)
        node_id = tree[node_id].get("parent")
    return out


def read_state(run_dir: Path, url: str | None):
    """The run's last checkpoint, read in this process from where the run directory says it is."""
    thread = json.loads((run_dir / "run.json").read_text())["thread_id"]
    with open_checkpointer(run_dir, url) as saver:
        return build_graph(saver).get_state({"configurable": {"thread_id": thread}})


@pytest.fixture(params=["sqlite", "postgres"])
def checkpoint_url(request) -> str | None:
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else None


def test_run_survives_kills_in_startup_evaluation_planning_and_training(tmp_path, cache_dir, tiny_task,
                                                                         checkpoint_url):
    spec = tmp_path / "task.json"
    spec.write_text(json.dumps({**tiny_task, "budget": {**tiny_task["budget"], "rounds": 1, "configs_per_round": 2}}))
    run = Run(tmp_path, cache_dir, checkpoint_url)
    how = ["--checkpoint-url", checkpoint_url] if checkpoint_url else []
    # Postgres: the password is given once on the command line, and again through the environment on resume.
    resume_env = {"TREX_CHECKPOINT_URL": checkpoint_url} if checkpoint_url else {}

    # 1. start-up: killed after the run directory was written, before the first checkpoint.
    marker = tmp_path / "held-in-open_checkpointer"
    proc = run.start("run", str(spec), "--run-dir", str(run.dir), *how,
                     TREX_TEST_PAUSE_IN=f"graph.checkpointing|open_checkpointer|{marker}")
    run.wait_for(proc, "the checkpointer to open", marker.is_file)
    kill_everything(proc)
    assert read_state(run.dir, checkpoint_url).values == {}  # nothing checkpointed: resume must start it afresh
    where = json.loads((run.dir / "checkpoint.json").read_text())
    assert where["kind"] == ("postgres" if checkpoint_url else "sqlite")
    if checkpoint_url:
        assert checkpoint_url.split("@")[0].split(":")[-1] not in (run.dir / "checkpoint.json").read_text()

    # 2. evaluation: killed while the base model's validation scoring job runs.
    root_eval = "trials/root/base/eval_val/job.json"
    proc = run.start("resume", str(run.dir), **resume_env)
    run.wait_for(proc, "the root's evaluation job", lambda: run.launched(root_eval) == 1)
    kill_everything(proc)
    assert not (run.dir / root_eval).with_name("result.json").exists()

    # 3. planning: killed inside plan_round of round 1.
    marker = tmp_path / "held-in-plan_round"
    proc = run.start("resume", str(run.dir), TREX_TEST_PAUSE_IN=f"nodes.plan_round|plan_round|{marker}", **resume_env)
    run.wait_for(proc, "plan_round", marker.is_file)
    kill_everything(proc)

    # 4. training: killed while the second trial of round 1 trains (the first one has finished).
    proc = run.start("resume", str(run.dir), **resume_env)
    run.wait_for(proc, "the second training job", lambda: run.launched("/adapters/") == 2)
    kill_everything(proc)

    # 5. the last resume finishes the run.
    proc = run.start("resume", str(run.dir), **resume_env)
    assert proc.wait(timeout=600) == 0, run.output()[-3000:]
    assert "report:" in run.output()

    snapshot = read_state(run.dir, checkpoint_url)
    state, tree = snapshot.values, snapshot.values["tree"]
    assert not snapshot.next  # finished
    assert_whole_tree(tree, rounds=1)
    assert Path(state["report_path"]).is_file() and "## Search tree" in Path(state["report_path"]).read_text()
    assert json.loads((run.dir / "tree.json").read_text()).keys() == tree.keys()

    # The killed evaluation ran again, once more, to the end; it was not taken from anywhere else.
    assert run.launched(root_eval) == 2
    assert tree[ROOT]["results"]["base"]["eval"]["cached"] is False
    assert [e["trial"] for e in read_events(run.dir) if e["event"] == "evaluated" and e["node"] == ROOT] == ["base"]
    # Planning was interrupted and redone: one round-1 node with its two trials.
    assert marker.is_file() and [n["id"] for n in tree.values() if n["round"] == 1] == ["n1"]
    assert len(tree["n1"]["trials"]) == 2
    # Training: the trial that had finished came back from the cache (one training job, ever); the killed
    # one trained again (two jobs) — and there are exactly the two adapters of the two trials.
    results = tree["n1"]["results"]
    assert results["t0"]["cached"] is True and results["t1"]["cached"] is False
    assert run.launched(f"/adapters/{results['t0']['key']}/job.json") == 1
    assert run.launched(f"/adapters/{results['t1']['key']}/job.json") == 2
    assert all(r["status"] == "ok" for r in results.values())
    ends = [(e["trial"], e["cached"]) for e in read_events(run.dir) if e["event"] == "train_end" and e["node"] == "n1"]
    assert sorted(ends) == [("t0", False), ("t0", True), ("t1", False)]
    assert state["final"].get("test_score") is not None
    # The wall-time budget was charged the time the run ran (tools/run/clock.py): four processes worked on it
    # (the first one was killed before the run started), and the time between a kill and its resume is not
    # counted. Events name the process that wrote them.
    acc = state["accounting"]
    assert acc["segments"] == 4 and 0 < acc["running_s"] < acc["wall_s"]
    assert len({e["proc"] for e in read_events(run.dir)}) == 4
