"""TOMG-Bench's success check (evaluate.py, per subtask) for one generated molecule against one test record.

Returns 1.0 / 0.0, or None when the check cannot run here (MolOpt without RDKit: logP, MR and QED need it).
The benchmark's "accuracy" (its leaderboard's A̅cc) is the mean success rate; invalid molecules fail.
"""
from __future__ import annotations

import json
import re

from ftbench.scorers import chem

_PROP = {"LogP": "logP", "MR": "MR", "QED": "qed"}


def molecule_from(text: str) -> str:
    """The SMILES a model answered: {"molecule": ...} JSON, 'Molecule: X', or the first valid token."""
    s = str(text).strip()
    try:
        data = json.loads(s)
        if isinstance(data, dict) and isinstance(data.get("molecule"), str):
            return data["molecule"].strip()
    except ValueError:
        pass
    m = re.search(r"molecule\s*[:：]\s*(\S+)", s, re.IGNORECASE)
    if m:
        return m.group(1).strip("`'\".,")
    tokens = [t.strip("`'\".,") for t in s.split()]
    for t in tokens:
        if chem.valid(t):
            return t
    return tokens[0] if tokens else ""


def _group(name: str) -> str:
    return "benzene_ring" if name.startswith("benzene ring") else name.replace(" ", "_")


def check(pred: str, record: dict) -> float | None:
    task, sub = record["task"].split("/")
    mol = molecule_from(pred)
    if not chem.valid(mol):
        return 0.0
    if task == "MolCustom":
        for key, want in record.get("counts", {}).items():
            if sub == "AtomNum":
                name = f"num_{key}"
            elif sub == "BondNum":
                name = "rot_bonds" if key == "rotatable" else f"num_{key}_bonds"
            else:
                name = f"num_{_group(key)}"
            if chem.prop(mol, name) != int(want):
                return 0.0
        return 1.0
    raw = record["molecule"]
    if task == "MolEdit":
        for key, delta in (("added_group", 1), ("removed_group", -1)):
            if key in record:
                name = f"num_{_group(record[key])}"
                before, after = chem.prop(raw, name), chem.prop(mol, name)
                if before is None or after != before + delta:
                    return 0.0
        return 1.0
    before, after = chem.prop(raw, _PROP[sub]), chem.prop(mol, _PROP[sub])
    if before is None or after is None:
        return None
    return float(after < before if record["direction"] == "lower" else after > before)


def score(pred: str, ref: str) -> float | None:
    """A JSON check record (benchmark test rows), or a reference SMILES (OpenMolIns rows used for validation:
    right when the prediction is the same molecule, a stricter stand-in for 'satisfies the instruction')."""
    try:
        record = json.loads(ref)
    except ValueError:
        record = None
    if isinstance(record, dict) and "task" in record:
        return check(pred, record)
    target = chem.canonical(str(ref).strip())
    return float(bool(target) and chem.canonical(molecule_from(pred)) == target)
