"""After a round: back the reward up the tree and decide whether the budget allows another round."""
from __future__ import annotations

import time

from langgraph.runtime import Runtime

from graph.context import Context
from graph.spec import TaskSpec
from graph.state import State
from graph.tree import backpropagate as backup
from memory.run_log import log_event
from tools.accounting import run_accounting


def stop_reason(spec: TaskSpec, state: State, now: float) -> str:
    if state.round >= spec.budget.rounds:
        return f"round budget reached ({spec.budget.rounds} rounds)"
    if spec.budget.wall_time_s is not None and now - state.started_at >= spec.budget.wall_time_s:
        return f"wall-time cap reached ({spec.budget.wall_time_s:g} s)"
    return ""


def backpropagate(state: State, runtime: Runtime[Context]) -> dict:
    spec = TaskSpec.model_validate(state.task)
    node = state.tree[state.current]
    changed = backup(state.tree, node["id"], node.get("reward", 0.0))
    log_event(state.run_dir, "round_done", node=node["id"], round=node["round"], score=node.get("score"),
              reward=node.get("reward"), diagnosis=node.get("diagnosis"))
    now = time.time()
    return {"tree": changed, "stop_reason": stop_reason(spec, state, now),
            "accounting": run_accounting(state.tree, state.started_at, now)}


def route_after_round(state: State) -> str:
    return "finish" if state.stop_reason else "continue"
