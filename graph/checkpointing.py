"""Where a run's LangGraph checkpoints live: a SQLite file in the run directory (the default) or a
PostgreSQL database named by URL (`--checkpoint-url` / TREX_CHECKPOINT_URL).

The choice is recorded in RUN_DIR/checkpoint.json when the run starts, without the password, so
`trex resume RUN_DIR` finds the same database again; the password comes from the flag or the
environment at each start (or libpq's PGPASSWORD / ~/.pgpass), never from disk. The driver of each
backend is imported only when that backend is used.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

ENV = "TREX_CHECKPOINT_URL"
LOCATION_FILE = "checkpoint.json"
SQLITE_FILE = "checkpoints.sqlite"
SCHEMES = ("postgresql", "postgres")
_SETUP_LOCK = 0x7472_6578  # pg_advisory_lock key ("trex"): two runs starting on a fresh database would race


class CheckpointError(ValueError):
    """A checkpoint setting or database this run cannot use (the CLI prints it and exits 2)."""


def _netloc(url: str) -> tuple[str, str | None, str]:
    """(user, password, host[:port][,host2...]) of a URL; libpq allows several hosts, which urlsplit's
    .port cannot parse, so the netloc is split by hand."""
    userinfo, _, hosts = urlsplit(url).netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return user, (password if colon else None), hosts


def redact(url: str) -> str:
    """The URL without its password (in the netloc or as a `password=` query parameter)."""
    parts = urlsplit(url)
    user, _, hosts = _netloc(url)
    query = "&".join(p for p in parts.query.split("&") if p and p.split("=", 1)[0] != "password")
    # Built by hand: urlunsplit would turn postgresql:///db (local socket) into postgresql:/db.
    return f"{parts.scheme}://{user + '@' if user else ''}{hosts}{parts.path}" + (f"?{query}" if query else "")


def _place(url: str) -> tuple[str, str, str]:
    user, _, hosts = _netloc(url)
    return user, hosts, urlsplit(url).path


def choose_url(explicit: str | None = None) -> str | None:
    """The Postgres URL a new run should use: the flag, else TREX_CHECKPOINT_URL; None means SQLite."""
    url = (explicit if explicit is not None else os.environ.get(ENV, "")).strip()
    if not url:
        return None
    if urlsplit(url).scheme not in SCHEMES:
        raise CheckpointError(f"checkpoint URL must start with postgresql:// (or be empty for SQLite), not {redact(url)!r}")
    return url


def record(run_dir: Path, url: str | None) -> None:
    """Write RUN_DIR/checkpoint.json: which backend, and for Postgres the URL without its password."""
    where = {"kind": "postgres", "url": redact(url)} if url else {"kind": "sqlite", "path": SQLITE_FILE}
    (Path(run_dir) / LOCATION_FILE).write_text(json.dumps(where, indent=2), encoding="utf-8")


def location(run_dir: Path) -> dict:
    """The recorded backend; runs from before checkpoint.json existed are SQLite."""
    path = Path(run_dir) / LOCATION_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"kind": "sqlite", "path": SQLITE_FILE}


def connect_url(run_dir: Path, explicit: str | None = None) -> str | None:
    """The URL to connect with for this run (None: SQLite). The recorded database wins: a flag or
    environment URL naming the same user, host and database only lends its password (and options);
    an explicit flag naming another database is an error, a stray TREX_CHECKPOINT_URL is ignored."""
    where = location(run_dir)
    given = choose_url(explicit) if explicit else None
    if where["kind"] == "sqlite":
        if given:
            raise CheckpointError(f"{run_dir} keeps its checkpoints in {where['path']} (SQLite); "
                                  "resume it without --checkpoint-url")
        return None
    stored = where["url"]
    given = given or choose_url()
    if given and _place(given) == _place(stored):
        return given
    if explicit:
        raise CheckpointError(f"{run_dir} keeps its checkpoints in {stored}, not in {redact(given)}")
    return stored  # libpq still finds a password in PGPASSWORD or ~/.pgpass


@contextmanager
def _postgres(url: str):
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    try:  # autocommit and dict rows are what PostgresSaver expects of a connection it is handed
        conn = psycopg.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row, connect_timeout=10)
    except psycopg.OperationalError as err:
        hint = "" if _netloc(url)[1] else " (its password: --checkpoint-url, TREX_CHECKPOINT_URL, PGPASSWORD or ~/.pgpass)"
        raise CheckpointError(f"cannot open the checkpoint database {redact(url)}{hint}: {str(err).strip()}") from None
    with conn:
        saver = PostgresSaver(conn)
        conn.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
        try:
            saver.setup()  # creates or migrates the tables; a no-op once they are current
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
        yield saver


@contextmanager
def _sqlite(path: Path):
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(str(path), check_same_thread=False)
    try:
        yield SqliteSaver(conn)
    finally:
        conn.close()


@contextmanager
def open_checkpointer(run_dir: Path, explicit: str | None = None) -> Iterator:
    """The run's checkpointer, open for the duration of the `with` block."""
    url = connect_url(run_dir, explicit)
    with (_postgres(url) if url else _sqlite(Path(run_dir) / location(run_dir).get("path", SQLITE_FILE))) as saver:
        yield saver


def check(url: str | None) -> None:
    """Fail now, before a run directory is written, if the database cannot be reached or set up."""
    if url:
        with _postgres(url):
            pass
