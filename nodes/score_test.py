"""After the search: score the best node (chosen on validation) and the base model once on the hidden test split."""
from __future__ import annotations

from pathlib import Path

from langgraph.runtime import Runtime

from trex.context import Context
from trex.state import State
from trex.tree import ROOT, best_node
from memory.run_log import log_event
from trex.metrics import get_metric
from tools.run.progress_events import emit
from tools.llm.structured_llm import record_usages
from tools.trials.runner import default_runner
from tools.export.best_adapter import keep_best_adapter, val_predictions
from tools.tracking.run_tracking import track_result
from trex.results import TrialRunner


def _score(spec, state, ctx, node, label, usages: dict, runner: TrialRunner) -> float | None:
    """The test score, or None; an LLM judge's fresh calls go into usages["judge:test:<label>"]."""
    cfg = next(t for t in node["trials"] if t["id"] == node["best_trial"])
    res = node["results"][cfg["id"]]
    out = runner.score(spec, state.data, cfg, res.get("adapter"), res["key"], "test", ctx,
                       Path(state.run_dir) / "trials" / node["id"] / cfg["id"] / f"eval_test_{label}", None)
    usages[f"judge:test:{label}"] = out.judge_usage
    return out.score if out.ok else None


def score_test(state: State, runtime: Runtime[Context], runner: TrialRunner | None = None) -> dict:
    runner = runner or default_runner()
    spec = state.spec
    metric = get_metric(spec.metric)
    root = state.tree[ROOT]
    best = best_node(state.tree, metric.higher_is_better)
    if best is None or best.get("failed"):
        return {"final": {"error": "no trial succeeded"}}
    emit("test_start", node=best["id"])  # live progress: the hidden test split, scored once
    usages: dict[str, dict] = {}
    base_test = _score(spec, state, runtime.context, root, "base", usages, runner) if not root.get("failed") else None
    test = base_test if best["id"] == ROOT else _score(spec, state, runtime.context, best, "best", usages, runner)
    cfg = next(t for t in best["trials"] if t["id"] == best["best_trial"])
    res = best["results"][cfg["id"]]
    adapter = res.get("adapter")
    kept = ""
    if adapter and Path(adapter).is_dir():  # what the user ships: adapter + tokenizer + trex_model.json
        kept = keep_best_adapter(spec, state.data["labels"], cfg, adapter, state.run_dir, runtime.context.cache_dir,
                                 {"metric": spec.metric, "val": best["score"], "test": test, "base_test": base_test},
                                 val_predictions(spec, state.data, cfg, res.get("key", ""), runtime.context))
    final = {"best_node": best["id"], "best_trial": cfg["id"], "config": cfg, "val_score": best["score"],
             "base_val": root.get("score"), "test_score": test, "base_test": base_test, "metric": spec.metric,
             "adapter": kept}
    log_event(state.run_dir, "test_scored", **{k: final[k] for k in ("best_node", "test_score", "base_test")})
    track_result(state.run_dir, spec, final, runtime.context)
    emit("test_end", **{k: final[k] for k in ("best_node", "test_score", "base_test", "metric")})
    ledger = record_usages(runtime.context, state.llm, usages)
    return {"final": final, **({"llm": ledger} if ledger is not state.llm else {})}
