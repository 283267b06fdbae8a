"""Bad input gets a one-line error that names the field and what is wrong, before anything trains:
through the spec loader (a file), the parser (a mapping), the graph's input, and the CLI."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
import yaml

from trex.spec import SpecError
from tools.data.spec_loading import load_spec, parse_spec
from tools.data.safe_paths import new_run_dir
from tools.data.spec_loading import load_task
from tools.data.datasets import DataError, prepare_splits
from tools.data.safe_paths import safe_name


def _fails(task, *needles, cls=SpecError) -> str:
    """The task is rejected as a mapping, as the graph input and as a YAML file; returns the message."""
    msgs = []
    for attempt in (lambda: parse_spec(task), lambda: load_task(task)):
        with pytest.raises(cls) as err:
            attempt()
        msgs.append(str(err.value))
    for msg in msgs:
        assert "\n" not in msg and all(n in msg for n in needles), msg
    return msgs[0]


def _rows(tiny_task) -> list[dict]:
    return [json.loads(line) for line in open(tiny_task["data"][0]["path"])]


def _with_file(tiny_task, tmp_path, content: str, suffix=".jsonl", **source) -> dict:
    path = tmp_path / f"data{suffix}"
    path.write_text(content)
    return {**tiny_task, "data": [{"path": str(path), "input_field": "text", "output_field": "intent", **source}]}


@pytest.mark.parametrize("change, needles", [
    ({"colour": "red"}, ["field 'colour': unknown field"]),
    ({"budget": {"round": 2}}, ["field 'budget.round': unknown field; did you mean 'rounds'?"]),
    ({"budget": {"rounds": "3"}}, ["field 'budget.rounds': Input should be a valid integer (got str '3')"]),
    ({"budget": {"rounds": True}}, ["field 'budget.rounds'", "got bool True"]),
    ({"budget": {"rounds": 0}}, ["field 'budget.rounds'", "greater than or equal to 1"]),
    ({"budget": {"configs_per_round": 0}}, ["field 'budget.configs_per_round'"]),
    ({"budget": {"max_train_samples": 0}}, ["field 'budget.max_train_samples'"]),
    ({"budget": {"wall_time_s": 0}}, ["field 'budget.wall_time_s'", "greater than 0"]),
    ({"budget": {"wall_time_s": -5.0}}, ["field 'budget.wall_time_s'"]),
    ({"max_new_tokens": -1}, ["field 'max_new_tokens'"]),
    ({"splits": {"seed": -3}}, ["field 'splits.seed'"]),
    ({"splits": {"val_fraction": float("nan")}}, ["field 'splits.val_fraction'", "finite"]),
    ({"metric": "bleurt"}, ["field 'metric': unknown metric 'bleurt'"]),
    ({"metric": "..x:y"}, ["field 'metric'"]),  # a custom metric whose import raises TypeError
    ({"task_type": "generation", "labels": None, "metric": "macro_f1"},
     ["field 'metric': metric 'macro_f1' does not fit task_type 'generation'"]),
    ({"metric": "rouge1"}, ["field 'metric'", "does not fit task_type 'classification'"]),
    ({"task_type": "generation", "labels": None, "scoring": "choice", "metric": "exact_match"},
     ["field 'scoring'", "needs task_type classification"]),
    ({"labels": ["balance"]}, ["field 'labels'", "at least two"]),
    ({"labels": ["a", "a", "b"]}, ["field 'labels': duplicate label(s): 'a'"]),
    ({"reference_score": 85}, ["field 'reference_score'", "not a percentage"]),
    ({"name": "../escape"}, ["field 'name'"]),
    ({"base_model": "not a model"}, ["field 'base_model': unknown base model 'not a model'"]),
    ({"base_model": "./no/such/dir"}, ["field 'base_model': local model directory", "does not exist"]),
])
def test_bad_fields_are_named(tiny_task, change, needles):
    _fails({**tiny_task, **change}, *needles)


def test_missing_required_field_is_named(tiny_task):
    _fails({k: v for k, v in tiny_task.items() if k != "base_model"}, "field 'base_model': required field is missing")


def test_local_model_dir_without_config_and_offline_hub_model(tiny_task, tmp_path, monkeypatch):
    _fails({**tiny_task, "base_model": str(tmp_path)}, "field 'base_model'", "has no config.json")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    _fails({**tiny_task, "base_model": "someorg/some-model"}, "field 'base_model'", "cannot be fetched",
           "HF_HUB_OFFLINE")
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # online: a plausible hub id downloads when needed
        monkeypatch.delenv(name, raising=False)
    assert parse_spec({**tiny_task, "base_model": "someorg/some-model"}).base_model == "someorg/some-model"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    assert parse_spec({**tiny_task, "base_model": str(tmp_path / "m")}).base_model == str((tmp_path / "m").resolve())


@pytest.mark.parametrize("content, suffix, source, needles", [
    (None, ".jsonl", {}, ["field 'data.0.path': data file not found"]),
    ("", ".jsonl", {}, ["field 'data.0.path'", "holds no rows: the dataset is empty"]),
    ("text,intent\n", ".csv", {}, ["field 'data.0.path'", "holds no rows"]),
    ("[]", ".json", {}, ["field 'data.0.path'", "holds no rows"]),
    ('{"text": "a", "intent": "loan"}\n[1, 2]\n', ".jsonl", {}, ["field 'data.0.path'", ":2: expected a JSON object"]),
    ('{"text": "a", "intent": "loan"}\n{oops\n', ".jsonl", {}, ["field 'data.0.path'", ":2: not valid JSON"]),
    ("a\tb\n", ".tsv", {}, ["field 'data.0.path'", "unsupported data format '.tsv'"]),
    (None, ".jsonl", {"input_field": "question"}, ["field 'data.0.input_field': missing column 'question'",
                                                    "(has: intent, text)"]),
    (None, ".jsonl", {"output_field": "label"}, ["field 'data.0.output_field': missing column 'label'"]),
])
def test_data_problems_are_named_before_anything_runs(tiny_task, tmp_path, content, suffix, source, needles):
    if content is None and not source:
        task = {**tiny_task, "data": [{"path": str(tmp_path / "missing.jsonl"), "input_field": "text",
                                       "output_field": "intent"}]}
    elif content is None:
        task = {**tiny_task, "data": [{**tiny_task["data"][0], **source}]}
    else:
        task = _with_file(tiny_task, tmp_path, content, suffix)
    _fails(task, *needles)


def test_rows_lacking_a_column_or_a_label(tiny_task, tmp_path):
    rows = _rows(tiny_task)
    rows[4] = {"text": rows[4]["text"]}
    _fails(_with_file(tiny_task, tmp_path, "".join(json.dumps(r) + "\n" for r in rows)),
           "field 'data.0.output_field': column 'intent' is missing or null in 1 of 60 rows", "(first: row 5)")
    rows = _rows(tiny_task)
    rows[2]["intent"] = " "
    _fails(_with_file(tiny_task, tmp_path, "".join(json.dumps(r) + "\n" for r in rows)),
           "field 'data.0.output_field'", "a classification example needs its label")


def test_outputs_outside_the_labels_and_missing_labels(tiny_task, tmp_path):
    _fails({**tiny_task, "labels": ["balance", "loan"]}, "field 'labels'", "not among the spec's labels: 'card_lost'")
    no_labels = {k: v for k, v in tiny_task.items() if k != "labels"}
    assert prepare_splits(parse_spec(no_labels), tmp_path / "d")["labels"] == ["balance", "card_lost", "loan"]
    one = [{**r, "intent": "balance"} for r in _rows(tiny_task)]
    _fails(_with_file(no_labels, tmp_path, "".join(json.dumps(r) + "\n" for r in one)),
           "field 'labels': not given", "1 distinct value")
    free = [{**r, "intent": f"answer {i}"} for i, r in enumerate(_rows(tiny_task))]
    _fails(_with_file(no_labels, tmp_path, "".join(json.dumps(r) + "\n" for r in free)),
           "field 'labels'", "free text, not labels")


def test_too_few_rows_for_the_splits(tiny_task, tmp_path):
    rows = _rows(tiny_task)[:3] * 10  # 30 rows, 3 distinct: duplicates are dropped before splitting
    _fails(_with_file(tiny_task, tmp_path, "".join(json.dumps(r) + "\n" for r in rows)),
           "field 'splits': only 3 distinct examples (of 30 rows)", cls=DataError)


@pytest.mark.parametrize("text, suffix, needle", [
    ("name: [unclosed\n", ".yaml", "not valid YAML: line 2, column 1"),
    ('{"name": ', ".json", "not valid JSON: line 1, column 10"),
    ("", ".yaml", "the file is empty"),
    ("- a\n- b\n", ".yaml", "expected a mapping of fields"),
    ("name: x\ndate: 2001-02-30\n", ".yaml", "not valid YAML"),
])
def test_malformed_spec_files(tmp_path, text, suffix, needle):
    path = tmp_path / f"spec{suffix}"
    path.write_text(text)
    for attempt in (lambda: load_spec(path), lambda: load_task(str(path))):
        with pytest.raises(SpecError, match="^invalid task spec .*" + needle.replace("[", r"\[")):
            attempt()


def test_the_graph_run_ends_with_the_spec_error_and_writes_nothing(tiny_task, tmp_path):
    from trex.context import Context
    from graph.main import graph

    context = Context(runs_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "cache"), device="cpu")

    bad = {**tiny_task, "data": [{**tiny_task["data"][0], "output_field": "label"}]}
    with pytest.raises(SpecError) as err:
        graph.invoke({"task": bad, "run_dir": str(tmp_path / "run")}, context=context)
    assert "\n" not in str(err.value) and "field 'data.0.output_field': missing column 'label'" in str(err.value)
    assert not (tmp_path / "run").exists()


def test_cli_prints_one_line_and_exits_2(tiny_task, tmp_path, capsys):
    from graph.cli.commands import main

    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({**tiny_task, "budget": {"rounds": 0}}))
    assert main(["run", str(spec), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: invalid task spec") and "field 'budget.rounds'" in err
    assert not (tmp_path / "runs").exists()


# --- path safety ---------------------------------------------------------------------------------

@pytest.fixture
def outside(tmp_path, monkeypatch):
    """A directory outside every allowed root (not under this test's temp dir, the cwd or the cache)."""
    monkeypatch.setenv("TREX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TREX_DATA_DIRS", str(tmp_path))
    d = Path(tempfile.mkdtemp(prefix="trex-outside-"))
    labels = ["balance", "card_lost", "loan"]
    (d / "secret.jsonl").write_text("".join(json.dumps({"text": f"secret {i}", "intent": labels[i % 3]}) + "\n"
                                            for i in range(12)))
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


def test_paths_cannot_escape_the_allowed_directories(tiny_task, tmp_path, outside, monkeypatch):
    src = tiny_task["data"][0]
    for path in (str(outside / "secret.jsonl"), "../" * 12 + str(outside / "secret.jsonl").lstrip("/"),
                 "/proc/self/environ"):
        _fails({**tiny_task, "data": [{**src, "path": path}]}, "field 'data.0.path'",
               "outside the allowed directories", "TREX_DATA_DIRS")
    link = tmp_path / "link.jsonl"
    link.symlink_to(outside / "secret.jsonl")
    _fails({**tiny_task, "data": [{**src, "path": str(link)}]}, "field 'data.0.path'", "a symlink leads out")
    _fails({**tiny_task, "base_dir": str(outside)}, "field 'base_dir'", "outside the allowed directories")
    _fails({**tiny_task, "recipe": {"extra_sources": [{"path": str(outside / "secret.jsonl")}]}},
           "field 'recipe.extra_sources.0.path'")
    # A spec file's relative path resolves against the file; '..' is fine while it stays inside a root.
    spec = tmp_path / "specs" / "task.yaml"
    spec.parent.mkdir()
    spec.write_text(yaml.safe_dump({**tiny_task, "data": [{**src, "path": "../" + Path(src["path"]).name}]}))
    assert load_spec(spec).data[0].path == str(Path(src["path"]).resolve())
    assert load_spec("tools/data/shipped/tasks/bank_intents.yaml").data[0].path.endswith("tools/data/shipped/data/bank_intents.jsonl")
    # An extra root opens a directory: the environment, or the run's Context (the graph's input path).
    from trex.context import Context

    task = {**tiny_task, "data": [{**src, "path": str(outside / "secret.jsonl")}]}
    assert load_task(task, Context(data_dirs=str(outside))).data[0].path == str((outside / "secret.jsonl").resolve())
    monkeypatch.setenv("TREX_DATA_DIRS", str(outside))
    assert parse_spec(task, check_data=False).data[0].path == str((outside / "secret.jsonl").resolve())


def test_a_symlink_swapped_in_after_validation_is_caught_when_reading(tiny_task, tmp_path, outside):
    data = tmp_path / "data.jsonl"
    data.write_text(Path(tiny_task["data"][0]["path"]).read_text())
    spec = parse_spec({**tiny_task, "data": [{**tiny_task["data"][0], "path": str(data)}]})
    data.unlink()
    data.symlink_to(outside / "secret.jsonl")
    with pytest.raises(DataError, match="a symlink leads out"):
        prepare_splits(spec, tmp_path / "splits")


def test_run_dir_names_are_single_safe_components(tmp_path):
    assert safe_name("../../etc") == "etc" and safe_name("a/b") == "a_b" and safe_name("..") == "task"
    assert safe_name(".hidden") == "hidden" and "/" not in safe_name("x/../../y") and ".." not in safe_name("a..b")
    run = Path(new_run_dir(str(tmp_path / "runs"), "../../outside"))
    assert run.parent == tmp_path / "runs" and run.name.startswith("outside-")
    assert os.sep not in run.name
