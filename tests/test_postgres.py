"""Durable runs in PostgreSQL (graph.checkpointing): choosing the checkpointer, keeping the password off
disk, a real graph run checkpointed in a real server, interrupted and resumed, read back like SQLite."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from graph import checkpointing
from graph.checkpointing import CheckpointError, connect_url, open_checkpointer, record
from graph.cli.commands import main
from graph.main import build_graph
from trex.tree import ROOT

REPO = Path(__file__).resolve().parent.parent
URL = "postgresql://trex:s3cret@db.example:5432/runs?sslmode=require"


def test_the_setting_picks_the_checkpointer_and_the_run_dir_remembers_it_without_the_password(tmp_path, monkeypatch):
    monkeypatch.delenv(checkpointing.ENV, raising=False)
    assert checkpointing.choose_url() is None  # default: SQLite
    monkeypatch.setenv(checkpointing.ENV, URL)
    assert checkpointing.choose_url() == URL
    assert checkpointing.choose_url("postgresql://other@h/db") == "postgresql://other@h/db"  # the flag wins
    with pytest.raises(CheckpointError, match="must start with postgresql://"):
        checkpointing.choose_url("mysql://trex:s3cret@h/db")

    pg, lite = tmp_path / "pg", tmp_path / "lite"
    pg.mkdir(), lite.mkdir()
    record(pg, URL)
    record(lite, None)
    stored = (pg / "checkpoint.json").read_text()
    assert "s3cret" not in stored and json.loads(stored)["url"] == "postgresql://trex@db.example:5432/runs?sslmode=require"
    # Resume: the password comes back from the environment (or the flag) for the same database only.
    assert connect_url(pg) == URL
    assert connect_url(pg, "postgresql://trex:other-pw@db.example:5432/runs") == "postgresql://trex:other-pw@db.example:5432/runs"
    with pytest.raises(CheckpointError, match="keeps its checkpoints in postgresql://trex@db.example:5432/runs"):
        connect_url(pg, "postgresql://trex:s3cret@elsewhere/runs")
    monkeypatch.setenv(checkpointing.ENV, "postgresql://x:y@elsewhere/db")  # a stray setting does not move a run
    assert connect_url(pg) == "postgresql://trex@db.example:5432/runs?sslmode=require"  # libpq: PGPASSWORD, ~/.pgpass
    assert connect_url(lite) is None and connect_url(tmp_path) is None  # SQLite runs (and runs from before) stay so
    with pytest.raises(CheckpointError, match="SQLite"):
        connect_url(lite, URL)


def test_cli_refuses_a_bad_or_unreachable_database_before_writing_anything(tmp_path, tiny_task, capsys, monkeypatch):
    spec = tmp_path / "task.json"
    spec.write_text(json.dumps(tiny_task))
    monkeypatch.delenv(checkpointing.ENV, raising=False)
    runs = tmp_path / "runs"
    assert main(["run", str(spec), "--runs-dir", str(runs), "--checkpoint-url", "sqlite:///x.db"]) == 2
    assert "must start with postgresql://" in capsys.readouterr().err
    # Port 1 on localhost: nothing listens; the error names the database but never the password.
    monkeypatch.setenv(checkpointing.ENV, "postgresql://trex:s3cret@127.0.0.1:1/runs")
    assert main(["run", str(spec), "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert "cannot open the checkpoint database postgresql://trex@127.0.0.1:1/runs" in err and "s3cret" not in err
    assert not runs.exists()


def test_cli_import_does_not_load_a_database_driver():
    code = "import sys, graph.cli.commands, graph.checkpointing; print([m for m in ('psycopg', 'sqlite3') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert "psycopg" not in out.stdout


# What the search produced. Left out: where and when it ran, and research notes and insights, which
# the second run draws from the memory the first one left (the insight store is shared across runs).
SEARCH = ("task", "requirement", "data", "tree", "round", "current", "selected", "stop_reason", "final")


def _comparable(values: dict, run_dir: str) -> dict:
    """The search's part of the state, without whether a trial's result came from the cache (the second
    run reuses the first one's trials), without the lessons the planner was shown (the second run also sees
    the first one's, from the shared insight store), and with the run directory masked."""
    skip = {"cached", "insights_used"}

    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items() if k not in skip}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x.replace(run_dir, "RUN") if isinstance(x, str) else x

    return clean({k: values.get(k) for k in SEARCH})


def test_a_run_checkpointed_in_postgres_resumes_and_reads_back_like_sqlite(postgres_url, tiny_task, context, tmp_path,
                                                                         monkeypatch):
    monkeypatch.delenv(checkpointing.ENV, raising=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    task = {**tiny_task, "budget": {**tiny_task["budget"], "rounds": 1, "configs_per_round": 1}}

    lite, pg = tmp_path / "lite", tmp_path / "pg"
    for run_dir, url in ((lite, None), (pg, postgres_url)):
        run_dir.mkdir()
        record(run_dir, url)
    config = {"configurable": {"thread_id": str(uuid.uuid4())}, "recursion_limit": 1000}

    with open_checkpointer(lite) as saver:  # the reference: SQLite, trains for real
        sqlite_state = build_graph(saver).invoke({"task": task, "run_dir": str(lite)}, config, context=context)

    with open_checkpointer(pg, postgres_url) as saver:  # Postgres: stop after the baseline round
        for update in build_graph(saver).stream({"task": task, "run_dir": str(pg)}, config, context=context,
                                                 stream_mode="updates", durability="sync"):
            if "backpropagate" in update:
                break
    if "@" in postgres_url and ":" in postgres_url.split("@")[0].split("//")[1]:  # the URL carries a password
        with pytest.raises(CheckpointError, match="password"):
            with open_checkpointer(pg):  # checkpoint.json alone does not hold it
                pass
    monkeypatch.setenv(checkpointing.ENV, postgres_url)
    with open_checkpointer(pg) as saver:  # a new process would do this: a fresh connection
        graph = build_graph(saver)
        stopped = graph.get_state(config).values["tree"]
        assert set(stopped) == {ROOT} and stopped[ROOT]["status"] == "evaluated"
        final = graph.invoke(None, config, context=context)
    assert set(final["tree"]) == {ROOT, "n1"} and Path(final["report_path"]).is_file()

    with open_checkpointer(pg) as saver:  # read back through yet another connection
        read_back = build_graph(saver).get_state(config)
    assert not read_back.next
    assert read_back.values == final  # Postgres returns exactly the state the graph produced
    assert _comparable(read_back.values, str(pg)) == _comparable(sqlite_state, str(lite))
