"""Successive halving inside a round: the round's trials train to a rung (epoch 1, then 2, 4, ...), pause with
their checkpoints kept, and a trial goes on only when its validation score so far is in the better 1/ETA of every
trial of the run that reached that rung (this round's and earlier rounds': ASHA's promotion rule, Li et al. 2020,
so a round of two is not forced to drop one that beats everything before it). The others stop at that rung and
keep their best point so far; their unspent epochs are compute the run keeps for later rounds.

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
    """Halving needs a trial with an epoch to save (whom it compares with is decided at each rung)."""
    return any(int(c.get("epochs", 1)) >= 2 for c in configs)


def signal(stats: dict, higher_is_better: bool, epoch: int | None = None) -> float | None:
    """A trial's standing at `epoch` (None: at its last point): its best validation score on the curve up to
    there (its lowest validation loss when it was selected by loss: Unsloth), oriented so larger is better; None
    without a point that late (a trial that stopped before), and for a warm start, whose epochs follow its
    parent's and compare with no cold trial's."""
    points = stats.get("curve") or []
    if epoch is not None:
        if stats.get("warm_start_from") or not any(p.get("epoch", 0) >= epoch for p in points):
            return None
        points = [p for p in points if p.get("epoch", 0) <= epoch]
    if stats.get("selected_by") == "val_loss":
        losses = [p["val_loss"] for p in points if p.get("val_loss") is not None]
        return -min(losses) if losses else None
    scores = [p["val_score"] for p in points if p.get("val_score") is not None]
    if not scores:
        return None
    return max(scores) if higher_is_better else -min(scores)


def rung_pool(tree: dict, skip: str, epoch: int, higher_is_better: bool) -> list[float]:
    """The standings at `epoch` of every trial in the tree (but node `skip`, the round deciding now) that
    trained that far."""
    values = [signal(r.get("train") or {}, higher_is_better, epoch) for nid, node in tree.items() if nid != skip
              for r in (node.get("results") or {}).values() if r.get("status") == "ok"]
    return [v for v in values if v is not None]


def promoted(value: float | None, pool: list[float], eta: int = ETA) -> bool:
    """ASHA's rule: in the better ceil(n / eta) of the n standings at this rung (pool holds this trial's own);
    a tie with the cut goes on. Without a standing, only when no trial has one."""
    if value is None:
        return not pool
    better = sum(1 for v in pool if v > value)
    return better < math.ceil(len(pool) / eta)


def rank_of(value: float | None, pool: list[float]) -> int:
    """1 + the standings above this one."""
    return 1 + sum(1 for v in pool if value is None or v > value)


def standing_text(stats: dict, value: float | None, metric: str, higher_is_better: bool = True) -> str:
    """A trial's standing as a reader reads it: the raw best validation score or loss (signal() oriented it)."""
    if value is None:
        return "no validation score"
    if stats.get("selected_by") == "val_loss":
        return f"best validation loss {-value:.4f}"
    return f"best validation {metric} {value if higher_is_better else -value:.4f}"


def stop_record(epoch: int, rank: int, of: int, kept: int, standing: str, budget_spent: str = "") -> dict:
    """What a trial the round stopped at a rung records (stats.stopped, as early stopping's); budget_spent: why no
    trial goes on (the run's train_tokens budget), else the rank decided."""
    why = budget_spent or f"only the best {kept} go on"
    return {"epoch": epoch, "by": "successive_halving",
            "reason": f"successive halving: ranked {rank} of {of} trials of the run at epoch {epoch} ({standing}); "
                      f"{why}"}
