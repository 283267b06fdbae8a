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


def test_cli_will_not_overwrite_an_existing_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text("{}")
    assert main(["run", "bank_intents", "--run-dir", str(run_dir)]) == 2
    assert "trex resume" in capsys.readouterr().err


def test_cli_resume_of_a_non_run_is_a_clear_error(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "not a TREX run directory" in capsys.readouterr().err
