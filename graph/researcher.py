"""The Researcher subgraph: requirement analysis and research (round 0), then node selection and round planning.

Its own schemas say what it reads and writes of the parent's state (ResearcherInput, ResearcherOutput)."""
from __future__ import annotations

from functools import partial

from langgraph.graph import END, START, StateGraph

from graph.routers import researcher_entry
from nodes.analyze_requirements import analyze_requirements
from nodes.plan_round import plan_round
from nodes.research import research
from nodes.review_plan import review_plan
from nodes.select_node import select_node
from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from trex.context import Context
from trex.state import ResearcherInput, ResearcherOutput, State
from trex.search_space import DEFAULT_SPACE, SearchSpace


def build_researcher(space: SearchSpace = DEFAULT_SPACE, chat: ChatSource = DEFAULT_CHAT):
    """space: what the planners may choose; chat: the chat model of the LLM steps (graph.main.build_graph)."""
    g = StateGraph(State, context_schema=Context, input_schema=ResearcherInput, output_schema=ResearcherOutput)
    g.add_node("analyze_requirements", partial(analyze_requirements, chat=chat))
    g.add_node("select_node", select_node)
    g.add_node("plan_round", partial(plan_round, space=space, chat=chat))
    g.add_node("research", partial(research, chat=chat))
    # Human review (Context.human_review): approve/edit ends the Researcher, reject goes back to plan_round.
    g.add_node("review_plan", review_plan, destinations=("plan_round", END))
    g.add_conditional_edges(START, researcher_entry, ["analyze_requirements", "select_node"])
    g.add_edge("analyze_requirements", "research")  # literature notes and datasets, once
    g.add_edge("research", END)
    g.add_edge("select_node", "plan_round")
    g.add_edge("plan_round", "review_plan")
    return g.compile(name="researcher")
