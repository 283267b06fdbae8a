"""The recipe's judge_filter: the configured chat model scores training examples and the recipe drops the low
ones (tools/data/recipe_judging.py, tools/data/recipes.apply_recipe). Chat models here are scripted fakes."""
from __future__ import annotations

import json

import pytest

from tests.fake_chat import fake_model
from tools.data.recipe_judging import BATCH, make_judge
from tools.data.recipes import apply_recipe, prepare_train_file
from trex.recipe import RecipeError, parse_recipe, recipe_hash


def rec(i, o):
    return {"input": i, "output": o}


def by_output(wrong: set[str]):
    """A judge callable that scores 0 for the given outputs, 1 otherwise, and records what it was shown."""
    seen: list[dict] = []

    def judge(records, jf):
        seen.extend(records)
        return [0.0 if r["output"] in wrong else 1.0 for r in records]

    judge.seen = seen
    return judge


def test_judge_filter_drops_low_scored_examples_of_every_source(tmp_path):
    own = [rec("lost my card", "card"), rec("what is my balance", "card")]  # the second is mislabelled
    extra = tmp_path / "pool.jsonl"
    extra.write_text("".join(json.dumps(r) + "\n" for r in [rec("card gone", "card"), rec("balance?", "card")]))
    recipe = {"extra_sources": [{"path": str(extra)}], "judge_filter": {"min_score": 0.5}}

    def judge(records, jf):
        return [0.0 if "balance" in r["input"] else 0.9 for r in records]

    out, stats = apply_recipe(own, recipe, [], judge=judge)
    assert out == [rec("lost my card", "card"), rec("card gone", "card")]
    assert stats["judge_filter"] == {"status": "applied", "scope": "all", "min_score": 0.5, "judged": 4,
                                     "unscored": 0, "dropped": 2, "dropped_examples": [
        {"source": "train", "score": 0.0, "input": "what is my balance", "output": "card"},
        {"source": str(extra), "score": 0.0, "input": "balance?", "output": "card"}]}  # what it took out, shown
    assert [s["judged_out"] for s in stats["sources"]] == [1, 1]
    # scope "sources" spares the task's own examples: the judge never sees them
    spared, s2 = apply_recipe(own, {**recipe, "judge_filter": {"scope": "sources"}}, [], judge=judge)
    assert spared[:2] == own and set(map(str, spared[2:])) == {str(rec("card gone", "card"))}  # the mix repeats it
    assert s2["judge_filter"]["judged"] == 2 and "judged_out" not in s2["sources"][0]


def test_judge_filter_runs_after_leak_and_dedup_and_before_the_mix():
    train = [rec("a", "A"), rec("a", "A"), rec("leak", "A"), rec("b", "wrong"), rec("c", "A")]
    judge = by_output({"wrong"})
    out, stats = apply_recipe(train, {"dedup": "exact", "judge_filter": {}, "max_samples": 2}, ["leak"], judge=judge)
    assert judge.seen == [rec("a", "A"), rec("b", "wrong"), rec("c", "A")]  # no duplicate, no leak is judged
    assert len(out) == 2 and rec("b", "wrong") not in out  # the cap draws from what the judge kept
    assert stats["judge_filter"]["dropped"] == 1


def test_judge_filter_is_skipped_with_a_reason_without_a_chat_model():
    train = [rec("a", "A"), rec("b", "wrong")]
    out, stats = apply_recipe(train, {"judge_filter": {"min_score": 0.9}}, [])
    assert out == train
    assert stats["judge_filter"] == {"status": "skipped", "reason": "no chat model configured"}
    _, plain = apply_recipe(train, {}, [])
    assert "judge_filter" not in plain  # a recipe without the step reports nothing about it


def test_judge_filter_schema_and_keys():
    assert parse_recipe({"judge_filter": {}}).judge_filter.min_score == 0.5
    for bad in ({"min_score": 1.5}, {"scope": "own"}, {"threshold": 0.5}):
        with pytest.raises(RecipeError, match="judge_filter"):
            parse_recipe({"judge_filter": bad})
    # recipes without the step keep the keys they had; with it, min_score and scope change the key
    assert recipe_hash({}, "d") == recipe_hash({"judge_filter": None}, "d")
    assert len({recipe_hash(r, "d") for r in ({}, {"judge_filter": {}}, {"judge_filter": {"min_score": 0.7}},
                                                {"judge_filter": {"scope": "sources"}})}) == 4


def test_prepared_file_key_names_the_judge(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in [rec("a", "A"), rec("b", "wrong")]))
    recipe = {"judge_filter": {}}
    _, skipped = prepare_train_file(train, recipe, [], tmp_path / "c")
    judge = by_output({"wrong"})
    judge.model_spec = "openai:judge-a"
    _, a = prepare_train_file(train, recipe, [], tmp_path / "c", judge=judge)
    judge_b = by_output(set())
    judge_b.model_spec = "openai:judge-b"
    _, b = prepare_train_file(train, recipe, [], tmp_path / "c", judge=judge_b)
    assert skipped["train_out"] == 2 and a["train_out"] == 1 and b["train_out"] == 2
    assert len({skipped["hash"], a["hash"], b["hash"]}) == 3 and not a["cached"] and not b["cached"]
    _, again = prepare_train_file(train, recipe, [], tmp_path / "c", judge=judge)
    assert again["cached"] and again["hash"] == a["hash"]


def test_make_judge_batches_examples_and_keeps_what_it_did_not_score():
    records = [rec(f"question {i}", "yes" if i % 3 else "no") for i in range(BATCH + 5)]

    def answer(messages):  # scores the batch it is shown by its outputs; skips id 1, repeats id 0
        shown = json.loads(str(messages[-1].content).split("Examples (JSON):\n", 1)[1])
        scores = [{"id": e["id"], "score": 1.0 if e["output"] == "yes" else 0.0} for e in shown if e["id"] != 1]
        return {"scores": scores + [{"id": 0, "score": 0.5}, {"id": 99, "score": 1.0}]}

    model = fake_model(ExampleScores=answer)
    judge = make_judge(model, "answer yes or no", ["yes", "no"], "fake:judge")
    scores = judge(records, parse_recipe({"judge_filter": {"instruction": "the answer is about the question"}}).judge_filter)
    assert len(model.calls) == 2  # BATCH per call
    assert scores[0] == 0.0  # the first score of an id counts; an unknown id (99) is ignored
    assert scores[1] is None and scores[BATCH + 1] is None  # not scored: kept by the recipe, never made up
    assert scores[2] == 1.0 and scores[3] == 0.0 and scores[BATCH] == 1.0
    prompt = model.calls[0]["prompt"]
    assert "yes, no" in prompt and "the answer is about the question" in prompt and "question 19" in prompt
    assert judge.report["calls"] == 2 and judge.report["judged"] == len(records) - 2
    assert judge.report["output_tokens"] == 100


def test_make_judge_errors_clearly_when_nothing_is_scored_or_the_pool_is_too_big(monkeypatch):
    from tools.data import recipe_judging

    jf = parse_recipe({"judge_filter": {}}).judge_filter
    broken = make_judge(fake_model(ExampleScores="I think they are all fine"), "task")
    with pytest.raises(RecipeError, match="scored no example"):
        broken([rec("a", "b")], jf)
    monkeypatch.setattr(recipe_judging, "MAX_JUDGED", 3)
    with pytest.raises(RecipeError, match="more than 3"):
        make_judge(fake_model(ExampleScores={"scores": [{"id": 0, "score": 1}]}), "task")([rec("a", "b")] * 4, jf)


def test_a_trial_judges_its_data_with_the_configured_chat_model_and_the_ledger_counts_it(tiny_task, tmp_path,
                                                                                         monkeypatch):
    """Through the Executor's own path (trial_jobs.training_data): the run's chat model judges, the low-scored
    rows are gone from the training file, and the calls are in the recipe's llm_usage."""
    from tools.data.datasets import prepare_splits
    from tools.data.spec_loading import parse_spec
    from tools.llm.chat_models import chat_source
    from tools.trials.trial_jobs import training_data
    from trex.context import Context

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    train = [json.loads(line) for line in open(data["paths"]["train"])]
    bad = train[0]["input"]

    def answer(messages):
        shown = json.loads(str(messages[-1].content).split("Examples (JSON):\n", 1)[1])
        return {"scores": [{"id": e["id"], "score": 0.0 if e["input"] == bad else 1.0} for e in shown]}

    fake = fake_model(ExampleScores=answer)
    chat = chat_source(fake)  # injected, as build_graph(chat_model=...) does
    cfg = {"recipe": {"judge_filter": {"min_score": 0.5}}}
    path, stats = training_data(spec, data, cfg, Context(chat_model="fake:judge", cache_dir=str(tmp_path / "c")), chat)
    rows = [json.loads(line) for line in open(path)]
    assert len(rows) == len(train) - 1 and all(r["input"] != bad for r in rows)
    assert stats["judge_filter"]["dropped"] == 1 and stats["llm_usage"]["calls"] == len(fake.calls) >= 1
    assert "card_lost" in fake.calls[0]["prompt"]  # a classification task's labels are shown to the judge

    _, off = training_data(spec, data, cfg, Context(chat_model="", cache_dir=str(tmp_path / "c")))
    assert off["judge_filter"]["status"] == "skipped" and off["train_out"] == len(train)
