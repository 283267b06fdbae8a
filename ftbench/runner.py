"""Run TREX's selection policies and the baselines on FT-Bench tasks at an equal trial budget.

TREX policies run the real graph (graph.main.build_graph) with Context(selection_policy=...); the
baselines (ftbench.baselines) run the same trial machinery. Every run's trials are listed in the order
they were proposed and cut at the budget; the best of those on validation is scored once on the hidden
test split. Counting trials, not rounds: a TREX run gets ceil(budget / K) rounds of K configurations and
any trial past the budget is ignored (pick a budget that K divides to waste none).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

from ftbench.baselines import BASELINES, DOCUMENTED_RECIPES, documented_recipe, random_search, run_trial, tpe_search
from ftbench.pruned_search import PRUNED, pruned_search
from ftbench.replay_runner import ReplayRunner
from ftbench.scorers.implementations import scored_by
from ftbench.space import max_train_for
from ftbench.space import space as search_space
from trex.context import POLICIES as TREX_POLICIES
from trex.context import Context
from tools.data.spec_loading import load_spec
from ftbench.task_files import resolve_task
from tools.data.datasets import prepare_splits
from trex.metrics import get_metric
from tools.trials.runner import default_runner
from trex.results import TrialRunner

ALL_POLICIES = TREX_POLICIES + BASELINES + tuple(PRUNED)
SEARCH_BASELINES = ("random", "tpe") + tuple(PRUNED)  # equal compute: these train until TREX-UCT's tokens
BASE_CFG = {"id": "base", "epochs": 0, "template": "chat"}


def trex_trials(tree: dict) -> list[dict]:
    """The search tree's trials in the order they ran (round by round), as run records; a round the budget
    stopped before it trained (status skipped) ran none."""
    out = []
    for node in sorted((n for n in tree.values() if n.get("round", 0) > 0 and n.get("status") != "skipped"),
                       key=lambda n: n["round"]):
        for cfg in node.get("trials", []):
            res = node.get("results", {}).get(cfg["id"], {})
            out.append({"config": cfg, "node": node["id"], "status": res.get("status", "failed"),
                        "score": res.get("score"), "cached": bool(res.get("cached")), "key": res.get("key", ""),
                        "adapter": res.get("adapter"), "failure": res.get("failure"), "error": res.get("error"),
                        "tokens": (res.get("train") or {}).get("tokens") or 0})
    return out


def run_trex(spec, policy: str, ctx: Context, budget: int, run_dir: Path, space: str,
             runner: TrialRunner, per_round: int | None = None, train_tokens: int | None = None) -> tuple[list[dict], dict]:
    """per_round: trials per round instead of the spec's configs_per_round (more rounds, same trials).
    train_tokens: the run's budget.train_tokens (a fixed token budget; `budget` then only bounds the rounds)."""
    from graph.main import build_graph

    k = per_round or spec.budget.configs_per_round
    task = spec.model_dump()
    task["budget"] = {**task["budget"], "rounds": math.ceil(budget / k), "configs_per_round": k, "wall_time_s": None,
                      "max_train_samples": max_train_for(space, spec.budget.max_train_samples),
                      **({"train_tokens": train_tokens} if train_tokens else {})}
    # The trial budget is the only limit: no human pause, no round or wall-time cap from the environment.
    unattended = {k: v for k, v in (("human_review", False), ("max_rounds", None), ("max_wall_time_s", None))
                  if hasattr(ctx, k)}
    graph = build_graph(runner=runner, space=search_space(space))
    state = graph.invoke({"task": task, "run_dir": str(run_dir)}, {"recursion_limit": 10_000},
                         context=replace(ctx, selection_policy=policy, **unattended))
    return trex_trials(state["tree"]), state["data"]


def best_of(trials: list[dict], metric) -> dict | None:
    best = None
    for t in trials:
        if t["status"] == "ok" and (best is None or metric.better(t["score"], best["score"])):
            best = t
    return best


def _test_score(spec, data, cfg, trial, ctx, run_dir, runner: TrialRunner) -> float | None:
    out = runner.score(spec, data, cfg, trial.get("adapter") if trial else None, trial["key"] if trial else "base",
                       "test", ctx, run_dir / "test" / (cfg["id"] if trial else "base"), None)
    return out.score if out.ok else None


def insight_store_for(insights: str, out_dir: Path, run_dir: Path, task: str = "") -> str:
    """per-run: a fresh store in the run directory, so no run reads another's lessons (a fair comparison);
    shared: one store for the whole comparison; anything else: that store (e.g. an earlier run's), where
    "{task}" stands for the task's name (one store per task: no lesson crosses tasks)."""
    if insights == "per-run":
        return str(run_dir / "insights")
    if insights == "shared":
        return str(out_dir / "insights")
    return insights.replace("{task}", task)


def record_in_optuna(storage: str, rec: dict, trials: list[dict], higher_is_better: bool) -> None:
    """The run's trials as one Optuna study named after the run, beside the other policies' (optuna-dashboard)."""
    from tools.tracking.optuna_record import record_trials

    rows = [{"trial": f"{t.get('node') or 'search'}/{t['config'].get('id', i)}", "config": t["config"],
             "status": t["status"], "score": t.get("score"), "attrs": {"failure": t["failure"]} if t.get("failure") else {}}
            for i, t in enumerate(trials)]
    attrs = {k: rec[k] for k in ("task", "policy", "seed", "best_val", "best_test", "base_test")}
    record_trials(storage, Path(rec["run_dir"]).name, higher_is_better, rows, {**attrs, "searcher": rec["policy"]})


def run_one(task: str, policy: str, seed: int, budget: int, out_dir: Path, ctx: Context, space: str,
            insights: str = "per-run", runner: TrialRunner | None = None, max_tokens: int | None = None,
            optuna_storage: str | None = None, per_round: int | None = None, token_share: float | None = None) -> dict:
    """One (task, policy, seed) run; returns its record (trace, best, test score, reuse counts). max_tokens: a
    search baseline trains until it has spent that many tokens instead of running `budget` trials.
    optuna_storage: also write the run's trials there, as a study named after the run. per_round: TREX's
    trials per round (default: the spec's configs_per_round). token_share: a fixed token budget for every policy,
    this share of the tokens of the whole space (ftbench/token_budget.py); `budget` then is the space's size."""
    runner = runner or default_runner()
    spec = load_spec(resolve_task(task))
    metric = get_metric(spec.metric)
    run_dir = out_dir / "runs" / f"{spec.name}-{policy}-s{seed}"
    ctx = replace(ctx, seed=seed)
    if hasattr(ctx, "optuna_storage"):  # the comparison's own storage below holds every policy's trials alike
        ctx = replace(ctx, optuna_storage="off")
    if hasattr(ctx, "insight_store"):
        ctx = replace(ctx, insight_store=insight_store_for(insights, out_dir, run_dir, spec.name))
    table = runner.table if isinstance(runner, ReplayRunner) else None
    before = dict(table.stats) if table else {}
    started = time.time()
    if token_share is not None:  # every policy, TREX's included, spends the same fixed number of tokens
        from ftbench.token_budget import fixed_budget

        if hasattr(ctx, "budget_counts_cache"):  # a replayed trial is a cache hit: it must count as trained
            ctx = replace(ctx, budget_counts_cache=True)
        max_tokens, budget = fixed_budget(token_share, spec, prepare_splits(spec, run_dir / "data"), space, runner)
    if policy in TREX_POLICIES:
        trials, data = run_trex(spec, policy, ctx, budget, run_dir, space, runner, per_round,
                                max_tokens if token_share is not None else None)
    else:
        data = prepare_splits(spec, run_dir / "data")
        narrowed = search_space(space).narrowed(spec.search_space)  # the task's spec narrows the run's space
        max_train = narrowed.max_examples(max_train_for(space, spec.budget.max_train_samples), data["sizes"]["train"])
        if policy in DOCUMENTED_RECIPES:
            trials = documented_recipe(spec, data, ctx, policy, min(spec.budget.max_train_samples,
                                                                    data["sizes"]["train"]), run_dir, runner)
        elif policy == "random":  # the same space as TREX's planner: the run's, as the task's spec narrows it
            trials = random_search(spec, data, ctx, budget, narrowed, max_train, run_dir, runner, max_tokens=max_tokens)
        elif policy in PRUNED:  # Optuna's pruners over the trials' learning curves (a curve table)
            trials, _ = pruned_search(policy, spec, data, ctx, budget, narrowed, max_train, run_dir, runner,
                                      max_tokens=max_tokens)
        else:
            trials, _ = tpe_search(spec, data, ctx, budget, narrowed, max_train, run_dir, runner, max_tokens=max_tokens)
    if max_tokens is None:
        trials = trials[:budget]
    base_cfg = {**BASE_CFG, "seed": seed}
    base_val = run_trial_base(spec, data, base_cfg, ctx, run_dir, runner)
    best = best_of(trials, metric)
    best_test = _test_score(spec, data, best["config"], best, ctx, run_dir, runner) if best else None
    if table is not None and table.mode == "record":  # the table must replay any seed's winner: no test holes
        for t in trials:
            if t["status"] == "ok" and t is not best:
                _test_score(spec, data, t["config"], t, ctx, run_dir, runner)
    trace, running = [], None
    for t in trials:
        if t["status"] == "ok" and (running is None or metric.better(t["score"], running)):
            running = t["score"]
        trace.append(running if running is not None else metric.worst)
    replayed = [t for t in trials if str(t.get("key", "")).startswith("replay:")]
    rec = {
        "task": spec.name, "policy": policy, "seed": seed, "budget": budget, "metric": spec.metric,
        "space": space if isinstance(space, str) else "custom",  # comparisons refuse mixed spaces per task
        "scored_by": scored_by(spec.metric),  # the benchmark's own libraries, or a named approximation
        "higher_is_better": metric.higher_is_better, "reference": spec.reference_score,
        # The paper's own TREX score, a column apart from the reference the gain is normalised against.
        "paper_trex": ((spec.notes or {}).get("paper_scores") or {}).get("trex"),
        "base_val": base_val, "base_test": _test_score(spec, data, base_cfg, None, ctx, run_dir, runner),
        "best_val": best["score"] if best else None, "best_test": best_test,
        "best_config": {k: v for k, v in best["config"].items() if k != "id"} if best else None,
        "trace": trace, "scores": [t["score"] for t in trials], "n_trials": len(trials),
        "trained": [not t["cached"] and t["status"] == "ok" for t in trials],  # per trial: a real training now
        "configs": [{k: v for k, v in t["config"].items() if k not in ("id", "seed")} for t in trials],
        "n_failed": sum(t["status"] != "ok" for t in trials),
        "tokens_trained": sum(t.get("tokens") or 0 for t in trials),  # compute: training tokens of all its trials
        "trial_tokens": [t.get("tokens") or 0 for t in trials],  # per trial, in order (anytime curves)
        "pruned_at": [t.get("pruned_at") for t in trials],  # pruned baselines: the epoch a pruner stopped it
        "max_tokens": max_tokens,  # equal compute: the token budget it ran to (TREX-UCT's, same task and seed)
        "n_missing": sum(t.get("failure") == "missing" for t in trials),
        "n_replayed": len(replayed), "n_cached": sum(t["cached"] for t in trials) - len(replayed),
        "n_trained": sum(not t["cached"] and t["status"] == "ok" for t in trials),
        "table": {k: table.stats[k] - before.get(k, 0) for k in table.stats} if table else None,
        "wall_s": round(time.time() - started, 1), "run_dir": str(run_dir),
    }
    if optuna_storage:
        record_in_optuna(optuna_storage, rec, trials, metric.higher_is_better)
    return rec


def run_trial_base(spec, data, base_cfg, ctx, run_dir, runner: TrialRunner) -> float | None:
    out = runner.score(spec, data, base_cfg, None, "base", "val", ctx, run_dir / "base_val", ctx.max_eval_examples)
    return out.score if out.ok else None


def run_comparison(tasks: list[str], policies: list[str], seeds: list[int], budget: int, out_dir: str | Path,
                   ctx: Context | None = None, space: str = "full", insights: str = "per-run", log=print,
                   runner: TrialRunner | None = None, compute: str = "trials", optuna: bool = False,
                   per_round: int | None = None, token_share: float = 0.15) -> list[dict]:
    """Every task x policy x seed at the same trial budget; writes runs.jsonl and the results (md, csv, png).
    compute="tokens": equal compute instead: TREX's policies run `budget` trials, and random search and TPE
    train until they have spent as many tokens as TREX-UCT did on the same task and seed. optuna: every run's
    trials also go to OUT/optuna.db, one study per run (`optuna-dashboard sqlite:///OUT/optuna.db`). per_round:
    TREX's trials per round instead of each spec's configs_per_round (the same budget in more, smaller rounds).
    compute="budget": a fixed token budget for every policy, token_share of the whole space's tokens (a curve
    table); `budget` is then ignored."""
    from ftbench.results import write_results

    unknown = [p for p in policies if p not in ALL_POLICIES]
    if unknown:
        raise ValueError(f"unknown policy {', '.join(unknown)}; known: {', '.join(ALL_POLICIES)}")
    if budget < 1:
        raise ValueError("budget must be at least 1 trial")
    if compute not in ("trials", "tokens", "budget"):
        raise ValueError(f"compute is 'trials' (equal trial budget), 'tokens' (equal training tokens) or 'budget' "
                         f"(a fixed token budget), not {compute!r}")
    if compute == "tokens":
        if "uct_global" not in policies:
            raise ValueError("equal compute (--compute tokens) needs policy uct_global: its tokens are the budget")
        policies = sorted(policies, key=lambda p: p != "uct_global")  # TREX-UCT first: it sets the budget
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = ctx or Context()
    runner = runner or default_runner()
    table = runner.table if isinstance(runner, ReplayRunner) else None
    if table is not None and table.mode == "replay":
        names = [load_spec(resolve_task(t)).name for t in tasks]
        holes = table.holes(names)
        if holes:  # a winner without a test score would be dropped from the means without a word
            raise ValueError(f"replay table {table.path} has trained configurations without a test score "
                             f"({', '.join(f'{t}: {n}' for t, n in holes.items())}); fill them first: ftbench sweep "
                             f"--tasks {','.join(holes)} --space {space} --record {table.path} --with-test")
    records = []
    with (out_dir / "runs.jsonl").open("w", encoding="utf-8") as f:
        for task in tasks:
            spent: dict[int, int] = {}  # seed -> TREX-UCT's training tokens on this task
            for policy in policies:
                for seed in seeds:
                    cap = spent[seed] if compute == "tokens" and policy in SEARCH_BASELINES else None
                    rec = run_one(task, policy, seed, budget, out_dir, ctx, space, insights, runner, max_tokens=cap,
                                  optuna_storage=f"sqlite:///{out_dir.absolute() / 'optuna.db'}" if optuna else None,
                                  per_round=per_round, token_share=token_share if compute == "budget" else None)
                    if policy == "uct_global":
                        spent[seed] = rec["tokens_trained"]
                    records.append(rec)
                    f.write(json.dumps(rec) + "\n")
                    f.flush()
                    log(f"{rec['task']:14s} {policy:12s} seed {seed}: best val {_fmt(rec['best_val'])} "
                        f"test {_fmt(rec['best_test'])} (base {_fmt(rec['base_test'])}); {rec['n_trials']} trials: "
                        f"{rec['n_trained']} trained, {rec['n_cached']} from the cache, {rec['n_replayed']} replayed, "
                        f"{rec['n_missing']} missing; {rec['wall_s']:.0f} s")
    write_results(records, out_dir, {"budget": budget, "seeds": seeds, "space": space, "compute": compute,
                                     **({"token_share": token_share} if compute == "budget" else {}),
                                     "trex_trials_per_round": per_round or "the spec's",
                                     "replay_table": str(table.path) if table else "",
                                     "replay_mode": table.mode if table else "replay"})
    return records


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def sweep(tasks: list[str], space: str, ctx: Context, out_dir: str | Path, with_test: bool = False, log=print,
          runner: TrialRunner | None = None) -> int:
    """Train and score every configuration of a space once (to record a complete replay table); with_test
    scores each on the test split too (otherwise only the configs that win a run get a test score)."""
    from ftbench.space import all_configs

    runner = runner or default_runner()
    out_dir = Path(out_dir)
    done = 0
    for task in tasks:
        spec = load_spec(resolve_task(task))
        run_dir = out_dir / "sweep" / spec.name
        data = prepare_splits(spec, run_dir / "data")
        narrowed = search_space(space).narrowed(spec.search_space)  # the task's own data moves and pins
        max_train = narrowed.max_examples(max_train_for(space, spec.budget.max_train_samples), data["sizes"]["train"])
        run_trial_base(spec, data, {**BASE_CFG, "seed": ctx.seed}, ctx, run_dir, runner)
        _test_score(spec, data, {**BASE_CFG, "seed": ctx.seed}, None, ctx, run_dir, runner)
        configs = all_configs(narrowed, max_train, ctx.seed)
        for i, cfg in enumerate(configs):
            t = time.time()
            rec = run_trial(spec, data, {**cfg, "id": f"c{i}"}, ctx, run_dir, runner)
            if with_test and rec["status"] == "ok":
                _test_score(spec, data, rec["config"], rec, ctx, run_dir, runner)
            done += 1
            log(f"{spec.name} {i + 1}/{len(configs)} lr={cfg['lr']:g} epochs={cfg['epochs']} "
                f"samples={cfg['max_samples']}: {rec['status']} val {_fmt(rec['score'])} "
                f"{'(cached)' if rec['cached'] else ''} {time.time() - t:.0f} s")
    return done
