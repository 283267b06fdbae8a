"""Plan the next round: K trial configs for a new child of the selected node."""
from __future__ import annotations

from langgraph.runtime import Runtime

from graph.context import Context
from graph.spec import TaskSpec
from graph.state import Node, State
from tools.metrics import get_metric
from tools.planner import propose


def plan_round(state: State, runtime: Runtime[Context]) -> dict:
    spec = TaskSpec.model_validate(state.task)
    max_train = min(spec.budget.max_train_samples, state.data.get("sizes", {}).get("train", spec.budget.max_train_samples))
    rationale, configs = propose(state.tree, state.selected, spec.budget.configs_per_round, max_train,
                                 runtime.context.seed, get_metric(spec.metric).higher_is_better)
    round_no = state.round + 1
    node = Node(id=f"n{round_no}", parent=state.selected, round=round_no, status="planned", rationale=rationale,
                trials=configs, results={}, visits=0, value=0.0)
    return {"tree": {node["id"]: node}, "current": node["id"], "round": round_no}
