"""Write the run's artefacts: the tree as JSON and the Markdown report."""
from __future__ import annotations

import json
import time
from pathlib import Path

from graph.state import State
from memory.run_log import log_event
from tools.accounting import run_accounting
from tools.report import render_markdown


def write_report(state: State) -> dict:
    run_dir = Path(state.run_dir)
    (run_dir / "tree.json").write_text(json.dumps(state.tree, indent=2), encoding="utf-8")
    report = run_dir / "report.md"
    accounting = run_accounting(state.tree, state.started_at, time.time())  # now including the test scoring
    report.write_text(render_markdown(state, accounting), encoding="utf-8")
    log_event(state.run_dir, "report_written", path=str(report), **accounting)
    return {"report_path": str(report), "accounting": accounting}
