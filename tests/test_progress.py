"""Live progress: the run's custom stream events (tools/run/progress_events.py) and the CLI's display of them
(graph/cli/progress.py), on a real tiny run and on recorded sequences."""
import io
import re
import subprocess
import sys
import time

from rich.console import Console

from graph.cli.commands import _print_update
from graph.main import build_graph
from graph.cli.progress import ProgressView
from tools.run import progress_events


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=110, highlight=False), out


def _draw(items, terminal: bool, capsys, on_update=_print_update) -> str:
    """What `trex run` shows for these stream items (the CLI wires its update printer in the same way)."""
    console, out = _console(terminal)
    with ProgressView(console=console, on_update=on_update) as view:
        for item in items:
            view.handle(item)
    text = out.getvalue() + capsys.readouterr().out  # _print_update prints to stdout
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text) if terminal else text  # colours, cursor moves


def test_a_tiny_run_emits_progress_and_the_cli_draws_it(tiny_task, context, capsys):
    task = {**tiny_task, "budget": {**tiny_task["budget"], "rounds": 1, "configs_per_round": 1}}
    items = list(build_graph().stream({"task": task}, {"recursion_limit": 1000}, context=context,
                                      stream_mode=["updates", "custom"], subgraphs=True))
    events = [chunk for _, mode, chunk in items if mode == "custom"]
    kinds = [e["kind"] for e in events]
    for kind in ("round_start", "data_prepared", "job_phase", "train_start", "train_loss", "val_loss", "train_end",
                 "eval_start", "eval_end", "round_end", "test_start", "test_end"):
        assert kind in kinds, f"no {kind} event in {sorted(set(kinds))}"
    # Live loss comes from the training worker, tagged with its trial, between the trial's start and end.
    losses = [e for e in events if e["kind"] == "train_loss"]
    assert all(e["node"] == "n1" and e["trial"] == "t0" and 0 < e["step"] <= e["steps"] and e["loss"] > 0
               for e in losses)
    assert kinds.index("train_start") < kinds.index("train_loss") < kinds.index("train_end")
    assert losses[-1]["step"] == losses[-1]["steps"]  # the last step always gets through the throttle
    start = next(e for e in events if e["kind"] == "train_start")
    assert start["config"]["lr"] > 0 and start["round"] == 1
    rounds = [e for e in events if e["kind"] == "round_end"]
    assert [r["round"] for r in rounds] == [0, 1] and rounds[1]["spent"]["wall_s"] > 0
    assert rounds[1]["budget"]["rounds"] == {"cap": 1, "spent": 1}

    # The CLI's renderer draws the recorded sequence, piped (plain lines) and on a terminal (live).
    plain = _draw(items, terminal=False, capsys=capsys)
    assert "round 1 (n1, parent root): best val" in plain and "spent so far: " in plain and "GPU-h" in plain
    assert "t0 training: lr" in plain and f"t0 step {losses[-1]['steps']}/{losses[-1]['steps']} loss" in plain
    assert "\x1b" not in plain  # no control codes in a pipe
    live = _draw(items, terminal=True, capsys=capsys)
    assert "round 1 (n1, parent root): best val" in live and "spent so far: " in live and "report:" in live
    alone = _draw(items, terminal=False, capsys=capsys, on_update=None)  # an API client's view: events only
    assert "round 1 (n1) result: val" in alone and "round 0 (root) result: val" in alone


def test_renderer_handles_failures_and_odd_text(capsys):
    cfg = {"id": "t0", "lr": 1e30, "epochs": 1}
    items = [("updates", {"analyze_requirements": {"run_dir": "runs/x"}}),
             ("custom", {"kind": "round_start", "node": "n1", "round": 1, "parent": "root", "trials": [cfg]}),
             ("custom", {"kind": "train_start", "node": "n1", "round": 1, "trial": "t0", "config": cfg}),
             ("custom", {"kind": "train_loss", "node": "n1", "trial": "t0", "step": 1, "steps": 2, "loss": 5.0}),
             ("custom", {"kind": "train_end", "node": "n1", "trial": "t0", "status": "failed", "failure": "diverged",
                         "error": "loss became nan [/red] [bold"}),
             ("custom", {"kind": "job_phase", "phase": "loading model"}),
             ("custom", {"kind": "data_prepared", "sizes": {"train": 40, "val": 8},
                         "shapes": ["data.0: detected chat messages (48 rows) [bold"]}),
             ("custom", {"kind": "train_loss", "node": "zz", "trial": "t9", "step": 1, "steps": 1, "loss": 1.0}),
             ("custom", {"kind": "something_new"}),
             ("custom", {"kind": "train_loss", "node": "n1", "trial": "t0"}),  # a shape this view does not know
             ("updates", {"__interrupt__": ({"review": "plan"},)}),
             ("custom", {"kind": "round_end", "node": "n1", "round": 1, "failed": True,
                         "spent": {"wall_s": 3725, "gpu_hours": 0.5, "llm_usd": 0.1234}, "budget": {}})]
    for terminal in (False, True):
        text = _draw(items, terminal, capsys, on_update=None)
        assert "t0 failed (diverged): loss became nan [/red] [bold" in text
        assert "round 1 (n1) result: every trial failed" in text
        assert "spent 1 h 02 min wall · 0.5000 GPU-h · LLM $0.12" in text
        assert "data: train 40, val 8 examples" in text and "data.0: detected chat messages (48 rows) [bold" in text


def test_events_are_a_no_op_outside_a_graph_run(tmp_path):
    progress_events.emit("train_loss", step=1)  # no run, no writer: nothing happens, nothing raises
    progress_events.trial_started("train_start", {"id": "n1"}, {"id": "t0"})
    progress_events.trial_finished("train_end", {"status": "ok"})
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    assert progress_events.wait_for(proc, 30, tmp_path) == 0


def test_worker_progress_lines_reach_the_stream_while_it_runs(tmp_path, monkeypatch):
    """run_job tails the worker's progress file while it waits: lines come out before the worker ends,
    a half-written line waits for its end, many loss lines between two polls collapse to the newest."""
    from typing import TypedDict

    from langgraph.graph import START, StateGraph

    from tools.trials.trial_runner import run_job

    (tmp_path / "slow_worker.py").write_text(
        "import json, sys, time, pathlib\n"
        "out = pathlib.Path(json.loads(pathlib.Path(sys.argv[1]).read_text())['out_dir'])\n"
        "with (out / 'progress.jsonl').open('a') as f:\n"
        "    for s in range(1, 6):\n"
        "        f.write(json.dumps({'kind': 'train_loss', 'step': s, 'steps': 6, 'loss': 1 / s}) + '\\n')\n"
        "    f.write('{\"kind\": \"train_lo')\n"
        "time.sleep(4)\n"
        "with (out / 'progress.jsonl').open('a') as f: f.write('ss\", \"step\": 6, \"steps\": 6, \"loss\": 0.1}\\n')\n"
        "(out / 'result.json').write_text(json.dumps({'status': 'ok'}))\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # run_job puts the project root in front

    class S(TypedDict):
        out: dict

    def train(state: S):
        progress_events.trial_started("train_start", {"id": "n1", "round": 1}, {"id": "t0"})
        out = run_job({"mode": "train"}, tmp_path / "job", 60, module="slow_worker")
        progress_events.trial_finished("train_end", out)
        return {"out": out}

    g = StateGraph(S).add_node("train", train).add_edge(START, "train").compile()
    events = [(ev, time.monotonic()) for ev in g.stream({"out": {}}, stream_mode="custom")]
    losses = [(ev, t) for ev, t in events if ev["kind"] == "train_loss"]
    assert [ev["step"] for ev, _ in losses] == [5, 6]  # steps 1-4 collapsed; the half line waited for its end
    assert all(ev["node"] == "n1" and ev["trial"] == "t0" for ev, _ in losses)
    assert losses[1][1] - losses[0][1] > 1.5  # step 5 was streamed while the worker was still running
    assert events[-1][0]["kind"] == "train_end" and events[-1][0]["status"] == "ok"
