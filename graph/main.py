"""The TREX parent graph: Researcher -> Executor -> backpropagate -> (next round | test scoring -> report).

`graph` (compiled without a checkpointer) is what langgraph.json serves; `build_graph(checkpointer)`
is for the CLI and for Python users who want durable runs.
"""
from __future__ import annotations

from dotenv import load_dotenv
from langgraph.graph import END, START, StateGraph

from graph.context import Context
from graph.executor import build_executor
from graph.researcher import build_researcher
from graph.state import State
from nodes.backpropagate import backpropagate, route_after_round
from nodes.check_budget import check_budget, route_after_plan
from nodes.distill_insights import distill_insights
from nodes.score_test import score_test
from nodes.write_report import write_report


def build_graph(checkpointer=None):
    g = StateGraph(State, context_schema=Context)
    g.add_node("researcher", build_researcher())
    g.add_node("check_budget", check_budget)  # a cap reached while planning stops before training
    g.add_node("executor", build_executor())
    g.add_node("backpropagate", backpropagate)
    g.add_node("distill_insights", distill_insights)  # lessons of the round into the shared store
    g.add_node("score_test", score_test)
    g.add_node("write_report", write_report)
    g.add_edge(START, "researcher")
    g.add_edge("researcher", "check_budget")
    g.add_conditional_edges("check_budget", route_after_plan, {"train": "executor", "finish": "score_test"})
    g.add_edge("executor", "backpropagate")
    g.add_edge("backpropagate", "distill_insights")
    g.add_conditional_edges("distill_insights", route_after_round, {"continue": "researcher", "finish": "score_test"})
    g.add_edge("score_test", "write_report")
    g.add_edge("write_report", END)
    return g.compile(checkpointer=checkpointer, name="trex")


load_dotenv()  # .env in the working directory, for `langgraph dev` as for the CLI; real env vars win
graph = build_graph()
