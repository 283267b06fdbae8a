"""Insight distillation with the chat model: 1-3 lessons of a round, in the rule-based distiller's shape.

`distill_round` asks Context.chat_model for `tools.llm.schemas.Lessons`, showing it the round (trials with their
configs and results, the parent's score, the diagnosis, the metric and its direction) and the rule-based
lessons as candidate facts. An answer whose lessons are empty, too long or name no number is rejected (one
retry, then the rule-based lessons). Offline (no chat model) the rule-based lessons are returned unchanged.
Rule lessons that carry machine-readable fields (kind "best_config") are always kept: the planner reads them.
"""
from __future__ import annotations

import math
import re
import time

from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from tools.llm.schemas import Lessons
from tools.research import insights as rules
from tools.planning.llm_planner import clip, compact
from trex.metrics import get_metric

MAX_LESSON_CHARS = 400
MAX_TRIALS, MAX_FACTS = 12, 6
KEEP_KINDS = ("best_config",)  # rule lessons other code reads fields of: stored whatever the LLM says
CONTEXT_KEYS = ("task", "task_type", "base_model", "metric", "run_id", "created")


def _trial_line(cfg: dict, res: dict) -> str:
    line = f"{cfg.get('id', '?')} {compact(cfg)} -> "
    if res.get("status") == "ok" and "score" in res:
        line += f"ok, score {res['score']:.4f}"
        val_loss = (res.get("train") or {}).get("val_loss") or []
        if len(val_loss) >= 2:
            line += f", val loss {val_loss[0]:.3f} -> {val_loss[-1]:.3f}"
    elif res:
        line += f"{res.get('status', 'failed')} ({res.get('failure') or '?'}): {clip(res.get('error', ''), 160)}"
    else:
        line += "no result"
    return line


def round_text(tree: dict, node_id: str, task: dict) -> str:
    """The round as bounded text: task, metric and direction, parent score, diagnosis, trials."""
    node = tree[node_id]
    parent = tree.get(node.get("parent") or "") or {}
    higher = get_metric(task["metric"]).higher_is_better
    pscore = f"{parent['score']:.4f}" if isinstance(parent.get("score"), (int, float)) else "not scored"
    score = f"{node['score']:.4f}" if isinstance(node.get("score"), (int, float)) else "none"
    results = node.get("results", {})
    trials = [f"- {_trial_line(cfg, results.get(cfg.get('id'), {}))}" for cfg in node.get("trials", [])[:MAX_TRIALS]]
    return "\n".join([
        f"task {task['name']} ({task.get('task_type', '?')}), base model {task['base_model']}",
        f"metric {task['metric']} ({'higher' if higher else 'lower'} is better)",
        f"round {node.get('round', 0)}: node {node_id}, a child of {parent.get('id', '?')} (parent's score {pscore})",
        f"node's best score {score}{' (every trial failed)' if node.get('failed') else ''}",
        f"diagnosis: {node.get('diagnosis_kind', '?')}: {clip(node.get('diagnosis', ''), 400)}",
        "trials:", *trials])


def _context(task: dict, run_id: str, rule_lessons: list[dict]) -> dict:
    """The metadata keys every lesson of the run shares: taken from a rule lesson, else built as distill does."""
    for lesson in rule_lessons:
        meta = lesson.get("metadata") or {}
        if all(k in meta for k in CONTEXT_KEYS):
            return {k: meta[k] for k in CONTEXT_KEYS}
    return {"task": task["name"], "task_type": task.get("task_type", ""), "base_model": task["base_model"],
            "metric": task["metric"], "run_id": run_id, "created": round(time.time(), 3)}


def validate_lessons(answer: Lessons) -> None:
    for i, item in enumerate(answer.lessons, 1):
        text = " ".join(item.lesson.split())
        if not text:
            raise ValueError(f"lesson {i} is empty")
        if len(text) > MAX_LESSON_CHARS:
            raise ValueError(f"lesson {i} has {len(text)} characters; at most {MAX_LESSON_CHARS}")
        if not re.search(r"\d", text):  # no number, nothing a later round could check it against
            raise ValueError(f"lesson {i} names no number: give the scores, deltas or settings it rests on")


def llm_lessons(answer: Lessons, node: dict, task: dict, ctx_meta: dict) -> list[dict]:
    prefix = f"on {task['name']} with {task['base_model'].split('/')[-1]}"
    out, seen = [], set()
    for item in answer.lessons:
        text = " ".join(item.lesson.split())
        if task["name"].lower() not in text.lower():  # retrieved across tasks: say which task taught it
            text = f"{prefix}, {text}"
        if text in seen:
            continue
        seen.add(text)
        delta = item.metric_delta
        delta = round(delta, 4) if isinstance(delta, (int, float)) and math.isfinite(delta) else None
        meta = {**ctx_meta, "kind": "llm", "delta": delta, "node_id": node["id"], "round": node.get("round", 0)}
        if item.evidence.strip():
            meta["evidence"] = clip(item.evidence, 300)
        out.append({"text": text, "metadata": meta})
    return out


def distill_round(tree: dict, node_id: str, task: dict, run_id: str, ctx, ledger: dict | None,
                  chat: ChatSource = DEFAULT_CHAT) -> tuple[list[dict], dict | None]:
    """(lessons, new state.llm) for the round `node_id`, the LLM's from `chat` when it has a model. The ledger
    is returned unchanged when the node has nothing to teach (the baseline, a round not evaluated). Raises only
    when the rule-based distiller does."""
    from tools.llm.prompts import DISTILL_SYSTEM, DISTILL_USER
    from tools.llm.structured_llm import OFFLINE, structured_step

    rule_lessons = rules.distill(tree, node_id, task, run_id)
    node = tree.get(node_id)
    if not node or node.get("parent") is None or node.get("status") != "evaluated":
        return rule_lessons, ledger
    messages = []
    if chat.configured(ctx):
        facts = [f"- {clip(x['text'], 300)}" for x in rule_lessons[:MAX_FACTS] if x.get("text")] or ["- (none)"]
        messages = [("system", DISTILL_SYSTEM),
                    ("human", DISTILL_USER.format(round=round_text(tree, node_id, task), facts="\n".join(facts),
                                                  task=task["name"], model=task["base_model"].split("/")[-1]))]
    step = f"distill_insights:{node.get('round', 0)}"
    outcome, ledger = structured_step(ctx, step, ledger, Lessons, messages, lambda: rule_lessons, validate_lessons,
                                      chat=chat)
    if outcome.source == OFFLINE:
        return outcome.value, ledger
    kept = [x for x in rule_lessons if (x.get("metadata") or {}).get("kind") in KEEP_KINDS]
    return llm_lessons(outcome.value, node, task, _context(task, run_id, rule_lessons)) + kept, ledger
