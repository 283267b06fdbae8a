"""Hard budget caps: training rounds, wall time, GPU-hours, training tokens and chat-model spend in dollars.

A cap comes from the task spec's budget (rounds, wall_time_s, gpu_hours, train_tokens, llm_usd) and is replaced
by the Context override of the same cap (max_rounds, max_wall_time_s, max_gpu_hours, max_train_tokens,
max_llm_usd; env TREX_MAX_*).
Spend is read from the state: the round counter, the running time (accounting["running_s"]: the time the
run was executing, summed over its resumes; tools/run/clock.py), GPU-hours and training tokens of the trials
trained this run (tools.run.accounting: a cache hit costs nothing) and state.llm["cost_usd"] (the run's chat-model ledger: analysis, research, planning,
insights, the judge, synthesis). The first cap reached stops the run cleanly: the best node so far is still scored on the test split and the report is written.
"""
from __future__ import annotations

CAPS = ("rounds", "wall_time_s", "gpu_hours", "train_tokens", "llm_usd")
OVERRIDES = {"rounds": "max_rounds", "wall_time_s": "max_wall_time_s", "gpu_hours": "max_gpu_hours",
             "train_tokens": "max_train_tokens", "llm_usd": "max_llm_usd"}


def caps(spec, ctx) -> dict[str, float | None]:
    """The caps in force: the Context's override where set, else the spec's budget (None = no cap)."""
    out = {}
    for cap in CAPS:
        override = getattr(ctx, OVERRIDES[cap], None)
        out[cap] = override if override is not None else getattr(spec.budget, cap, None)
    return out


def charged_tokens(accounting: dict, ctx) -> int:
    """The tokens the train_tokens budget counts: those trained in this run (a cache hit costs nothing), or with
    ctx.budget_counts_cache every trial's, as if the cache were empty."""
    key = "tokens_all_trials" if getattr(ctx, "budget_counts_cache", False) else "tokens_trained"
    return int(accounting.get(key) or 0)


def spent(state, accounting: dict, now: float, ctx=None) -> dict[str, float]:
    return {"rounds": state.round,
            # the time the run was running, across resumes (tools/run/clock.py), not the dead time between them
            "wall_time_s": accounting["running_s"] if "running_s" in accounting else
            round(now - state.started_at, 1) if state.started_at else 0.0,
            "gpu_hours": float(accounting.get("gpu_hours") or 0.0),
            "train_tokens": charged_tokens(accounting, ctx),
            "llm_usd": float((state.llm or {}).get("cost_usd") or 0.0)}


def message(cap: str, limit: float, used: float) -> str:
    if cap == "rounds":  # worded as before the other caps existed: "round budget reached ..."
        return f"round budget reached (budget: rounds {limit:g} reached, {used:g} run)"
    if cap == "wall_time_s":
        return f"budget: wall_time_s {limit:g} reached ({used:.0f} s running)"
    if cap == "gpu_hours":
        return f"budget: gpu_hours {limit:g} reached ({used:.4g} spent)"
    if cap == "train_tokens":  # a round is never cut short: the tokens past the cap are shown
        over = f", {used - limit:.0f} over" if used > limit else ""
        return f"budget: train_tokens {limit:.0f} reached ({used:.0f} trained{over})"
    return f"budget: llm_usd {limit:.2f} reached ({used:.2f} spent)"


def cannot_start(limit: float, used: float, need: int) -> str:
    """The stop reason before a round whose smallest trial (need: its estimated tokens) does not fit what is left."""
    return (f"budget: train_tokens {limit:.0f} reached ({used:.0f} trained; the smallest trial planned needs "
            f"~{need} of the {max(0, limit - used):.0f} left)")


def over_budget(limits: dict, used: dict, skip: tuple[str, ...] = ()) -> str:
    """The stop reason naming the first cap reached, or "" while every cap has room."""
    for cap in CAPS:
        if cap in skip or limits.get(cap) is None:
            continue
        if used[cap] >= limits[cap]:
            return message(cap, limits[cap], used[cap])
    return ""


def check(spec, ctx, state, accounting: dict, now: float, skip: tuple[str, ...] = ()) -> tuple[str, dict]:
    """(stop reason or "", {cap: {"cap", "spent"}}) — the second part is for progress displays (state.accounting)."""
    limits, used = caps(spec, ctx), spent(state, accounting, now, ctx)
    status = {cap: {"cap": limits[cap], "spent": used[cap]} for cap in CAPS}
    return over_budget(limits, used, skip), status
