"""FT-Bench task metrics, used by specs as custom metrics `ftbench.metrics:<name>` (trex/metrics.py contract:
fn(preds, refs) -> float, higher is better). Each follows the benchmark's own evaluation code; the
scorer modules in ftbench/scorers/ say exactly where they approximate it.

Test rows of some tasks carry a JSON scoring record as their reference (TOMG-Bench, LawBench, GTA; see
ftbench/loaders); validation rows that TREX carves from the training file carry the plain training target,
and each metric scores those against it, as documented per function.
"""
from __future__ import annotations

import json
import re
from typing import Sequence

from ftbench.scorers import lawbench, omes, tomg
from ftbench.scorers.text import char_f1

HOC_CLASSES = ["evading growth suppressors", "tumor promoting inflammation", "enabling replicative immortality",
               "cellular energetics", "resisting cell death", "activating invasion and metastasis",
               "genomic instability and mutation", "inducing angiogenesis", "sustaining proliferative signaling",
               "avoiding immune destruction"]


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else 0.0


def _json(ref: str):
    try:
        return json.loads(ref)
    except ValueError:
        return None


# --- HoC: multi-label macro F1 -------------------------------------------------------------------------

def hoc_labels(text: str) -> set[str]:
    """The hallmarks named in a text (by name, anywhere): an empty set means 'none'."""
    t = " ".join(str(text).lower().split())
    return {c for c in HOC_CLASSES if c in t}


def hoc_macro_f1(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Macro F1 over the hallmark classes present in references or predictions (sklearn's labels=None);
    an example with no hallmark on either side is right, so all-'none' data scores 1.0."""
    p_sets, r_sets = [hoc_labels(p) for p in preds], [hoc_labels(r) for r in refs]
    classes = sorted(set().union(*p_sets, *r_sets)) if p_sets else []
    if not classes:
        return 1.0 if refs else 0.0
    f1s = []
    for c in classes:
        tp = sum(c in p and c in r for p, r in zip(p_sets, r_sets))
        fp = sum(c in p and c not in r for p, r in zip(p_sets, r_sets))
        fn = sum(c not in p and c in r for p, r in zip(p_sets, r_sets))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / len(f1s)


# --- choice-style accuracies ---------------------------------------------------------------------------

_PERM = re.compile(r"\b([A-D])\s*[,，>\-→ ]\s*([A-D])\s*[,，>\-→ ]\s*([A-D])\s*[,，>\-→ ]\s*([A-D])\b")


def permutation(text: str) -> tuple[str, ...] | None:
    """The first A-D ordering in a text ('C, B, A, D', 'C > B > A > D'), as EconLogicQA's regex extraction."""
    m = _PERM.search(str(text))
    if m and len(set(m.groups())) == 4:
        return m.groups()
    letters = [x for x in re.findall(r"\b([A-D])\b", str(text))]
    seen = tuple(dict.fromkeys(letters))[:4]
    return seen if len(seen) == 4 else None


def econlogicqa_accuracy(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Exact match of the extracted permutation with the gold order (the paper's accuracy)."""
    if not refs:
        return 0.0
    return sum(permutation(p) is not None and permutation(p) == permutation(r) for p, r in zip(preds, refs)) / len(refs)


def openfindata_accuracy(preds: Sequence[str], refs: Sequence[str]) -> float:
    """OpenCompass's OpenFinData scoring: lettered items by the last capital letter of the prediction
    (last_capital_postprocess + AccEvaluator); entity_recognition by OpenFinDataKWEvaluator (every gold
    entity, split on '、', must appear in the prediction)."""
    def one(pred: str, ref: str) -> bool:
        ref = str(ref).strip()
        if re.fullmatch(r"[A-E]", ref):
            last = next((ch for ch in reversed(str(pred)) if ch.isupper()), "")
            return last == ref
        return all(item in str(pred) for item in ref.split("、"))
    return sum(one(p, r) for p, r in zip(preds, refs)) / len(refs) if refs else 0.0


def csbench_accuracy(preds: Sequence[str], refs: Sequence[str]) -> float:
    """CS-Bench rule scoring: the first standalone option letter (multiple choice) or true/false (assertion)."""
    def one(pred: str, ref: str) -> bool:
        ref = str(ref).strip()
        if ref.lower() in ("true", "false"):
            m = re.search(r"\b(true|false)\b", str(pred).lower())
            return bool(m) and m.group(1) == ref.lower()
        m = re.search(r"\b([A-D])\b", str(pred))
        return bool(m) and m.group(1) == ref
    return sum(one(p, r) for p, r in zip(preds, refs)) / len(refs) if refs else 0.0


# --- chemistry -------------------------------------------------------------------------------------------

def tomg_accuracy(preds: Sequence[str], refs: Sequence[str]) -> float:
    """TOMG-Bench success rate (A̅cc) over the examples that can be checked here (scorers/tomg.py)."""
    return _mean(tomg.score(p, r) for p, r in zip(preds, refs))


def ome_score(preds: Sequence[str], refs: Sequence[str]) -> float:
    """oMeBench oMeS, partial (similarity-weighted) score averaged over reactions."""
    return _mean(omes.score(p, r, partial=True) for p, r in zip(preds, refs))


def ome_score_strict(preds: Sequence[str], refs: Sequence[str]) -> float:
    """oMeBench oMeS S_total: exact intermediates only."""
    return _mean(omes.score(p, r, partial=False) for p, r in zip(preds, refs))


# --- LawBench hybrid -------------------------------------------------------------------------------------

_ANSWER_TASK = [("正确答案：", "1-2"), ("正确答案:", "3-6"), ("[正确答案]", "2-8"), ("刑期:", "3-4"), ("罪名:", "3-3"),
                ("法条:刑法第", "3-1"), ("上文涉及到的犯罪金额:", "3-7"), ("类别:", "2-3"), ("争议焦点类别：", "2-2"),
                ("回答:", "2-5")]


def _law_item(pred: str, ref: str) -> tuple[str, str, str]:
    rec = _json(ref)
    if isinstance(rec, dict) and "task" in rec:
        return rec["task"], pred, str(rec.get("answer", ""))
    # A validation row carries only the answer: infer the task from its format, free text -> ROUGE-L.
    task = next((t for prefix, t in _ANSWER_TASK if str(ref).startswith(prefix)), "3-8")
    return task, pred, str(ref)


def lawbench_score(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Mean over tasks of each LawBench task's own score (scorers/lawbench.py)."""
    per_task = lawbench.task_scores([_law_item(p, r) for p, r in zip(preds, refs)])
    return _mean(per_task.values())


# --- GTA step-by-step ------------------------------------------------------------------------------------

def gta_action(text: str) -> dict:
    """A ReAct action: {'type': 'tool', 'name', 'arguments'} or {'type': 'answer', 'text'}."""
    s = str(text)
    m = re.search(r"Action\s*:\s*([A-Za-z_][\w]*)", s)
    if m and "final answer" not in s[:m.start()].lower():
        args_m = re.search(r"Action Input\s*:\s*(\{.*\})", s, re.DOTALL)
        args = _json(args_m.group(1)) if args_m else None
        return {"type": "tool", "name": m.group(1), "arguments": args if isinstance(args, dict) else {}}
    fa = re.search(r"Final Answer\s*:\s*(.*)", s, re.DOTALL)
    return {"type": "answer", "text": (fa.group(1) if fa else s).strip()}


def gta_answer_correct(pred: str, gt) -> float:
    """GTABenchEvaluator.iscorrect for whitelist/blacklist answers. For open answers (a list of references)
    GTA uses sentence-embedding similarity; here the best character F1 stands in."""
    if isinstance(gt, dict):
        hits = sum(bool(re.search(r"\b(?:" + "|".join(re.escape(a) for a in aliases) + r")\b", pred, re.IGNORECASE))
                   for aliases in gt.get("whitelist", []))
        black = [a for aliases in gt.get("blacklist") or [] for a in aliases]
        banned = bool(black) and bool(re.search(r"\b(?:" + "|".join(re.escape(a) for a in black) + r")\b",
                                                pred, re.IGNORECASE))
        return float(hits == len(gt.get("whitelist", [])) and not banned)
    if isinstance(gt, list) and gt:
        return max(char_f1(str(g), pred) for g in gt)
    return 0.0


def gta_accuracy(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Step accuracy: a tool step is right when the predicted tool is the gold tool (GTA's ToolAcc), an answer
    step when the answer passes GTA's answer check (its SummAcc-style AnsAcc); averaged over all steps."""
    scores = []
    for pred, ref in zip(preds, refs):
        got, rec = gta_action(pred), _json(ref)
        if not (isinstance(rec, dict) and rec.get("type") in ("tool", "answer")):
            rec = gta_action(ref)  # a validation row: the gold action text
        if rec["type"] != got["type"]:
            scores.append(0.0)
        elif rec["type"] == "tool":
            scores.append(float(got["name"] == rec["name"]))
        elif "gt_answer" in rec:
            scores.append(gta_answer_correct(got["text"], rec["gt_answer"]))
        else:
            scores.append(char_f1(rec["text"], got["text"]))
    return _mean(scores)
