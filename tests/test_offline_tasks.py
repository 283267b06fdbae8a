"""The offline tier of FT-Bench: tasks whose data TREX generates itself (seeded), each with a hidden test split."""
import importlib
import json
import re
from datetime import date
from decimal import Decimal

import pytest

from tools.data.task_catalog import resolve_task
from graph.cli.commands import main as trex
from tools.data.spec_loading import load_spec
from tools.data.datasets import prepare_splits

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent
# task -> the module that generates its data (`python -m <module>` rewrites tools/data/shipped/data/<task>.jsonl)
OFFLINE = {"bank_intents": "ftbench.generate_intents", "date_iso": "ftbench.generate_dates",
           "unit_convert": "ftbench.generate_units", "contact_json": "ftbench.generate_contacts"}


@pytest.mark.parametrize("task,module", OFFLINE.items())
def test_generator_is_deterministic_and_matches_the_committed_data(task, module):
    gen = importlib.import_module(module)
    rows = gen.generate()
    assert rows == gen.generate()  # same seed, same data
    committed = (REPO / "tools" / "data" / "shipped" / "data" / f"{task}.jsonl").read_text(encoding="utf-8")
    assert committed == "".join(json.dumps(r) + "\n" for r in rows)  # what ships is what the generator writes
    assert gen.generate(seed=12345) != rows  # the seed matters


@pytest.mark.parametrize("task", OFFLINE)
def test_spec_validates_and_test_split_is_hidden_and_disjoint(task, tmp_path):
    spec = load_spec(resolve_task(task))
    assert spec.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    data = prepare_splits(spec, tmp_path)
    split = {name: [json.loads(line) for line in open(path, encoding="utf-8")] for name, path in data["paths"].items()}
    inputs = {name: {r["input"].strip().lower() for r in rows} for name, rows in split.items()}
    assert not inputs["test"] & inputs["train"] and not inputs["test"] & inputs["val"]
    assert not inputs["val"] & inputs["train"]
    assert data["sizes"]["train"] >= 250 and data["sizes"]["val"] >= 80 and data["sizes"]["test"] >= 80
    again = prepare_splits(spec, tmp_path / "again")  # the split is a fixed function of the data and seed
    assert open(again["paths"]["test"]).read() == open(data["paths"]["test"]).read()


def test_trex_tasks_lists_the_offline_tier(capsys):
    assert trex(["tasks"]) == 0
    out = capsys.readouterr().out
    for task in OFFLINE:
        assert task in out


def test_generated_answers_are_correct():
    from ftbench import generate_contacts, generate_dates, generate_units

    months = {m[:3]: i + 1 for i, m in enumerate(generate_dates.MONTHS)}
    for row in generate_dates.generate()[:200]:
        y, m, d = map(int, row["iso"].split("-"))
        date(y, m, d)  # a real date
        text = row["text"]
        assert str(y) in text and (f"{m}/{d}/" in text or f"{m:02d}/{d:02d}/" in text or f".{m:02d}.{d:02d}" in text
                                   or any(months[k] == m for k in months if k in text))
    names = {v[2]: k for k, v in generate_units.UNITS.items()}
    slots = {"v": r"(?P<v>[\d.]+)", "u": r"(?P<u>\w+)", "t": r"(?P<t>\w+)", "un": r"(?P<u>\w+)", "tn": r"(?P<t>\w+)"}
    patterns = [re.compile(re.sub(r"\\\{(\w+)\\\}", lambda m: slots[m.group(1)], re.escape(q)) + "$")
                for q in generate_units.QUESTIONS]
    for row in generate_units.generate()[:200]:
        found = next(m for m in (p.match(row["question"]) for p in patterns) if m)
        unit, target = (names.get(found[k], found[k]) for k in ("u", "t"))
        expected = Decimal(found["v"]) * generate_units.UNITS[unit][1] / generate_units.UNITS[target][1]
        assert Decimal(row["answer"]) == expected and not row["answer"].endswith(".") and "E" not in row["answer"]
    for row in generate_contacts.generate()[:200]:
        fields = json.loads(row["json"])
        assert list(fields) == ["name", "city", "order"]
        assert all(v in row["message"] for v in fields.values())
