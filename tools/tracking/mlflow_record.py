"""Trials logged to MLflow (the `mlflow` extra): one experiment per task, one parent run per TREX run, one
child run per trial with its parameters, scores, accounting and loss curves; each trial logged once (a
resumed run adds nothing). MLflow 3 refuses its old file store, so the local default is a SQLite file."""
from __future__ import annotations

import math
import time
from pathlib import Path

from trex.trial_config import FIELDS

BATCH = 1000  # MLflow's limit of metrics per log_batch call
ACCOUNTING = ("train_s", "tokens", "tokens_per_s", "steps", "train_examples", "peak_gpu_memory_mb", "gpu_hours")


def tracking_uri(setting: str, run_dir: str | Path) -> str | None:
    """The tracking URI a setting names: 'run' = SQLite in the run directory, '' = none, else the URI."""
    if not setting:
        return None
    if setting == "run":
        return f"sqlite:///{Path(run_dir).absolute() / 'mlflow.db'}"
    return setting


def _client(uri: str):
    import logging

    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # no table-creation chatter in the run's output
    return MlflowClient(tracking_uri=uri)


def _run_with_tag(client, experiment_id: str, tag: str, value: str):
    found = client.search_runs([experiment_id], filter_string=f"tags.`{tag}` = '{value}'", max_results=1)
    return found[0] if found else None


def parent_run(client, experiment: str, run_name: str, run_dir: str) -> tuple[str, str]:
    """(experiment id, run id) of the TREX run's parent run, made once."""
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    found = _run_with_tag(client, exp_id, "trex.run_dir", str(run_dir))
    if found:
        return exp_id, found.info.run_id
    run = client.create_run(exp_id, run_name=run_name, tags={"trex.run_dir": str(run_dir), "trex.kind": "run"})
    return exp_id, run.info.run_id


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def log_trials(uri: str, experiment: str, run_name: str, run_dir: str, rows: list[dict]) -> int:
    """Log rows ({"trial", "config", "status", "score", "train": {...}}) not logged yet; returns how many."""
    from mlflow.entities import Metric, Param

    client = _client(uri)
    exp_id, parent = parent_run(client, experiment, run_name, run_dir)
    added = 0
    for row in rows:
        tag = f"{run_dir}::{row['trial']}"
        if _run_with_tag(client, exp_id, "trex.trial_ref", tag):
            continue
        run = client.create_run(exp_id, run_name=row["trial"], tags={
            "mlflow.parentRunId": parent, "trex.trial_ref": tag, "trex.trial": row["trial"],
            "trex.status": row["status"], **({"trex.failure": row["failure"]} if row.get("failure") else {})})
        now = int(time.time() * 1000)
        params = [Param(k, (FIELDS[k].text(v) if k in FIELDS and v is not None else str(v))[:6000])
                  for k, v in row["config"].items() if k != "id"]  # a config has ~12 fields: one batch holds them
        train = row.get("train") or {}
        metrics = [Metric("val_score", float(row["score"]), now, 0)] if row["status"] == "ok" and _finite(row.get("score")) else []
        metrics += [Metric(k, float(train[k]), now, 0) for k in ACCOUNTING if _finite(train.get(k))]
        metrics += [Metric("train_loss", float(loss), now, int(step)) for step, loss in train.get("loss_curve") or []
                    if _finite(loss)]
        metrics += [Metric("val_loss", float(v), now, epoch) for epoch, v in enumerate(train.get("val_loss") or [])
                    if _finite(v)]
        # The learning curve (tools/worker/learning_curve.py): the task metric on validation at each scored step.
        metrics += [Metric("curve_val_score", float(p["val_score"]), now, int(p["step"]))
                    for p in train.get("curve") or [] if _finite(p.get("val_score"))]
        for i in range(0, max(len(metrics), len(params), 1), BATCH):
            client.log_batch(run.info.run_id, metrics=metrics[i:i + BATCH], params=params if i == 0 else [])
        client.set_terminated(run.info.run_id, status="FINISHED" if row["status"] == "ok" else "FAILED")
        added += 1
    return added


def log_result(uri: str, experiment: str, run_name: str, run_dir: str, final: dict) -> None:
    """The run's outcome on its parent run: best validation and test scores, the base model's, and the end."""
    client = _client(uri)
    _, parent = parent_run(client, experiment, run_name, run_dir)
    now = int(time.time() * 1000)
    from mlflow.entities import Metric

    metrics = [Metric(k, float(final[k]), now, 0) for k in ("val_score", "test_score", "base_val", "base_test")
               if _finite(final.get(k))]
    client.log_batch(parent, metrics=metrics)
    client.set_tag(parent, "trex.best_trial", f"{final.get('best_node')}/{final.get('best_trial')}")
    client.set_terminated(parent, status="FINISHED")
