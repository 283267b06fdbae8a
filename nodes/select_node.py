"""Choose which node of the tree the next round expands (UCT by default)."""
from __future__ import annotations

from langgraph.runtime import Runtime

from trex.context import Context
from trex.state import State
from trex.tree import select_node as choose
from trex.metrics import get_metric


def select_node(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    higher = get_metric(state.spec.metric).higher_is_better
    chosen = choose(state.tree, ctx.selection_policy, ctx.exploration_c, ctx.max_children, higher)
    return {"selected": chosen}
