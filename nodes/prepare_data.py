"""Executor step 1: load, de-duplicate and split the task's data once per run (test split stays hidden)."""
from __future__ import annotations

from pathlib import Path

from langgraph.runtime import Runtime

from trex.context import Context
from trex.state import State
from memory.run_log import log_event
from tools.data.datasets import prepare_splits
from tools.run.progress_events import emit, round_started


def prepare_data(state: State, runtime: Runtime[Context]) -> dict:
    round_started(state.tree[state.current])  # live progress (tools/run/progress_events.py)
    if state.data.get("paths") and all(Path(p).is_file() for p in state.data["paths"].values()):
        return {}
    spec = state.spec
    data = prepare_splits(spec, Path(state.run_dir) / "data")
    # shapes: what each source was read as ("data.0: detected chat messages (412 rows)"), for the log and progress.
    log_event(state.run_dir, "data_prepared", sizes=data["sizes"], labels=data["labels"], shapes=data["shapes"])
    emit("data_prepared", sizes=data["sizes"], labels=len(data["labels"]), shapes=data["shapes"])
    return {"data": data}
