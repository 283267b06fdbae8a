"""Executor step 3: score each trained trial on the validation split; set the node's score, reward
and diagnosis. A failed trial scores the metric's worst value."""
from __future__ import annotations

from pathlib import Path

from langgraph.runtime import Runtime

from graph.context import Context
from graph.spec import TaskSpec
from graph.state import Node, State
from graph.tree import ROOT, normalised_reward
from memory.run_log import log_event
from tools.diagnosis import diagnose
from tools.metrics import get_metric
from tools.progress_events import emit
from tools.structured_llm import fresh_usage, record_usages
from tools.trial_jobs import run_scoring
from tools.trial_pool import parallelism, run_all


def evaluate(state: State, runtime: Runtime[Context]) -> dict:
    spec = TaskSpec.model_validate(state.task)
    metric = get_metric(spec.metric)
    node: Node = state.tree[state.current]
    results = {k: dict(v) for k, v in node["results"].items()}
    emit("eval_start", node=node["id"], round=node["round"], trials=[c["id"] for c in node["trials"]
                                                                   if "score" not in results[c["id"]]])
    scored = _score_val(state, spec, node, results, runtime.context)
    for cfg in node["trials"]:
        res = results[cfg["id"]]
        if "score" in res:
            continue
        if res["status"] == "ok":
            out = scored[cfg["id"]]
            if out["status"] == "ok":
                res["eval"] = {k: out.get(k) for k in ("n", "n_wrong", "bad_cases", "wall_s", "cached")}
                res["score"] = float(out["score"])
            else:
                res.update(status="failed", failure=out.get("failure", "crash"), error=f"evaluation: {out.get('error')}")
        if res["status"] != "ok":
            res["score"] = metric.worst
        log_event(state.run_dir, "evaluated", node=node["id"], trial=cfg["id"], score=res["score"],
                  status=res["status"])
        emit("eval_end", node=node["id"], round=node["round"], trial=cfg["id"], score=res["score"], status=res["status"])
    ok = [r for r in results.values() if r["status"] == "ok"]
    best = None
    for r in ok:
        if best is None or metric.better(r["score"], best["score"]):
            best = r
    score = best["score"] if best else metric.worst
    base = score if node["id"] == ROOT else state.tree[ROOT].get("score", metric.worst)
    reward = normalised_reward(metric.gain(score, base), base, spec.reference_score, metric.higher_is_better)
    kind, text = diagnose(list(results.values()), best, reward)
    updated = {**node, "results": results, "status": "evaluated", "score": score, "failed": best is None,
               "best_trial": best["trial_id"] if best else None, "reward": reward,
               "diagnosis_kind": kind, "diagnosis": text,
               "bad_cases": (best.get("eval") or {}).get("bad_cases", []) if best else []}
    ledger = record_usages(runtime.context, state.llm, judge_usages(node["round"], scored))
    return {"tree": {node["id"]: updated}, **({"llm": ledger} if ledger is not state.llm else {})}


def judge_usages(round_: int, scored: dict[str, dict]) -> dict[str, dict]:
    """{"judge:<round>:<trial>": usage} of an LLM judge's calls in fresh scoring results; a cached result
    (eval cache, replay table) carries the usage of calls made before, not now."""
    return {f"judge:{round_}:{tid}": fresh_usage(out) for tid, out in scored.items()}


def _score_val(state: State, spec: TaskSpec, node: Node, results: dict, ctx: Context) -> dict:
    """Validation scores of the trained, unscored trials, run side by side like training (mostly cache hits:
    a training job scores validation itself)."""
    todo = [c for c in node["trials"] if "score" not in results[c["id"]] and results[c["id"]]["status"] == "ok"]
    jobs = [lambda cfg=cfg, res=results[cfg["id"]]: run_scoring(
        spec, state.data, cfg, res.get("adapter"), res["key"], "val", ctx,
        Path(state.run_dir) / "trials" / node["id"] / cfg["id"] / "eval_val", ctx.max_eval_examples) for cfg in todo]
    return dict(zip((c["id"] for c in todo), run_all(jobs, parallelism(ctx, len(jobs)))))
