"""Executor step 2: train the current node's trials (each in a subprocess, or reused from the cache)."""
from __future__ import annotations

from langgraph.runtime import Runtime

from graph.context import Context
from graph.spec import TaskSpec
from graph.state import Node, State
from memory.run_log import log_event
from tools.trial_jobs import run_training


def train(state: State, runtime: Runtime[Context]) -> dict:
    spec = TaskSpec.model_validate(state.task)
    node: Node = state.tree[state.current]
    results = dict(node.get("results", {}))
    for cfg in node["trials"]:
        if cfg["id"] in results:
            continue
        if cfg.get("epochs", 0) == 0:  # the baseline: nothing to train
            results[cfg["id"]] = {"trial_id": cfg["id"], "status": "ok", "adapter": None, "train": {}, "key": "base"}
            continue
        log_event(state.run_dir, "train_start", node=node["id"], trial=cfg["id"])
        out = run_training(spec, state.data, cfg, runtime.context)
        log_event(state.run_dir, "train_end", node=node["id"], trial=cfg["id"], status=out["status"],
                  cached=out["cached"], error=out.get("error"))
        train_info = {k: out.get(k) for k in ("loss_curve", "val_loss", "steps", "tokens", "train_examples",
                                              "train_s", "wall_s", "peak_memory_mb") if k in out}
        results[cfg["id"]] = {"trial_id": cfg["id"], "status": out["status"], "adapter": out.get("adapter"),
                              "train": train_info, "cached": out["cached"], "key": out["key"]}
        if out["status"] != "ok":
            results[cfg["id"]].update(error=out.get("error", "unknown"), log_tail=out.get("log_tail", "")[-1000:])
    return {"tree": {node["id"]: {**node, "results": results, "status": "trained"}}}
