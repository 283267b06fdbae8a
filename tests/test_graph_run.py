"""End-to-end runs of the compiled graph: real tiny model, real LoRA training in subprocesses, real scoring."""
import json
import sqlite3
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from graph.main import build_graph
from tests.fake_runner import FakeRunner
from tools.trials import trial_jobs
from trex.tree import ROOT
from memory.run_log import read_events


def config(thread="t1"):
    return {"configurable": {"thread_id": thread}, "recursion_limit": 1000}


def test_full_run_reaches_the_report_with_the_expected_tree(tiny_task, context):
    state = build_graph().invoke({"task": tiny_task}, config(), context=context)
    tree = state["tree"]
    assert set(tree) == {ROOT, "n1", "n2"}
    assert tree["n1"]["parent"] == ROOT and tree["n2"]["parent"] in {ROOT, "n1"}
    for nid in ("n1", "n2"):
        node = tree[nid]
        assert node["status"] == "evaluated" and len(node["trials"]) == 2
        assert all(r["status"] == "ok" and 0.0 <= r["score"] <= 1.0 for r in node["results"].values())
        assert all(r["train"]["loss_curve"] for r in node["results"].values())
    assert tree[ROOT]["visits"] == 3  # the baseline round plus two training rounds backed up through the root
    assert state["stop_reason"].startswith("round budget reached")
    final = state["final"]
    assert final["test_score"] is not None and final["base_test"] is not None
    report = Path(state["report_path"]).read_text()
    assert "## Search tree" in report and "test (hidden until now)" in report
    assert json.loads((Path(state["run_dir"]) / "tree.json").read_text()).keys() == tree.keys()
    if final["best_node"] != ROOT:
        assert (Path(state["run_dir"]) / "best_adapter" / "adapter_config.json").is_file()


def test_failed_trial_is_recorded_and_the_run_finishes(tiny_task, context):
    def one_diverges(spec, data, cfg, ctx, init=None):  # t0 trains for real at lr 1e30: NaN loss in the worker
        return trial_jobs.run_training(spec, data, {**cfg, "lr": 1e30} if cfg["id"] == "t0" else cfg, ctx, init)

    task = {**tiny_task, "budget": {**tiny_task["budget"], "rounds": 1}}
    state = build_graph(runner=FakeRunner(train=one_diverges)).invoke({"task": task}, config(), context=context)
    results = state["tree"]["n1"]["results"]
    assert results["t0"]["status"] == "failed" and "loss became" in results["t0"]["error"]
    assert results["t0"]["score"] == 0.0  # the metric's worst value
    assert results["t1"]["status"] == "ok"
    assert "failed" in Path(state["report_path"]).read_text()


def test_timeouts_fail_every_trial_and_the_run_still_reports(tiny_task, context):
    context.trial_timeout_s = 0.5
    task = {**tiny_task, "budget": {**tiny_task["budget"], "rounds": 1}}
    state = build_graph().invoke({"task": task}, config(), context=context)
    assert all(n["failed"] for n in state["tree"].values())
    assert "timed out" in state["tree"]["n1"]["results"]["t0"]["error"]
    assert state["final"] == {"error": "no trial succeeded"}
    assert "No result" in Path(state["report_path"]).read_text()


def test_resume_continues_without_redoing_round_one(tiny_task, context, tmp_path):
    db = tmp_path / "checkpoints.sqlite"
    conn = sqlite3.connect(db, check_same_thread=False)
    graph = build_graph(SqliteSaver(conn))
    rounds_done = 0
    for update in graph.stream({"task": tiny_task}, config("resume"), context=context, stream_mode="updates"):
        if "backpropagate" in update:
            rounds_done += 1
            if rounds_done == 2:  # baseline + round 1 done: stop as if the process died here
                break
    conn.close()
    conn = sqlite3.connect(db, check_same_thread=False)
    resumed = build_graph(SqliteSaver(conn))
    assert resumed.get_state(config("resume")).values["tree"]["n1"]["status"] == "evaluated"
    state = resumed.invoke(None, config("resume"), context=context)
    conn.close()
    run_dir = state["run_dir"]
    # a trial's start is its first job (halving may continue it in a second: continues_from_epoch)
    starts = [(e["node"], e["trial"]) for e in read_events(run_dir)
              if e["event"] == "train_start" and "continues_from_epoch" not in e]
    assert starts.count(("n1", "t0")) == 1 and starts.count(("n1", "t1")) == 1
    assert ("n2", "t0") in starts and set(state["tree"]) == {ROOT, "n1", "n2"}
    assert Path(state["report_path"]).is_file()
