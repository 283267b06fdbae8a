"""Optuna with its own pruners, the baselines a user with learning curves reaches for: TPE or random sampling with
Optuna's HyperbandPruner or MedianPruner (Optuna's implementations; no pruner is written here).

Every trial reports its validation score after each epoch (`trial.report(score, epoch)`), the values TREX's worker
records on its curve, and stops where `trial.should_prune()` says so; it pays only the epochs it trained. It trains
with the run's trainer, as every policy does: the best epoch is kept and the run's early stopping applies too.
The pruner needs to see a trial's score before its next epoch trains, which a curve table gives (ftbench/
curve_sweep.py); a real training would need a trainer paused by the parent after every epoch, so without a curve
these policies refuse with a clear error.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from ftbench.baselines import ask_unseen, baseline_seed, run_trial, tpe_startup, trial_slots
from ftbench.curve_replay import walk
from ftbench.space import config_id, grid, space_size
from tools.trials.trial_jobs import early_stopping
from trex.metrics import get_metric
from trex.search_space import SearchSpace

PRUNED = {f"{s}_{p}": (s, p) for s in ("tpe", "random") for p in ("hyperband", "median")}


def make_pruner(name: str, budget: int, max_epochs: int):
    """HyperbandPruner over epochs 1..max_epochs (its defaults otherwise), or MedianPruner whose start-up (trials
    before it prunes) is TPE's start-up share of the budget: Optuna's default 5 would never prune a 4-trial run."""
    import optuna

    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=tpe_startup(budget), n_warmup_steps=0)
    raise ValueError(f"unknown pruner {name!r} (hyperband or median)")


def _sampler(name: str, seed: int, budget: int):
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=tpe_startup(budget))
        return optuna.samplers.RandomSampler(seed=seed)


def pruned_search(policy: str, spec, data: dict, ctx, budget: int, space: str | SearchSpace, max_train: int,
                  run_dir: Path, runner, max_tokens: int | None = None) -> tuple[list[dict], object]:
    """`budget` trials (or max_tokens of training) of an Optuna sampler with a pruner; returns trials and study."""
    import optuna

    sampler_name, pruner_name = PRUNED[policy]
    if not hasattr(runner, "curve"):
        raise ValueError(f"{policy} needs a curve table (ftbench run --replay TABLE of `ftbench curves`): its pruner "
                         "must see each epoch's score before the next epoch trains")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    metric = get_metric(spec.metric)
    g = grid(space, max_train)
    seed = baseline_seed(policy, spec.name, ctx.seed)
    study = optuna.create_study(direction="maximize" if metric.higher_is_better else "minimize",
                                sampler=_sampler(sampler_name, seed, budget),
                                pruner=make_pruner(pruner_name, budget, max(g["epochs"])))
    known: dict[str, float] = {}
    trials: list[dict] = []
    for i in trial_slots(budget, max_tokens, trials, space_size(space, max_train)):
        ask, cfg = ask_unseen(study, g, max_train, ctx.seed, known)
        result, pruned = run_pruned_trial(spec, data, {**cfg, "id": f"t{i}"}, ctx, run_dir, runner, ask, metric)
        known[config_id(cfg)] = result["score"]
        if pruned:
            study.tell(ask, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(ask, result["score"])
        trials.append(result)
    return trials, study


def reported_epochs(points: list[dict], spec, ctx, higher_is_better: bool) -> list[dict]:
    """The points a trial trains before the run's early stopping ends it: what it can report to a pruner."""
    return walk(points, early_stopping(spec, ctx), higher_is_better)["trained"]


def run_pruned_trial(spec, data: dict, cfg: dict, ctx, run_dir: Path, runner, trial, metric) -> tuple[dict, bool]:
    """Train one config epoch by epoch, reporting each epoch's validation score to the Optuna trial, until the
    pruner (or early stopping) stops it; then score it as every trial is scored. Returns (record, pruned)."""
    points = runner.curve(spec, data, cfg)
    if points is None:
        raise ValueError(f"the curve table has no curve for {config_id(cfg)}")
    stop, pruned = None, False
    for p in reported_epochs(points, spec, ctx, metric.higher_is_better):
        trial.report(p["evals"]["val"]["score"], p["epoch"])
        if trial.should_prune():
            stop, pruned = p["epoch"], True
            break
    return {**run_trial(spec, data, cfg, ctx, run_dir, runner, stop), "pruned_at": stop}, pruned
