"""Append-only event log of a run (run_dir/events.jsonl): what was launched, reused and finished."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from trex.redact import redact_obj

# Which process wrote an event: tells a resumed run's segments apart (tools/run/clock.py, the running time).
PROCESS = uuid.uuid4().hex[:12]


def log_event(run_dir: str, event: str, **fields) -> None:
    if not run_dir:
        return
    path = Path(run_dir) / "events.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        # Errors logged here may quote a key: the log is an artefact, so it is scrubbed.
        f.write(json.dumps({"t": round(time.time(), 3), "event": event, "proc": PROCESS, **redact_obj(fields)}) + "\n")


def read_events(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "events.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
