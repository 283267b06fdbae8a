"""Hard budget caps (tools/run/budget.py): rounds, wall time, GPU-hours and LLM dollars each stop the run cleanly:
the best node so far is still scored on the hidden test split, and the report names the cap."""
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from trex.context import Context
from graph.main import build_graph
from tools.data.spec_loading import parse_spec
from memory.run_log import read_events
from tools.run.budget import caps
from tests.fake_chat import fake_model
from tests.fake_runner import FakeRunner


def config(thread="b"):
    return {"configurable": {"thread_id": thread}, "recursion_limit": 1000}


def with_budget(task: dict, **budget) -> dict:
    return {**task, "budget": {**task["budget"], "configs_per_round": 1, **budget}}


def assert_stopped_cleanly(state: dict, reason: str) -> str:
    assert state["stop_reason"] == reason
    assert state["final"]["test_score"] is not None  # the best node so far, scored once on test
    report = Path(state["report_path"]).read_text()
    assert reason in report
    return report


def test_round_cap_from_the_context_replaces_the_spec(tiny_task, context):
    context.max_rounds = 1  # the spec allows 3
    graph = build_graph(InMemorySaver())
    seen = []
    for update in graph.stream({"task": with_budget(tiny_task, rounds=3)}, config(), context=context,
                               stream_mode="updates"):
        if "backpropagate" in update:
            seen.append(update["backpropagate"]["accounting"]["budget"]["rounds"])
    state = graph.get_state(config()).values
    assert set(state["tree"]) == {"root", "n1"}
    assert_stopped_cleanly(state, "round budget reached (budget: rounds 1 reached, 1 run)")
    assert seen == [{"cap": 1, "spent": 0}, {"cap": 1, "spent": 1}]  # spend vs cap, for a progress display


def test_wall_time_cap_from_the_spec_stops_after_the_baseline(tiny_task, context):
    state = build_graph().invoke({"task": with_budget(tiny_task, wall_time_s=0.001)}, config(), context=context)
    assert set(state["tree"]) == {"root"} and state["final"]["best_node"] == "root"
    assert state["stop_reason"].startswith("budget: wall_time_s 0.001 reached (")
    assert_stopped_cleanly(state, state["stop_reason"])


def test_gpu_hours_cap_from_the_environment(tiny_task, context, monkeypatch, tmp_path, cache_dir):
    from tools.trials import trial_jobs

    def on_a_gpu(*args, **kwargs):  # the CPU reports 0 GPU-hours; a GPU backend reports what it used
        out = trial_jobs.run_training(*args, **kwargs)
        return {**out, "gpu_hours": 0.3}

    monkeypatch.setenv("TREX_MAX_GPU_HOURS", "0.25")
    ctx = Context(runs_dir=str(tmp_path / "runs"), cache_dir=str(cache_dir), trial_timeout_s=300,
                  max_eval_examples=12, device="cpu")
    graph = build_graph(runner=FakeRunner(train=on_a_gpu))
    state = graph.invoke({"task": with_budget(tiny_task, rounds=3)}, config(), context=ctx)
    assert set(state["tree"]) == {"root", "n1"} and state["accounting"]["gpu_hours"] == 0.3
    assert_stopped_cleanly(state, "budget: gpu_hours 0.25 reached (0.3 spent)")


def test_llm_spend_cap_stops_before_the_round_trains(tiny_task, context):
    # An injected chat model plans round 1; only its answer is priced: 50 output tokens at 10,600 USD/1M = 0.53.
    # (Its other steps have no scripted answer: they fall back offline with no tokens.)
    plan = {"rationale": "two rates", "trials": [{"lr": 1e-3, "rationale": "a"}, {"lr": 2e-3, "rationale": "b"}]}
    context.chat_model, context.llm_prices = "fake:priced", '{"fake:priced": {"input": 0, "output": 10600}}'
    state = build_graph(chat_model=fake_model(RoundPlan=plan)).invoke(
        {"task": with_budget(tiny_task, rounds=3, llm_usd=0.5)}, config(), context=context)
    assert_stopped_cleanly(state, "budget: llm_usd 0.50 reached (0.53 spent)")
    assert state["tree"]["n1"]["status"] == "skipped" and state["round"] == 0
    assert not [e for e in read_events(state["run_dir"]) if e["event"] == "train_start" and e["node"] == "n1"]
    assert state["final"]["best_node"] == "root"


def test_caps_precedence_and_validation(tiny_task, monkeypatch):
    spec = parse_spec(with_budget(tiny_task, rounds=3, wall_time_s=60, gpu_hours=2, llm_usd=1.5))
    for name in ("TREX_MAX_LLM_USD", "TREX_MAX_GPU_HOURS", "TREX_MAX_ROUNDS", "TREX_MAX_TRAIN_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TREX_MAX_WALL_TIME_S", "30")
    assert caps(spec, Context(max_rounds=5)) == {"rounds": 5, "wall_time_s": 30.0, "gpu_hours": 2, "train_tokens": None,
                                                "llm_usd": 1.5}
    with pytest.raises(ValueError, match="max_llm_usd must be > 0"):
        Context(max_llm_usd=0)
    with pytest.raises(ValueError, match="budget.gpu_hours"):
        parse_spec(with_budget(tiny_task, gpu_hours=-1))
