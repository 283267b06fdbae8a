"""The Executor subgraph: prepare data, train the round's trials, evaluate them.

Its own schemas say what it reads and writes of the parent's state (ExecutorInput, ExecutorOutput); the trial
runner that trains and scores is passed in (graph.main.build_graph)."""
from __future__ import annotations

from functools import partial

from langgraph.graph import END, START, StateGraph

from nodes.evaluate import evaluate
from nodes.prepare_data import prepare_data
from nodes.train import train
from tools.trials.runner import TrialRunner
from trex.context import Context
from trex.state import ExecutorInput, ExecutorOutput, State


def build_executor(runner: TrialRunner):
    g = StateGraph(State, context_schema=Context, input_schema=ExecutorInput, output_schema=ExecutorOutput)
    g.add_node("prepare_data", prepare_data)
    g.add_node("train", partial(train, runner=runner))
    g.add_node("evaluate", partial(evaluate, runner=runner))
    g.add_edge(START, "prepare_data")
    g.add_edge("prepare_data", "train")
    g.add_edge("train", "evaluate")
    g.add_edge("evaluate", END)
    return g.compile(name="executor")
