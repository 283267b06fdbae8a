"""A throwaway PostgreSQL server for the tests and for .ci/run: initdb + pg_ctl in a temp dir, on a free
port of 127.0.0.1, with a random password (so password handling is tested for real).

Standard library only, so .ci/run can call it before the venv exists:
    python3 tests/postgres_server.py available    # exit 0, or print why a server cannot start and exit 1
    python3 tests/postgres_server.py start DIR    # prints the database URL
    python3 tests/postgres_server.py stop DIR     # stops the server and removes DIR
PostgreSQL refuses to run as root: as root the server runs as the `postgres` system user (runuser).
"""
from __future__ import annotations

import glob
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

DATABASE = "trex_test"
SUPERUSER = "postgres"


def bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, else the newest /usr/lib/postgresql/*/bin (Debian keeps them off PATH)."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    version = lambda d: [int(x) for x in re.findall(r"\d+", d)]  # noqa: E731
    candidates += [Path(d) for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)]
    return next((d for d in candidates if (d / "initdb").is_file() and (d / "pg_ctl").is_file()), None)


def _run_as() -> tuple[list[str], pwd.struct_passwd | None]:
    """Command prefix and account that run the server: this user, or `postgres` when this is root."""
    if os.geteuid() != 0:
        return [], None
    account = pwd.getpwnam("postgres")  # KeyError: handled by unavailable()
    return ["runuser", "-u", account.pw_name, "--"], account


def unavailable() -> str | None:
    """Why no server can be started here, or None."""
    if bin_dir() is None:
        return "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run the server as"
        if not shutil.which("runuser"):
            return "running as root and `runuser` is missing"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(cmd: list[str], root: Path) -> None:
    prefix, _ = _run_as()
    out = subprocess.run(prefix + cmd, cwd=root, capture_output=True, text=True)
    if out.returncode != 0:
        log = root / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({out.returncode}): {out.stderr.strip()}\n{tail}")


def start(root: Path) -> str:
    """Start a server with its data, socket and log under root; return the URL of an empty database."""
    reason = unavailable()
    if reason:
        raise RuntimeError(reason)
    bins, (_, account) = bin_dir(), _run_as()
    root.mkdir(parents=True, exist_ok=True)
    password, port = secrets.token_hex(12), _free_port()
    (root / "pwfile").write_text(password + "\n")
    os.chmod(root / "pwfile", 0o600)
    if account:  # the server's account must own its directory (socket, data, log)
        for path in (root, root / "pwfile"):
            os.chown(path, account.pw_uid, account.pw_gid)
    os.chmod(root, 0o700)
    # Trust on the local socket (only its owner can reach it), a password over TCP: the URL needs one.
    _call([str(bins / "initdb"), "-D", str(root / "data"), "-U", SUPERUSER, "--pwfile", str(root / "pwfile"),
           "--auth-local=trust", "--auth-host=scram-sha-256", "--no-locale", "-E", "UTF8", "--no-sync"], root)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    (root / "server.json").write_text(json.dumps({"bin": str(bins), "port": port}))
    _call([str(bins / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "server.log"), "-o", opts,
           "-w", "-t", "60", "start"], root)
    _call([str(bins / "createdb"), "-h", str(root), "-p", str(port), "-U", SUPERUSER, DATABASE], root)
    return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/{DATABASE}"


def stop(root: Path) -> None:
    """Stop the server (immediately: its data is thrown away) and remove root."""
    info = root / "server.json"
    if info.is_file() and (root / "data" / "postmaster.pid").is_file():
        bins = Path(json.loads(info.read_text())["bin"])
        prefix, _ = _run_as()
        subprocess.run(prefix + [str(bins / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "-w", "stop"],
                       cwd=root, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def database_for_tests():
    """Generator behind the `postgres_url` fixture: TREX_TEST_POSTGRES_URL (.ci/run starts a server and sets
    it), else a server of our own for this test session, else a skip that says why."""
    import pytest

    url = os.environ.get("TREX_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    reason = unavailable()
    if reason:
        pytest.skip(f"no PostgreSQL for the Postgres tests: {reason}; set TREX_TEST_POSTGRES_URL or run .ci/run")
    root = Path(tempfile.mkdtemp(prefix="trex-pg-"))  # short: a socket path must stay under 107 bytes
    try:
        url = start(root)
    except RuntimeError as err:
        stop(root)
        pytest.skip(f"could not start a throwaway PostgreSQL: {err}")
    try:
        yield url
    finally:
        stop(root)


def main(argv: list[str]) -> int:
    if argv[:1] == ["available"]:
        reason = unavailable()
        print(reason or "ok")
        return 1 if reason else 0
    if len(argv) == 2 and argv[0] in ("start", "stop"):
        root = Path(argv[1]).resolve()
        if argv[0] == "stop":
            stop(root)
            return 0
        try:
            print(start(root))
        except RuntimeError as err:
            print(f"postgres_server: {err}", file=sys.stderr)
            stop(root)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
