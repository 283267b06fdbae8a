"""Insight distillation and the research brief with a (fake, tool-calling) chat model: the LLM's answer is used
when it validates, retried once, and replaced by the offline answer otherwise; every step is in the ledger."""
from __future__ import annotations

import pytest
from langgraph.runtime import Runtime

import tools.research.insights
from trex.context import Context
from tools.data.spec_loading import parse_spec
from trex.state import State
from memory.insight_store import open_context_store
from nodes.analyze_requirements import requirement_from_spec
from nodes.distill_insights import distill_insights
from nodes.research import research
from tests.fake_chat import fake_model
from tools.llm.chat_models import ChatSource, chat_source
from tools.research.research_brief import research_brief

BASE = {"lr": 2e-4, "epochs": 2, "lora_r": 8, "lora_alpha": 16, "batch_size": 8, "template": "chat"}
LESSONS = {"lessons": [
    {"lesson": "on tiny_intents with tiny-random, lr 1e-3 beat lr 2e-4 at lora_r 8: +0.300 accuracy",
     "evidence": "n1: t1 0.80 vs t0 0.50", "metric_delta": 0.3},
    {"lesson": "a learning rate of 5e-3 diverged at rank 8; keep lr at or below 1e-3 for this model",
     "evidence": "n1/t2 loss became nan"}]}


def _node(nid, parent, trials, scores, rnd=1, **extra):
    results = {}
    for cfg, score in zip(trials, scores):
        results[cfg["id"]] = ({"status": "ok", "score": score} if score is not None else
                              {"status": "failed", "failure": "diverged", "score": 0.0, "error": "loss became nan"})
    ok = {k: r for k, r in results.items() if r["status"] == "ok"}
    best = max(ok, key=lambda k: ok[k]["score"]) if ok else None
    return {"id": nid, "parent": parent, "round": rnd, "status": "evaluated", "trials": trials, "results": results,
            "score": ok[best]["score"] if best else 0.0, "best_trial": best, "failed": best is None, **extra}


@pytest.fixture
def round_state(tiny_task, tmp_path):
    spec = parse_spec(tiny_task)
    tree = {"root": _node("root", None, [{"id": "base", "epochs": 0}], [0.35], rnd=0),
            "n1": _node("n1", "root", [{**BASE, "id": "t0"}, {**BASE, "id": "t1", "lr": 1e-3},
                                       {**BASE, "id": "t2", "lr": 5e-3}], [0.5, 0.8, None],
                        diagnosis_kind="improving", diagnosis="val loss still falling (2.10 -> 1.90)")}
    return State(task=spec.model_dump(), run_dir=str(tmp_path / "run-x"), requirement=requirement_from_spec(spec),
                 tree=tree, current="n1", llm={"calls": 1, "steps": {"analyze_requirements:0": "llm"}})


def _with_model(tmp_path, **script) -> tuple[Context, object, ChatSource]:
    """(a context, the scripted fake, the ChatSource that injects it: build_graph(chat_model=fake) does the same)."""
    fake = fake_model(**script)
    ctx = Context(cache_dir=str(tmp_path / "cache"), runs_dir=str(tmp_path / "runs"),
                  insight_store=str(tmp_path / "store"), chat_model="fake:scripted")
    return ctx, fake, chat_source(fake)


def test_llm_lessons_are_stored_with_the_best_config_rule_lesson(round_state, tmp_path, monkeypatch):
    def fake_rules(tree, node_id, task, run_id=""):  # one plain rule lesson and one the planner reads fields of
        ctx = {"task": task["name"], "task_type": "classification", "base_model": task["base_model"],
               "metric": "accuracy", "run_id": run_id, "created": 1.0, "node_id": node_id, "round": 1}
        return [{"text": "on tiny_intents with tiny-random, LoRA improved on the base model: accuracy 0.350 -> 0.800",
                 "metadata": {**ctx, "kind": "vs_parent", "delta": 0.45}},
                {"text": "on tiny_intents with tiny-random, best config so far: lr 1e-3, r 8 -> 0.800 accuracy",
                 "metadata": {**ctx, "kind": "best_config", "delta": 0.45, "config": '{"lr": 0.001}'}}]

    monkeypatch.setattr(tools.research.insights, "distill", fake_rules)
    ctx, fake, chat = _with_model(tmp_path, Lessons=LESSONS)
    out = distill_insights(round_state, Runtime(context=ctx), chat)

    kinds = [x["metadata"]["kind"] for x in out["insights"]]
    assert kinds == ["llm", "llm", "best_config"]  # the LLM's lessons replace the rule ones, best_config stays
    first, second, best = out["insights"]
    assert first["text"] == LESSONS["lessons"][0]["lesson"] and first["metadata"]["delta"] == 0.3
    assert second["text"].startswith("on tiny_intents with tiny-random, a learning rate of 5e-3 diverged")
    assert second["metadata"]["delta"] is None and first["metadata"]["evidence"] == "n1: t1 0.80 vs t0 0.50"
    meta = first["metadata"]
    assert (meta["task"], meta["node_id"], meta["round"], meta["run_id"], meta["metric"]) == \
        ("tiny_intents", "n1", 1, "run-x", "accuracy")
    assert best["metadata"]["config"] == '{"lr": 0.001}' and all(x["stored"] for x in out["insights"])

    store = open_context_store(ctx)  # a real Chroma store in tmp_path
    assert store.count_insights() == 3
    hit = store.query_insights("a learning rate that diverged", 1)[0]
    assert hit["metadata"]["kind"] == "llm" and "diverged" in hit["text"]

    assert out["llm"]["steps"] == {"analyze_requirements:0": "llm", "distill_insights:1": "llm"}
    assert out["llm"]["calls"] == 2 and "errors" not in out["llm"]
    prompt = fake.calls[0]["prompt"]  # the round as the model saw it
    assert "parent's score 0.3500" in prompt and "higher is better" in prompt and "diverged" in prompt
    assert "accuracy 0.350 -> 0.800" in prompt  # a rule lesson, shown as a candidate fact
    assert "val loss still falling" in prompt and "tiny-random" in prompt


@pytest.mark.parametrize("second, source", [("no JSON here", "offline"), (LESSONS, "llm-retry")])
def test_a_lesson_without_a_number_is_retried_once_then_the_rules_answer(round_state, tmp_path,
                                                                          second, source):
    vague = {"lessons": [{"lesson": "a higher learning rate helped a lot on this task"}]}
    ctx, fake, chat = _with_model(tmp_path, Lessons=[vague, second])
    out = distill_insights(round_state, Runtime(context=ctx), chat)
    assert len(fake.calls) == 2 and "names no number" in fake.calls[1]["prompt"]  # the retry says why
    assert out["llm"]["steps"]["distill_insights:1"] == source
    if source == "offline":
        expected = tools.research.insights.distill(round_state.tree, "n1", round_state.task, "run-x")
        assert [x["text"] for x in out["insights"]] == [x["text"] for x in expected]  # the rule-based lessons
        assert all(x["stored"] for x in out["insights"])
        assert "no Lessons in the answer" in out["llm"]["errors"]["distill_insights:1"]
    else:
        assert {x["metadata"]["kind"] for x in out["insights"]} <= {"llm", "best_config"} and "errors" not in out["llm"]


def test_offline_distillation_is_the_rule_based_one(round_state, tmp_path):
    ctx = Context(cache_dir=str(tmp_path / "cache"), insight_store=str(tmp_path / "store"))
    out = distill_insights(round_state, Runtime(context=ctx))
    expected = tools.research.insights.distill(round_state.tree, "n1", round_state.task, "run-x")
    assert [x["text"] for x in out["insights"]] == [x["text"] for x in expected]
    assert out["llm"]["steps"]["distill_insights:1"] == "offline" and out["llm"]["calls"] == 1  # no new call
    baseline = distill_insights(State(**{**round_state.__dict__, "current": "root"}), Runtime(context=ctx))
    assert baseline == {}  # the baseline teaches nothing and records no step


# --- the research brief ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("insights"))  # one store for the module: the corpus is embedded once


@pytest.fixture
def research_state(tiny_task, tmp_path):
    spec = parse_spec(tiny_task)
    return State(task=spec.model_dump(), run_dir=str(tmp_path / "run"), requirement=requirement_from_spec(spec),
                 llm={"calls": 1, "steps": {"analyze_requirements:0": "offline"}})


def test_the_chat_model_writes_a_brief_citing_the_notes(research_state, store_dir, tmp_path):
    answer = {"takeaways": [{"text": "Start LoRA on a small model at lr 1e-4..5e-3, rank 8-16.", "sources": [1, 2, 1]},
                            {"text": "Report macro-F1 next to accuracy when labels are skewed.", "sources": [2]}],
              "suggested_datasets": ["bank_intents"]}
    ctx, fake, chat = _with_model(tmp_path, ResearchBrief=answer)
    ctx.insight_store = store_dir
    out = research(research_state, Runtime(context=ctx), chat)
    notes, brief = out["research"]["notes"], out["research"]["brief"]
    assert brief["source"] == "llm" and brief["suggested_datasets"] == ["bank_intents"]
    assert brief["takeaways"][0] == {"text": answer["takeaways"][0]["text"],
                                     "sources": [notes[0]["source"], notes[1]["source"]]}  # 1-based, no repeats
    assert brief["takeaways"][1]["sources"] == [notes[1]["source"]]
    assert all(s.startswith("trex corpus: memory/corpus/") for s in brief["takeaways"][0]["sources"])
    assert out["llm"]["steps"] == {"analyze_requirements:0": "offline", "research:0": "llm"}
    prompt = fake.calls[0]["prompt"]
    assert f"[1] {notes[0]['title']}" in prompt and "- bank_intents:" in prompt and "accuracy" in prompt


def test_a_brief_citing_a_note_not_shown_falls_back_to_the_extractive_one(tmp_path):
    notes = [{"title": "LoRA guide", "text": "Use rank 16 and lr 2e-4 for 7B models. Then tune epochs.",
              "source": "https://example.org/lora"},
             {"title": "Imbalance", "text": "When one label dominates, accuracy hides failures: 0.90 is easy.",
              "source": "trex corpus: memory/corpus/class_imbalance.md"}]
    bad = {"takeaways": [{"text": "Use rank 16.", "sources": [99]}]}
    unknown_data = {"takeaways": [{"text": "Use rank 16.", "sources": [1]}], "suggested_datasets": ["imagenet"]}
    ctx, fake, chat = _with_model(tmp_path, ResearchBrief=[bad, unknown_data])
    brief, ledger = research_brief({"task_type": "classification"}, notes, [{"id": "bank_intents"}], ctx, None, chat)
    assert len(fake.calls) == 2 and "cites note(s) [99]" in fake.calls[1]["prompt"]
    assert brief["source"] == "offline" and "imagenet" in brief["llm_error"]
    assert brief["takeaways"] == [
        {"text": "Use rank 16 and lr 2e-4 for 7B models.", "sources": ["https://example.org/lora"]},
        {"text": "When one label dominates, accuracy hides failures: 0.90 is easy.",
         "sources": ["trex corpus: memory/corpus/class_imbalance.md"]}]
    assert brief["suggested_datasets"] == []
    assert ledger["steps"] == {"research:0": "offline"} and "imagenet" in ledger["errors"]["research:0"]


def test_offline_research_has_an_extractive_brief(research_state, store_dir, tmp_path):
    ctx = Context(cache_dir=str(tmp_path / "cache"), insight_store=store_dir)
    out = research(research_state, Runtime(context=ctx))
    notes, brief = out["research"]["notes"], out["research"]["brief"]
    assert brief["source"] == "offline" and len(brief["takeaways"]) == len(notes) > 0
    for note, take in zip(notes, brief["takeaways"]):
        assert take["sources"] == [note["source"]] and 0 < len(take["text"]) <= 240
        assert " ".join(note["text"].split()).startswith(take["text"].rstrip("…"))
    assert out["llm"]["steps"] == {"analyze_requirements:0": "offline", "research:0": "offline"}
    assert out["llm"]["calls"] == 1 and "errors" not in out["llm"]


def test_the_report_shows_the_brief_escaped(tmp_path):
    from html.parser import HTMLParser

    from tools.reports.report_data import report_view
    from tools.reports.report_html import render_html
    from tools.reports.report_markdown import render_markdown

    evil = '<script>alert("x")</script>'
    brief = {"takeaways": [{"text": f"rank 16 works {evil}", "sources": ["https://example.org/lora", evil]}],
             "suggested_datasets": ["bank_intents"], "source": "llm"}
    root = _node("root", None, [{"id": "base", "epochs": 0}], [0.3], rnd=0)
    state = State(task={"name": "t", "goal": "g", "metric": "accuracy", "base_model": "m"}, tree={"root": root},
                  research={"notes": [{"title": "LoRA guide", "text": "x", "source": "https://example.org/lora"}],
                            "brief": brief})
    view = report_view(state, {})
    html, md = render_html(view, {}), render_markdown(view, {})
    tags = set()

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.add(tag)

    Tags().feed(html)
    assert "script" not in tags and "rank 16 works &lt;script&gt;" in html
    assert '<a href="https://example.org/lora">' in html and "Suggested datasets: bank_intents" in html
    assert "- rank 16 works &lt;script>" in md and "Brief (llm):" in md
