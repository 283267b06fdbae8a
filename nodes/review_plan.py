"""Human in the loop (Context.human_review): pause after plan_round so a person approves, edits or rejects
the round's trial configs before anything trains.

The interrupt's payload is the plan (node, parent, rationale, trials); the resume value is one of
  {"action": "approve"}
  {"action": "edit", "edits": {"t0": {"lr": 1e-4}}, "drop": ["t1"]}
  {"action": "reject", "note": "too aggressive, keep lr <= 2e-4"}
each with an optional "note" (kept in state.feedback for the planner). An invalid answer interrupts again
with the plan and an "error"; a rejected plan is kept on the node (rejected_plans) and the round is planned
again, with the rejected configs counted as tried so the planner proposes different ones.
"""
from __future__ import annotations

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from memory.run_log import log_event
from tools.planning.review import ReviewError, decide, plan_payload, summary
from trex.context import Context
from trex.state import State


def review_plan(state: State, runtime: Runtime[Context]) -> Command:
    if not runtime.context.human_review:
        return Command(goto=END)
    node = state.tree[state.current]
    max_samples = state.spec.budget.max_train_samples
    payload = plan_payload(node, max_samples)
    error = ""
    while True:  # on resume the node re-runs and earlier answers replay in order; a bad one asks again
        answer = interrupt({**payload, "error": error} if error else payload)
        try:
            decision = decide(answer, node["trials"], max_samples)
            break
        except ReviewError as err:
            error = str(err)
    where = f"round {node['round']} ({node['id']}, parent {node.get('parent')})"
    log_event(state.run_dir, "plan_reviewed", node=node["id"], action=decision["action"], note=decision["note"])
    if decision["action"] == "reject":
        rejected = [*node.get("rejected_plans", []), {"rationale": node.get("rationale", ""), "trials": node["trials"],
                                                       "note": decision["note"]}]
        entry = (f"{where}: the reviewer rejected the plan [{'; '.join(summary(t) for t in node['trials'])}]: "
                 f"{decision['note'] or '(no note)'}")
        # The node stays as "rejected" until plan_round replaces it (same id, same round) and keeps rejected_plans.
        return Command(goto="plan_round", update={
            "tree": {node["id"]: {**node, "status": "rejected", "trials": [], "results": {}, "rejected_plans": rejected}},
            "round": state.round - 1, "feedback": [*state.feedback, entry]})
    review = {"action": decision["action"], **({"note": decision["note"]} if decision["note"] else {})}
    if decision["action"] == "edit":
        review.update(edits=decision["edits"], drop=decision["drop"], proposed=node["trials"])
    update = {"tree": {node["id"]: {**node, "trials": decision["trials"], "review": review}}}
    if decision["note"]:
        update["feedback"] = [*state.feedback, f"{where}: reviewer note: {decision['note']}"]
    return Command(goto=END, update=update)
