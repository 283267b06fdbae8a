"""After a round: back the reward up the tree and decide whether the budget allows another round."""
from __future__ import annotations

import time

from langgraph.runtime import Runtime

from trex.context import Context
from trex.state import State
from trex.tree import ROOT
from trex.tree import backpropagate as backup
from memory.run_log import log_event
from tools.run.accounting import run_accounting
from tools.run.budget import check
from tools.run.clock import read_clock
from tools.run.progress_events import round_summary


def backpropagate(state: State, runtime: Runtime[Context]) -> dict:
    spec = state.spec
    node = state.tree[state.current]
    changed = backup(state.tree, node["id"], node.get("reward", 0.0))
    log_event(state.run_dir, "round_done", node=node["id"], round=node["round"], score=node.get("score"),
              reward=node.get("reward"), diagnosis=node.get("diagnosis"))
    now = time.time()
    clock = read_clock(state, runtime, now)  # the running time across resumes: what wall_time_s counts
    accounting = run_accounting(state.tree, state.started_at, now, clock)
    # Every cap (rounds, wall time, GPU-hours, LLM $; tools/run/budget.py); the spend goes to the progress display.
    reason, accounting["budget"] = check(spec, runtime.context, state, accounting, now)
    failures = [r for r in node.get("results", {}).values() if r.get("status") != "ok"]
    # The base model could not be scored (not loadable, a crash): every trial would fail the same way, so stop and
    # say why. A resource limit (timeout, memory) is left to the trials: theirs may differ.
    if node["id"] == ROOT and node.get("failed") and not any(r.get("failure") in ("timeout", "oom") for r in failures):
        errors = [r.get("error") for r in failures if r.get("error")]
        reason = "the base model could not be scored" + (f": {errors[0][:300]}" if errors else "")
    round_summary(node, accounting, state.llm)  # live progress: the round's result line with the spend
    return {"tree": changed, "stop_reason": reason, "accounting": accounting, "clock": clock}
