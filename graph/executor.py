"""The Executor subgraph: prepare data, train the round's trials, evaluate them."""
from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from graph.context import Context
from graph.state import State
from nodes.evaluate import evaluate
from nodes.prepare_data import prepare_data
from nodes.train import train


def build_executor():
    g = StateGraph(State, context_schema=Context)
    g.add_node("prepare_data", prepare_data)
    g.add_node("train", train)
    g.add_node("evaluate", evaluate)
    g.add_edge(START, "prepare_data")
    g.add_edge("prepare_data", "train")
    g.add_edge("train", "evaluate")
    g.add_edge("evaluate", END)
    return g.compile(name="executor")
