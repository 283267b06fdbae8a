"""FT-Bench tasks whose data lives as files in a GitHub repository: ACI-Bench, CS-Bench, LawBench, oMeBench.

Files are fetched from raw.githubusercontent.com at the commit named below (the commit at which the path was
confirmed), or read from `source`: a local directory with the repository's own layout.
"""
from __future__ import annotations

import json

from ftbench.loaders.common import (LoaderError, RawFiles, finalize, holdout, read_json, read_jsonl,
                                    task_dir)

RAW = "https://raw.githubusercontent.com"

# wyim/aci-bench at the commit HELM's ACIBenchScenario pins (train_full + the three challenge test sets).
ACI_REPO, ACI_COMMIT = "wyim/aci-bench", "e75b383172195414a7a68843ec4876e83e5409f7"
# valid_full.json exists at this commit (the same blob as valid.json, checked on a mirror): its 20 encounters train.
ACI_TRAIN = ["data/challenge_data_json/train_full.json", "data/challenge_data_json/valid_full.json"]
ACI_TEST = ["data/challenge_data_json/clinicalnlp_taskB_test1_full.json",
            "data/challenge_data_json/clinicalnlp_taskC_test2_full.json",
            "data/challenge_data_json/clef_taskC_test3_full.json"]

CSB_REPO = "csbench/csbench"
CSB_FILES = {"data/en_test.json": "72d0c250c1a9dd4c9146c242e487011daac53e84",        # JSON lines
             "Dataset/CSBench-EN/valid.json": "ed79664c9e8e4e795ac9161ebc5831875aede3bf"}  # JSON array
CSB_FORMATS = ("Multiple-choice", "Assertion")  # rule-scored formats; fill-in and open-ended need a judge

LAW_REPO = "open-compass/LawBench"
LAW_TASKS = ["1-1", "1-2", "2-1", "2-2", "2-3", "2-4", "2-5", "2-6", "2-7", "2-8", "2-9", "2-10",
             "3-1", "3-2", "3-3", "3-4", "3-5", "3-6", "3-7", "3-8"]
LAW_TEST_FRACTION = 0.2  # LawBench ships one 500-item set per task: a seeded, per-task holdout

OME_REPO = "skylarkie/oMeBench"
OME_FILES = {"data/oMe_Silver.jsonl": "48632ca037cbb7d6e09a22132257c55ee6008edb",  # 2,508 reactions: train
             "data/oMe_Gold.json": "2b56579d622359ff73a7b7413ca231baed33a138"}     # 196 reactions: test


def _read_any_json(path) -> list[dict]:
    text = path.read_text(encoding="utf-8").strip()
    return json.loads(text) if text.startswith("[") else read_jsonl(path)


def prepare_aci_bench(task: str, cache_dir, source=None, **kw) -> dict:
    raw = RawFiles(f"{RAW}/{ACI_REPO}/{ACI_COMMIT}", task_dir(cache_dir, task) / "raw", source)

    def rows(rel: str) -> list[dict]:
        data = read_json(raw.path(rel))["data"]
        split = rel.rsplit("/", 1)[-1].removesuffix(".json")
        return [{"id": f"{split}:{r.get('file', i)}", "input": r["src"].strip(), "output": r["tgt"].strip()}
                for i, r in enumerate(data)]
    train = [r for rel in ACI_TRAIN for r in rows(rel)]
    test = [r for rel in ACI_TEST for r in rows(rel)]
    return finalize(task, train, test, cache_dir, sources={"github": ACI_REPO, "commit": ACI_COMMIT,
                                                           "train": ACI_TRAIN, "test": ACI_TEST}, **kw)


def csbench_prompt(r: dict) -> str:
    # The CS-Bench paper's zero-shot prompts (as reproduced in SakanaAI's CS-Bench task).
    if r["Format"] == "Multiple-choice":
        options = "".join(f"({k}){r[k]}\n" for k in "ABCD")
        return (f"Question:{r['Question']}\nOptions:\n{options}"
                "Please provide the answer to this question directly (a single letter):")
    return f"Statement:{r['Question']}\nPlease give the answer directly (true or false):"


def csbench_answer(r: dict) -> str:
    a = r["Answer"]
    if isinstance(a, bool):
        return "true" if a else "false"
    return str(a).strip().lower() if r["Format"] == "Assertion" else str(a).strip()


def prepare_csbench(task: str, cache_dir, source=None, **kw) -> dict:
    """English CS-Bench: the official valid split trains, the official test split is hidden."""
    raw = RawFiles(lambda rel: f"{RAW}/{CSB_REPO}/{CSB_FILES[rel]}/{rel}", task_dir(cache_dir, task) / "raw", source)

    def rows(rel: str) -> list[dict]:
        return [{"id": f"{r['Split']}-{r['ID']}", "input": csbench_prompt(r), "output": csbench_answer(r),
                 "subset": f"{r['Domain']}/{r['Format']}"}
                for r in _read_any_json(raw.path(rel)) if r.get("Format") in CSB_FORMATS]
    return finalize(task, rows("Dataset/CSBench-EN/valid.json"), rows("data/en_test.json"), cache_dir,
                    sources={"github": CSB_REPO, "files": CSB_FILES, "formats": list(CSB_FORMATS)}, **kw)


def prepare_lawbench(task: str, cache_dir, source=None, seed: int = 0, **kw) -> dict:
    """All 20 zero-shot tasks; test outputs carry the task id so the hybrid score can pick each task's metric."""
    raw = RawFiles(f"{RAW}/{LAW_REPO}/main", task_dir(cache_dir, task) / "raw", source)
    rows = []
    for tid in LAW_TASKS:
        path = raw.path(f"data/zero_shot/{tid}.json", required=source is None)
        for i, r in enumerate(read_json(path) if path else []):
            rows.append({"id": f"{tid}-{i}", "subset": tid, "input": f"{r['instruction']}\n{r['question']}",
                         "output": str(r["answer"])})
    if not rows:
        raise LoaderError(f"{LAW_REPO}: no task files found")
    train, test = holdout(rows, LAW_TEST_FRACTION, seed, stratify=lambda r: r["subset"])
    test = [{**r, "output": json.dumps({"task": r["subset"], "answer": r["output"]}, ensure_ascii=False)}
            for r in test]
    return finalize(task, train, test, cache_dir, seed=seed, sources={
        "github": LAW_REPO, "ref": "main", "files": "data/zero_shot/<task>.json",
        "split": f"seeded per-task holdout, test_fraction {LAW_TEST_FRACTION}"}, **kw)


def ome_prompt(r: dict) -> str:
    return (f"Reactants (SMILES): {json.dumps(r['reactants_smiles'])}\n"
            f"Products (SMILES): {json.dumps(r['products_smiles'])}\nConditions: {r['conditions']}")


def ome_steps(r: dict, weights: bool) -> str:
    steps = [{"step": s.get("step", i + 1), "type": s.get("type"), "subtype": s["subtype"],
              "intermediate_smiles": s["intermediate_smiles"],
              **({"step_weight": s["step_weight"]} if weights and "step_weight" in s else {})}
             for i, s in enumerate(r["mechanism"])]
    return json.dumps(steps, ensure_ascii=False)


def prepare_omebench(task: str, cache_dir, source=None, **kw) -> dict:
    """oMe-Silver trains; oMe-Gold (the set the oMeBench evaluation script scores) is hidden, with step weights."""
    raw = RawFiles(lambda rel: f"{RAW}/{OME_REPO}/{OME_FILES[rel]}/{rel}", task_dir(cache_dir, task) / "raw", source)
    train = [{"id": r["reaction_id"], "input": ome_prompt(r), "output": ome_steps(r, False)}
             for r in read_jsonl(raw.path("data/oMe_Silver.jsonl"))]
    test = [{"id": r["reaction_id"], "input": ome_prompt(r), "output": ome_steps(r, True)}
            for r in read_json(raw.path("data/oMe_Gold.json"))]
    return finalize(task, train, test, cache_dir, sources={"github": OME_REPO, "files": OME_FILES}, **kw)
