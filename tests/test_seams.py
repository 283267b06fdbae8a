"""The seams tests (and users) swap parts through: build_graph(chat_model=...) for every LLM step, and the rules
the LLM planner is shown that have one owner: the recipe grammar (trex.recipe.Recipe) and max_samples (the trial
table). docs/seams.md describes them."""
from __future__ import annotations

import dataclasses

import pytest
from pydantic import Field

from graph.main import build_graph
from tests.fake_chat import fake_model
from tests.fake_runner import FakeRunner
from tools.llm import chat_models
from tools.llm.chat_models import DEFAULT_CHAT, ChatSource, chat_source
from tools.llm.schemas import RoundPlan
from tools.llm.structured_llm import structured_step
from tools.planning.llm_planner import PlanInput, condensed_memory, usable_configs
from tools.planning.recipe_grammar import OWNED_ELSEWHERE, recipe_grammar
from trex.context import Context
from trex.recipe import Recipe
from trex.tree import ROOT

REQUIREMENT = {"task_type": "classification", "input_format": "a message", "output_format": "one intent label",
               "metric": "accuracy", "direction": "higher", "success_criterion": "beat the base model"}
PLAN = {"rationale": "two learning rates", "trials": [{"lr": 1e-3, "epochs": 1, "rationale": "a"},
                                                       {"lr": 2e-3, "epochs": 1, "rationale": "b"}]}


def fake_train(spec, data, cfg, ctx, init):
    return {"status": "ok", "adapter": None, "key": f"k-{cfg['lr']}", "tokens": 64, "train_s": 0.1,
            "loss_curve": [[1, 2.0]], "val_loss": [2.0]}


def fake_score(spec, data, cfg, adapter, key, split, ctx, job_dir, max_examples):
    return {"status": "ok", "score": 0.2 if cfg.get("epochs", 0) == 0 else 0.5, "n": 4}


def no_loader(spec, cache_dir=None):
    raise AssertionError(f"the default loader was called with {spec!r}")


@pytest.mark.parametrize("as_factory", [False, True])
def test_build_graph_calls_the_injected_chat_model_and_never_the_loader(tiny_task, context, monkeypatch,
                                                                        as_factory):
    monkeypatch.setattr(chat_models, "load_chat_model", no_loader)  # only to prove it is not used
    fake = fake_model(Requirement=REQUIREMENT, RoundPlan=PLAN)
    seen = []
    chat = (lambda ctx: seen.append(ctx) or fake) if as_factory else fake
    task = {**tiny_task, "budget": {**tiny_task["budget"], "rounds": 1}}
    ctx = dataclasses.replace(context, chat_model="")  # nothing configured: only the injected model can answer
    state = build_graph(runner=FakeRunner(fake_train, fake_score), chat_model=chat).invoke(
        {"task": task}, {"recursion_limit": 200}, context=ctx)
    asked = [c["tool"] for c in fake.calls]
    assert "Requirement" in asked and "RoundPlan" in asked
    steps = state["llm"]["steps"]
    assert steps["analyze_requirements:0"] == "llm" and steps["plan_round:1"] == "llm"
    assert state["tree"]["n1"]["planner"] == "llm" and state["tree"]["n1"]["rationale"] == PLAN["rationale"]
    assert state["llm"]["model"] == ("<lambda>" if as_factory else "FakeToolChatModel")  # named in the ledger
    if as_factory:
        assert seen and all(isinstance(c, Context) for c in seen)  # called with the run's Context


def test_without_an_injected_model_the_loader_reads_the_context(tmp_path, monkeypatch):
    fake = fake_model(RoundPlan=PLAN)
    asked = []
    monkeypatch.setattr(chat_models, "load_chat_model", lambda spec, cache_dir=None: asked.append(spec) or fake)
    offline = Context(chat_model="", cache_dir=str(tmp_path))
    assert not DEFAULT_CHAT.configured(offline) and DEFAULT_CHAT.model(offline) is None and not asked
    ctx = Context(chat_model="openai:gpt-4.1", cache_dir=str(tmp_path))
    outcome, ledger = structured_step(ctx, "plan_round:1", {}, RoundPlan, [("human", "plan")], lambda: "offline")
    assert outcome.source == "llm" and asked == ["openai:gpt-4.1"] and ledger["model"] == "openai:gpt-4.1"


def test_a_factory_may_answer_none_and_the_step_is_offline(tmp_path):
    chat = chat_source(lambda ctx: None)
    ctx = Context(chat_model="", cache_dir=str(tmp_path))
    outcome, ledger = structured_step(ctx, "plan_round:1", {}, RoundPlan, [("human", "plan")], lambda: "offline",
                                      chat=chat)
    assert outcome.source == "offline" and outcome.value == "offline" and ledger["steps"] == {"plan_round:1": "offline"}


def test_chat_source_takes_a_model_a_factory_or_none_and_refuses_the_rest():
    fake = fake_model(RoundPlan=PLAN)
    assert chat_source(None) is DEFAULT_CHAT
    assert chat_source(fake).model(Context(chat_model="")) is fake
    source = ChatSource(lambda ctx: fake, "mine")
    assert chat_source(source) is source
    with pytest.raises(TypeError, match="chat_model must be a chat model, a factory"):
        build_graph(chat_model="openai:gpt-4.1")  # a spec belongs in Context.chat_model / TREX_CHAT_MODEL


# --- rules the planner is shown, each with one owner ---------------------------------------------------------

def plan_input(**kw) -> PlanInput:
    root = {"id": ROOT, "parent": None, "round": 0, "status": "evaluated", "score": 0.2, "visits": 1, "value": 0.2,
            "trials": [{"id": "base", "epochs": 0}], "results": {}}
    sources = [{"path": "pool.jsonl", "input_field": "text", "output_field": "label", "weight": 1.0}]
    return PlanInput(tree={ROOT: root}, parent_id=ROOT, k=2, max_train=60, seed=0, task={"name": "t"},
                     sources=sources, **kw)


def test_the_prompt_lists_every_recipe_field_or_who_owns_it():
    memory = condensed_memory(plan_input())
    assert set(OWNED_ELSEWHERE) <= set(Recipe.model_fields)
    for name in Recipe.model_fields:
        assert (f"- recipe.{name}: " in memory) != (name in OWNED_ELSEWHERE), name
    for nested in ("min_input_chars", "drop_empty_output", "instruction", "min_score", "scope"):
        assert nested in memory  # sub-models (filters, synthesis, judge_filter) are rendered field by field

    class Grown(Recipe):  # a field added to Recipe reaches the grammar with no other edit
        shuffle_buffer: int | None = Field(None, ge=2, le=64, description="Made up for this test.")

    assert "shuffle_buffer: int 2..64 (Made up for this test)" in recipe_grammar(model=Grown)


def test_max_samples_is_offered_once_and_a_planned_recipe_cap_becomes_the_trials():
    p = plan_input()
    memory = condensed_memory(p)
    assert memory.count("max_samples") == 1 and "1 <= max_samples <= 60" in memory  # the trial table's bound
    plan = RoundPlan.model_validate({"rationale": "smaller data", "trials": [
        {"rationale": "cap", "recipe": {"max_samples": 10, "dedup": "near"}},
        {"rationale": "too big", "lr": 2e-3, "recipe": {"max_samples": 1000, "seed": 7}}]})
    (small, big), notes, _ = usable_configs(plan, p)
    assert small["max_samples"] == 10 and small["recipe"] == {"dedup": "near"}
    assert big["max_samples"] == 60 and not big.get("recipe")  # the task's cap still holds
    text = " | ".join(notes)
    assert "recipe.max_samples 10 applied as the trial's max_samples=10" in text and "recipe.seed 7 dropped" in text
