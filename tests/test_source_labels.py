"""A classification task's added source keeps only rows with the task's labels (tools/data/source_labels.py):
foreign rows are dropped, or mapped by the source's label_map or by the chat model; a source left with fewer than
20 rows is refused with the reason, as a failed trial; the research step's vetting counts the same survivors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, spec_of
from tests.fake_chat import fake_model
from tools.data.datasets import DataError, prepare_splits
from tools.data.recipes import apply_recipe, prepare_train_file
from tools.data.source_labels import clean_source_labels, make_label_mapper
from tools.reports.report_data import source_label_lines
from tools.research.source_vetting import vet
from trex.results import TrainResult

LABELS = ["balance", "card_lost", "loan"]


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def mixed_source(tmp_path: Path, own: int = 30, foreign: dict[str, int] | None = None) -> Path:
    rows = [{"text": f"how much is in account {i}", "intent": "balance"} for i in range(own)]
    for label, n in (foreign or {"fraud": 12, "transfer": 7}).items():
        rows += [{"text": f"{label} message number {i}", "intent": label} for i in range(n)]
    return write(tmp_path / "extra.jsonl", rows)


def recipe(path: Path, **source) -> dict:
    return {"extra_sources": [{"path": str(path), "input_field": "text", "output_field": "intent", **source}]}


OWN = [{"input": f"own example {i}", "output": "loan"} for i in range(10)]


def test_foreign_labels_are_dropped_exactly_and_counted(tmp_path):
    path = mixed_source(tmp_path)
    out, stats = apply_recipe(OWN, recipe(path, weight=5.0), [], labels=LABELS)
    assert {r["output"] for r in out} <= set(LABELS)
    src = stats["sources"][1]
    assert src["loaded"] == 30  # what reached the mix: the 19 foreign rows never did
    assert src["labels"] == {"kept": 30, "foreign_dropped": 19, "mapped": 0, "loaded": 49,
                             "foreign_labels": {"fraud": 12, "transfer": 7}}
    # A generation task (no labels given) mixes every row, as before.
    _, plain = apply_recipe(OWN, recipe(path, weight=5.0), [])
    assert plain["sources"][1]["loaded"] == 49 and "labels" not in plain["sources"][1]


def test_a_label_map_maps_foreign_rows_instead(tmp_path):
    path = mixed_source(tmp_path)
    out, stats = apply_recipe(OWN, recipe(path, weight=5.0, label_map={"fraud": "card_lost"}), [], labels=LABELS)
    lab = stats["sources"][1]["labels"]
    assert (lab["kept"], lab["mapped"], lab["foreign_dropped"]) == (42, 12, 7)
    assert any(r["output"] == "card_lost" and r["input"].startswith("fraud") for r in out)
    with pytest.raises(DataError, match="label_map maps to 'stolen', not among the task's labels"):
        apply_recipe(OWN, recipe(path, label_map={"fraud": "stolen"}), [], labels=LABELS)


def test_a_source_left_under_20_rows_is_refused_with_the_reason(tmp_path):
    path = mixed_source(tmp_path, own=12, foreign={"fraud": 40})
    with pytest.raises(DataError, match=r"refused: only 12 of its 52 rows have one of the task's labels "
                                        r"\(fewer than 20\); foreign labels: fraud \(40\)"):
        apply_recipe(OWN, recipe(path), [], labels=LABELS)
    # mapped, the same source passes
    _, stats = apply_recipe(OWN, recipe(path, label_map={"fraud": "card_lost"}), [], labels=LABELS)
    assert stats["sources"][1]["labels"]["kept"] == 52


def test_a_refused_source_is_a_failed_trial_with_the_reason_and_counts_reach_the_node_and_report(tmp_path, tiny_task):
    from tools.trials.trial_jobs import run_training
    from trex.context import Context

    small = mixed_source(tmp_path, own=5, foreign={"fraud": 30})
    spec = spec_of({**tiny_task, "recipe": recipe(small)})
    data = prepare_splits(spec, tmp_path / "splits")
    ctx = Context(runs_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "cache"), device="cpu")
    out = run_training(spec, data, {"id": "t0", "epochs": 1}, ctx)  # refused before any worker starts
    assert out["status"] == "failed" and out["failure"] == "data"
    assert "refused: only 5 of its 35 rows" in out["error"]
    assert "refused: only 5" in source_label_lines({"n1": {"id": "n1", "round": 1, "results": {
        "t0": TrainResult.from_job(out).record("t0")}}})[0]

    path, stats = prepare_train_file(data["paths"]["train"], recipe(mixed_source(tmp_path)),
                                     [data["paths"]["val"]], tmp_path / "cache", labels=data["labels"])
    rec = TrainResult.from_job({"status": "ok", "adapter": "a", "recipe_stats": stats}).record("t1")
    assert rec["train"]["recipe_stats"]["sources"][1]["labels"]["foreign_dropped"] == 19  # on the node
    line = source_label_lines({"n1": {"id": "n1", "round": 1, "results": {"t1": rec}}})[0]
    assert "30 of 49 rows kept, 19 dropped as foreign (fraud 12, transfer 7), 0 mapped [trials n1/t1]" in line
    # the labels are part of the prepared file's key: another label set cleans otherwise
    other, _ = prepare_train_file(data["paths"]["train"], recipe(mixed_source(tmp_path)), [data["paths"]["val"]],
                                  tmp_path / "cache", labels=[*data["labels"], "fraud"])
    assert other != path


def test_the_chat_model_maps_what_the_label_map_does_not():
    model = fake_model(LabelMapping=[{"pairs": [{"source_label": "stolen_card", "task_label": "card_lost"},
                                                {"source_label": "weather", "task_label": "sunny"},
                                                {"source_label": "fraud", "task_label": None}]}])
    mapper = make_label_mapper(model, "route banking messages", "fake:model")
    rows = ([{"input": f"b{i}", "output": "balance"} for i in range(20)]
            + [{"input": f"s{i}", "output": "stolen_card"} for i in range(6)]
            + [{"input": f"w{i}", "output": "weather"} for i in range(2)]
            + [{"input": f"f{i}", "output": "fraud"} for i in range(3)])
    kept, stats = clean_source_labels(rows, LABELS, "x", None, mapper)
    assert (stats["kept"], stats["mapped"], stats["mapped_by_chat_model"], stats["foreign_dropped"]) == (26, 6, 6, 5)
    assert stats["chat_model_map"] == {"stolen_card": "card_lost"}  # "sunny" is no task label: ignored
    assert "stolen_card" in model.calls[0]["prompt"] and mapper.report["calls"] == 1
    # nothing configured: no mapper, the rows are dropped
    _, plain = clean_source_labels(rows, LABELS, "x")
    assert (plain["kept"], plain["mapped"], plain["foreign_dropped"]) == (20, 0, 11)


def test_vetting_accepts_bank_intents_only_when_20_rows_keep_a_task_label(tmp_path):
    bank = REPO / "tools/data/shipped/data/bank_intents.jsonl"
    cand = {"id": "bank_intents", "source": "shipped catalog", "path": str(bank), "size": 640,
            "license": "generated by the TREX project (ftbench), same licence", "task_type": "classification",
            "fields": ["text", "intent"], "input_field": "text", "output_field": "intent",
            "labels": ["balance", "card_lost", "transfer", "bill_payment", "exchange_rate", "loan", "fraud",
                       "address_change"]}
    ten = ["exchange_rate", "a", "b", "c", "d", "e", "f", "g", "h", "i"]  # one shared label of 10
    source, why = vet(cand, "classification", ten, set())
    assert source is not None and "80 rows with the task's labels (560 with other labels dropped when mixed)" in why
    few = write(tmp_path / "few.jsonl", [{"text": f"rate {i}", "intent": "exchange_rate"} for i in range(8)]
                + [{"text": f"loan {i}", "intent": "loan"} for i in range(40)])
    source, why = vet({**cand, "path": str(few), "size": 48}, "classification", ten, set())
    assert source is None and "only 8 of its 48 rows have one of the task's labels" in why and "loan (40)" in why


def test_a_trial_maps_through_the_configured_chat_model_and_not_without_one(tmp_path, tiny_task, monkeypatch):
    from tools.llm.chat_models import chat_source
    from tools.trials.trial_jobs import training_data
    from trex.context import Context

    fake = fake_model(LabelMapping={"pairs": [{"source_label": "fraud", "task_label": "card_lost"}]})
    chat = chat_source(fake)  # injected, as build_graph(chat_model=...) does
    spec = spec_of({**tiny_task, "recipe": recipe(mixed_source(tmp_path))})
    data = prepare_splits(spec, tmp_path / "splits")
    _, stats = training_data(spec, data, {"id": "t0", "epochs": 1},
                             Context(chat_model="fake:mapper", cache_dir=str(tmp_path / "c")), chat)
    lab = stats["sources"][1]["labels"]
    assert (lab["mapped_by_chat_model"], lab["foreign_dropped"]) == (12, 7) and stats["llm_usage"]["calls"] == 1
    _, off = training_data(spec, data, {"id": "t0", "epochs": 1}, Context(chat_model="", cache_dir=str(tmp_path / "c")))
    assert (off["sources"][1]["labels"]["mapped"], off["sources"][1]["labels"]["foreign_dropped"]) == (0, 19)


def test_the_report_shows_each_sources_label_counts_and_refusals(tmp_path):
    from tools.reports.report import write_report_files
    from trex.state import State

    stats = {"sources": [{"name": "train"}, {"name": "extra.jsonl", "labels": {
        "kept": 30, "loaded": 49, "foreign_dropped": 19, "mapped": 0, "foreign_labels": {"fraud": 12, "transfer": 7}}}]}
    ok = {"trial_id": "t0", "status": "ok", "score": 0.5, "train": {"recipe_stats": stats}}
    refused = {"trial_id": "t1", "status": "failed", "failure": "data", "score": 0.0,
               "error": "data recipe: source few.jsonl refused: only 5 of its 35 rows have one of the task's labels"}
    tree = {"root": {"id": "root", "parent": None, "round": 0, "status": "evaluated", "score": 0.3, "trials": [],
                     "results": {}},
            "n1": {"id": "n1", "parent": "root", "round": 1, "status": "evaluated", "score": 0.5, "best_trial": "t0",
                   "trials": [{"id": "t0", "epochs": 1}, {"id": "t1", "epochs": 1}], "results": {"t0": ok, "t1": refused}}}
    out = write_report_files(State(task={"name": "t", "metric": "accuracy", "base_model": "m"}, tree=tree), tmp_path, {})
    for page in (Path(out["markdown"]).read_text(), Path(out["html"]).read_text()):
        assert "extra.jsonl: 30 of 49 rows kept, 19 dropped as foreign (fraud 12, transfer 7), 0 mapped" in page
        assert "source few.jsonl refused: only 5 of its 35 rows" in page


def test_a_collected_hub_source_is_cleaned_and_refused_the_same_way():
    rows = ([{"input": f"balance question {i}", "output": "balance"} for i in range(25)]
            + [{"input": f"crypto question {i}", "output": "crypto"} for i in range(30)])
    hub = {"extra_sources": [{"hf_id": "org/bank-set", "weight": 2.0}]}
    _, stats = apply_recipe(OWN, hub, [], load_source=lambda s, base_dir: rows, labels=LABELS)
    assert stats["sources"][1]["name"] == "hf:org/bank-set:train"
    assert stats["sources"][1]["labels"]["foreign_dropped"] == 30 and stats["sources"][1]["loaded"] == 25
    with pytest.raises(DataError, match="source hf:org/bank-set:train refused: only 5 of its 35 rows"):
        apply_recipe(OWN, hub, [], load_source=lambda s, base_dir: rows[20:], labels=LABELS)
