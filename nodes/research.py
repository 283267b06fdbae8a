"""Round 0 of the Researcher, after the requirement: literature notes with sources and candidate datasets.
Offline: the shipped corpus (retrieved from the Chroma store) and the local dataset catalog; online
(Context.online): arXiv, Tavily with TAVILY_API_KEY, and the Hugging Face Hub. A failure is recorded.
The notes are summarised into a brief with sources (tools/research/research_brief.py): by the chat model when one is
configured, else extractively. Each candidate dataset is vetted (licence, size, fields, labels:
tools/research/source_vetting.py); those accepted are the only extra sources a planned trial may add."""
from __future__ import annotations

import json
import time

from langgraph.runtime import Runtime

from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from trex.context import Context
from trex.state import State
from memory.insight_store import open_context_store
from memory.run_log import log_event
from tools.research.dataset_search import candidate_datasets
from tools.research.literature import research_notes
from tools.research.research_brief import research_brief
from tools.research.column_mapping import map_unmapped
from tools.research.source_vetting import vet_all


def own_answers(state: State, errors: list[str], n: int = 200) -> list[str]:
    """Up to n answers of the task's own data (the training split when it is prepared); [] when unreadable."""
    from tools.data.datasets import load_records

    try:
        train = (state.data or {}).get("paths", {}).get("train")
        if train:
            with open(train, encoding="utf-8") as f:
                return [json.loads(line)["output"] for line, _ in zip(f, range(n)) if line.strip()]
        return [r["output"] for r in load_records(state.spec)[:n]]
    except Exception as err:  # noqa: BLE001 - vetting without the shape check still runs
        errors.append(f"own answers for vetting: {type(err).__name__}: {err}"[:300])
        return []


def research(state: State, runtime: Runtime[Context], chat: ChatSource = DEFAULT_CHAT) -> dict:
    ctx = runtime.context
    start = time.time()
    errors: list[str] = []
    store = None
    try:
        store = open_context_store(ctx)
    except Exception as err:  # noqa: BLE001 - research without a store still searches online / lists datasets
        errors.append(f"insight store: {type(err).__name__}: {err}"[:300])
    lit = research_notes(state.requirement, state.spec.goal, store=store, online=ctx.online)
    datasets, ds_errors = candidate_datasets(state.spec, online=ctx.online)
    brief, ledger = research_brief(state.requirement, lit["notes"], datasets, ctx, state.llm, chat)
    # Which candidates may become training sources; the task's own answers let vetting compare answer shapes.
    answers = own_answers(state, errors)
    vetted = vet_all(datasets, state.spec, state.spec.labels, answers)
    # Columns vetting could not map by name: the chat model maps them (when one is configured), then vet again.
    vetted, ledger = map_unmapped(datasets, vetted, state.spec, ctx, ledger,
                                  lambda c: vet_all([c], state.spec, state.spec.labels, answers)[0], chat)
    found = {"notes": lit["notes"], "datasets": datasets, "sources": vetted, "source": lit["source"], "brief": brief,
             "errors": errors + lit["errors"] + ds_errors, "online": ctx.online,
             "wall_s": round(time.time() - start, 2)}
    log_event(state.run_dir, "research", source=found["source"], notes=len(found["notes"]),
              datasets=len(datasets), sources=sum(v["accepted"] for v in vetted), errors=found["errors"],
              wall_s=found["wall_s"], brief=brief["source"])
    return {"research": found, "llm": ledger}
