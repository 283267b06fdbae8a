"""Executor step 2: train the current node's trials (each in a subprocess, or reused from the cache)."""
from __future__ import annotations

from pathlib import Path

from langgraph.runtime import Runtime

from graph.context import Context
from graph.spec import TaskSpec
from graph.state import Node, State
from memory.run_log import log_event
from tools.progress_events import trial_finished, trial_started
from tools.structured_llm import fresh_usage, record_usages
from tools.trial_jobs import run_training
from tools.trial_pool import parallelism, run_all


# What a trial's result keeps of its training job (the accounting the report and the Researcher read).
TRAIN_FIELDS = ("loss_curve", "val_loss", "steps", "tokens", "train_examples", "train_s", "wall_s", "peak_memory_mb",
                "peak_gpu_memory_mb", "tokens_per_s", "gpu_hours", "backend", "method", "device", "warm_start_from", "recipe_stats",
                "executor")


def warm_start_source(tree: dict, node: Node, cfg: dict) -> tuple[str, str] | str | None:
    """(adapter, train key) of the parent's best trial when cfg asks to warm-start; an error text when it
    cannot; None for a cold start."""
    if not cfg.get("warm_start"):
        return None
    parent = tree.get(node.get("parent") or "")
    best = (parent or {}).get("results", {}).get((parent or {}).get("best_trial") or "", {})
    adapter = best.get("adapter")
    if not adapter or not (Path(adapter).is_dir() or adapter.startswith("replay:")):  # replay: ftbench.replay
        return f"warm start: the parent {node.get('parent')} has no trained adapter to start from"
    return adapter, best["key"]


def train(state: State, runtime: Runtime[Context]) -> dict:
    spec = TaskSpec.model_validate(state.task)
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
    # The round fans out (tools/trial_pool.py, ctx.max_parallel_trials). No trial waits for another: a warm
    # start reads the PARENT node's best adapter, trained and evaluated in an earlier round.
    jobs = [lambda cfg=cfg: _train_trial(state, spec, node, cfg, runtime.context) for cfg in todo]
    outs = run_all(jobs, parallelism(runtime.context, len(jobs)))
    for cfg, out in zip(todo, outs):  # in the plan's order
        train_info = {k: out.get(k) for k in TRAIN_FIELDS if k in out}
        results[cfg["id"]] = {"trial_id": cfg["id"], "status": out["status"], "adapter": out.get("adapter"),
                              "train": train_info, "cached": out["cached"], "key": out["key"]}
        if out["status"] != "ok":
            results[cfg["id"]].update(error=out.get("error", "unknown"), failure=out.get("failure", "crash"), log_tail=out.get("log_tail", "")[-1000:])
    update = {"tree": {node["id"]: {**node, "results": results, "status": "trained"}}}
    ledger = record_usages(runtime.context, state.llm, llm_usages(node, todo, outs))
    return {**update, "llm": ledger} if ledger is not state.llm else update


def llm_usages(node: Node, todo: list[dict], outs: list[dict]) -> dict[str, dict | None]:
    """The chat-model calls these trials made now, by ledger step: recipe synthesis (not when the recipe file
    was reused from the cache) and an LLM judge scoring validation inside the training job."""
    usages = {}
    for cfg, out in zip(todo, outs):
        usages[f"synthesis:{node['round']}:{cfg['id']}"] = fresh_usage(out.get("recipe_stats") or {})
        usages[f"judge:{node['round']}:{cfg['id']}"] = fresh_usage(out, "val_llm_usage")
    return usages


def _train_trial(state: State, spec: TaskSpec, node: Node, cfg: dict, ctx: Context) -> dict:
    """One trial (cache first, then a worker); its events carry the times it really started and ended."""
    log_event(state.run_dir, "train_start", node=node["id"], trial=cfg["id"])
    trial_started("train_start", node, cfg)  # live progress: this thread's worker lines carry the trial
    init = warm_start_source(state.tree, node, cfg)
    if isinstance(init, str):  # the parent's adapter is gone: this trial cannot run as planned
        out = {"status": "failed", "failure": "warm_start", "error": init, "cached": False, "key": ""}
    else:
        out = run_training(spec, state.data, cfg, ctx, init)
    log_event(state.run_dir, "train_end", node=node["id"], trial=cfg["id"], status=out["status"],
              cached=out["cached"], error=out.get("error"))
    trial_finished("train_end", out)
    return out
