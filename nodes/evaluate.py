"""Executor step 3: score each trained trial on the validation split; set the node's score, reward
and diagnosis. A failed trial scores the metric's worst value."""
from __future__ import annotations

from pathlib import Path

from langgraph.runtime import Runtime

from memory.run_log import log_event
from tools.llm.structured_llm import record_usages
from tools.planning.diagnosis import diagnose
from tools.run.progress_events import emit
from tools.tracking.run_tracking import track_round
from tools.trials.runner import default_runner
from tools.trials.trial_pool import parallelism, run_all
from trex.context import Context
from trex.metrics import get_metric
from trex.results import EvalResult, TrialRunner
from trex.spec import TaskSpec
from trex.state import Node, State
from trex.tree import ROOT, normalised_reward


def evaluate(state: State, runtime: Runtime[Context], runner: TrialRunner | None = None) -> dict:
    runner = runner or default_runner()
    spec = state.spec
    metric = get_metric(spec.metric)
    node: Node = state.tree[state.current]
    results = {k: dict(v) for k, v in node["results"].items()}
    emit("eval_start", node=node["id"], round=node["round"], trials=[c["id"] for c in node["trials"]
                                                                   if "score" not in results[c["id"]]])
    scored = _score_val(state, spec, node, results, runtime.context, runner)
    for cfg in node["trials"]:
        res = results[cfg["id"]]
        if "score" in res:
            continue
        if res["status"] == "ok":
            out = scored[cfg["id"]]
            if out.ok:
                res["eval"] = dict(out.stats)
                res["score"] = float(out.score)
            else:
                res.update(status="failed", failure=out.failure.kind, error=f"evaluation: {out.failure.error}")
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
    track_round(state.run_dir, spec, updated, runtime.context)  # Optuna / MLflow copies of the round
    ledger = record_usages(runtime.context, state.llm, judge_usages(node["round"], scored))
    return {"tree": {node["id"]: updated}, **({"llm": ledger} if ledger is not state.llm else {})}


def judge_usages(round_: int, scored: dict[str, EvalResult]) -> dict[str, dict]:
    """{"judge:<round>:<trial>": usage} of an LLM judge's calls made now (a cached result made them before)."""
    return {f"judge:{round_}:{tid}": out.judge_usage for tid, out in scored.items()}


def _score_val(state: State, spec: TaskSpec, node: Node, results: dict, ctx: Context,
               runner: TrialRunner) -> dict[str, EvalResult]:
    """Validation scores of the trained, unscored trials, run side by side like training (mostly cache hits:
    a training job scores validation itself)."""
    todo = [c for c in node["trials"] if "score" not in results[c["id"]] and results[c["id"]]["status"] == "ok"]
    jobs = [lambda cfg=cfg, res=results[cfg["id"]]: runner.score(
        spec, state.data, cfg, res.get("adapter"), res["key"], "val", ctx,
        Path(state.run_dir) / "trials" / node["id"] / cfg["id"] / "eval_val", ctx.max_eval_examples) for cfg in todo]
    outs = run_all(jobs, parallelism(ctx, len(jobs)))
    return {c["id"]: o for c, o in zip(todo, outs)}
