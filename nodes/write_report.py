"""Write the run's artefacts: the tree as JSON, and the report (report.md, report.html, report/*.png)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from langgraph.runtime import Runtime

from trex.context import Context
from trex.state import State
from memory.run_log import log_event
from tools.run.accounting import run_accounting
from tools.run.clock import read_clock
from tools.reports.report import write_report_files


def write_report(state: State, runtime: Runtime[Context] | None = None) -> dict:
    run_dir = Path(state.run_dir)
    now = time.time()
    clock = read_clock(state, runtime, now)  # running time across resumes, beside the elapsed time
    accounting = run_accounting(state.tree, state.started_at, now, clock)  # now including the test scoring
    try:
        (run_dir / "tree.json").write_text(json.dumps(state.tree, indent=2), encoding="utf-8")
        out = write_report_files(state, run_dir, accounting)
    except Exception as err:  # noqa: BLE001 - a report failure must not lose the run: the checkpoint stays,
        # the error is logged, and `trex report RUN_DIR` renders it again later
        log_event(state.run_dir, "report_failed", error=f"{type(err).__name__}: {err}"[:500])
        return {"accounting": accounting, "clock": clock}
    log_event(state.run_dir, "report_written", path=out["markdown"], html=out["html"], problems=out["problems"],
              **accounting)
    return {"report_path": out["markdown"], "accounting": accounting, "clock": clock}
