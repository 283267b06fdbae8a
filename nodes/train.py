"""Executor step 2: train the current node's trials (each in a subprocess, or reused from the cache)."""
from __future__ import annotations

from pathlib import Path

from langgraph.runtime import Runtime

from memory.run_log import log_event
from tools.llm.structured_llm import record_usages
from tools.run.progress_events import trial_finished, trial_started
from tools.trials.runner import default_runner
from tools.trials.trial_pool import parallelism, run_all
from trex.context import Context
from trex.results import TrainResult, TrialFailure, TrialRunner
from trex.state import Node, State


def warm_start_source(tree: dict, node: Node, cfg: dict) -> tuple[str, str] | str | None:
    """(adapter, train key) of the parent's best trial when cfg asks to warm-start; an error text when it
    cannot; None for a cold start."""
    if not cfg.get("warm_start"):
        return None
    parent = tree.get(node.get("parent") or "")
    best = (parent or {}).get("results", {}).get((parent or {}).get("best_trial") or "", {})
    adapter = best.get("adapter")
    # An adapter another runner made need not be a directory (a replay table's ids): the runner that made it reads it.
    if not adapter or not (Path(adapter).is_dir() or not Path(adapter).is_absolute()):
        return f"warm start: the parent {node.get('parent')} has no trained adapter to start from"
    return adapter, best["key"]


def train(state: State, runtime: Runtime[Context], runner: TrialRunner | None = None) -> dict:
    runner = runner or default_runner()
    spec = state.spec
    node: Node = state.tree[state.current]
    results = dict(node.get("results", {}))
    todo = []
    for cfg in node["trials"]:
        if cfg["id"] in results:
            continue
        if cfg.get("epochs", 0) == 0:  # the baseline: nothing to train
            results[cfg["id"]] = {"trial_id": cfg["id"], "status": "ok", "adapter": None, "train": {}, "key": "base"}
            continue
        todo.append(cfg)
    # The round fans out (tools/trials/trial_pool.py, ctx.max_parallel_trials). No trial waits for another: a warm
    # start reads the PARENT node's best adapter, trained and evaluated in an earlier round.
    jobs = [lambda cfg=cfg: _train_trial(state, spec, node, cfg, runtime.context, runner) for cfg in todo]
    outs: list[TrainResult] = run_all(jobs, parallelism(runtime.context, len(jobs)))  # a job that raises is a bug
    for cfg, out in zip(todo, outs):  # in the plan's order
        results[cfg["id"]] = out.record(cfg["id"])
    update = {"tree": {node["id"]: {**node, "results": results, "status": "trained"}}}
    ledger = record_usages(runtime.context, state.llm, llm_usages(node, todo, outs))
    return {**update, "llm": ledger} if ledger is not state.llm else update


def llm_usages(node: Node, todo: list[dict], outs: list[TrainResult]) -> dict[str, dict | None]:
    """The chat-model calls these trials made now, by ledger step: the data recipe's synthesis and judge
    filter (not when its file was reused from the cache) and an LLM judge scoring validation in the job."""
    usages = {}
    for cfg, out in zip(todo, outs):
        usages[f"recipe:{node['round']}:{cfg['id']}"] = out.recipe_usage
        usages[f"judge:{node['round']}:{cfg['id']}"] = out.judge_usage
    return usages


def _train_trial(state: State, spec, node: Node, cfg: dict, ctx: Context, runner: TrialRunner) -> TrainResult:
    """One trial (cache first, then a worker); its events carry the times it really started and ended."""
    log_event(state.run_dir, "train_start", node=node["id"], trial=cfg["id"])
    trial_started("train_start", node, cfg)  # live progress: this thread's worker lines carry the trial
    init = warm_start_source(state.tree, node, cfg)
    if isinstance(init, str):  # the parent's adapter is gone: this trial cannot run as planned
        out = TrainResult(failure=TrialFailure("warm_start", init))
    else:
        out = runner.train(spec, state.data, cfg, ctx, init)
    log_event(state.run_dir, "train_end", node=node["id"], trial=cfg["id"], status="ok" if out.ok else "failed",
              cached=out.cached, error=out.failure.error if out.failure else None)
    trial_finished("train_end", {**out.record(cfg["id"]), **out.stats})
    return out
