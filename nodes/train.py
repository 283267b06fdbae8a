"""Executor step 2: train the current node's trials (each in a subprocess, or reused from the cache)."""
from __future__ import annotations

import math
from pathlib import Path

from langgraph.runtime import Runtime

from memory.run_log import log_event
from tools.llm.structured_llm import record_usages
from tools.run.progress_events import trial_finished, trial_started
from tools.trials import successive_halving as halving
from tools.trials.runner import default_runner
from tools.trials.trial_pool import parallelism, run_all
from trex.context import Context
from trex.results import TrainResult, TrialFailure, TrialRunner
from trex.state import Node, State


def warm_start_source(tree: dict, node: Node, cfg: dict) -> tuple[str, str] | str | None:
    """(adapter, train key) of the parent's best trial when cfg asks to warm-start; an error text when it
    cannot; None for a cold start."""
    if not cfg.get("warm_start"):
        return None
    parent = tree.get(node.get("parent") or "")
    best = (parent or {}).get("results", {}).get((parent or {}).get("best_trial") or "", {})
    adapter = best.get("adapter")
    # An adapter another runner made need not be a directory (a replay table's ids): the runner that made it reads it.
    if not adapter or not (Path(adapter).is_dir() or not Path(adapter).is_absolute()):
        return f"warm start: the parent {node.get('parent')} has no trained adapter to start from"
    return adapter, best["key"]


def train(state: State, runtime: Runtime[Context], runner: TrialRunner | None = None) -> dict:
    runner = runner or default_runner()
    spec = state.spec
    node: Node = state.tree[state.current]
    results = dict(node.get("results", {}))
    todo = []
    for cfg in node["trials"]:
        if cfg["id"] in results:
            continue
        if cfg.get("epochs", 0) == 0:  # the baseline: nothing to train
            results[cfg["id"]] = {"trial_id": cfg["id"], "status": "ok", "adapter": None, "train": {}, "key": "base"}
            continue
        todo.append(cfg)
    # The round fans out (tools/trials/trial_pool.py, ctx.max_parallel_trials). No trial waits for another: a warm
    # start reads the PARENT node's best adapter, trained and evaluated in an earlier round.
    if runtime.context.halving and halving.applies(todo):
        outs = _train_halving(state, spec, node, todo, runtime.context, runner)
    else:
        jobs = [lambda cfg=cfg: _train_trial(state, spec, node, cfg, runtime.context, runner) for cfg in todo]
        outs: list[TrainResult] = run_all(jobs, parallelism(runtime.context, len(jobs)))  # a job that raises is a bug
    for cfg, out in zip(todo, outs):  # in the plan's order
        results[cfg["id"]] = out.record(cfg["id"])
    update = {"tree": {node["id"]: {**node, "results": results, "status": "trained"}}}
    ledger = record_usages(runtime.context, state.llm, llm_usages(node, todo, outs))
    return {**update, "llm": ledger} if ledger is not state.llm else update


def llm_usages(node: Node, todo: list[dict], outs: list[TrainResult]) -> dict[str, dict | None]:
    """The chat-model calls these trials made now, by ledger step: the data recipe's synthesis and judge
    filter (not when its file was reused from the cache) and an LLM judge scoring validation in the job."""
    usages = {}
    for cfg, out in zip(todo, outs):
        usages[f"recipe:{node['round']}:{cfg['id']}"] = out.recipe_usage
        usages[f"judge:{node['round']}:{cfg['id']}"] = out.judge_usage
    return usages


def _train_halving(state: State, spec, node: Node, todo: list[dict], ctx: Context,
                   runner: TrialRunner) -> list[TrainResult]:
    """The round by successive halving (tools/trials/successive_halving.py): every trial trains to the first rung
    and pauses; those in the better half of the run's standings at that rung continue from their checkpoints to
    the next rung, and so on; a trial left behind stops at its rung with its best point so far. Results in the plan's order; each trial's
    record has its rungs (`halving`) and, when the round stopped it, why (`stopped`)."""
    from trex.metrics import get_metric

    higher = get_metric(spec.metric).higher_is_better
    outs: dict[str, TrainResult] = {}
    history: dict[str, list] = {cfg["id"]: [] for cfg in todo}
    live = list(todo)
    for rung in [*halving.rungs(max(int(c.get("epochs", 1)) for c in todo)), 0]:
        earlier = halving.rung_pool(state.tree, node["id"], rung, higher) if rung else []  # earlier rounds' standings
        if rung and len(live) + len(earlier) < 2:
            rung = 0  # no one to compare with at this rung: train to the end
        jobs = [lambda cfg=cfg: _train_trial(state, spec, node, cfg, ctx, runner, rung,
                                             outs[cfg["id"]].paused_at if cfg["id"] in outs else None) for cfg in live]
        for cfg, out in zip(live, run_all(jobs, parallelism(ctx, len(jobs)))):
            outs[cfg["id"]] = _continued(outs.get(cfg["id"]), out)
        if rung == 0:
            break
        # this rung's standings: the earlier rounds' trials that trained this far, and this round's
        standing = {c["id"]: halving.signal(outs[c["id"]].stats, higher, rung) if outs[c["id"]].ok else None
                    for c in live}
        pool = earlier + [v for v in standing.values() if v is not None]
        kept = math.ceil(len(pool) / halving.ETA)
        spent = _budget_spent(state, spec, ctx, outs)  # a train_tokens budget spent: the round promotes no one
        going = []
        for cfg in live:
            out, tid = outs[cfg["id"]], cfg["id"]
            if out.paused_at is None and standing[tid] is None:
                continue  # finished before the rung without a standing in it (a warm start, a failure)
            goes_on = out.paused_at is not None and halving.promoted(standing[tid], pool) and not spent
            rank = halving.rank_of(standing[tid], pool)
            history[tid].append({"epoch": rung, "rank": rank, "of": len(pool), "went_on": goes_on})
            if goes_on:
                going.append(cfg)
            elif out.paused_at is not None:
                at = out.stats.pop("paused_at")
                out.stats["stopped"] = halving.stop_record(at, rank, len(pool), kept, halving.standing_text(
                    out.stats, standing[tid], spec.metric, higher), spent)
        live = going
    for tid, rungs_passed in history.items():
        if rungs_passed:
            outs[tid].stats["halving"] = rungs_passed
    return [outs[cfg["id"]] for cfg in todo]


def _budget_spent(state: State, spec, ctx: Context, outs: dict[str, TrainResult]) -> str:
    """"" while the run's train_tokens budget has room (or there is none), else what was spent of it: the tree's
    charged tokens and this round's so far (docs/budgets.md)."""
    from tools.run.accounting import run_accounting
    from tools.run.budget import caps, charged_tokens

    cap = caps(spec, ctx)["train_tokens"]
    if cap is None:
        return ""
    round_tokens = sum(int(o.stats.get("tokens") or 0) for o in outs.values()
                       if o.ok and (not o.cached or ctx.budget_counts_cache))
    used = charged_tokens(run_accounting(state.tree, 0.0, 0.0), ctx) + round_tokens
    return f"the train_tokens budget is spent ({used:,} of {cap:,})" if used >= cap else ""


def _continued(before: TrainResult | None, now: TrainResult) -> TrainResult:
    """A trial continued from its pause: the new result (its tokens, steps, curve and train_s cover the whole
    trial) with the jobs' wall time summed, reused only if every part was, and its data recipe's calls."""
    if before is None:
        return now
    now.stats["wall_s"] = round((before.stats.get("wall_s") or 0.0) + (now.stats.get("wall_s") or 0.0), 2)
    if now.stats.get("resumed_from_epoch") == before.stats.get("paused_at"):
        now.stats.pop("resumed_from_epoch")  # continued from its own pause, not resumed after a crash
    now.cached = before.cached and now.cached
    now.recipe_usage = now.recipe_usage or before.recipe_usage
    now.judge_usage = now.judge_usage or before.judge_usage
    return now


def _train_trial(state: State, spec, node: Node, cfg: dict, ctx: Context, runner: TrialRunner,
                 pause_after: int | None = None, continues_from: int | None = None) -> TrainResult:
    """One trial (cache first, then a worker); its events carry the times it really started and ended.
    pause_after (successive halving): stop after that epoch, ready to continue (0: to the end); continues_from: the
    epoch it paused after, when this job continues it."""
    log_event(state.run_dir, "train_start", node=node["id"], trial=cfg["id"],
              **({"pause_after": pause_after} if pause_after else {}),
              **({"continues_from_epoch": continues_from} if continues_from else {}))
    trial_started("train_start", node, cfg)  # live progress: this thread's worker lines carry the trial
    init = warm_start_source(state.tree, node, cfg)
    if isinstance(init, str):  # the parent's adapter is gone: this trial cannot run as planned
        out = TrainResult(failure=TrialFailure("warm_start", init))
    elif pause_after is None:
        out = runner.train(spec, state.data, cfg, ctx, init)
    else:
        out = runner.train(spec, state.data, cfg, ctx, init, pause_after=pause_after)
    log_event(state.run_dir, "train_end", node=node["id"], trial=cfg["id"], status="ok" if out.ok else "failed",
              cached=out.cached, error=out.failure.error if out.failure else None,
              **({"paused_at": out.paused_at} if out.paused_at else {}))
    trial_finished("train_end", {**out.record(cfg["id"]), **out.stats})
    return out
