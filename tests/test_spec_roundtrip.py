"""The spec is validated once and travels typed: what the state holds (a dump) validates to the same spec, and
the typed spec rebuilt from it needs no second validation. A generation spec without `scoring` runs."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.memory import InMemorySaver

from trex.metrics import METRICS
from trex.spec import TaskSpec, trusted_spec
from trex.state import State

SLUG = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)
TEXT = st.text(min_size=1, max_size=30).filter(lambda s: s.strip())
COLUMN = st.from_regex(r"[a-z_]{1,8}", fullmatch=True)


@st.composite
def valid_specs(draw) -> TaskSpec:
    task_type = draw(st.sampled_from(["classification", "generation"]))
    fits = sorted(n for n, m in METRICS.items() if task_type in m.task_types)
    cols = draw(st.lists(COLUMN, min_size=2, max_size=2, unique=True))
    source = {"path": draw(SLUG) + ".jsonl", "input_field": cols[0], "output_field": cols[1]}
    spec = {"name": draw(SLUG), "goal": draw(TEXT), "task_type": task_type, "base_model": draw(SLUG),
            "data": [source], "metric": draw(st.sampled_from(fits)),
            "max_new_tokens": draw(st.integers(1, 2048)),
            "splits": {"val_fraction": draw(st.floats(0.01, 0.49)), "test_fraction": draw(st.floats(0.01, 0.49)),
                       "seed": draw(st.integers(0, 99))},
            "budget": {"rounds": draw(st.integers(1, 200)), "configs_per_round": draw(st.integers(1, 16)),
                       "max_train_samples": draw(st.integers(1, 10**6)),
                       "wall_time_s": draw(st.none() | st.floats(1, 1e5))}}
    if task_type == "classification":
        spec["labels"] = draw(st.lists(SLUG, min_size=2, max_size=5, unique=True))
        if draw(st.booleans()):
            spec["scoring"] = draw(st.sampled_from(["choice", "generate"]))
    if draw(st.booleans()):
        spec["test_data"] = [{**source, "path": "test_" + source["path"]}]
    if draw(st.booleans()):
        spec["recipe"] = draw(st.sampled_from([{"dedup": "near"}, {"balance": "upsample"},
                                               {"filters": {"min_input_chars": 3}}, {"max_samples": 50}]))
    if draw(st.booleans()):
        spec["reference_score"] = draw(st.floats(0, 1))
    return TaskSpec.model_validate(spec)


@settings(max_examples=200, deadline=None)
@given(valid_specs())
def test_a_dumped_spec_validates_to_the_same_spec(spec):
    dumped = spec.model_dump()
    assert TaskSpec.model_validate(dumped) == spec
    assert TaskSpec.model_validate(json.loads(json.dumps(dumped))) == spec  # as a checkpoint stores it
    assert trusted_spec(dumped) == spec
    assert State(task=dumped).spec == spec
    assert spec.scoring == ("generate" if spec.task_type == "generation" else spec.scoring)


def test_scoring_defaults_from_the_task_type(tiny_task):
    gen = {**tiny_task, "task_type": "generation", "labels": None, "metric": "exact_match"}
    assert TaskSpec.model_validate(gen).scoring == "generate"
    assert TaskSpec.model_validate(tiny_task).scoring == "choice"


def test_a_generation_spec_without_scoring_runs(tmp_path, context):
    from graph.main import build_graph

    rows = [{"q": f"{a}+{b}", "a": str(a + b)} for a in range(6) for b in range(5)]
    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = {"name": "sums", "goal": "add two numbers", "task_type": "generation", "base_model": "trex/tiny-random",
            "data": [{"path": str(data), "input_field": "q", "output_field": "a"}], "metric": "exact_match",
            "max_new_tokens": 4, "splits": {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 0},
            "budget": {"rounds": 1, "configs_per_round": 1, "max_train_samples": 8}}
    assert "scoring" not in task
    graph = build_graph(checkpointer=InMemorySaver())
    state = graph.invoke({"task": task}, {"configurable": {"thread_id": "gen"}}, context=context)
    assert state["task"]["scoring"] == "generate" and state["final"].get("test_score") is not None
    assert state["tree"]["n1"]["results"]["t0"]["status"] == "ok"
