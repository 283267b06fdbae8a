"""Every trial also lands in the trackers users read: an Optuna study in RUN_DIR/optuna.db (optuna-dashboard)
and, when asked, MLflow (a local SQLite store or a tracking URI). Each trial once, a broken tracker never fails
the run, and FT-Bench writes every policy's runs to one storage side by side."""
import dataclasses
import math
from pathlib import Path

import optuna
import pytest

from graph.main import build_graph
from memory.run_log import read_events
from tests.fake_runner import FakeRunner
from tools.tracking.run_tracking import node_rows, track_round
from trex.context import Context


def fake_train(spec, data, cfg, ctx, init):
    return {"status": "ok", "adapter": None, "key": f"k-{cfg['lr']}-{cfg['epochs']}", "tokens": 640, "train_s": 1.5,
            "loss_curve": [[1, 2.0], [2, 1.5], [3, 1.2]], "val_loss": [2.1, 1.4]}


def fake_score(spec, data, cfg, adapter, key, split, ctx, job_dir, max_examples):
    if cfg.get("epochs", 0) == 0:
        return {"status": "ok", "score": 0.2, "n": 10}
    if cfg["lr"] >= 5e-3:
        return {"status": "failed", "failure": "diverged", "error": "loss became nan"}
    return {"status": "ok", "score": round(0.3 + 100 * cfg["lr"] + 0.01 * cfg["epochs"], 4), "n": 10}


def run(tiny_task, context, **ctx):
    state = build_graph(runner=FakeRunner(fake_train, fake_score)).invoke(
        {"task": tiny_task}, {"configurable": {"thread_id": "t"}, "recursion_limit": 1000},
        context=dataclasses.replace(context, **ctx))
    return state


def scored_trials(tree):
    return {f"{n['id']}/{tid}": r for n in tree.values() for tid, r in n.get("results", {}).items() if "score" in r}


def test_every_trial_is_an_optuna_trial_in_the_run_directory(tiny_task, context):
    state = run(tiny_task, context)  # optuna_storage defaults to "run"
    run_dir = Path(state["run_dir"])
    study = optuna.load_study(study_name=run_dir.name, storage=f"sqlite:///{run_dir / 'optuna.db'}")
    expected = scored_trials(state["tree"])
    got = {t.user_attrs["trex_trial"]: t for t in study.trials}
    assert set(got) == set(expected) and len(study.trials) == len(expected)
    for name, res in expected.items():
        t = got[name]
        if res["status"] == "ok":
            assert t.state == optuna.trial.TrialState.COMPLETE and t.value == pytest.approx(res["score"])
        else:
            assert t.state == optuna.trial.TrialState.FAIL and t.user_attrs["failure"] == res["failure"]
    trained = next(t for n, t in got.items() if n != "root/base" and t.state.name == "COMPLETE")
    assert {"lr", "epochs", "lora_r", "template"} <= set(trained.params)
    assert trained.intermediate_values == {0: 2.1, 1: 1.4}  # the validation loss curve
    assert study.user_attrs["task"] == "tiny_intents"
    assert study.user_attrs["result"]["test_score"] == state["final"]["test_score"]


def test_a_round_written_again_adds_nothing(tiny_task, context):
    state = run(tiny_task, context)
    run_dir = state["run_dir"]
    spec = type("S", (), {"name": "tiny_intents", "metric": "accuracy"})()
    before = len(optuna.load_study(study_name=Path(run_dir).name, storage=f"sqlite:///{run_dir}/optuna.db").trials)
    track_round(run_dir, spec, state["tree"]["n1"], dataclasses.replace(context, optuna_storage="run"))  # a resume
    assert len(optuna.load_study(study_name=Path(run_dir).name, storage=f"sqlite:///{run_dir}/optuna.db").trials) == before


def test_mlflow_gets_a_run_per_trial_with_its_curves(tiny_task, context):
    from mlflow.tracking import MlflowClient

    state = run(tiny_task, context, mlflow_tracking="run", optuna_storage="off")
    run_dir = Path(state["run_dir"])
    assert not (run_dir / "optuna.db").exists()
    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("trex/tiny_intents")
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if r.data.tags.get("trex.kind") == "run")
    children = {r.data.tags["trex.trial"]: r for r in runs if r is not parent}
    expected = scored_trials(state["tree"])
    assert set(children) == set(expected)
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in children.values())
    for name, res in expected.items():
        r = children[name]
        if res["status"] == "ok":
            assert r.info.status == "FINISHED" and r.data.metrics["val_score"] == pytest.approx(res["score"])
        else:
            assert r.info.status == "FAILED" and r.data.tags["trex.failure"] == res["failure"]
    trained = next(r for n, r in children.items() if n != "root/base" and r.info.status == "FINISHED")
    assert [m.value for m in client.get_metric_history(trained.info.run_id, "train_loss")] == [2.0, 1.5, 1.2]
    assert trained.data.params["lr"] and trained.data.metrics["tokens"] == 640
    final = state["final"]
    assert parent.data.metrics["test_score"] == pytest.approx(final["test_score"]) and parent.info.status == "FINISHED"


def test_a_broken_tracker_is_logged_and_the_run_goes_on(tiny_task, context):
    state = run(tiny_task, context, optuna_storage="nosuchdb://nowhere")
    assert state["final"]["test_score"] is not None
    failed = [e for e in read_events(state["run_dir"]) if e["event"] == "tracking_failed"]
    assert failed and failed[0]["tracker"] == "optuna"


def test_mlflow_tracking_without_mlflow_is_a_clear_error(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ValueError, match=r"pip install -e '.\[mlflow\]'"):
        Context(runs_dir=str(tmp_path), cache_dir=str(tmp_path), mlflow_tracking="run")


def test_rows_keep_what_the_distributions_cannot_hold_as_attributes():
    from tools.tracking.optuna_record import split_config

    params, dists, attrs = split_config({"id": "t0", "lr": 1e-3, "recipe": {"dedup": "near"}, "epochs": 2,
                                         "template": "chat", "custom": 3})
    assert params == {"lr": 1e-3, "epochs": 2, "template": "chat"} and set(dists) == set(params)
    assert attrs == {"config.recipe": '{"dedup": "near"}', "config.custom": "3"}
    node = {"id": "n1", "round": 1, "trials": [{"id": "t0", "lr": 1e-3}, {"id": "t1", "lr": 1e-3}],
            "results": {"t0": {"status": "ok", "score": 0.5, "train": {"tokens": 5}}, "t1": {"status": "ok"}}}
    assert [r["trial"] for r in node_rows(node)] == ["n1/t0"]  # an unscored trial waits for its score
    assert math.isclose(node_rows(node)[0]["score"], 0.5)
    assert "stopped_by" not in node_rows(node)[0]["attrs"]
    node["results"]["t0"]["train"]["stopped"] = {"epoch": 1, "by": "successive_halving", "reason": "..."}
    node["results"]["t1"] = {"status": "ok", "score": 0.4, "train": {"stopped": {"epoch": 2, "reason": "..."}}}
    attrs = [r["attrs"] for r in node_rows(node)]  # why and where a trial ended early, for the dashboard
    assert [(a["stopped_by"], a["stopped_at_epoch"]) for a in attrs] == [("successive_halving", 1), ("early_stopping", 2)]


def test_optuna_intermediate_values_are_the_curves_validation_scores_by_step():
    """What Optuna's pruners and dashboard read: the task metric at each point of the curve, not the loss."""
    from tools.tracking.optuna_record import intermediate_values

    row = {"val_loss": [2.0, 1.5, 1.2], "train": {"curve": [{"epoch": 1, "step": 4, "val_score": 0.4},
                                                            {"epoch": 2, "step": 8, "val_score": 0.55}]}}
    assert intermediate_values(row) == {4: 0.4, 8: 0.55}
    assert intermediate_values({"val_loss": [2.0, 1.5], "train": {}}) == {0: 2.0, 1: 1.5}  # no scored curve
