"""The TREX parent graph: Researcher -> Executor -> backpropagate -> (next round | test scoring -> report).

`graph` (compiled without a checkpointer) is what langgraph.json serves; `build_graph(...)` is for the CLI and
for Python users who want durable runs, another chat model or trial runner (a test's fake, a benchmark's replay
table) or a restricted search space (docs/seams.md). Importing this module reads no .env and starts nothing
heavy: langgraph.json's "env" and the CLI load .env; torch and transformers load in the trial workers.
"""
from __future__ import annotations

from functools import partial

from langgraph.graph import END, START, StateGraph

from graph.executor import build_executor
from graph.researcher import build_researcher
from graph.routers import route_after_plan, route_after_round
from nodes.backpropagate import backpropagate
from nodes.check_budget import check_budget
from nodes.distill_insights import distill_insights
from nodes.score_test import score_test
from nodes.write_report import write_report
from tools.llm.chat_models import chat_source
from tools.trials.runner import TrialRunner, default_runner
from trex.context import Context
from trex.state import State
from trex.search_space import DEFAULT_SPACE, SearchSpace


def build_graph(checkpointer=None, runner: TrialRunner | None = None, space: SearchSpace | None = None,
                chat_model=None):
    """The compiled graph. runner: trains and scores trials (default: a subprocess per trial, or Ray tasks,
    as Context.trial_executor says). space: the trial configurations the planners may choose from (default:
    every searched field of the trial table). chat_model: the model of every LLM step in this process: a
    LangChain chat model, or a factory called with the run's Context that returns one (or None: offline);
    default: Context.chat_model (TREX_CHAT_MODEL) through tools.llm.chat_models.load_chat_model."""
    chat = chat_source(chat_model)
    runner = runner or default_runner(chat)  # the recipe steps that call a chat model get the same one
    space = space or DEFAULT_SPACE
    g = StateGraph(State, context_schema=Context)
    g.add_node("researcher", build_researcher(space, chat))
    g.add_node("check_budget", check_budget)  # a cap reached while planning stops before training
    g.add_node("executor", build_executor(runner))
    g.add_node("backpropagate", backpropagate)
    g.add_node("distill_insights", partial(distill_insights, chat=chat))  # lessons of the round into the shared store
    g.add_node("score_test", partial(score_test, runner=runner))
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


graph = build_graph()
