"""The Executor's own chat-model calls (the llm_judge metric, recipe synthesis) reach the run's LLM ledger
(state.llm): counted once when they are made, never again for a cached score or a reused recipe file, priced
like the Researcher's calls, and the llm_usd budget cap sees them."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import nodes.evaluate
import nodes.score_test
import nodes.train
from trex.context import Context
from tools.data.spec_loading import parse_spec
from trex.state import State
from tests.fake_chat import fake_model
from tests.fake_runner import FakeRunner

PRICES = json.dumps({"judge-x": {"input": 1.0, "output": 2.0}})  # USD per 1M tokens (tools/llm_pricing)
SPEC = "openai:judge-x"


def usd(tin: int, tout: int) -> float:
    return (tin * 1.0 + tout * 2.0) / 1e6


def ctx_of(tmp_path, **kw) -> Context:
    return Context(chat_model=SPEC, llm_prices=PRICES, runs_dir=str(tmp_path / "runs"),
                   cache_dir=str(tmp_path / "cache"), max_parallel_trials=1, **kw)


def runtime(ctx: Context):
    return SimpleNamespace(context=ctx)


def scores(*values):
    return [{"score": v, "reason": "r"} for v in values]


# -- the judge metric and the scoring result ---------------------------------------------------------------

def test_judge_metric_counts_real_calls_and_memo_hits_add_nothing(monkeypatch):
    from tools.llm import chat_models
    from tools.llm.llm_judge import judge_metric

    fake = fake_model(Score=scores(1.0, 0.5))
    metric = judge_metric(fake)
    metric.compute(["Paris", "3 km"], ["paris", "3.2 km"])
    assert metric.usage["calls"] == 2 and metric.usage["output_tokens"] == 100  # the fake answers 50 each
    assert metric.usage["input_tokens"] > 0 and "model" not in metric.usage  # a model handed in: no spec
    first = dict(metric.usage)
    metric.example_score("3 km", "3.2 km")  # memo hit: no call, no tokens
    metric.compute(["Paris", "3 km"], ["paris", "3.2 km"])
    assert metric.usage == first and len(fake.calls) == 2

    monkeypatch.setenv("TREX_CHAT_MODEL", SPEC)  # the worker's judge: loaded by spec, which prices its calls
    monkeypatch.setattr(chat_models, "load_chat_model", lambda spec, cache_dir=None: fake_model(Score=scores(1.0)))
    loaded = judge_metric()
    loaded.compute(["a"], ["b"])
    assert loaded.usage["calls"] == 1 and loaded.usage["model"] == SPEC


def test_score_model_reports_the_judge_calls_of_this_job_only(tmp_path, monkeypatch):
    from tools.worker import scoring
    from tools.llm.llm_judge import judge_metric

    eval_path = tmp_path / "val.jsonl"
    eval_path.write_text("".join(json.dumps({"input": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(3)))
    job = {"eval_path": str(eval_path), "task": {"task_type": "generation", "instruction": "answer", "labels": [],
                                                 "metric": "llm_judge", "max_new_tokens": 8}, "config": {}}
    metric = judge_metric(fake_model(Score=scores(1.0, 0.0, 0.5)))  # one per process, like resolve_metric's
    monkeypatch.setattr(scoring, "scoring_metric", lambda name: metric)
    monkeypatch.setattr(scoring, "render_prompt", lambda tok, template, instruction, inp, labels: inp)
    monkeypatch.setattr(scoring, "generate", lambda model, tok, prompts, n, **kw: [p.replace("q", "a") for p in prompts])

    out = scoring.score_model(None, None, job)
    assert out["status"] == "ok" and out["llm_usage"]["calls"] == 3  # bad cases and the mean: one call each
    assert out["llm_usage"]["output_tokens"] == 150 and out["llm_usage"]["input_tokens"] > 0
    again = scoring.score_model(None, None, job)  # same predictions: all memo hits in this process
    assert "llm_usage" not in again and again["score"] == out["score"]

    monkeypatch.setattr(scoring, "get_metric", lambda name: scoring.METRICS["exact_match"])
    assert "llm_usage" not in scoring.score_model(None, None, job)  # no judge, nothing to report


def test_training_job_hands_the_validation_judge_usage_to_the_train_node(tiny_task, tmp_path):
    from memory.trial_cache import TrialCache
    from tools.trials import trial_jobs
    from tools.data.datasets import prepare_splits

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    ctx = ctx_of(tmp_path, max_eval_examples=12)
    usage = {"calls": 4, "input_tokens": 400, "output_tokens": 200, "model": SPEC}

    def worker(job, job_dir, timeout_s):  # the job launcher: what the training subprocess sends back
        (job_dir / "adapter").mkdir(parents=True, exist_ok=True)
        return {"status": "ok", "adapter": str(job_dir / "adapter"), "val_eval": {
            "status": "ok", "score": 0.5, "n": 12, "bad_cases": [], "n_wrong": 6, "llm_usage": usage}}

    cfg = {"id": "t1", "epochs": 1, "lr": 1e-4}
    out = trial_jobs.run_training(spec, data, cfg, ctx, launch=worker)
    assert out["cached"] is False and out["val_llm_usage"] == usage
    cache = TrialCache(ctx.cache_dir)
    assert "val_llm_usage" not in cache.get(out["key"])  # a later cache hit made no calls
    val = trial_jobs.run_scoring(spec, data, cfg, out["adapter"], out["key"], "val", ctx, tmp_path / "e", 12,
                                 launch=worker)
    assert val["cached"] is True and val["llm_usage"] == usage  # evaluate finds it cached: counted by train
    again = trial_jobs.run_training(spec, data, cfg, ctx, launch=worker)
    assert again["cached"] is True and "val_llm_usage" not in again


# -- the nodes fold fresh usage into state.llm ---------------------------------------------------------------

def trained_state(tiny_task, tmp_path, results: dict, llm: dict | None = None) -> State:
    trials = [{"id": tid, "epochs": 1, "lr": 1e-4} for tid in results]
    root = {"id": "root", "parent": None, "round": 0, "status": "evaluated", "score": 0.3, "failed": False,
            "best_trial": "base", "trials": [{"id": "base", "epochs": 0}],
            "results": {"base": {"trial_id": "base", "status": "ok", "adapter": None, "key": "base", "score": 0.3}}}
    node = {"id": "n1", "parent": "root", "round": 1, "status": "trained", "trials": trials, "results": results}
    run_dir = tmp_path / "runs" / "r"
    run_dir.mkdir(parents=True, exist_ok=True)
    return State(task=tiny_task, run_dir=str(run_dir), data={"labels": [], "paths": {}}, tree={"root": root, "n1": node},
                 current="n1", round=1, llm=llm or {})


def test_evaluate_node_folds_fresh_judge_usage_and_ignores_cached_results(tiny_task, tmp_path, monkeypatch):
    fresh = {"calls": 3, "input_tokens": 3000, "output_tokens": 150}
    old = {"calls": 5, "input_tokens": 9000, "output_tokens": 250}
    scored = {"k1": {"status": "ok", "score": 0.8, "n": 12, "cached": False, "llm_usage": fresh},
              "k2": {"status": "ok", "score": 0.6, "n": 12, "cached": True, "llm_usage": old}}
    runner = FakeRunner(score=lambda spec, data, cfg, adapter, key, *a: scored[key])
    results = {tid: {"trial_id": tid, "status": "ok", "adapter": None, "key": key, "cached": False}
               for tid, key in (("t1", "k1"), ("t2", "k2"))}
    planner = {"calls": 1, "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.001, "steps": {"plan_round:1": "llm"}}
    state = trained_state({**tiny_task, "metric": "accuracy"}, tmp_path, results, llm=planner)

    update = nodes.evaluate.evaluate(state, runtime(ctx_of(tmp_path)), runner)
    led = update["llm"]
    assert update["tree"]["n1"]["score"] == 0.8
    assert led["calls"] == 1 + 3 and led["input_tokens"] == 10 + 3000 and led["output_tokens"] == 5 + 150
    assert led["steps"] == {"plan_round:1": "llm", "judge:1:t1": "llm"}  # the cached t2 made no calls now
    assert led["cost_usd"] == pytest.approx(0.001 + usd(3000, 150))
    assert led["model"] == SPEC and not led.get("unpriced")
    assert state.llm == planner  # the state is not changed in place

    for res in scored.values():
        res["cached"] = True
    assert "llm" not in nodes.evaluate.evaluate(state, runtime(ctx_of(tmp_path)), runner)  # nothing fresh: no update


def test_score_test_folds_the_judge_calls_on_the_test_split(tiny_task, tmp_path, monkeypatch):
    usage = {"base": {"calls": 2, "input_tokens": 100, "output_tokens": 20, "model": SPEC},
             "best": {"calls": 3, "input_tokens": 300, "output_tokens": 30, "model": SPEC}}

    def score(spec, data, cfg, adapter, key, split, ctx, job_dir, max_examples):
        label = "base" if key == "base" else "best"
        return {"status": "ok", "score": 0.5, "cached": False, "llm_usage": usage[label]}

    results = {"t1": {"trial_id": "t1", "status": "ok", "adapter": None, "key": "k1", "score": 0.9}}
    state = trained_state(tiny_task, tmp_path, results)
    state.tree["n1"].update(status="evaluated", score=0.9, best_trial="t1", failed=False)
    update = nodes.score_test.score_test(state, runtime(ctx_of(tmp_path)), FakeRunner(score=score))
    assert update["final"]["test_score"] == 0.5
    assert update["llm"]["steps"] == {"judge:test:base": "llm", "judge:test:best": "llm"}
    assert update["llm"]["calls"] == 5 and update["llm"]["cost_usd"] == pytest.approx(usd(400, 50))


def test_synthesis_usage_reaches_the_stats_and_the_ledger_once(tiny_task, tmp_path, monkeypatch):
    from tools.llm.chat_models import chat_source
    from tools.data.datasets import prepare_splits
    from tools.trials.trial_jobs import training_data

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    answer = {"examples": [{"input": "where did my card go", "output": "card_lost"},
                           {"input": "how much money is left", "output": "balance"}]}
    fake = fake_model(SyntheticExamples=answer)
    chat = chat_source(fake)  # injected, as build_graph(chat_model=...) does
    ctx = ctx_of(tmp_path)
    recipe = {"synthesis": {"n": 2, "instruction": "write new customer messages"}}

    def trained(spec_, data_, cfg, ctx_, init=None):  # the recipe runs for real; training is not the point here
        _, stats = training_data(spec_, data_, cfg, ctx_, chat)
        return {"status": "ok", "adapter": None, "cached": False, "key": f"k-{cfg['id']}", "recipe_stats": stats}

    runner = FakeRunner(train=trained)
    state = trained_state(tiny_task, tmp_path, {})
    state.data = data
    state.tree["n1"].update(status="planned", trials=[{"id": "t1", "epochs": 1, "recipe": recipe}])

    first = nodes.train.train(state, runtime(ctx), runner)
    stats = first["tree"]["n1"]["results"]["t1"]["train"]["recipe_stats"]
    assert stats["synthesis"] == {"status": "applied", "requested": 2, "added": 2} and stats["cached"] is False
    calls = len(fake.calls)
    assert stats["llm_usage"]["calls"] == calls >= 1 and stats["llm_usage"]["output_tokens"] == 50 * calls
    led = first["llm"]
    assert led["steps"] == {"recipe:1:t1": "llm"} and led["calls"] == calls
    assert led["input_tokens"] == stats["llm_usage"]["input_tokens"] > 0
    assert led["cost_usd"] == pytest.approx(usd(led["input_tokens"], led["output_tokens"]))

    # The next round plans the same recipe: its file is reused from the cache, no call is made or counted.
    state.llm = led
    state.tree["n2"] = {**state.tree["n1"], "id": "n2", "round": 2, "results": {}, "status": "planned"}
    state.current = "n2"
    second = nodes.train.train(state, runtime(ctx), runner)
    again = second["tree"]["n2"]["results"]["t1"]["train"]["recipe_stats"]
    assert again["cached"] is True and len(fake.calls) == calls
    assert "llm" not in second  # the ledger is unchanged


def test_train_node_counts_the_validation_judge_of_fresh_trainings_only(tiny_task, tmp_path, monkeypatch):
    usage = {"calls": 4, "input_tokens": 400, "output_tokens": 200}
    outs = {"t1": {"status": "ok", "adapter": None, "cached": False, "key": "k1", "val_llm_usage": usage},
            "t2": {"status": "ok", "adapter": None, "cached": True, "key": "k2", "val_llm_usage": usage}}
    runner = FakeRunner(train=lambda spec, data, cfg, ctx, init=None: outs[cfg["id"]])
    state = trained_state(tiny_task, tmp_path, {})
    state.tree["n1"].update(status="planned", trials=[{"id": "t1", "epochs": 1}, {"id": "t2", "epochs": 1}])
    led = nodes.train.train(state, runtime(ctx_of(tmp_path)), runner)["llm"]
    assert led["steps"] == {"judge:1:t1": "llm"} and led["calls"] == 4
    assert led["cost_usd"] == pytest.approx(usd(400, 200))


# -- the budget cap ------------------------------------------------------------------------------------------

def test_judge_spend_over_the_llm_usd_cap_stops_the_run(tiny_task, tmp_path):
    from nodes.check_budget import check_budget
    from tools.llm.structured_llm import record_usages

    ctx = ctx_of(tmp_path, max_llm_usd=0.5)
    state = trained_state(tiny_task, tmp_path, {})
    state.tree["n1"].update(status="planned", trials=[{"id": "t1", "epochs": 1}])
    state.started_at = 0.0
    assert "stop_reason" not in check_budget(state, runtime(ctx))  # no spend yet
    # A judge that read 300k tokens and wrote 100k: 0.3 + 0.2 = 0.5 USD at the configured prices.
    state.llm = record_usages(ctx, state.llm, {"judge:0:base": {"calls": 200, "input_tokens": 300_000,
                                                                "output_tokens": 100_000}})
    assert state.llm["cost_usd"] == pytest.approx(0.5)
    update = check_budget(state, runtime(ctx))
    assert update["stop_reason"] == "budget: llm_usd 0.50 reached (0.50 spent)"
    assert update["tree"]["n1"]["status"] == "skipped"
