import re
import pytest

from trex.spec import SpecError
from tools.data.spec_loading import load_spec, parse_spec
from tools.data.datasets import DataError, prepare_splits


def test_shipped_default_task_is_valid():
    spec = load_spec("tools/data/shipped/tasks/bank_intents.yaml")
    assert spec.metric == "accuracy" and len(spec.labels) == 8
    assert spec.data_path(spec.data[0]).is_file()


@pytest.mark.parametrize("change, field", [
    ({"budget": {"rounds": 0}}, "budget.rounds"),
    ({"metric": "bleurt"}, "metric"),
    ({"task_type": "regression"}, "task_type"),
    ({"colour": "red"}, "colour"),
    ({"data": []}, "data"),
    ({"name": "has spaces!"}, "name"),
    ({"splits": {"val_fraction": "lots"}}, "splits.val_fraction"),
])
def test_malformed_spec_names_the_field(tiny_task, change, field):
    with pytest.raises(SpecError) as err:
        parse_spec({**tiny_task, **change})
    assert f"field '{field}'" in str(err.value)


def test_missing_required_field(tiny_task):
    task = dict(tiny_task)
    del task["goal"]
    with pytest.raises(SpecError, match="field 'goal'"):
        parse_spec(task)


def test_metric_task_type_mismatch(tiny_task):
    with pytest.raises(SpecError, match="does not fit task_type"):
        parse_spec({**tiny_task, "task_type": "generation", "metric": "macro_f1"})


def test_malformed_yaml_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)


def test_missing_column_is_a_clear_data_error(tiny_task, tmp_path):
    task = {**tiny_task, "data": [{**tiny_task["data"][0], "input_field": "question"}]}
    with pytest.raises(DataError, match="missing column 'question'"):
        prepare_splits(parse_spec(task), tmp_path / "data")


def test_splits_are_disjoint_and_hide_test(tiny_task, tmp_path):
    data = prepare_splits(parse_spec(tiny_task), tmp_path / "data")
    parts = {k: set(open(v).read().splitlines()) for k, v in data["paths"].items()}
    assert not (parts["train"] & parts["test"]) and not (parts["val"] & parts["test"])
    assert data["sizes"]["test"] > 0 and data["labels"] == ["balance", "card_lost", "loan"]


def test_graph_input_names_a_task_three_ways(tiny_task):
    from tools.data.spec_loading import load_task

    assert load_task("bank_intents").name == "bank_intents"  # a shipped task's name
    assert load_task("tools/data/shipped/tasks/bank_intents.yaml").name == "bank_intents"  # a spec file
    assert load_task(tiny_task).name == "tiny_intents"  # a mapping
    with pytest.raises(SpecError, match="shipped: bank_intents"):
        load_task("no_such_task")
    with pytest.raises(SpecError, match="no 'task'"):
        load_task({})


def test_graph_rejects_a_malformed_spec_before_anything_starts(tiny_task, context, tmp_path):
    from graph.main import graph

    bad = {**tiny_task, "budget": {"rounds": 0}}
    with pytest.raises(SpecError, match="field 'budget.rounds'"):
        graph.invoke({"task": bad, "run_dir": str(tmp_path / "run")}, context=context)
    assert not (tmp_path / "run").exists()


def test_a_fixed_test_set_is_the_test_split_and_its_inputs_leave_training(tiny_task, tmp_path):
    import json
    from pathlib import Path

    rows = [json.loads(x) for x in Path(tiny_task["data"][0]["path"]).read_text().splitlines()]
    official = rows[:5] + [{"text": "a message only the official test set has", "intent": rows[0]["intent"]}]
    test_file = tmp_path / "official_test.jsonl"
    test_file.write_text("".join(json.dumps(r) + "\n" for r in official))
    spec = parse_spec({**tiny_task, "test_data": [{"path": str(test_file), "input_field": "text",
                                                   "output_field": "intent"}]})
    data = prepare_splits(spec, tmp_path / "splits")
    read = {k: [json.loads(x) for x in Path(p).read_text().splitlines()] for k, p in data["paths"].items()}
    assert [r["input"] for r in read["test"]] == [r["text"] for r in official]  # as given, in order
    held = {r["text"].strip().lower() for r in official}
    assert not any(r["input"].strip().lower() in held for r in read["train"] + read["val"])  # no leak
    assert data["sizes"]["train"] + data["sizes"]["val"] == len({r["text"].strip().lower() for r in rows} - held)
    with pytest.raises(SpecError, match="field 'test_data.0.output_field'"):
        parse_spec({**tiny_task, "test_data": [{"path": str(test_file), "input_field": "text", "output_field": "nope"}]})


def test_a_spec_declares_its_search_space_and_a_bad_entry_is_named(tiny_task):
    spec = parse_spec({**tiny_task, "search_space": {"lora_r": 16, "template": ["chat"], "lr": {"max": 1e-3},
                                                    "warm_start": False}})
    assert spec.search_space["lora_r"] == 16
    assert parse_spec({**tiny_task, **spec.model_dump(include={"search_space"})}).search_space == spec.search_space
    for bad, says in [({"lora_rank": 16}, "'lora_rank' cannot be set in search_space"),
                      ({"max_samples": 10}, "budget.max_train_samples"),
                      ({"lr": 0.5}, "lr must be <= 0.01"),
                      ({"epochs": 1.5}, "epochs takes an integer"),
                      ({"lr": {"min": 1e-3, "max": 1e-4}}, "min 0.001 is above max 0.0001"),
                      ({"template": {"min": 1}}, "only numeric fields take a {min, max} range"),
                      ({"template": ["chat", "json"]}, "template is one of chat, plain"),
                      ({"lora_r": []}, "an empty list allows nothing")]:
        with pytest.raises(SpecError, match=r"field 'search_space'.*" + re.escape(says)):
            parse_spec({**tiny_task, "search_space": bad})
