"""`trex compare RUN [RUN...]`: two finished tiny runs (a fake runner: no model trains) side by side on one
Markdown and one HTML page with the curves' plot and only the spec and context keys that differ; a path that is
not a finished run is a one-line error."""
from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import asdict
from pathlib import Path

import pytest

from graph.cli.commands import main
from tests.fake_runner import FakeRunner
from tools.reports.compare_runs import differences, flatten, out_paths
from trex.context import Context

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_runner(bonus: float) -> FakeRunner:
    """Training reports its compute; a trial's validation score grows with its learning rate (plus bonus)."""
    def train(spec, data, cfg, ctx, init=None):
        return {"status": "ok", "adapter": f"fake-{cfg['id']}", "key": f"k-{cfg['id']}-{cfg.get('lr')}",
                "tokens": 1000, "train_s": 2.0, "wall_s": 2.5, "loss_curve": [[1, 2.0], [2, 1.0]], "steps": 2}

    def score(spec, data, cfg, adapter, key, split, ctx, job_dir, max_examples):
        s = 0.3 if adapter is None else min(0.95, 0.5 + bonus + 50 * float(cfg.get("lr") or 0))
        return {"status": "ok", "score": s, "n": 12, "n_wrong": round(12 * (1 - s)), "bad_cases": [], "wall_s": 0.5}

    return FakeRunner(train, score)


def finished_run(run_dir: Path, task: dict, ctx: Context, bonus: float) -> Path:
    """A run directory as `trex run` leaves it (run.json, SQLite checkpoints, report), made with a fake runner."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from graph.main import build_graph

    run_dir.mkdir(parents=True)
    thread = str(uuid.uuid4())
    graph_input = {"task": task, "run_dir": str(run_dir)}
    (run_dir / "run.json").write_text(json.dumps({"thread_id": thread, "context": asdict(ctx), "task": task["name"],
                                                  "input": graph_input}))
    conn = sqlite3.connect(run_dir / "checkpoints.sqlite", check_same_thread=False)
    try:
        graph = build_graph(SqliteSaver(conn), runner=fake_runner(bonus))
        state = graph.invoke(graph_input, {"configurable": {"thread_id": thread}, "recursion_limit": 1000},
                             context=ctx)
    finally:
        conn.close()
    assert state["final"].get("test_score") is not None, state.get("stop_reason")
    return run_dir


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from tests.conftest import LABELS, REPO

    root = tmp_path_factory.mktemp("compare")
    rows = [json.loads(line) for line in (REPO / "tools/data/shipped/data/bank_intents.jsonl").read_text().splitlines()]
    data = root / "tiny.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows if r["intent"] in LABELS))
    task = {"name": "tiny_intents", "goal": "route banking messages", "task_type": "classification",
            "base_model": "trex/tiny-random", "instruction": "Which request is this?",
            "data": [{"path": str(data), "input_field": "text", "output_field": "intent"}],
            "labels": LABELS, "metric": "accuracy", "splits": {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 0},
            "budget": {"rounds": 2, "configs_per_round": 2, "max_train_samples": 16}}
    ctx = dict(runs_dir=str(root / "runs"), cache_dir=str(root / "cache"), device="cpu", max_eval_examples=12)
    a = finished_run(root / "run_a", task, Context(**ctx, seed=0), 0.0)
    b = finished_run(root / "run_b", {**task, "budget": {**task["budget"], "rounds": 1}}, Context(**ctx, seed=1), 0.1)
    return a, b


def test_trex_compare_lists_both_runs_and_only_their_differences(two_runs, tmp_path, capsys):
    a, b = two_runs
    out = tmp_path / "pages" / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    md_path, html_path, png_path = out_paths(out)
    assert f"markdown: {md_path}" in printed and f"html: {html_path}" in printed and str(png_path) in printed
    assert png_path.read_bytes().startswith(PNG_MAGIC)
    md, html = md_path.read_text(), html_path.read_text()
    for page in (md, html):
        assert str(a) in page and str(b) in page  # both runs listed
        assert "budget.rounds" in page and "seed" in page  # what differs: the spec's rounds, the context's seed
        assert "max_eval_examples" not in page and "instruction" not in page  # what does not differ is not shown
        assert "Best configuration" in page and "lr=" in page
    assert "![best-so-far curves](cmp-curves.png)" in md and "data:image/png;base64," in html
    row_a = next(line for line in md.splitlines() if f"`{a}`" in line)
    assert "0.3000" in row_a and "tiny_intents" in row_a and "$0.0000" in row_a  # the base model's val score, LLM $


def test_a_path_that_is_not_a_finished_run_gets_a_one_line_error(two_runs, tmp_path, capsys):
    a, _ = two_runs
    assert main(["compare", str(a), str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "is not a TREX run directory" in err
    assert not (tmp_path / "x.md").exists()

    from langgraph.checkpoint.sqlite import SqliteSaver

    from graph.main import build_graph

    stopped = tmp_path / "stopped"  # checkpointed mid-search, as a run killed in round 1 leaves it
    stopped.mkdir()
    thread = str(uuid.uuid4())
    (stopped / "run.json").write_text(json.dumps({"thread_id": thread, "context": {}, "task": "t"}))
    conn = sqlite3.connect(stopped / "checkpoints.sqlite", check_same_thread=False)
    build_graph(SqliteSaver(conn)).update_state({"configurable": {"thread_id": thread}}, {
        "task": {"name": "t"}, "tree": {}, "round": 1}, as_node="backpropagate")
    conn.close()
    assert main(["compare", str(a), str(stopped), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "is not a finished run (interrupted at round 1" in err
    assert f"trex resume {stopped}" in err


def test_differences_keep_only_keys_whose_values_differ():
    runs = [{"spec": flatten({"a": 1, "b": {"c": [1, 2], "d": "x"}})}, {"spec": flatten({"a": 1, "b": {"c": [1, 3]}})}]
    assert differences(runs, "spec") == [("b.c", ["[1, 2]", "[1, 3]"]), ("b.d", ['"x"', "(unset)"])]
