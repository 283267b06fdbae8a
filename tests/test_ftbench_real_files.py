"""FT-Bench loaders on the full real files of the sources that can be mirrored, when a local copy is present.

Set FTBENCH_REAL_DIR to a directory holding one folder per task in its repository's own layout (a clone, or the
files checked out of one), e.g. $FTBENCH_REAL_DIR/lawbench/data/zero_shot/1-1.json. Without it each check skips,
saying why. The counts below were read off the mirrored repositories (README, "FT-Bench on real files").
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from ftbench.loaders import prepare

REAL = Path(os.environ["FTBENCH_REAL_DIR"]) if os.environ.get("FTBENCH_REAL_DIR") else None


def source(task: str, *files: str) -> Path:
    if REAL is None:
        pytest.skip("FTBENCH_REAL_DIR is not set: no local copy of the real files")
    missing = [f for f in files if not (REAL / task / f).is_file()]
    if missing:
        pytest.skip(f"{REAL / task}: no local copy of {', '.join(missing)}")
    return REAL / task


def read(path: Path) -> list[dict]:
    """A JSON array, {"data": [...]} (ACI-Bench) or JSON lines (CS-Bench's en_test.json, despite its name)."""
    text = path.read_text(encoding="utf-8").strip()
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(x) for x in text.splitlines() if x.strip()]
    return whole["data"] if isinstance(whole, dict) else whole


ACI = {"train_full": 67, "valid_full": 20, "clinicalnlp_taskB_test1_full": 40, "clinicalnlp_taskC_test2_full": 40,
       "clef_taskC_test3_full": 40}


def test_aci_bench_real_files(tmp_path):
    root = source("aci_bench", *(f"data/challenge_data_json/{f}.json" for f in ACI))
    for name, n in ACI.items():
        rows = read(root / f"data/challenge_data_json/{name}.json")
        assert len(rows) == n and all({"src", "tgt", "file"} <= set(r) for r in rows), name
    out = prepare("aci_bench", tmp_path, root)
    assert out["sizes"] == {"train": 87, "test": 120} and out["dropped"]["test_leaks"] == 0


def test_csbench_real_files(tmp_path):
    root = source("csbench", "data/en_test.json", "Dataset/CSBench-EN/valid.json")
    test, valid = read(root / "data/en_test.json"), read(root / "Dataset/CSBench-EN/valid.json")
    assert Counter(r["Format"] for r in test) == {"Multiple-choice": 1336, "Assertion": 442,
                                                  "Fill-in-the-blank": 235, "Open-ended": 170}
    assert Counter(r["Format"] for r in valid) == {"Multiple-choice": 145, "Assertion": 49,
                                                   "Fill-in-the-blank": 23, "Open-ended": 19}
    assert all({"ID", "Domain", "Format", "Question", "Answer"} <= set(r) for r in test + valid)
    out = prepare("csbench", tmp_path, root)
    assert out["sizes"] == {"train": 145 + 49, "test": 1336 + 442}  # the rule-scored formats only


LAW_TASKS = ["1-1", "1-2", *(f"2-{i}" for i in range(1, 11)), *(f"3-{i}" for i in range(1, 9))]


def test_lawbench_real_files(tmp_path):
    root = source("lawbench", *(f"data/zero_shot/{t}.json" for t in LAW_TASKS))
    for t in LAW_TASKS:
        rows = read(root / f"data/zero_shot/{t}.json")
        assert len(rows) == 500 and all(set(r) == {"instruction", "question", "answer"} for r in rows), t
    out = prepare("lawbench", tmp_path, root)
    # 20 x 500 rows; a 20 % per-task holdout; 11 training rows repeat a test input, 21 repeat a training row
    assert out["sizes"] == {"train": 7968, "test": 2000}
    assert out["dropped"]["test_leaks"] == 11 and out["dropped"]["duplicates"] == 21


def test_omebench_real_files(tmp_path):
    root = source("omebench", "data/oMe_Gold.json")
    gold = read(root / "data/oMe_Gold.json")
    assert len(gold) == 196 and all(r["mechanism"] and "step_weight" in r["mechanism"][0] for r in gold)
    source("omebench", "data/oMe_Silver.jsonl")  # the training file (5 MB): skips here when it is absent
    silver = read(root / "data/oMe_Silver.jsonl")
    assert len(silver) == 2508
    out = prepare("omebench", tmp_path, root)
    assert out["sizes"]["test"] == 196
