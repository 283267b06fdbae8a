"""A trial's learning curve: the task's metric on the validation split after every epoch (and every eval_steps
optimizer steps), scored in the training process on the model it holds; the best point's weights are the ones
kept, and early stopping ends a trial after `patience` epochs without improvement.

Runs inside the training worker (tools/worker/lora_training.py); heavy imports inside functions.
"""
from __future__ import annotations

import math

from trex.jobs import EarlyStopping


def trainable_state(model) -> dict:
    """A CPU copy of the parameters training changes (the LoRA matrices; every weight for a full fine-tune)."""
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model, state: dict) -> None:
    """Put saved trainable weights back; every trainable parameter must be in `state`, with its shape."""
    import torch

    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(params) != set(state):
        raise ValueError(f"saved weights do not fit the model: {len(set(params) ^ set(state))} names differ")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(state[name].to(p.device, p.dtype))


class Curve:
    """The points scored so far, the best one (its weights and its full scoring result), and the patience count.

    The signal is the task metric when the trial scores validation (by the metric's direction), else the
    validation loss (lower is better: an Unsloth trial, which cannot score in-process, or a job without a score
    split)."""

    def __init__(self, stopping: EarlyStopping, higher_is_better: bool | None, metric: str = ""):
        self.stopping = stopping
        self.by_score = higher_is_better is not None
        self.higher = bool(higher_is_better)
        self.metric = metric if self.by_score else "val_loss"
        self.points: list[dict] = []
        self.best: dict | None = None  # the best point
        self.best_eval: dict | None = None  # its scoring result (score, n, bad cases): the trial's val score
        self.best_weights: dict | None = None  # its trainable weights (in memory; a checkpoint writes them)
        self.bad_epochs = 0
        self._epoch_start_best: float | None = None
        self.stopped: dict | None = None

    def signal(self, point: dict) -> float:
        return point["val_score"] if self.by_score else point["val_loss"]

    def _beats(self, value: float, than: float | None, delta: float = 0.0) -> bool:
        if than is None:
            return math.isfinite(value)
        return value > than + delta if self.higher else value < than - delta

    def add(self, point: dict, val_eval: dict | None, model) -> bool:
        """Record a point; if it is the best so far, keep its weights and scoring result. True if it is."""
        self.points.append(point)
        best = None if self.best is None else self.signal(self.best)
        if not self._beats(self.signal(point), best):
            return False
        # model None: a replayed curve (ftbench/curve_replay.py) walks the same rules with no weights to keep
        self.best, self.best_eval = point, val_eval
        self.best_weights = trainable_state(model) if model is not None else None
        return True

    def end_epoch(self, epoch: int) -> bool:
        """Count an epoch without an improvement of more than min_delta; True when the trial should stop."""
        now = None if self.best is None else self.signal(self.best)
        if self._beats(now, self._epoch_start_best, self.stopping.min_delta) if now is not None else False:
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        self._epoch_start_best = now
        if self.stopping.on and self.bad_epochs >= self.stopping.patience:
            self.stopped = {"epoch": epoch, "reason": (
                f"early stopping: validation {self.metric} did not improve by more than {self.stopping.min_delta:g} "
                f"for {self.bad_epochs} epoch{'s' if self.bad_epochs > 1 else ''} (best {self.signal(self.best):.4f} "
                f"at epoch {self.best['epoch']}, step {self.best['step']})")}
            return True
        return False

    def state(self) -> dict:
        """What a checkpoint keeps (the best weights go in their own file)."""
        return {"points": self.points, "best": self.best, "best_eval": self.best_eval, "bad_epochs": self.bad_epochs,
                "epoch_start_best": self._epoch_start_best}

    def restore(self, state: dict, best_weights: dict | None) -> None:
        self.points, self.best, self.best_eval = state["points"], state["best"], state["best_eval"]
        self.bad_epochs, self._epoch_start_best = state["bad_epochs"], state["epoch_start_best"]
        self.best_weights = best_weights

    def summary(self) -> dict:
        """The curve as the trial's result keeps it."""
        out = {"curve": self.points, "selected_by": self.metric,
               "best_epoch": self.best["epoch"] if self.best else None,
               "best_step": self.best["step"] if self.best else None}
        if self.stopped:
            out["stopped"] = self.stopped
        return out


def score_point(model, tokenizer, job, val_loss: float, split=None) -> dict | None:
    """The task metric on the validation split (or `split`, a ScoreSplit) for the model as it is now (None when
    the job scores nothing); the model is back in training mode afterwards."""
    split = split or job.score
    if split is None:
        return None
    from tools.worker.scoring import score_model
    from trex.jobs import ScoreJob

    try:
        return score_model(model, tokenizer, ScoreJob(job.task, job.config, split.eval_path, split.max_examples))
    finally:
        model.train()


def eval_part(result: dict, max_examples: int | None) -> dict:
    """What a replay table keeps of a scoring result (ftbench/replay.py reads the same keys)."""
    return {"score": result["score"], "n": result.get("n"), "n_wrong": result.get("n_wrong"),
            "bad_cases": result.get("bad_cases", []), "max_examples": max_examples}


def higher_is_better(job, backend: str) -> bool | None:
    """The metric's direction when this trial scores validation in-process, else None (select by val loss).
    Not after Unsloth: its class-level patches break scoring several label tokens at once."""
    if job.score is None or backend == "unsloth":
        return None
    from tools.worker.scoring import scoring_metric

    return bool(scoring_metric(job.task["metric"]).higher_is_better)


def score_here(model, tokenizer, job, curve: Curve, loop: dict, epoch: int, val_loss: float, since: list[float],
               progress) -> None:
    """Score the model now and add the point to the curve (with the training loss since the last point)."""
    import time

    started = time.time()
    val_eval = score_point(model, tokenizer, job, val_loss) if curve.by_score else None
    loop["eval_s"] += time.time() - started
    point = {"epoch": epoch, "step": loop["step"], "val_score": None if val_eval is None else val_eval["score"],
             "val_loss": round(val_loss, 5), "train_loss": round(sum(since) / len(since), 5) if since else None,
             "tokens": loop["tokens"]}
    if job.record_split is not None and val_eval is not None:  # recording a curve table: both splits, in full
        recorded = score_point(model, tokenizer, job, val_loss, job.record_split)
        point["evals"] = {"val": eval_part(val_eval, job.score.max_examples),
                          "test": eval_part(recorded, job.record_split.max_examples)}
    best = curve.add(point, val_eval, model)
    progress.write("val_score", **point, best=best)
    shown = f"val {curve.metric} {point['val_score']:.4f}, " if curve.by_score else ""
    print(f"epoch {epoch} step {point['step']}: {shown}val loss {point['val_loss']:.4f}, {point['tokens']} tokens"
          f"{' (best so far)' if best else ''}", flush=True)
