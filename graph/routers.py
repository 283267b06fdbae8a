"""Where the graph goes next: the conditional edges of the parent graph and of the Researcher, beside their builders."""
from __future__ import annotations

from trex.state import State


def researcher_entry(state: State) -> str:
    """Round 0 analyses the task and plants the root (the baseline round); later rounds plan children."""
    return "select_node" if state.requirement else "analyze_requirements"


def route_after_plan(state: State) -> str:
    """check_budget: a cap reached while planning (LLM spend, a reviewer's wait) stops before training."""
    return "finish" if state.stop_reason else "train"


def route_after_round(state: State) -> str:
    """After a round's lessons are stored: another round, or test scoring when a budget cap was reached."""
    return "finish" if state.stop_reason else "continue"
