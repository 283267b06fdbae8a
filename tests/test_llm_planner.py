"""The LLM planner: a real graph run planned by a (fake, tool-calling) chat model, the fallback to the built-in
planner, the bounded planning prompt, and the safety bounds on proposed configurations."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from tools.llm.chat_models import chat_source
from trex.context import Context
from graph.main import build_graph
from tools.data.spec_loading import parse_spec
from trex.state import State
from trex.tree import ROOT
from nodes.plan_round import plan_round
from tests.fake_chat import fake_model
from tools.planning.config_bounds import check_config
from tools.planning.llm_planner import PlanInput, estimate_tokens, planning_messages
from tools.planning.planner import default_config, hyper_key

REQUIREMENT = {"task_type": "classification", "input_format": "a customer's message", "metric": "accuracy",
               "output_format": "one intent label", "direction": "higher", "constraints": {"max_latency_ms": 200},
               "success_criterion": "accuracy above the base model on the hidden test split", "risks": ["tiny data"]}
PLAN = {"rationale": "the baseline is weak: train two LoRA variants",
        "trials": [{"lr": 0.5, "lora_r": 4096, "epochs": 1, "rationale": "aggressive: a high rate, a wide adapter"},
                   {"lr": 2e-3, "epochs": 1, "max_samples": 1_000_000, "rationale": "all the data, one epoch"}]}


def test_a_run_planned_by_the_chat_model_with_a_fallback_round(tiny_task, context):
    fake = fake_model(Requirement=REQUIREMENT, RoundPlan=[PLAN, "I think you should lower lr", "no JSON here"])
    context.chat_model = "fake:scripted"  # the name the ledger records the injected model under
    state = build_graph(chat_model=fake).invoke({"task": tiny_task}, {"recursion_limit": 1000}, context=context)

    req = state["requirement"]
    assert req["source"] == "llm: fake:scripted" and req["constraints"]["max_latency_ms"] == 200
    assert req["constraints"]["base_model"] == "trex/tiny-random"  # the spec's own constraints are kept

    n1, n2 = state["tree"]["n1"], state["tree"]["n2"]
    assert n1["planner"] == "llm" and n1["rationale"] == PLAN["rationale"] and len(n1["trials"]) == 2
    t0, t1 = n1["trials"]
    assert t0["lr"] == 0.01 and t0["lora_r"] == 64 and t0["epochs"] == 1  # clamped: the tiny model's hidden size is 64
    assert t1["lr"] == 2e-3 and t1["max_samples"] <= 16
    notes = " | ".join(n1["config_notes"])
    assert "lr 0.5 clamped to 0.01" in notes and "lora_r 4096 clamped to 64" in notes and "max_samples 1000000" in notes
    assert n1["trial_rationales"]["t1"] == "all the data, one epoch"
    plan_prompt = next(c["prompt"] for c in fake.calls if c["tool"] == "RoundPlan")  # research asks before it
    assert "Path from the root" in plan_prompt and "root (round 0)" in plan_prompt

    assert n2["planner"] == "offline" and len(n2["trials"]) == 2  # two broken answers: the built-in planner
    assert any("LLM not used" in n for n in n2["config_notes"])
    for node in (n1, n2):
        assert node["status"] == "evaluated" and set(node["results"]) == {"t0", "t1"}
    assert state["stop_reason"].startswith("round budget reached") and Path(state["report_path"]).is_file()

    llm = state["llm"]
    mine = ("analyze_requirements:0", "plan_round:1", "plan_round:2")
    assert {k: llm["steps"].get(k) for k in mine} == dict(zip(mine, ("llm", "llm", "offline")))
    assert llm["calls"] >= 4 and llm["input_tokens"] > 0 and llm["output_tokens"] >= 200


def evaluated_node(nid, parent, rnd, score, cfgs, diagnosis="no_gain"):
    return {"id": nid, "parent": parent, "round": rnd, "status": "evaluated", "score": score, "visits": 1,
            "value": score, "reward": score - 0.2, "best_trial": cfgs[0]["id"], "trials": cfgs,
            "results": {c["id"]: {"score": score, "status": "ok"} for c in cfgs}, "diagnosis_kind": diagnosis,
            "diagnosis": "val loss still falling (2.1 -> 1.9): train longer or faster " * 5,
            "bad_cases": [{"input": "my card was swallowed by the ATM " * 20, "prediction": "balance",
                           "reference": "card_lost"}] * 8}


def trained(i, **kw):
    return {**default_config(100, 0), "id": f"t{i}", **kw}


def test_duplicates_bad_values_and_warm_starts_are_handled_and_empty_slots_filled(tiny_task, tmp_path):
    spec = parse_spec({**tiny_task, "budget": {"rounds": 3, "configs_per_round": 3, "max_train_samples": 100}}).model_dump()
    tree = {ROOT: evaluated_node(ROOT, None, 0, 0.2, [{"id": "base", "epochs": 0}], "baseline"),
            "n1": evaluated_node("n1", ROOT, 1, 0.6, [trained(0)], "underfitting")}
    plan = {"rationale": "continue n1", "trials": [
        {"rationale": "same again"},  # every field kept from the anchor: a repeat of n1's t0
        {"warm_start": True, "lora_r": 32, "rationale": "keep training n1's adapter"},
        {"batch_size": 0, "rationale": "broken"}, {"method": "dpo", "rationale": "unknown method"}]}
    fake = fake_model(RoundPlan=plan)
    state = State(task=spec, tree=tree, selected="n1", round=1, data={"sizes": {"train": 100}},
                  feedback=["never use more than 2 epochs"], insights=[{"text": "on intents, lr 1e-3 beat 1e-4"}])
    out = plan_round(state, SimpleNamespace(context=Context(chat_model="", cache_dir=str(tmp_path), seed=3)),
                     chat=chat_source(fake))
    node = out["tree"]["n2"]
    assert node["planner"] == "llm" and len(node["trials"]) == 3 and out["llm"]["steps"] == {"plan_round:2": "llm"}
    warm, fill, fill2 = node["trials"]
    assert warm["warm_start"] and warm["epochs"] == 1 and warm["lora_r"] == 8  # the parent adapter's rank
    keys = {hyper_key(c) for c in (warm, fill, fill2, tree["n1"]["trials"][0])}
    assert len(keys) == 4 and fill["seed"] == fill2["seed"] == 3  # no repeats; the run's seed
    notes = " | ".join(node["config_notes"])
    for reason in ("repeats a configuration", "batch_size 0 must be >= 1", "unknown method 'dpo'",
                   "warm start keeps the parent adapter's lora_r=8", "t1: filled by the built-in planner",
                   "t2: filled by the built-in planner"):
        assert reason in notes
    prompt = fake.calls[0]["prompt"]
    assert "never use more than 2 epochs" in prompt and "lr 1e-3 beat 1e-4" in prompt and "card_lost" in prompt


def deep_tree(n: int) -> dict:
    tree = {ROOT: evaluated_node(ROOT, None, 0, 0.2, [{"id": "base", "epochs": 0}], "baseline")}
    for i in range(1, n):
        parent = f"n{(i - 1) // 2}" if i > 2 else ROOT  # a binary tree: deep paths and many siblings
        cfgs = [trained(j, lr=[1e-4, 5e-4, 1e-3][j], epochs=1 + i % 5, max_samples=10 + i,
                        recipe={"dedup": "near"} if i % 3 else {}) for j in range(3)]
        tree[f"n{i}"] = evaluated_node(f"n{i}", parent, i, (i % 17) / 17, cfgs)
        if i % 7 == 0:
            tree[f"n{i}"].update(failed=True, best_trial=None, diagnosis_kind="diverged")
    return tree


def test_the_planning_prompt_stays_bounded_as_the_tree_grows(capsys):
    sizes = {}
    for n in (5, 50, 200):
        tree = deep_tree(n)
        p = PlanInput(tree=tree, parent_id=f"n{n - 1}", k=3, max_train=500, seed=0, task={"name": "t", "goal": "g"},
                      insights=["an insight " * 60] * 20, feedback=["a human note " * 40] * 20,
                      research=["a research takeaway " * 30] * 10,
                      priors=[{"task": "other", "gain": 0.5, "config": tree["n1"]["trials"][0]}] * 10)
        sizes[n] = estimate_tokens("".join(text for _, text in planning_messages(p)))
    with capsys.disabled():
        print(f"\nplanning prompt tokens (len/3) at 5/50/200 nodes: {sizes}")
    assert sizes[200] <= 4000  # a fixed bound, whatever the tree's size
    assert sizes[200] <= math.ceil(sizes[50] * 1.15)


@pytest.mark.parametrize("change, verdict, reason", [
    ({"lr": 0}, None, "lr 0 must be > 0"),
    ({"lr": -1e-3}, None, "must be > 0"),
    ({"lr": 0.3}, {"lr": 1e-2}, "lr 0.3 clamped to 0.01"),
    ({"lr": float("nan")}, None, "not a finite number"),
    ({"epochs": 3000}, {"epochs": 20}, "epochs 3000 clamped to 20"),
    ({"epochs": 0}, None, "epochs 0 must be >= 1"),
    ({"lora_r": 512, "lora_alpha": 1024}, {"lora_r": 64, "lora_alpha": 128}, "lora_r 512 clamped to 64"),
    ({"batch_size": 0}, None, "batch_size 0 must be >= 1"),
    ({"max_samples": 10**9}, {"max_samples": 100}, "clamped to the 100 training examples"),
    ({"method": "rlhf"}, None, "unknown method 'rlhf'"),
    ({"template": "alpaca"}, None, "unknown template 'alpaca'"),
    ({"layer_fraction": 3.0}, {"layer_fraction": 1.0}, "layer_fraction 3 clamped to 1"),
    ({"recipe": {"dedup": "fuzzy"}}, None, "recipe field 'dedup'"),
    ({"recipe": {"extra_sources": [{"path": "/etc/passwd.csv"}], "dedup": "near"}}, {"recipe": {"dedup": "near"}},
     "extra_sources dropped"),
    ({"warm_start": True}, {"warm_start": False}, "no trained adapter"),
])
def test_config_bounds_clamp_or_reject_with_a_reason(change, verdict, reason):
    cfg, reasons = check_config({**default_config(100, 0), **change}, max_train=100, hidden_size=64,
                                anchor=None, can_warm_start=False)
    assert any(reason in r for r in reasons), reasons
    if verdict is None:
        assert cfg is None and reasons[-1].startswith("rejected")
    else:
        assert cfg is not None and {k: cfg[k] for k in verdict} == verdict


def test_a_safe_config_passes_unchanged():
    cfg = default_config(100, 0)
    assert check_config(dict(cfg), max_train=100, hidden_size=576) == (cfg, [])
