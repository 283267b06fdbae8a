"""Human review of each round's plan (Context.human_review): the graph stops after plan_round with the plan;
the reviewer approves, edits (change a field, drop a trial) or rejects it with a note. Real tiny model,
real training, a real checkpointer."""
import io
import json
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from graph.cli.commands import main as trex
from trex.context import Context
from graph.main import build_graph
from graph.cli.review_prompt import ask, parse_edits
from memory.run_log import read_events
from tools.planning.planner import hyper_key


def one_round(task: dict, configs: int) -> dict:
    return {**task, "budget": {**task["budget"], "rounds": 1, "configs_per_round": configs}}


def cfg(thread: str) -> dict:
    return {"configurable": {"thread_id": thread}, "recursion_limit": 1000}


def plan_of(out: dict) -> dict:
    assert "__interrupt__" in out, "the graph did not stop for review"
    return out["__interrupt__"][0].value


def trained(run_dir: str, node: str) -> list[str]:
    return [e["trial"] for e in read_events(run_dir) if e["event"] == "train_start" and e["node"] == node]


def trained_lr(cache_dir: Path, result: dict) -> float:
    """The learning rate the training job actually ran with (its job file in the adapter cache)."""
    return json.loads((cache_dir / "adapters" / result["key"] / "job.json").read_text())["config"]["lr"]


@pytest.fixture
def review(context):
    context.human_review = True
    return context


def test_edit_changes_a_trial_and_drops_another(tiny_task, review, cache_dir):
    graph = build_graph(InMemorySaver())
    out = graph.invoke({"task": one_round(tiny_task, 2)}, cfg("edit"), context=review)
    plan = plan_of(out)
    assert plan["node"] == "n1" and plan["parent"] == "root" and plan["rationale"]
    assert [t["id"] for t in plan["trials"]] == ["t0", "t1"] and all("lr" in t and "recipe" in t for t in plan["trials"])
    assert trained(out["run_dir"], "n1") == []  # nothing trains before the answer
    new_lr = 2e-4 if plan["trials"][0]["lr"] != 2e-4 else 5e-4

    out = graph.invoke(Command(resume={"action": "edit", "edits": {"t0": {"lr": new_lr}}, "drop": ["t1"]}),
                       cfg("edit"), context=review)
    assert "__interrupt__" not in out and Path(out["report_path"]).is_file()
    node = out["tree"]["n1"]
    assert [t["id"] for t in node["trials"]] == ["t0"] and node["trials"][0]["lr"] == new_lr
    assert set(node["results"]) == {"t0"} and node["results"]["t0"]["status"] == "ok"
    assert trained(out["run_dir"], "n1") == ["t0"]  # t1 never ran
    assert trained_lr(cache_dir, node["results"]["t0"]) == new_lr
    assert node["review"]["action"] == "edit" and node["review"]["drop"] == ["t1"]


def test_invalid_answers_ask_again_with_the_error(tiny_task, review):
    graph = build_graph(InMemorySaver())
    plan_of(graph.invoke({"task": one_round(tiny_task, 2)}, cfg("bad"), context=review))
    for answer, error in (({"action": "edit", "edits": {"t0": {"lr": -1}}}, "t0.lr"),
                          ({"action": "edit", "edits": {"t0": {"learning_rate": 1e-4}}}, "unknown field"),
                          ({"action": "edit", "edits": {"t0": {"epochs": "many"}}}, "not a number"),
                          ({"action": "edit", "drop": ["t0", "t1"]}, "every trial"),
                          ({"action": "edit", "drop": ["t7"]}, "unknown trial 't7'"),
                          ({"action": "maybe"}, "approve")):
        again = plan_of(graph.invoke(Command(resume=answer), cfg("bad"), context=review))
        assert error in again["error"] and [t["id"] for t in again["trials"]] == ["t0", "t1"]
    state = graph.get_state(cfg("bad"))
    assert state.next == ("researcher",) and trained(state.values["run_dir"], "n1") == []  # still waiting


def test_reject_replans_with_other_configs_and_keeps_the_note(tiny_task, review, cache_dir):
    graph = build_graph(InMemorySaver())
    first = plan_of(graph.invoke({"task": one_round(tiny_task, 1)}, cfg("reject"), context=review))
    note = "lr 1e-3 is too high for this model"
    second = plan_of(graph.invoke(Command(resume={"action": "reject", "note": note}), cfg("reject"), context=review))
    assert second["node"] == "n1" and second["round"] == 1
    assert {hyper_key(t) for t in second["trials"]}.isdisjoint(hyper_key(t) for t in first["trials"])
    researcher = graph.get_state(cfg("reject"), subgraphs=True).tasks[0].state  # paused inside the Researcher
    assert [note in f for f in researcher.values["feedback"]] == [True]

    out = graph.invoke(Command(resume={"action": "approve"}), cfg("reject"), context=review)
    node = out["tree"]["n1"]
    assert [hyper_key(t) for t in node["trials"]] == [hyper_key(t) for t in second["trials"]]
    assert node["review"] == {"action": "approve"} and node["rejected_plans"][0]["note"] == note
    assert [hyper_key(t) for t in node["rejected_plans"][0]["trials"]] == [hyper_key(t) for t in first["trials"]]
    assert trained(out["run_dir"], "n1") == ["t0"] and node["results"]["t0"]["status"] == "ok"
    assert trained_lr(cache_dir, node["results"]["t0"]) == second["trials"][0]["lr"]
    assert [note in f for f in out["feedback"]] == [True]  # what the planner reads in later rounds
    assert set(out["tree"]) == {"root", "n1"} and out["round"] == 1 and Path(out["report_path"]).is_file()


def test_review_is_off_by_default(tiny_task, context, monkeypatch):
    monkeypatch.delenv("TREX_HUMAN_REVIEW", raising=False)
    assert Context().human_review is False and context.human_review is False
    monkeypatch.setenv("TREX_HUMAN_REVIEW", "1")
    assert Context().human_review is True
    graph = build_graph(InMemorySaver())
    # Stop just before round 1 trains: the plan was made and nothing asked for a review.
    graph.invoke({"task": one_round(tiny_task, 1)}, cfg("off"), context=context, interrupt_before=["executor"])
    graph.invoke(None, cfg("off"), context=context, interrupt_before=["executor"])  # past the baseline round
    state = graph.get_state(cfg("off"))
    assert state.next == ("executor",) and not state.interrupts
    assert state.values["tree"]["n1"]["status"] == "planned" and "review" not in state.values["tree"]["n1"]


class Terminal(io.StringIO):
    """Scripted keyboard input that says it is a terminal."""

    def isatty(self):
        return True


def test_cli_prompts_shows_errors_and_applies_the_edit(tiny_task, cache_dir, tmp_path, monkeypatch, capsys):
    task = tmp_path / "task.json"
    task.write_text(json.dumps(one_round(tiny_task, 2)))
    for k, v in {"TREX_CACHE_DIR": str(cache_dir), "TREX_DEVICE": "cpu", "TREX_MAX_EVAL_EXAMPLES": "12",
                 "TREX_TRIAL_TIMEOUT_S": "300"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("TREX_HUMAN_REVIEW", raising=False)
    monkeypatch.setattr("sys.stdin", Terminal(""))  # no answer: the run stays paused at the review
    assert trex(["run", str(task), "--runs-dir", str(tmp_path / "runs"), "--review"]) == 1
    assert "paused at the plan review" in capsys.readouterr().out
    run_dir = next((tmp_path / "runs").iterdir())
    # `trex resume` asks again: first a bad value (the graph asks again, showing why), then the edit.
    monkeypatch.setattr("sys.stdin", Terminal("t0.lr=-1\nt0.lr=3e-4 drop t1\n"))
    code = trex(["resume", str(run_dir)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "plan for n1" in out and "approve [a]" in out and "not applied: t0.lr: -1 is out of range" in out
    n1 = json.loads((run_dir / "tree.json").read_text())["n1"]
    assert [t["id"] for t in n1["trials"]] == ["t0"] and n1["trials"][0]["lr"] == 3e-4 and set(n1["results"]) == {"t0"}


def test_cli_approves_automatically_without_a_terminal(monkeypatch, capsys):
    plan = {"review": "plan", "node": "n3", "round": 3, "parent": "n1", "rationale": "why",
            "trials": [{"id": "t0", "lr": 1e-3, "epochs": 2, "recipe": {}}]}
    monkeypatch.setattr("sys.stdin", io.StringIO("reject no\n"))  # a pipe: never read
    assert ask(plan) == {"action": "approve"}
    assert "approving the plan for n3 automatically (stdin is not a terminal)" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", Terminal("r\n"))
    assert ask(plan, yes=True) == {"action": "approve"} and "(--yes)" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", Terminal("r\nkeep epochs low\n"))  # reject, then the note when asked
    assert ask(plan) == {"action": "reject", "note": "keep epochs low"}
    monkeypatch.setattr("sys.stdin", Terminal(""))  # end of input: stay paused
    assert ask(plan) is None


def test_edit_syntax():
    assert parse_edits("t0.lr=1e-4 t1.template=plain drop t2,t3 t0.recipe='{\"dedup\": \"near\"}'") == {
        "action": "edit", "edits": {"t0": {"lr": 1e-4, "recipe": {"dedup": "near"}}, "t1": {"template": "plain"}},
        "drop": ["t2", "t3"]}
    with pytest.raises(ValueError, match="TRIAL.FIELD=VALUE"):
        parse_edits("lr=1e-4")
