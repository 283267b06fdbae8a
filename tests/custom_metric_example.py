"""Custom metrics for tests/test_metrics.py, resolved by name as 'tests.custom_metric_example:<function>'."""
from __future__ import annotations

NOT_A_FUNCTION = 42


def length_error(preds: list[str], refs: list[str]) -> float:
    """Mean absolute difference in word count: lower is better."""
    if not refs:
        return 0.0
    return sum(abs(len(p.split()) - len(r.split())) for p, r in zip(preds, refs)) / len(refs)


def starts_right(preds: list[str], refs: list[str]) -> float:
    """Share of predictions whose first character matches the reference's: higher is better."""
    if not refs:
        return 0.0
    return sum(p[:1] == r[:1] for p, r in zip(preds, refs)) / len(refs)
