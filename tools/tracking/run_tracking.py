"""What a run writes to the trackers users already read, after each evaluated round and at the end.

Optuna (on by default: RUN_DIR/optuna.db) and MLflow (when the context names a store) get every trial once.
A tracker that cannot be written to never fails the run: the run's log records why (tracking_failed).
"""
from __future__ import annotations

from pathlib import Path

from memory.run_log import log_event
from tools.tracking.mlflow_record import log_result, log_trials, tracking_uri
from tools.tracking.optuna_record import record_trials, storage_url
from trex.metrics import get_metric


def node_rows(node: dict) -> list[dict]:
    """The node's scored trials as tracker rows (the root's baseline included: epochs 0)."""
    rows = []
    for cfg in node.get("trials", []):
        res = node.get("results", {}).get(cfg["id"], {})
        if "score" not in res:
            continue
        train = res.get("train") or {}
        rows.append({"trial": f"{node['id']}/{cfg['id']}", "config": {k: v for k, v in cfg.items() if k != "id"},
                     "status": res.get("status", "failed"), "score": res.get("score"), "failure": res.get("failure"),
                     "train": train, "val_loss": train.get("val_loss"),
                     "attrs": {"node": node["id"], "round": node.get("round", 0),
                               **({"failure": res["failure"]} if res.get("failure") else {}),
                               **({"tokens": train["tokens"]} if train.get("tokens") else {}),
                               # why the trial ended early (early stopping, the round's successive halving) and where
                               **({"stopped_by": (train["stopped"].get("by") or "early_stopping"),
                                   "stopped_at_epoch": train["stopped"].get("epoch")} if train.get("stopped") else {})}})
    return rows


def _guarded(run_dir: str, tracker: str, write) -> None:
    try:
        write()
    except Exception as err:  # noqa: BLE001 - a tracker is a copy of the run's record: never a failed run
        log_event(run_dir, "tracking_failed", tracker=tracker, error=f"{type(err).__name__}: {err}"[:500])


def track_round(run_dir: str, spec, node: dict, ctx) -> None:
    """Write an evaluated node's trials to the configured trackers."""
    rows = node_rows(node)
    if not rows:
        return
    name = Path(run_dir).name
    storage = storage_url(getattr(ctx, "optuna_storage", "off"), run_dir)
    if storage:
        higher = get_metric(spec.metric).higher_is_better
        _guarded(run_dir, "optuna", lambda: record_trials(
            storage, name, higher, rows, {"task": spec.name, "metric": spec.metric, "run_dir": str(run_dir),
                                          "searcher": "trex"}))
    uri = tracking_uri(getattr(ctx, "mlflow_tracking", ""), run_dir)
    if uri:
        _guarded(run_dir, "mlflow", lambda: log_trials(uri, f"trex/{spec.name}", name, str(run_dir), rows))


def track_result(run_dir: str, spec, final: dict, ctx) -> None:
    """The run's outcome (best validation and test scores, the base model's) on the study and the parent run."""
    name = Path(run_dir).name
    storage = storage_url(getattr(ctx, "optuna_storage", "off"), run_dir)
    if storage:
        outcome = {k: final.get(k) for k in ("best_node", "best_trial", "val_score", "test_score", "base_test")}
        _guarded(run_dir, "optuna", lambda: record_trials(storage, name, get_metric(spec.metric).higher_is_better, [],
                                                          {"result": outcome}))
    uri = tracking_uri(getattr(ctx, "mlflow_tracking", ""), run_dir)
    if uri:
        _guarded(run_dir, "mlflow", lambda: log_result(uri, f"trex/{spec.name}", name, str(run_dir), final))
