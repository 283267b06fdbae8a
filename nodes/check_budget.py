"""Before a round trains: stop if planning (LLM spend) or waiting for a reviewer used up a budget cap.

Rounds are checked after each round (nodes/backpropagate.py); here only the caps that planning can move:
wall time, GPU-hours, training tokens and LLM dollars. A round whose smallest trial cannot start within the
train_tokens left (the planner's estimate, node["token_budget"]; tools/planning/token_fit.py) stops here too.
A round stopped here is kept in the tree as "skipped", untrained.
"""
from __future__ import annotations

import time

from langgraph.runtime import Runtime

from trex.context import Context
from trex.state import State
from trex.tree import ROOT
from memory.run_log import log_event
from tools.run.accounting import run_accounting
from tools.run.budget import cannot_start, check
from tools.run.clock import read_clock


def check_budget(state: State, runtime: Runtime[Context]) -> dict:
    if state.current == ROOT:  # the baseline round always runs: every result is measured against it
        return {}
    now = time.time()
    clock = read_clock(state, runtime, now)  # the running time across resumes: what wall_time_s counts
    accounting = run_accounting(state.tree, state.started_at, now, clock)
    reason, accounting["budget"] = check(state.spec, runtime.context, state, accounting, now,
                                         skip=("rounds",))
    node = state.tree[state.current]
    tokens, planned = accounting["budget"]["train_tokens"], node.get("token_budget") or {}
    if not reason and tokens["cap"] is not None and planned.get("fits") is False:
        reason = cannot_start(tokens["cap"], tokens["spent"], min(planned["estimates"].values()))
    if not reason:
        return {"accounting": accounting, "clock": clock}
    log_event(state.run_dir, "budget_stop", node=node["id"], reason=reason)
    return {"stop_reason": reason, "accounting": accounting, "clock": clock, "round": state.round - 1,
            "tree": {node["id"]: {**node, "status": "skipped", "diagnosis": f"not trained: {reason}"}}}
