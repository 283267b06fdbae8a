"""TOMG-Bench (S²-Bench): open molecule generation. Train on OpenMolIns, test on the nine benchmark subtasks.

The benchmark has no reference molecule: a prediction is right when it satisfies the instruction (atom or
group counts, an edit, a property change). So each test row's output is the benchmark's own check record
(JSON), which `ftbench.metrics:tomg_accuracy` applies; training rows carry OpenMolIns target SMILES.
Hub: phenixace/S2-TOMG-Bench-mini (500 per subtask) and phenixace/OpenMolIns-<scale>, as loaded by
phenixace/S2-TOMG-Bench utils/dataset.py. Local `source`: that script's data_dir layout
(benchmarks/open_generation/<Task>/<Subtask>/test.csv, OpenMolIns/<scale>/train.csv).
"""
from __future__ import annotations

import json
from pathlib import Path

from ftbench.loaders.common import LoaderError, finalize, hf_load, read_csv, task_dir

BENCH_REPO = "phenixace/S2-TOMG-Bench-mini"  # full set: phenixace/S2-TOMG-Bench (5,000 per subtask)
TRAIN_REPO = "phenixace/OpenMolIns-{scale}"
SCALE = "medium"  # 45,000 instructions: within the paper's 50K-per-round cap
SUBTASKS = [("MolCustom", "AtomNum"), ("MolCustom", "FunctionalGroup"), ("MolCustom", "BondNum"),
            ("MolEdit", "AddComponent"), ("MolEdit", "DelComponent"), ("MolEdit", "SubComponent"),
            ("MolOpt", "LogP"), ("MolOpt", "MR"), ("MolOpt", "QED")]
# Column names checked by TOMG-Bench evaluate.py for each MolCustom subtask.
ATOMS = ["carbon", "oxygen", "nitrogen", "sulfur", "fluorine", "chlorine", "bromine", "iodine", "phosphorus",
         "boron", "silicon", "selenium", "tellurium", "arsenic", "antimony", "bismuth", "polonium"]
GROUPS = ["benzene rings", "hydroxyl", "anhydride", "aldehyde", "ketone", "carboxyl", "ester", "amide", "amine",
          "nitro", "halo", "nitrile", "thiol", "sulfide", "disulfide", "sulfoxide", "sulfone", "borane"]
BONDS = ["single", "double", "triple", "rotatable", "aromatic"]


def check_record(task: str, sub: str, r: dict) -> dict:
    """What evaluate.py compares for one benchmark row."""
    rec: dict = {"task": f"{task}/{sub}"}
    if task == "MolCustom":
        cols = {"AtomNum": ATOMS, "FunctionalGroup": GROUPS, "BondNum": BONDS}[sub]
        rec["counts"] = {c: int(float(r[c])) for c in cols if c in r and str(r[c]).strip() != ""}
    elif task == "MolEdit":
        rec["molecule"] = r["molecule"]
        for key in ("added_group", "removed_group"):
            if r.get(key):
                rec[key] = r[key]
    else:
        text = str(r["Instruction"])
        rec["molecule"] = r["molecule"]
        rec["direction"] = "lower" if ("lower" in text or "decrease" in text) else "higher"
    return rec


def _bench_rows(task: str, sub: str, source: Path | None, hf_cache: Path) -> list[dict]:
    if source is not None:
        path = source / "benchmarks" / "open_generation" / task / sub / "test.csv"
        return read_csv(path) if path.is_file() else []
    return list(hf_load(BENCH_REPO, hf_cache, name=f"{task}_{sub}", split="test"))


def prepare_tomg_bench(task: str, cache_dir, source=None, scale: str = SCALE, **kw) -> dict:
    src = Path(source) if source else None
    hf_cache = task_dir(cache_dir, task) / "hf"
    test = []
    for t, sub in SUBTASKS:
        for i, r in enumerate(_bench_rows(t, sub, src, hf_cache)):
            test.append({"id": f"{t}/{sub}-{r.get('index', i)}", "subset": f"{t}/{sub}",
                         "input": str(r["Instruction"]).strip(),
                         "output": json.dumps(check_record(t, sub, r), ensure_ascii=False)})
    if src is not None:
        path = src / "OpenMolIns" / scale / "train.csv"
        if not path.is_file():
            raise LoaderError(f"{src}: missing OpenMolIns/{scale}/train.csv")
        train_raw = read_csv(path)
    else:
        train_raw = list(hf_load(TRAIN_REPO.format(scale=scale), hf_cache, split="train"))
    train = [{"id": f"openmolins-{i}", "subset": r.get("SubTask", ""), "input": str(r["Instruction"]).strip(),
              "output": str(r["molecule"]).strip()} for i, r in enumerate(train_raw)]
    return finalize(task, train, test, cache_dir, sources={
        "benchmark": str(src or BENCH_REPO), "train": str(src or TRAIN_REPO.format(scale=scale)),
        "subtasks": [f"{t}/{s}" for t, s in SUBTASKS]}, **kw)
