"""After each round: distil 1-3 lessons from the round and write them to the shared insight store, where later
rounds and later runs (of any task) retrieve them. With a chat model the lessons are the LLM's (tools/research/llm_distill.py),
else the rule-based ones. A store failure is recorded on the lessons; the run goes on."""
from __future__ import annotations

from pathlib import Path

from langgraph.runtime import Runtime

from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from trex.context import Context
from trex.state import State
from memory.insight_store import insight_id, open_context_store
from memory.run_log import log_event
from tools.research.llm_distill import distill_round


def distill_insights(state: State, runtime: Runtime[Context], chat: ChatSource = DEFAULT_CHAT) -> dict:
    try:
        lessons, ledger = distill_round(state.tree, state.current, state.task, Path(state.run_dir).name,
                                        runtime.context, state.llm, chat)
    except Exception as err:  # noqa: BLE001 - a bad lesson must not stop the search
        failure = {"node_id": state.current, "error": f"distill: {type(err).__name__}: {err}"[:300]}
        log_event(state.run_dir, "insights", node=state.current, error=failure["error"])
        return {"insights": state.insights + [failure]}
    llm = {"llm": ledger} if ledger != state.llm else {}  # the baseline records no step: nothing to merge
    if not lessons:
        return llm
    for lesson in lessons:
        lesson["metadata"]["run_dir"] = state.run_dir
        lesson["id"] = insight_id(lesson)
    try:
        open_context_store(runtime.context).add_insights(lessons)
        for lesson in lessons:
            lesson["stored"] = True
    except Exception as err:  # noqa: BLE001 - kept in the state and the report even when the store is down
        for lesson in lessons:
            lesson.update(stored=False, store_error=f"{type(err).__name__}: {err}"[:300])
    log_event(state.run_dir, "insights", node=state.current, texts=[x["text"] for x in lessons],
              stored=all(x["stored"] for x in lessons))
    return {"insights": state.insights + lessons, **llm}
