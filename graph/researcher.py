"""The Researcher subgraph: requirement analysis and research (round 0), then node selection and round planning."""
from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from graph.context import Context
from graph.state import State
from nodes.analyze_requirements import analyze_requirements
from nodes.plan_round import plan_round
from nodes.research import research
from nodes.review_plan import review_plan
from nodes.select_node import select_node


def _entry(state: State) -> str:
    # Round 0 analyses the task and plants the root (the baseline round); later rounds plan children.
    return "select_node" if state.requirement else "analyze_requirements"


def build_researcher():
    g = StateGraph(State, context_schema=Context)
    g.add_node("analyze_requirements", analyze_requirements)
    g.add_node("select_node", select_node)
    g.add_node("plan_round", plan_round)
    g.add_node("research", research)
    # Human review (Context.human_review): approve/edit ends the Researcher, reject goes back to plan_round.
    g.add_node("review_plan", review_plan, destinations=("plan_round", END))
    g.add_conditional_edges(START, _entry, ["analyze_requirements", "select_node"])
    g.add_edge("analyze_requirements", "research")  # literature notes and datasets, once
    g.add_edge("research", END)
    g.add_edge("select_node", "plan_round")
    g.add_edge("plan_round", "review_plan")
    return g.compile(name="researcher")
