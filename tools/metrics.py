"""Evaluation metrics that know their direction, so callers compare by "better", never by "bigger"."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence


def _normalise(text: str) -> str:
    return " ".join(str(text).strip().lower().split())


def accuracy(preds: Sequence[str], refs: Sequence[str]) -> float:
    if not refs:
        return 0.0
    return sum(_normalise(p) == _normalise(r) for p, r in zip(preds, refs)) / len(refs)


def macro_f1(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Unweighted mean of per-class F1 over the classes present in the references or predictions."""
    p_norm = [_normalise(p) for p in preds]
    r_norm = [_normalise(r) for r in refs]
    classes = sorted(set(r_norm) | set(p_norm))
    if not classes:
        return 0.0
    f1s = []
    for c in classes:
        tp = sum(p == c and r == c for p, r in zip(p_norm, r_norm))
        fp = sum(p == c and r != c for p, r in zip(p_norm, r_norm))
        fn = sum(p != c and r == c for p, r in zip(p_norm, r_norm))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s)


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    worst: float  # the value a failed trial gets: data, not an exception
    compute: Callable[[Sequence[str], Sequence[str]], float]
    task_types: tuple[str, ...] = ("classification", "generation")

    def better(self, a: float, b: float) -> bool:
        """True when score a is strictly better than score b."""
        return a > b if self.higher_is_better else a < b

    def gain(self, score: float, base: float) -> float:
        """Improvement of score over base, positive when score is better."""
        return score - base if self.higher_is_better else base - score


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", True, 0.0, accuracy),
    "exact_match": Metric("exact_match", True, 0.0, accuracy),
    "macro_f1": Metric("macro_f1", True, 0.0, macro_f1, ("classification",)),
}


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS))}") from None
