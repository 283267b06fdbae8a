"""Licences are data: a source whose terms forbid training is refused as training data (and accepted as test
data), a non-commercial licence is shown by `trex tasks` and in the report, and every shipped FT-Bench task
records its data's licence."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from graph.cli.commands import main
from tools.data.datasets import DataError, prepare_splits
from tools.data.spec_loading import parse_spec
from ftbench.cli import main as ftbench_main
from ftbench.task_files import bench_tasks, needs_prepare, resolve_task
from tools.reports.report import write_report_files
from trex.recipe import RecipeError, parse_recipe
from trex.spec import SpecError
from trex.state import State

EVAL_ONLY = {"name": "Eval-Only-1.0", "training": False, "commercial": False, "terms": "academic evaluation only"}
NON_COMMERCIAL = {"name": "CC-BY-NC-4.0", "commercial": False, "terms": "non-commercial use only"}


def test_training_forbidden_data_is_refused_for_training_naming_the_field_and_terms(tiny_task, tmp_path):
    data = {**tiny_task["data"][0], "licence": EVAL_ONLY}
    with pytest.raises(DataError) as err:
        parse_spec({**tiny_task, "data": [data]})  # spec loading reads the data: refused before anything runs
    msg = str(err.value)
    assert "field 'data.0.licence'" in msg and "Eval-Only-1.0 forbid training" in msg
    assert "academic evaluation only" in msg and "\n" not in msg


def test_training_forbidden_data_is_accepted_as_test_data(tiny_task, tmp_path):
    rows = [json.loads(x) for x in Path(tiny_task["data"][0]["path"]).read_text().splitlines()]
    test_file = tmp_path / "eval_only.jsonl"
    test_file.write_text("".join(json.dumps(r) + "\n" for r in rows[:8]))
    test = {"path": str(test_file), "input_field": "text", "output_field": "intent", "licence": EVAL_ONLY}
    spec = parse_spec({**tiny_task, "test_data": [test]})
    out = prepare_splits(spec, tmp_path / "splits")
    assert out["sizes"]["test"] == 8 and out["sizes"]["train"] > 0
    assert spec.licence_warnings() == ["non-commercial data: Eval-Only-1.0: academic evaluation only",
                                       "test-only data (terms forbid training): Eval-Only-1.0: academic evaluation only"]


def test_a_recipe_source_whose_terms_forbid_training_is_refused():
    with pytest.raises(RecipeError, match="extra_sources.0.*forbid training on extra.jsonl"):
        parse_recipe({"extra_sources": [{"path": "extra.jsonl", "licence": EVAL_ONLY}]})
    ok = parse_recipe({"extra_sources": [{"path": "extra.jsonl", "licence": NON_COMMERCIAL}]})
    assert ok.extra_sources[0].licence.commercial is False


def test_a_malformed_licence_names_its_field(tiny_task):
    data = {**tiny_task["data"][0], "licence": {"name": "MIT", "trainng": False}}
    with pytest.raises(SpecError, match=r"field 'data.0.licence.trainng': unknown field; did you mean 'training'"):
        parse_spec({**tiny_task, "data": [data]})
    with pytest.raises(SpecError, match=r"field 'data.0.licence.training'"):
        parse_spec({**tiny_task, "data": [{**tiny_task["data"][0], "licence": {"name": "MIT", "training": "no"}}]})


def test_every_shipped_benchmark_task_records_its_data_licence():
    for name in bench_tasks():
        if not needs_prepare(name):
            continue  # generated tasks: TREX's own data
        spec = yaml.safe_load(resolve_task(name).read_text(encoding="utf-8"))
        for source in spec["data"] + spec.get("test_data", []):
            assert source.get("licence", {}).get("name"), f"{name}: a data source without its licence"
    openfindata = yaml.safe_load(resolve_task("openfindata").read_text(encoding="utf-8"))
    assert openfindata["data"][0]["licence"]["training"] is False  # its release is for evaluation only


def test_ftbench_tasks_shows_non_commercial_and_test_only_data(capsys):
    """`ftbench tasks` lists FT-Bench's tasks with their data's limits; `trex tasks` only TREX's own tasks."""
    assert ftbench_main(["tasks"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "[non-commercial: CC-BY-NC-4.0]" in lines["csbench"]
    assert "[non-commercial: CC-BY-NC-SA-4.0]" in lines["econlogicqa"]
    assert "test only" in lines["openfindata"] and "non-commercial" not in lines["aci_bench"]
    assert "needs: python -m ftbench.loaders csbench" in lines["csbench"] and "bank_intents" in lines
    assert main(["tasks"]) == 0
    names = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "bank_intents" in names and not names & {"csbench", "openfindata", "aci_bench"}  # none of FT-Bench's


def test_the_report_names_the_data_licence_and_its_limits(tmp_path):
    task = {"name": "t", "metric": "accuracy", "base_model": "m",
            "data": [{"path": "a.jsonl", "licence": NON_COMMERCIAL}],
            "test_data": [{"path": "b.jsonl", "licence": EVAL_ONLY}, {"path": "c.jsonl", "licence": None}]}
    tree = {"root": {"id": "root", "parent": None, "round": 0, "status": "evaluated", "trials": [], "children": [],
                     "score": 0.3, "reward": 0.0, "visits": 1}}
    out = write_report_files(State(task=task, tree=tree), tmp_path, {})
    md, html = Path(out["markdown"]).read_text(), Path(out["html"]).read_text()
    assert "- data licence: CC-BY-NC-4.0 (non-commercial): non-commercial use only" in md
    assert "Eval-Only-1.0 (no training, non-commercial): academic evaluation only" in md
    assert "data licence: <b>CC-BY-NC-4.0 (non-commercial)" in html
