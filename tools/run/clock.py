"""A run's running time across resumes: the time its graph was executing, not the time it lay dead between a
crash (or a stop) and its resume. The wall-time budget counts this; the report shows it beside the elapsed time.

A segment is one process's work on the run (`trex run`, then each `trex resume`). The checkpointed state keeps a
mark, state.clock = {"proc", "seg_start", "run_before", "at", "run_s", "segments"}: at wall time `at`, the
segment of process `proc` (begun at `seg_start`) had brought the run's running time to `run_s`, the segments
before it having run `run_before`. Nodes read the clock (check_budget, backpropagate, write_report) and store
the new mark. A reading in another process than the mark's closes the marked segment at its last sign of life,
its mark or its last event in events.jsonl (each event names its process), and starts a new one at this
process's first sign of life; the gap between them is dead time, never charged.
"""
from __future__ import annotations

from pathlib import Path

from memory import run_log

_begun: dict[str, float] = {}  # run dir -> when this process began working on it (begin_segment)


def _key(run_dir) -> str:
    return str(Path(run_dir).absolute())


def begin_segment(run_dir, at: float) -> None:
    """An entry point (the CLI) says this process starts executing the run now: the segment's exact start."""
    _begun[_key(run_dir)] = at


def node_start(runtime) -> float | None:
    """When the node reading the clock started (LangGraph's execution info), or None outside a graph."""
    info = getattr(runtime, "execution_info", None)
    return getattr(info, "node_first_attempt_time", None)


def advance(mark: dict, started_at: float, now: float, proc: str, begun: float | None, events: list[dict]) -> dict:
    """The new mark read at `now` by process `proc`. begun: the earliest known start of this process's work on
    the run (None: unknown); events: the run log, [{"t", "proc", ...}] (events with no proc are ignored)."""
    if not started_at:
        return {}
    if mark.get("proc") == proc:  # the same segment: everything since its start ran
        new = dict(mark)
    else:
        new = _new_segment(mark, started_at, now, proc, begun, events)
    new.update(at=round(now, 3), run_s=round(new["run_before"] + max(0.0, now - new["seg_start"]), 1))
    return new


def _new_segment(mark: dict, started_at: float, now: float, proc: str, begun: float | None, events: list[dict]) -> dict:
    at, last_proc = mark.get("at", started_at), mark.get("proc")
    spans: dict[str, list[float]] = {}  # other processes' first and last event after the mark
    tail = at  # the marked segment's last sign of life
    mine = []  # this process's events: its first one bounds this segment's start
    for e in events:
        q, t = e.get("proc"), e.get("t")
        if not q or t is None or t < started_at:
            continue
        if q == proc:
            mine.append(t)
        elif q == last_proc:
            tail = max(tail, t)
        elif t > at:
            span = spans.setdefault(q, [t, t])
            span[0], span[1] = min(span[0], t), max(span[1], t)
    if not last_proc and not spans:  # no mark and no other process's events: this process began the run
        return {"proc": proc, "seg_start": started_at, "run_before": 0.0, "segments": 1}
    ran, before = float(mark.get("run_before", 0.0)), int(mark.get("segments", 1))
    if last_proc:
        ran += max(0.0, tail - mark.get("seg_start", started_at))
        end = tail
    else:  # the run's first process never read the clock: its segment began with the run
        first = min(spans, key=lambda q: spans[q][0])
        end = spans.pop(first)[1]
        ran, before = end - started_at, 1
    for first_t, last_t in spans.values():  # segments that ended before reading the clock
        ran += max(0.0, last_t - max(first_t, at))
        end = max(end, last_t)
    starts = [t for t in (begun, min(mine) if mine else None) if t is not None]
    seg_start = min(starts + [now])
    return {"proc": proc, "seg_start": max(seg_start, end), "run_before": round(ran, 3),
            "segments": before + len(spans) + 1}


def read_clock(state, runtime=None, now: float = 0.0) -> dict:
    """The clock read now by this process: the new mark to store in state.clock (run_s = running time)."""
    events = run_log.read_events(state.run_dir) if state.run_dir and (state.clock or {}).get("proc") != run_log.PROCESS else []
    starts = [t for t in (_begun.get(_key(state.run_dir)) if state.run_dir else None, node_start(runtime)) if t]
    return advance(dict(state.clock or {}), state.started_at, now, run_log.PROCESS, min(starts) if starts else None,
                   events)
