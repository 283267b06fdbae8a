"""Start the real `langgraph dev` server for a test or a benchmark: loopback only, a free port, its own process
group (stopped by its pid, children included), its in-memory persistence in a temp dir.

`langgraph dev` resolves a graph's path and keeps its `.langgraph_api/` store relative to its working
directory; so that concurrent servers never share one store, it runs in a temp dir from a copy of the
project's langgraph.json whose paths are made absolute (same graphs, same dependencies).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_config(workdir: Path) -> Path:
    """The project's langgraph.json with its relative paths resolved against the repository."""
    cfg = json.loads((REPO / "langgraph.json").read_text())
    cfg["dependencies"] = [str((REPO / d).resolve()) if d.startswith(".") else d for d in cfg.get("dependencies", [])]
    cfg["graphs"] = {name: str((REPO / spec).resolve()) if spec.startswith(".") else spec
                     for name, spec in cfg["graphs"].items()}
    if isinstance(cfg.get("env"), str):
        cfg["env"] = str((REPO / cfg["env"]).resolve())
    path = workdir / "langgraph.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ok", timeout=2) as resp:  # noqa: S310 - a local http URL
            return resp.status == 200
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def dev_server(workdir: Path, env: dict | None = None, start_timeout_s: float = 90, jobs_per_worker: int | None = None):
    """Yield the base URL of a running `langgraph dev`; its log is workdir/server.log."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = server_config(workdir)
    exe = Path(sys.executable).parent / "langgraph"
    full_env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false",
                "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("LANGSMITH_API_KEY", None)
    for attempt in range(3):  # a port taken between free_port() and the server's bind: try another
        port = free_port()
        cmd = [str(exe), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port),
               "--config", str(config)]
        if jobs_per_worker:
            cmd += ["--n-jobs-per-worker", str(jobs_per_worker)]
        log = (workdir / "server.log").open("ab")
        proc = subprocess.Popen(cmd, cwd=workdir, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_timeout_s
            while proc.poll() is None and time.monotonic() < deadline and not _ok(url):
                time.sleep(0.3)
            if proc.poll() is None and _ok(url):
                yield url
                return
            text = (workdir / "server.log").read_text(errors="replace")
            if proc.poll() is not None and "address already in use" in text.lower() and attempt < 2:
                continue
            raise RuntimeError(f"langgraph dev did not come up on {url}; log tail:\n{text[-3000:]}")
        finally:
            _stop(proc)
            log.close()
