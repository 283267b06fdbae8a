"""The wall-time budget counts the time a run was running, across resumes (tools/run/clock.py), not the time it
lay dead between a stop and its resume; the report and the progress line show both. Fast: trials are fakes
(tests/fake_runner.py) that cost fake time, and a resume in "another process" is a new process token."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graph.cli.progress import spend_line
from graph.main import build_graph
from memory import run_log
from tests.fake_runner import FakeRunner
from tools.reports.report_data import time_spent
from tools.run.clock import advance
from trex.context import Context

PAUSE_S = 73 * 60  # the run was resumed 73 minutes after its SIGTERM


class Killed(BaseException):
    """A SIGTERM in the middle of a training: not a failed trial, the process dies."""


class FakeClock:
    """time.time() shifted by what the fake trainings and the pause 'took'; every reader sees the same clock."""

    def __init__(self, monkeypatch):
        self.offset, real = 0.0, time.time
        monkeypatch.setattr(time, "time", lambda: real() + self.offset)

    def sleep(self, seconds: float) -> None:
        self.offset += seconds


def fake_runner(clock: FakeClock, train_s: float, kill_at: set[str] | None = None) -> FakeRunner:
    kill_at = set(kill_at or ())
    count = iter(range(1000))

    def train(spec, data, cfg, ctx, init=None):
        key = f"k{next(count)}"
        if cfg["id"] in kill_at:  # killed half-way through: the time ran, the training is lost
            kill_at.discard(cfg["id"])
            clock.sleep(train_s / 2)
            raise Killed()
        clock.sleep(train_s)
        return {"status": "ok", "adapter": None, "cached": False, "key": key, "train_s": train_s, "tokens": 100}

    def score(spec, data, cfg, adapter, key, split, ctx, job_dir, max_examples):
        return {"status": "ok", "score": 0.5 if adapter is None and key == "base" else 0.6}

    return FakeRunner(train=train, score=score)


def task_with(tiny_task: dict, **budget) -> dict:
    return {**tiny_task, "budget": {**tiny_task["budget"], "configs_per_round": 1, **budget}}


@pytest.fixture
def ctx(tmp_path) -> Context:
    return Context(runs_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "cache"), device="cpu")


CONFIG = {"configurable": {"thread_id": "w"}, "recursion_limit": 1000}


def new_process(monkeypatch, clock: FakeClock, pause_s: float) -> None:
    """The run's process is gone; pause_s later `trex resume` starts another one."""
    clock.sleep(pause_s)
    monkeypatch.setattr(run_log, "PROCESS", f"resumed-{clock.offset:.0f}")


def test_a_run_resumed_after_a_long_pause_is_charged_its_running_time_and_runs_its_next_round(
        tiny_task, ctx, monkeypatch):
    """The issue's run: wall_time_s 1800, 2 rounds, killed during round 1, resumed 73 minutes later. It was
    stopped at once (`wall_time_s 5265.6/1800`); now it runs round 2 and its report shows both times."""
    clock = FakeClock(monkeypatch)
    graph = build_graph(InMemorySaver(), runner=fake_runner(clock, train_s=600, kill_at={"t0"}))
    with pytest.raises(Killed):
        graph.invoke({"task": task_with(tiny_task, rounds=2, wall_time_s=1800)}, CONFIG, context=ctx,
                     durability="sync")
    new_process(monkeypatch, clock, PAUSE_S)
    state = graph.invoke(None, CONFIG, context=ctx, durability="sync")

    assert state["stop_reason"] == "round budget reached (budget: rounds 2 reached, 2 run)"
    assert [state["tree"][n]["status"] for n in ("n1", "n2")] == ["evaluated", "evaluated"]
    acc = state["accounting"]
    assert 1200 <= acc["running_s"] < 1260  # two trainings of 600 s, not the 300 s killed nor the pause
    assert acc["wall_s"] >= 1200 + 300 + PAUSE_S and acc["segments"] == 2
    assert state["clock"]["run_s"] == acc["running_s"]
    report = Path(state["report_path"]).read_text()
    assert f"running time {acc['running_s']:.0f} s (what wall_time_s counts), {acc['wall_s']:.0f} s since the start" \
           " (1 resume:" in report
    assert "running time" in Path(state["report_path"]).with_suffix(".html").read_text()


def test_a_run_whose_running_time_exceeds_the_budget_still_stops_across_a_resume(tiny_task, ctx, monkeypatch):
    """600 s run before the stop count: round 2 ends at 1200 s running (> 1000) and no round 3 is trained."""
    clock = FakeClock(monkeypatch)
    graph = build_graph(InMemorySaver(), runner=fake_runner(clock, train_s=600))
    task = task_with(tiny_task, rounds=3, wall_time_s=1000)
    for update in graph.stream({"task": task}, CONFIG, context=ctx, stream_mode="updates", durability="sync"):
        if "backpropagate" in update and "n1" in update["backpropagate"]["tree"]:
            break  # the process dies after round 1's checkpoint
    new_process(monkeypatch, clock, PAUSE_S)
    state = graph.invoke(None, CONFIG, context=ctx, durability="sync")

    assert state["stop_reason"].startswith("budget: wall_time_s 1000 reached (12")  # 1200 s running, not 5580
    assert state["tree"]["n2"]["status"] == "evaluated" and "n3" not in state["tree"]
    assert state["stop_reason"].endswith(" s running)") and state["accounting"]["segments"] == 2


def test_a_run_without_resumes_is_charged_from_its_start(tiny_task, ctx, monkeypatch):
    clock = FakeClock(monkeypatch)
    graph = build_graph(InMemorySaver(), runner=fake_runner(clock, train_s=600))
    state = graph.invoke({"task": task_with(tiny_task, rounds=3, wall_time_s=1000)}, CONFIG, context=ctx)
    assert state["stop_reason"].startswith("budget: wall_time_s 1000 reached (12")
    assert state["accounting"]["segments"] == 1
    assert state["accounting"]["running_s"] == pytest.approx(state["accounting"]["wall_s"], abs=0.2)


def test_clock_segments_from_the_mark_and_the_run_log():
    start = 1000.0
    first = advance({}, start, start + 50, "a", None, [])
    assert first["run_s"] == 50 and first["segments"] == 1
    # "a" logged an event at +80 and died; "b" begins at +500 (its first event at +510), reads at +600
    events = [{"t": start + 80, "proc": "a"}, {"t": start + 510, "proc": "b"}]
    second = advance(first, start, start + 600, "b", start + 500, events)
    assert second["run_s"] == 80 + 100 and second["segments"] == 2
    assert advance(second, start, start + 700, "b", None, [])["run_s"] == 280  # same segment: all of it ran
    # a segment that died before reading the clock ("c": events from +800 to +900) still counts its span
    events += [{"t": start + 800, "proc": "c"}, {"t": start + 900, "proc": "c"}, {"t": start + 1500, "proc": "d"}]
    fourth = advance(second, start, start + 1600, "d", None, events)
    assert fourth["run_s"] == 180 + 100 + 100 and fourth["segments"] == 4
    # the run's first process never read the clock: it ran from the start to its last event
    assert advance({}, start, start + 400, "b", start + 300, [{"t": start + 60, "proc": "a"}])["run_s"] == 160


def test_spend_line_and_report_show_running_and_elapsed_time():
    line = spend_line({"wall_s": 5265.6, "running_s": 900.0, "gpu_hours": 0.5}, {})
    assert line.startswith("spent 15 min 00 s running (1 h 27 min since the start) · 0.5000 GPU-h")
    assert time_spent({"wall_s": 5265.6, "running_s": 900.0, "segments": 2}) == (
        "running time 900 s (what wall_time_s counts), 5266 s since the start (1 resume: 4366 s stopped)")
    assert time_spent({"wall_s": 12.0}) == "running time 12 s (what wall_time_s counts), 12 s since the start"
