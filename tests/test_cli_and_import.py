import subprocess
import sys

from graph.cli.commands import main

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent


def test_importing_the_graph_is_light():
    code = ("import sys, time; t = time.time(); from graph.main import graph; "
            "print(time.time() - t, any(m in sys.modules for m in ('torch', 'transformers', 'peft')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    seconds, heavy = out.stdout.split()
    assert heavy == "False"
    assert float(seconds) < 5  # typically ~0.8 s; generous for a loaded CI machine


def test_cli_rejects_a_bad_spec_before_starting(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ngoal: g\ntask_type: classification\nbase_model: m\nmetric: accuracy\n"
                   "data: [{path: d.jsonl}]\nbudget: {rounds: -1}\n")
    assert main(["run", str(bad), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "field 'budget.rounds'" in err
    assert not (tmp_path / "runs").exists()  # nothing started


def test_cli_unknown_task(capsys):
    assert main(["run", "no_such_task"]) == 2
    assert "shipped: bank_intents" in capsys.readouterr().err


def test_cli_lists_tasks(capsys):
    assert main(["tasks"]) == 0
    assert "bank_intents" in capsys.readouterr().out


def test_cli_rejects_an_unknown_policy_before_starting(tmp_path, capsys):
    assert main(["run", "bank_intents", "--policy", "random_walk", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "selection_policy must be one of" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_bad_environment_value_is_named(monkeypatch):
    import pytest

    from trex.context import Context

    monkeypatch.setenv("TREX_TRIAL_TIMEOUT_S", "ten minutes")
    with pytest.raises(ValueError, match="TREX_TRIAL_TIMEOUT_S='ten minutes' is not a valid float"):
        Context()


def test_trex_online_is_a_flag_like_the_others(monkeypatch):
    """TREX_ONLINE=2 was silently off; an unknown value is now named, like every other flag's."""
    import pytest

    from trex.context import Context

    for raw, online in (("", False), ("off", False), ("0", False), ("1", True), ("Yes", True)):
        monkeypatch.setenv("TREX_ONLINE", raw)
        assert Context().online is online
    monkeypatch.setenv("TREX_ONLINE", "2")
    with pytest.raises(ValueError, match=r"TREX_ONLINE='2' is not a valid flag \(1/0, true/false"):
        Context()


def test_cli_will_not_overwrite_an_existing_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text("{}")
    assert main(["run", "bank_intents", "--run-dir", str(run_dir)]) == 2
    assert "trex resume" in capsys.readouterr().err


def test_cli_resume_of_a_non_run_is_a_clear_error(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "not a TREX run directory" in capsys.readouterr().err


def _spec_with_base_model(tmp_path, tiny_task, base_model: str):
    import yaml

    spec = tmp_path / "hub_model.yaml"
    spec.write_text(yaml.safe_dump({**tiny_task, "base_model": base_model}))
    return spec


def test_a_base_model_that_cannot_be_had_stops_the_cli_before_anything_starts(tmp_path, tiny_task, capsys,
                                                                              monkeypatch):
    """Not packaged, not cached, and the Hub says 404 (a local server plays the Hub) or cannot be reached:
    exit 2 with one line naming the field and what was tried, and no run directory."""
    import http.server
    import socket
    import threading

    class NoSuchModel(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NoSuchModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hugging Face cache
    spec = _spec_with_base_model(tmp_path, tiny_task, "nope/nope")
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        assert main(["run", str(spec), "--runs-dir", str(tmp_path / "runs")]) == 2
        err = capsys.readouterr().err.strip()
        assert "field 'base_model'" in err and "'nope/nope' is not packaged" in err and "HTTP 404" in err
        assert len(err.splitlines()) == 1 and not (tmp_path / "runs").exists()
    finally:
        server.shutdown()
    with socket.socket() as s:  # a port nothing listens on: the Hub cannot be reached
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed}")
    assert main(["run", str(spec), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "cannot reach the Hugging Face Hub" in capsys.readouterr().err


def test_a_base_model_that_cannot_be_scored_stops_the_run_instead_of_training(tiny_task, context):
    """The baseline round's scoring failed (e.g. the model could not be loaded): the run stops with that error
    and trains nothing, instead of spending its budget on trials that fail the same way."""
    from graph.main import build_graph
    from tests.fake_runner import FakeRunner

    def cannot_load(*args, **kwargs):
        return {"status": "failed", "failure": "crash", "error": "OSError: nope/nope is not a valid model identifier"}

    def no_training(*args, **kwargs):
        raise AssertionError("a trial was trained after the base model failed")

    graph = build_graph(runner=FakeRunner(train=no_training, score=cannot_load))
    state = graph.invoke({"task": tiny_task}, {"recursion_limit": 1000}, context=context)
    assert state["stop_reason"].startswith("the base model could not be scored")
    assert "not a valid model identifier" in state["stop_reason"]
    assert set(state["tree"]) == {"root"} and state["final"].get("error") == "no trial succeeded"
