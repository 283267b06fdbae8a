"""Rule-based diagnosis of a round from its trials' loss curves and scores (no LLM needed)."""
from __future__ import annotations


# A round whose trials all failed is diagnosed by its most common failure, which tells the planner what to change.
FAILURE_KINDS = {"diverged": "diverged", "timeout": "too_slow", "oom": "out_of_memory"}


def _dominant_failure(failed: list[dict]) -> str:
    kinds = [r.get("failure", "crash") for r in failed]
    return max(sorted(set(kinds)), key=kinds.count) if kinds else "crash"


def diagnose(results: list[dict], best: dict | None, reward: float) -> tuple[str, str]:
    """Return (kind, one-line explanation); kind is one of diverged, too_slow, out_of_memory, failed,
    overfitting, underfitting, no_gain, improving, baseline."""
    failed = [r for r in results if r.get("status") != "ok"]
    if best is None:
        reasons = "; ".join(sorted({r.get("error", "?")[:80] for r in failed}))
        return FAILURE_KINDS.get(_dominant_failure(failed), "failed"), f"all {len(results)} trials failed: {reasons}"
    train = best.get("train") or {}
    val = train.get("val_loss") or []
    note = f"{len(failed)} of {len(results)} trials failed. " if failed else ""
    if not train:
        return "baseline", note + f"base model scores {best.get('score', 0.0):.4f} on validation"
    if len(val) >= 3 and val[-1] > min(val) * 1.05:
        return "overfitting", note + f"val loss rose from {min(val):.3f} to {val[-1]:.3f} in the last epochs"
    if len(val) >= 2 and val[-1] < val[-2] * 0.9:
        return "underfitting", note + f"val loss still falling ({val[-2]:.3f} -> {val[-1]:.3f}): train longer or faster"
    if reward <= 0.01:
        return "no_gain", note + f"no gain over the parent (reward {reward:+.3f})"
    return "improving", note + f"reward {reward:+.3f}, val loss {val[-1]:.3f}" if val else note + "improving"
