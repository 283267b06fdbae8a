"""Replay of a recorded learning curve (ftbench/curve_sweep.py): which prefix of the curve a trial trains and which
of its points it keeps, by the worker's own rules (tools/worker/learning_curve.Curve: the best validation score is
kept, early stopping after `patience` epochs without an improvement of more than min_delta), and what that prefix
costs (its tokens, steps and share of the training time).

A trial stopped at epoch k of a 3-epoch curve is the exact prefix of that curve: the worker's learning-rate schedule
spans the trial's epochs, so stopping early changes nothing before the stop. `stop_epoch` cuts the curve where a
pruner or successive halving stopped the trial.
"""
from __future__ import annotations

from tools.worker.learning_curve import Curve
from trex.jobs import EarlyStopping

POINT_KEYS = ("epoch", "step", "tokens", "val_loss", "train_loss")


def walk(points: list[dict], stopping: EarlyStopping, higher_is_better: bool, stop_epoch: int | None = None,
         metric: str = "", pause: bool = False) -> dict:
    """The points a trial trains (up to early stopping or stop_epoch), the one it keeps, and why it stopped. pause:
    a cut at stop_epoch is a pause (summary `paused_at`, as the worker reports one), not a stop."""
    curve = Curve(stopping, higher_is_better, metric)
    trained = []
    for p in points:
        if stop_epoch is not None and p["epoch"] > stop_epoch:
            break
        point = {k: p[k] for k in POINT_KEYS} | {"val_score": p["evals"]["val"]["score"]}
        trained.append(p)
        curve.add(point, p["evals"]["val"], None)
        if curve.end_epoch(p["epoch"]):
            break
    if not trained:
        raise ValueError("a replayed trial must train at least one epoch of its curve")
    kept = next(p for p in trained if p["epoch"] == curve.best["epoch"] and p["step"] == curve.best["step"])
    stopped, cut = curve.stopped, {}
    if stopped is None and stop_epoch is not None and trained[-1]["epoch"] < points[-1]["epoch"]:
        if pause:
            cut = {"paused_at": trained[-1]["epoch"]}
        else:
            cut = {"stopped": {"epoch": stop_epoch, "reason": f"stopped by the search at epoch {stop_epoch}"}}
    return {"trained": trained, "kept": kept, "summary": {**curve.summary(), **cut}}


def prefix_result(train: dict, points: list[dict], walked: dict) -> dict:
    """The recorded training's numbers cut to the trained prefix: tokens, steps and epochs of its last point, the
    loss curve up to it, and its share of the training time."""
    last, total = walked["trained"][-1], points[-1]
    share = last["tokens"] / total["tokens"] if total["tokens"] else 1.0
    out = {**train, "tokens": last["tokens"], "steps": last["step"], "epochs_trained": last["epoch"],
           **walked["summary"]}
    if train.get("loss_curve"):
        out["loss_curve"] = [s for s in train["loss_curve"] if s[0] <= last["step"]]
    if train.get("val_loss"):
        out["val_loss"] = train["val_loss"][: last["epoch"] + 1]  # before training, then one per epoch
    for k in ("train_s", "eval_s", "gpu_hours"):
        if isinstance(train.get(k), (int, float)):
            out[k] = round(train[k] * share, 5)
    return out


def point_key(key: str, epoch: int) -> str:
    """The replay key of one point of a curve (what its trial's scoring looks up)."""
    return f"{key}@{epoch}"


def split_point_key(key: str) -> tuple[str, int | None]:
    base, _, epoch = key.rpartition("@")
    return (base, int(epoch)) if base and epoch.isdigit() else (key, None)
