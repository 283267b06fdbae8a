"""Rule-based distillation of a round into 1-3 short, falsifiable lessons (no LLM needed).

distill(tree, node_id, task) -> [{"text", "metadata"}]: the same signature an LLM-written distiller can take.
Lessons compare trials of the round that differ in one hyper-parameter, name the run's best configuration
so far (with the config itself in the metadata, for later runs' planners), compare the round against its
parent, and record failures (a divergence bounds the usable learning rate).
"""
from __future__ import annotations

import json
import time

from trex.state import Node
from trex.trial_config import FIELDS, value
from trex.tree import ROOT
from trex.metrics import get_metric

# The trial settings a lesson can name (the trial table's, the run's seed aside); lora_alpha follows lora_r
# unless it was set on its own.
PARAMS = tuple(n for n in FIELDS if n != "seed")
MAX_LESSONS = 3


def fmt(param: str, val) -> str:
    if param == "lr" and isinstance(val, (int, float)):
        mant, exp = f"{val:.0e}".split("e")
        return f"{mant}e{int(exp)}"
    if param == "recipe":
        return json.dumps(val or {}, sort_keys=True).replace('"', "") if val else "{task recipe}"
    if param == "warm_start":
        return "warm start" if val else "cold start"
    return str(val)


def _val(cfg: dict, param: str):
    if param == "recipe":
        return cfg.get("recipe") or {}
    if param == "warm_start":
        return bool(cfg.get("warm_start"))
    if param == "method":
        return cfg.get("method") or "lora"
    return value(cfg, param)


def differing(a: dict, b: dict) -> list[str]:
    diff = [p for p in PARAMS if _val(a, p) != _val(b, p)]
    if "lora_r" in diff and "lora_alpha" in diff and _ratio(a) == _ratio(b):
        diff.remove("lora_alpha")  # alpha moved with the rank (alpha = c * r): one change, not two
    return diff


def _ratio(cfg: dict):
    return (cfg.get("lora_alpha") or 0) / cfg["lora_r"] if cfg.get("lora_r") else None


def _label(param: str, cfg: dict) -> str:
    return fmt(param, _val(cfg, param)) if param in ("warm_start",) else f"{param} {fmt(param, _val(cfg, param))}"


def _setting(cfg: dict, skip: list[str]) -> str:
    """The shared context of a comparison: the main settings the two trials had in common."""
    keep = [p for p in ("lr", "lora_r", "epochs") if p not in skip and _val(cfg, p) is not None]
    return ", ".join(f"{p} {fmt(p, _val(cfg, p))}" for p in keep)


def _ok_trials(node: Node) -> list[tuple[dict, dict]]:
    results = node.get("results", {})
    return [(cfg, results[cfg["id"]]) for cfg in node.get("trials", [])
            if results.get(cfg["id"], {}).get("status") == "ok" and "score" in results[cfg["id"]]]


def _lesson(text: str, kind: str, delta: float | None, node: Node, ctx: dict, **extra) -> dict:
    return {"text": text, "metadata": {**ctx, "kind": kind, "delta": None if delta is None else round(delta, 4),
                                       "node_id": node["id"], "round": node.get("round", 0), **extra}}


def _within_round(node: Node, ctx: dict, higher: bool, prefix: str) -> list[dict]:
    """The pair of successful trials that differ in one setting with the largest score gap."""
    ok = _ok_trials(node)
    best = None
    for i, (a, ra) in enumerate(ok):
        for b, rb in ok[i + 1:]:
            diff = differing(a, b)
            if len(diff) != 1 or ra["score"] == rb["score"]:
                continue
            gap = abs(ra["score"] - rb["score"])
            if best is None or gap > best[0]:
                best = (gap, diff[0], a, ra, b, rb)
    if best is None:
        return []
    _, param, a, ra, b, rb = best
    win, lose, rw, rl = (a, b, ra, rb) if (ra["score"] > rb["score"]) == higher else (b, a, rb, ra)
    delta = rw["score"] - rl["score"]
    where = _setting(win, [param])
    text = (f"{prefix}, {_label(param, win)} beat {_label(param, lose)}{' at ' + where if where else ''}: "
            f"{delta:+.3f} {ctx['metric']} (node {node['id']}, trials {win['id']} vs {lose['id']})")
    return [_lesson(text, "one_change", delta, node, ctx, param=param, better=fmt(param, _val(win, param)),
                    worse=fmt(param, _val(lose, param)))]


def _against_parent(tree: dict[str, Node], node: Node, ctx: dict, higher: bool, prefix: str) -> list[dict]:
    parent = tree.get(node.get("parent") or "")
    if not parent or node.get("failed") or parent.get("score") is None or node.get("score") is None:
        return []
    results = node.get("results", {})
    best = next((c for c in node.get("trials", []) if c["id"] == node.get("best_trial")), None)
    pbest = next((c for c in parent.get("trials", []) if c["id"] == parent.get("best_trial")), None)
    if best is None:
        return []
    delta = node["score"] - parent["score"]
    better = (delta > 0) == higher and delta != 0
    if pbest is None or not pbest.get("epochs"):
        change = "LoRA fine-tuning (" + _setting(best, []) + ")"
        against = "the base model"
    else:
        diff = differing(best, pbest)
        if not diff:
            return []
        change = ", ".join(f"{_label(p, pbest)} -> {fmt(p, _val(best, p))}" for p in diff[:3])
        against = f"its parent {parent['id']}"
    verb = "improved on" if better else "did not beat"
    kind = node.get("diagnosis_kind", "")
    text = (f"{prefix}, {change} {verb} {against}: {ctx['metric']} {parent['score']:.3f} -> {node['score']:.3f} "
            f"({delta:+.3f}, node {node['id']}{', ' + kind if kind else ''})")
    val_loss = (results.get(best["id"], {}).get("train") or {}).get("val_loss") or []
    if len(val_loss) >= 2:
        text += f"; val loss {val_loss[0]:.3f} -> {val_loss[-1]:.3f}"
    return [_lesson(text, "vs_parent", delta, node, ctx, parent_id=parent["id"])]


def cold_equivalent(tree: dict[str, Node], node: Node, cfg: dict) -> dict:
    """A config that reproduces a trial without its parents: a warm start's epochs are added to those of the
    chain of adapters it continued (an approximation: the optimizer restarts at each link)."""
    out = {k: v for k, v in cfg.items() if k not in ("id", "seed")}
    while out.get("warm_start"):
        parent = tree.get(node.get("parent") or "")
        pcfg = next((c for c in (parent or {}).get("trials", []) if c["id"] == (parent or {}).get("best_trial")), None)
        if pcfg is None:
            break
        out = {**{k: v for k, v in pcfg.items() if k not in ("id", "seed")},
               "epochs": pcfg.get("epochs", 0) + out.get("epochs", 0), "warm_start": pcfg.get("warm_start", False)}
        node = parent
    out["warm_start"] = False
    return out


def _best_config(tree: dict[str, Node], node: Node, ctx: dict, higher: bool, prefix: str) -> list[dict]:
    """When this round holds the run's best score so far: the winning configuration, machine-readable in the
    metadata, so a later run on this task (or a like one) can start from it (tools.planning.planner priors)."""
    if node.get("failed") or node.get("score") is None or not node.get("best_trial"):
        return []
    sign = 1 if higher else -1
    rivals = [n["score"] for n in tree.values() if n["id"] != node["id"] and n.get("score") is not None
              and n.get("parent") is not None and not n.get("failed")]
    if any(sign * r >= sign * node["score"] for r in rivals):
        return []
    base = (tree.get(ROOT) or {}).get("score")
    if base is None or sign * (node["score"] - base) <= 0:
        return []  # no better than the base model: nothing worth starting from
    cfg = next((c for c in node.get("trials", []) if c["id"] == node["best_trial"]), None)
    if cfg is None:
        return []
    cold = cold_equivalent(tree, node, cfg)
    shown = ", ".join(f"{p} {fmt(p, _val(cold, p))}" for p in ("lr", "epochs", "lora_r", "max_samples", "layer_fraction",
                                                                "template") if _val(cold, p) is not None)
    if cold.get("recipe"):
        shown += f", recipe {fmt('recipe', cold['recipe'])}"
    delta = node["score"] - base
    text = (f"{prefix}, the best configuration so far is {shown}: {ctx['metric']} {node['score']:.3f} against "
            f"{base:.3f} for the base model ({delta:+.3f}, node {node['id']}, trial {cfg['id']})")
    return [_lesson(text, "best_config", delta, node, ctx, config=json.dumps(cold, sort_keys=True),
                    score=round(float(node["score"]), 6), base_score=round(float(base), 6),
                    gain=round(sign * delta, 6))]


def _failures(node: Node, ctx: dict, prefix: str) -> list[dict]:
    out = []
    results = node.get("results", {})
    seen = set()
    for cfg in node.get("trials", []):
        res = results.get(cfg["id"], {})
        kind = res.get("failure")
        if res.get("status") == "ok" or not kind or kind in seen or kind in ("no_result", "warm_start"):
            continue
        seen.add(kind)
        what = {"diverged": "diverged (loss became NaN/inf)", "oom": "ran out of memory",
                "timeout": "timed out", "unavailable": "could not run here"}.get(kind, f"failed ({kind})")
        setting = ", ".join(x for x in (_setting(cfg, []), f"batch {cfg['batch_size']}" if cfg.get("batch_size")
                                        else "", f"method {cfg['method']}" if cfg.get("method") else "") if x)
        out.append(_lesson(f"{prefix}, a trial with {setting} {what} (node {node['id']}, trial {cfg['id']})",
                           "failure", None, node, ctx, failure=kind))
    return out


def distill(tree: dict[str, Node], node_id: str, task: dict, run_id: str = "") -> list[dict]:
    """1-3 lessons from the round `node_id` of the run on `task` (a TaskSpec dict); [] for the baseline."""
    node = tree.get(node_id)
    if not node or node.get("parent") is None or node.get("status") != "evaluated":
        return []
    metric = get_metric(task["metric"])
    ctx = {"task": task["name"], "task_type": task.get("task_type", ""), "base_model": task["base_model"],
           "metric": task["metric"], "run_id": run_id, "created": round(time.time(), 3)}
    prefix = f"on {task['name']} with {task['base_model'].split('/')[-1]}"
    # Most specific first: a one-change comparison, a failure (it bounds the space), the run's best config
    # (read back by later runs' planners), then the round against its parent.
    lessons = (_within_round(node, ctx, metric.higher_is_better, prefix)
               + _failures(node, ctx, prefix)
               + _best_config(tree, node, ctx, metric.higher_is_better, prefix)
               + _against_parent(tree, node, ctx, metric.higher_is_better, prefix))
    return lessons[:MAX_LESSONS]
