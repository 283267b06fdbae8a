"""What a run has spent: running and elapsed time, tokens trained, GPU-hours, peak memory, trials trained vs reused."""
from __future__ import annotations


def run_accounting(tree: dict, started_at: float, now: float, clock: dict | None = None) -> dict:
    """clock: the running-time mark read at `now` (tools/run/clock.py); without one, the run ran all along."""
    wall = round(now - started_at, 1) if started_at else 0.0
    results = [r for n in tree.values() for r in n.get("results", {}).values() if r.get("train")]
    fresh = [r["train"] for r in results if not r.get("cached")]  # cache hits cost nothing this run
    return {
        "wall_s": wall,  # elapsed since the run started, dead time between a stop and its resume included
        "running_s": min(wall, (clock or {}).get("run_s", wall)),  # what the wall_time_s budget counts
        "segments": (clock or {}).get("segments", 1),  # 1 + the times the run was resumed after a stop
        "trials_trained": len(fresh),
        "trials_reused": len(results) - len(fresh),
        "trials_failed": sum(1 for n in tree.values() for r in n.get("results", {}).values()
                             if r.get("status") == "failed"),
        "train_s": round(sum(t.get("train_s") or 0.0 for t in fresh), 1),
        "tokens_trained": sum(t.get("tokens") or 0 for t in fresh),
        # every trial's tokens, cache hits included: what the train_tokens budget counts with budget_counts_cache
        # (a budget that does not depend on what the cache held: FT-Bench's replayed fixed-budget comparison)
        "tokens_all_trials": sum((r["train"].get("tokens") or 0) for r in results),
        "gpu_hours": round(sum(t.get("gpu_hours") or 0.0 for t in fresh), 5),
        "peak_memory_mb": max((t.get("peak_memory_mb") or 0.0 for t in fresh), default=0.0),
        "peak_gpu_memory_mb": max((t.get("peak_gpu_memory_mb") or 0.0 for t in fresh), default=0.0),
    }
