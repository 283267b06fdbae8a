"""Live progress of a run as LangGraph custom stream events (stream_mode="custom", subgraphs=True).

Every event is a plain dict {"kind": ..., ...}; `trex run` renders them (graph/cli/progress.py) and API clients
receive the same dicts (`client.runs.stream(..., stream_mode=["updates", "custom"], stream_subgraphs=True)`).
Kinds: data_prepared, round_start, train_start, train_loss, val_loss, val_score (a point of
the learning curve: tools/worker/learning_curve.py), job_phase, train_end, eval_start,
eval_end, round_end, test_start, test_end.

Outside a graph run (a unit test calling a node's helper, a script calling run_job) every call is a no-op.
The training worker writes its progress as JSON lines to progress.jsonl in its job directory; the parent
tails that file while it waits for the worker (wait_for) and re-emits the lines, tagged with the trial.
"""
from __future__ import annotations

import contextvars
import json
import subprocess
import time
from pathlib import Path

PROGRESS_FILE = "progress.jsonl"
POLL_S = 1.0  # how often the parent tails a worker's progress file; the worker's exit is seen at once
# node/trial of the trial this thread is working on: merged into the events re-emitted from its worker
_tags: contextvars.ContextVar[dict] = contextvars.ContextVar("trex_progress_tags", default={})


def _writer():
    try:
        from langgraph.config import get_stream_writer

        return get_stream_writer()
    except (RuntimeError, KeyError, ImportError):  # not inside a graph run
        return None


def emit(kind: str, **fields) -> None:
    """Send one progress event to the run's stream; never raises (progress must not break a run)."""
    write = _writer()
    if write is None:
        return
    try:
        write({"kind": kind, **_tags.get(), **fields, "time": round(time.time(), 3)})
    except Exception:  # noqa: BLE001 - a display problem is never a failed trial
        pass


def _config(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k != "id"}


def trial_started(kind: str, node: dict, cfg: dict, **fields) -> None:
    """train_start / eval_start; tags later worker events with this node and trial (same thread)."""
    _tags.set({"node": node["id"], "round": node.get("round"), "trial": cfg["id"]})
    emit(kind, config=_config(cfg), **fields)


def trial_finished(kind: str, out: dict, **fields) -> None:
    """train_end / eval_end with the trial's outcome; clears the tags."""
    keep = {k: out.get(k) for k in ("status", "cached", "score", "failure", "train_s", "steps", "tokens_per_s")
            if out.get(k) is not None}
    if out.get("error"):
        keep["error"] = str(out["error"])[:200]
    curve = out.get("loss_curve") or (out.get("train") or {}).get("loss_curve")
    if curve:
        keep["loss"] = curve[-1][1]
    emit(kind, **keep, **fields)
    _tags.set({})


def round_started(node: dict) -> None:
    """round_start: the Executor begins a round (round 0 = scoring the base model)."""
    emit("round_start", node=node["id"], round=node.get("round"), parent=node.get("parent"),
         trials=[{"id": t["id"], **_config(t)} for t in node.get("trials", [])])


def round_summary(node: dict, accounting: dict, llm: dict | None) -> None:
    """round_end: the round's result and what the run has spent so far (wall time, GPU-hours, LLM dollars)."""
    budget = accounting.get("budget") or {}
    emit("round_end", node=node["id"], round=node.get("round"), score=node.get("score"),
         best_trial=node.get("best_trial"), reward=node.get("reward"), diagnosis=node.get("diagnosis", ""),
         failed=bool(node.get("failed")),
         spent={"wall_s": accounting.get("wall_s"), "running_s": accounting.get("running_s"),
                "gpu_hours": accounting.get("gpu_hours"), "llm_usd": (llm or {}).get("cost_usd"), "trials_trained": accounting.get("trials_trained"),
                "trials_reused": accounting.get("trials_reused")},
         budget={cap: v for cap, v in budget.items() if v.get("cap") is not None})


class ProgressLog:
    """Worker side: appends progress lines to <job dir>/progress.jsonl. Never raises."""

    def __init__(self, job_dir):
        self.path = Path(job_dir) / PROGRESS_FILE

    def write(self, kind: str, **fields) -> None:
        try:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"kind": kind, **fields, "time": round(time.time(), 3)}) + "\n")
        except (OSError, TypeError, ValueError):
            pass


class _Tail:
    """Parent side: the complete lines added to a progress file since the last read."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0

    def lines(self) -> list[dict]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return []
        end = chunk.rfind(b"\n") + 1  # a half-written last line waits for the next read
        self.offset += end
        out = []
        for raw in chunk[:end].splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict) and line.get("kind"):
                out.append(line)
        return out

    def forward(self) -> None:
        """Emit what the worker wrote; of many loss lines since the last poll only the newest (bounded stream)."""
        lines = self.lines()
        newest_loss = max((i for i, ln in enumerate(lines) if ln["kind"] == "train_loss"), default=-1)
        for i, line in enumerate(lines):
            if line["kind"] != "train_loss" or i == newest_loss:
                emit(line.pop("kind"), **{k: v for k, v in line.items() if k != "time"})


def wait_for(proc: subprocess.Popen, timeout_s: float, job_dir: Path) -> int:
    """proc.wait(timeout_s), forwarding the worker's progress lines meanwhile. Raises subprocess.TimeoutExpired."""
    def exited(step: float) -> int | None:
        try:
            return proc.wait(timeout=step)
        except subprocess.TimeoutExpired:
            return None

    return wait_until(exited, timeout_s, job_dir, proc.args)


def wait_until(finished, timeout_s: float, job_dir: Path, what="worker") -> int:
    """Call finished(step) (it blocks up to step seconds, then returns the job's exit code, or None while it
    runs) until it returns a code, forwarding the worker's progress lines meanwhile. Raises
    subprocess.TimeoutExpired after timeout_s."""
    listening = _writer() is not None  # nobody listening: no tail to read between waits
    tail = _Tail(Path(job_dir) / PROGRESS_FILE)
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired(what, timeout_s)
        code = finished(min(POLL_S, left) if listening else left)
        if listening:
            tail.forward()
        if code is not None:
            return code
