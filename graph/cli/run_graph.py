"""The compiled graph on a run directory's own checkpointer: what `trex resume`, `trex report` and `trex compare`
open. Its own module so the commands that need it import it without importing each other."""
from __future__ import annotations

from pathlib import Path


def open_graph(run_dir: Path, checkpoint_url: str | None = None):
    """The graph on this run's checkpointer (SQLite or Postgres, graph.checkpointing), and a handle to close()."""
    from contextlib import ExitStack

    from graph.checkpointing import open_checkpointer
    from graph.main import build_graph

    handle = ExitStack()
    saver = handle.enter_context(open_checkpointer(run_dir, checkpoint_url))
    return build_graph(saver), handle
