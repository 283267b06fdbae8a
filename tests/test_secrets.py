"""No API key leaves the process: a real tiny run with fake keys in the environment and a trial whose
error quotes a key, then every artefact (checkpoint DB bytes, run dir, report, trial cache, stdout/stderr)
is searched for the key values.

Run as `python -m tests.test_secrets JOB.json` this module is the leaky worker: it prints the keys and
dies with an error that quotes them, as a library might on a 401.
"""
from __future__ import annotations

import json
import os
import sqlite3
import sys
from dataclasses import asdict
from pathlib import Path

KEYS = {"OPENAI_API_KEY": "sk-test-FAKEopenai0123456789abcdef", "TAVILY_API_KEY": "tvly-FAKEtavily0123456789",
        "HF_TOKEN": "hf_FAKEhuggingface0123456789abcd", "ANTHROPIC_API_KEY": "sk-ant-FAKEanthropic0123456789",
        "MY_SERVICE_SECRET": "plain-secret-value-42"}  # no key shape: only the env-value net can catch it


def _set_keys(monkeypatch) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    for name in ("TREX_CHAT_MODEL", "TREX_ONLINE"):  # the offline planner: the fake keys are never sent anywhere
        monkeypatch.delenv(name, raising=False)


def _leaks(blob: bytes) -> list[str]:
    return [name for name, value in KEYS.items() if value.encode() in blob]


def test_redact_scrubs_env_values_and_key_shapes(monkeypatch):
    from trex.redact import redact, redact_obj

    _set_keys(monkeypatch)
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # under 8 characters: not a key, left alone
    text = " ".join(KEYS.values()) + " abc"
    clean = redact(text)
    assert not _leaks(clean.encode()) and clean.endswith(" abc")
    assert "[REDACTED:MY_SERVICE_SECRET]" in clean and "[REDACTED:HF_TOKEN]" in clean
    for name in KEYS:
        monkeypatch.delenv(name)
    # Keys that were never in this environment are caught by their shape; ordinary words are not.
    assert redact("key sk-proj-abcdefghijklmnop1234 tvly-abcdefghijkl1234 hf_abcdefghijklmnopqr") == \
        "key [REDACTED] [REDACTED] [REDACTED]"
    assert redact("task-based sk-learn hf_hub_download") == "task-based sk-learn hf_hub_download"
    assert redact_obj({"e": ["x sk-proj-abcdefghijklmnop1234"], "n": 3}) == {"e": ["x [REDACTED]"], "n": 3}


def test_context_and_spec_errors_hold_no_keys(monkeypatch, tiny_task, capsys):
    from graph.cli.commands import main
    from trex.context import Context
    from trex.spec import SpecError
    from tools.data.spec_loading import parse_spec

    _set_keys(monkeypatch)
    ctx = Context()
    assert not _leaks((repr(ctx) + json.dumps(asdict(ctx))).encode())
    try:
        parse_spec({**tiny_task, "base_model": KEYS["OPENAI_API_KEY"]})
    except SpecError as err:
        assert "field 'base_model'" in str(err) and not _leaks(str(err).encode())
    assert main(["run", f"/no/such/{KEYS['HF_TOKEN']}.yaml"]) == 2  # the CLI prints the error, scrubbed
    err = capsys.readouterr().err
    assert "[REDACTED:HF_TOKEN]" in err and not _leaks(err.encode())


def test_worker_result_is_scrubbed(monkeypatch, tmp_path, capsys):
    from tools.worker import train_worker

    _set_keys(monkeypatch)

    def oom(job, out_dir):
        raise MemoryError(f"out of memory while fetching with {KEYS['HF_TOKEN']}")

    monkeypatch.setattr(train_worker, "run", oom)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"mode": "train", "out_dir": str(tmp_path)}))
    assert train_worker.main(str(job)) == 0
    capsys.readouterr()  # the traceback goes to the worker's log, which the launcher scrubs (tested below)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["failure"] == "oom" and "[REDACTED:HF_TOKEN]" in result["error"]
    assert not _leaks((tmp_path / "result.json").read_bytes())


def test_a_real_run_with_keys_in_the_environment_writes_none_of_them(tiny_task, context, monkeypatch, capfd):
    from langgraph.checkpoint.sqlite import SqliteSaver

    from graph.main import build_graph
    from tools.trials.runner import JobRunner
    from tools.trials.trial_pool import run_job

    _set_keys(monkeypatch)
    leaky = []

    def first_training_leaks(job, job_dir, timeout_s):  # TREX's own launcher; the first training's worker leaks
        if job["mode"] == "train" and not leaky:
            leaky.append(job_dir)
            return run_job(job, job_dir, timeout_s, "tests.test_secrets")  # dies printing the keys, quoting one
        return run_job(job, job_dir, timeout_s)

    run_dir = Path(context.runs_dir) / "leak-check"
    run_dir.mkdir(parents=True)
    conn = sqlite3.connect(run_dir / "checkpoints.sqlite", check_same_thread=False)
    task = {**tiny_task, "budget": {**tiny_task["budget"], "rounds": 1, "configs_per_round": 1}}  # kept short
    state = build_graph(SqliteSaver(conn), runner=JobRunner(launch=first_training_leaks)).invoke(
        {"task": task, "run_dir": str(run_dir)}, {"configurable": {"thread_id": "t"}, "recursion_limit": 100},
        context=context)
    conn.close()

    failed = [r for r in state["tree"]["n1"]["results"].values() if r["status"] == "failed"]
    assert leaky and len(failed) == 1  # the leak path really ran: the trial failed quoting the key...
    assert "[REDACTED:HF_TOKEN]" in failed[0]["error"] and "[REDACTED" in failed[0]["log_tail"]  # ...scrubbed
    assert Path(state["report_path"]).is_file()

    files = [p for root in (run_dir, Path(context.cache_dir)) for p in root.rglob("*")
             if p.is_file() and not any(part == "models" for part in p.relative_to(root).parts)]
    assert any(p.name == "checkpoints.sqlite" for p in files) and any(p.name == "log.txt" for p in files)
    assert any(p.parent.name == "trials" and p.suffix == ".json" for p in files)  # trial cache entries
    found = {str(p): _leaks(p.read_bytes()) for p in files}
    out, err = capfd.readouterr()
    found["stdout"], found["stderr"] = _leaks(out.encode()), _leaks(err.encode())
    assert not {k: v for k, v in found.items() if v}, found


if __name__ == "__main__":  # the leaky worker (see the module docstring)
    job = json.loads(Path(sys.argv[1]).read_text())
    print("worker environment:", {k: os.environ.get(k) for k in KEYS}, flush=True)
    print(f"Authorization: Bearer {os.environ['OPENAI_API_KEY']}", file=sys.stderr, flush=True)
    raise RuntimeError(f"401 Unauthorized for token {os.environ['HF_TOKEN']} ({os.environ['MY_SERVICE_SECRET']})")
