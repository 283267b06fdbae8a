"""Successive halving inside a round: the round's trials train to a rung (epoch 1, then 2, 4, ...), pause with
their checkpoints kept, and only the better half by validation score so far goes on; the others stop at that
rung and keep their best point so far. Their unspent epochs are compute the run keeps for later rounds.

Pure decisions here (which rungs, who goes on, what a stopped trial records); nodes/train.py runs the trials.
"""
from __future__ import annotations

import math

ETA = 2  # keep the better 1/ETA at each rung (Hyperband's and ASHA's usual 2-3; 2 keeps the most)


def rungs(max_epochs: int, eta: int = ETA) -> list[int]:
    """The epochs a round pauses after: 1, eta, eta^2, ... below the longest trial's epochs."""
    out, r = [], 1
    while r < max_epochs:
        out.append(r)
        r *= eta
    return out


def applies(configs: list[dict]) -> bool:
    """Halving needs two trials to compare, one of them with an epoch to save."""
    return len(configs) >= 2 and any(int(c.get("epochs", 1)) >= 2 for c in configs)


def signal(stats: dict, higher_is_better: bool) -> float | None:
    """A trial's standing so far: its best validation score on the curve (its lowest validation loss when it
    was selected by loss: Unsloth), oriented so larger is better; None without a curve (ranked last)."""
    points = stats.get("curve") or []
    if stats.get("selected_by") == "val_loss":
        losses = [p["val_loss"] for p in points if p.get("val_loss") is not None]
        return -min(losses) if losses else None
    scores = [p["val_score"] for p in points if p.get("val_score") is not None]
    if not scores:
        return None
    return max(scores) if higher_is_better else -min(scores)


def survivors(standing: dict[str, float | None], eta: int = ETA) -> list[str]:
    """The trial ids that go on: the best ceil(n / eta) by standing (ties: the earlier trial of the plan; a
    failed or unscored trial last). standing is in the plan's order."""
    order = sorted(standing, key=lambda t: (standing[t] is None, -(standing[t] or 0.0)))
    return order[:math.ceil(len(standing) / eta)]


def rank_of(standing: dict[str, float | None], trial: str) -> int:
    order = sorted(standing, key=lambda t: (standing[t] is None, -(standing[t] or 0.0)))
    return order.index(trial) + 1


def standing_text(stats: dict, value: float | None, metric: str) -> str:
    """A trial's standing as a reader reads it: the raw best validation score or loss."""
    if value is None:
        return "no validation score"
    if stats.get("selected_by") == "val_loss":
        return f"best validation loss {-value:.4f}"
    return f"best validation {metric} {abs(value):.4f}"  # a lower-is-better metric's standing is its negation


def stop_record(epoch: int, rank: int, of: int, kept: int, standing: str) -> dict:
    """What a trial the round stopped at a rung records (stats.stopped, as early stopping's)."""
    return {"epoch": epoch, "by": "successive_halving",
            "reason": f"successive halving: ranked {rank} of {of} at epoch {epoch} ({standing}); the best {kept} "
                      f"went on"}
