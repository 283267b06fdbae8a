"""Baselines a user would pick instead of TREX: random search and Optuna TPE (ask-and-tell, seeded).

Both choose from the same grid as TREX's planner (ftbench.space), run every trial through the same
machinery (the benchmark's trial runner: subprocess training, trial cache, replay table), and stop after the same
number of trials. Neither repeats a configuration: random search samples without replacement; a TPE
proposal that repeats an earlier one is told its known score and asked again (at most 50 times), since
re-training a known config would only waste budget that TREX's planner never wastes.
"""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from ftbench.space import ORDERED, config_id, grid, make_config, space_size
from trex.search_space import DEFAULT_SPACE, SearchSpace
from trex.metrics import get_metric
from trex.results import TrialRunner

MAX_REASKS = 50

# One training run with the LoRA SFT recipe a user copies from the documentation, no search. Their published
# defaults: LLaMA-Factory's examples/train_lora/qwen3_lora_sft.yaml (learning_rate 1e-4, num_train_epochs 3,
# lora_rank 8, lora_alpha 2 x rank by default, lora_target all, lora_dropout 0, 1 x 8 accumulated batch) and
# Unsloth's LoRA hyper-parameter guide and notebooks (learning_rate 2e-4, 1 epoch, r 16, lora_alpha 16, all linear
# layers, lora_dropout 0, 2 x 4 accumulated batch). Both train on all the data the task allows (its
# budget.max_train_samples), not on a search space's smaller cap: that is what a user running once would do.
DOCUMENTED_RECIPES = {
    "recipe_llamafactory": {"lr": 1e-4, "epochs": 3, "lora_r": 8, "lora_alpha": 16, "layer_fraction": 1.0,
                            "batch_size": 8, "lora_dropout": 0.0},
    "recipe_unsloth": {"lr": 2e-4, "epochs": 1, "lora_r": 16, "lora_alpha": 16, "layer_fraction": 1.0,
                       "batch_size": 8, "lora_dropout": 0.0},
}
BASELINES = ("random", "tpe") + tuple(DOCUMENTED_RECIPES)


def baseline_seed(policy: str, task: str, seed: int) -> int:
    """A baseline's random seed for one task and run seed: derived from both, so the draws of one seed are
    independent across tasks (with the run seed alone every task drew the same grid indices: shared luck)."""
    return int.from_bytes(hashlib.sha256(f"{policy}:{task}:{seed}".encode()).digest()[:4], "big")


def run_trial(spec, data: dict, cfg: dict, ctx, run_dir: Path, runner: TrialRunner,
              stop_epoch: int | None = None) -> dict:
    """Train one config and score it on validation, as the Executor does; failures are data. stop_epoch (a curve
    table's runner only: ftbench/pruned_search.py): the search stopped the trial after that epoch."""
    metric = get_metric(spec.metric)
    out = runner.train(spec, data, cfg, ctx, **({"stop_epoch": stop_epoch} if stop_epoch is not None else {}))
    rec = {"config": cfg, "status": "ok" if out.ok else "failed", "cached": out.cached, "key": out.key,
           "adapter": out.adapter, "failure": out.failure.kind if out.failure else None,
           "error": out.failure.error if out.failure else None, "tokens": out.stats.get("tokens") or 0}
    if out.ok:
        ev = runner.score(spec, data, cfg, out.adapter, out.key, "val", ctx,
                          run_dir / "trials" / cfg["id"] / "eval_val", ctx.max_eval_examples)
        if ev.ok:
            return {**rec, "score": ev.score}
        rec.update(status="failed", failure=ev.failure.kind, error=f"evaluation: {ev.failure.error}")
    return {**rec, "score": metric.worst}


def trial_slots(budget: int, max_tokens: int | None, trials: list[dict], space_size: int):
    """Indices of the trials a baseline may start: `budget` of them, or with max_tokens (equal compute) as many
    as it takes to train that many tokens; the trial that crosses the line is finished. Never more than the
    space has configurations."""
    i = 0
    while i < (budget if max_tokens is None else space_size):
        if max_tokens is not None and sum(t.get("tokens") or 0 for t in trials) >= max_tokens:
            return
        yield i
        i += 1


def random_search(spec, data: dict, ctx, budget: int, space: str | SearchSpace, max_train: int, run_dir: Path,
                  runner: TrialRunner, max_tokens: int | None = None) -> list[dict]:
    """`budget` distinct configurations drawn uniformly from the grid, seeded by the task and ctx.seed (or as
    many as max_tokens of training buys)."""
    g = grid(space, max_train)
    rng = random.Random(f"random:{spec.name}:{ctx.seed}")
    seen, trials = set(), []
    for i in trial_slots(budget, max_tokens, trials, space_size(space, max_train)):
        for _ in range(1000):
            cfg = make_config({d: rng.choice(v) for d, v in g.items()}, max_train, ctx.seed)
            if config_id(cfg) not in seen:
                break
        seen.add(config_id(cfg))
        trials.append(run_trial(spec, data, {**cfg, "id": f"t{i}"}, ctx, run_dir, runner))
    return trials


def _suggest(trial, g: dict) -> dict:
    """Ordered dimensions as an integer index into their grid (TPE then models their order); the others
    as categories."""
    choice = {}
    for dim, values in g.items():
        if dim in ORDERED:
            choice[dim] = values[trial.suggest_int(dim, 0, len(values) - 1)]
        else:
            labels = [json.dumps(v, sort_keys=True) for v in values]
            choice[dim] = values[labels.index(trial.suggest_categorical(dim, labels))]
    return choice


def ask_unseen(study, g: dict, max_train: int, seed: int, known: dict[str, float]):
    """An Optuna trial and its config that no earlier trial of the study ran. A repeat is told its known score (the
    sampler learns it again, the budget is not spent) and asked again, at most MAX_REASKS times; past that the space
    is (nearly) exhausted and the repeat counts as a trial (the cache or the replay makes it free)."""
    for _ in range(MAX_REASKS):
        ask = study.ask()
        cfg = make_config(_suggest(ask, g), max_train, seed)
        if config_id(cfg) not in known:
            return ask, cfg
        study.tell(ask, known[config_id(cfg)])
    ask = study.ask()
    return ask, make_config(_suggest(ask, g), max_train, seed)


def tpe_startup(budget: int) -> int:
    """Random trials before TPE models the results: Optuna's default 10 would make any budget up to 10
    pure random search, so a third of the budget (at least 2, at most 10)."""
    return max(2, min(10, budget // 3))


def tpe_search(spec, data: dict, ctx, budget: int, space: str | SearchSpace, max_train: int, run_dir: Path,
               runner: TrialRunner, startup: int | None = None, max_tokens: int | None = None) -> tuple[list[dict], object]:
    """Optuna's TPE sampler, ask-and-tell, seeded by the task and ctx.seed; returns the trials and the study."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    metric = get_metric(spec.metric)
    g = grid(space, max_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=baseline_seed("tpe", spec.name, ctx.seed), n_startup_trials=startup or tpe_startup(budget))
    study = optuna.create_study(direction="maximize" if metric.higher_is_better else "minimize", sampler=sampler)
    known: dict[str, float] = {}
    trials = []
    for i in trial_slots(budget, max_tokens, trials, space_size(space, max_train)):
        ask, cfg = ask_unseen(study, g, max_train, ctx.seed, known)
        result = run_trial(spec, data, {**cfg, "id": f"t{i}"}, ctx, run_dir, runner)
        known[config_id(cfg)] = result["score"]
        study.tell(ask, result["score"])
        trials.append(result)
    return trials, study


def documented_recipe(spec, data: dict, ctx, name: str, task_max_train: int, run_dir: Path,
                      runner: TrialRunner) -> list[dict]:
    """The one trial of a documented default recipe (DOCUMENTED_RECIPES), on all the task's training data."""
    cfg = {**DEFAULT_SPACE.default_config(task_max_train, ctx.seed), **DOCUMENTED_RECIPES[name], "id": "t0"}
    cfg, _ = DEFAULT_SPACE.narrowed(spec.search_space).onto(cfg, task_max_train)  # the task's own pins still hold
    return [run_trial(spec, data, cfg, ctx, run_dir, runner)]
