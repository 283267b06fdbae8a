"""The numbers of a round's trials from an Optuna sampler (issue 34 item 2; docs/number-optimiser.md).

The planner chooses each slot's strategy: its categorical choices (data recipe, prompt template, method) and
whether it warm-starts. With `numbers="tpe"` (Context.numbers, TREX_NUMBERS) the numeric fields the space
searches (lr, epochs, rank, batch size, samples, layer fraction: every ordered field of the space)
are then proposed by a TPE sampler fitted to every trained trial of the run so far, its validation score the
objective and a failed trial the worst score seen. A number the planner pinned is kept. Values are indices into
the space's grid (TPE models their order), so a proposal is always one of the space's values.

Conditioning on the strategy: when at least MIN_SAME trials share the slot's categorical choices, the sampler is
fitted on those only; else on every trial (the categoricals then stay fixed, the numbers borrow from the rest).
Seeded by the run's seed, the parent and the tree's size: the same run proposes the same numbers.
"""
from __future__ import annotations

import random
import warnings

from tools.planning.trial_identity import trial_key
from trex.search_space import SearchSpace
from trex.trial_config import FIELDS, default_alpha, value

NUMBERS = ("prior", "tpe")
MIN_SAME = 4  # trials of the slot's own strategy needed before the sampler fits on those alone
STARTUP = 2  # trials before TPE models the results (Optuna's default, 10, would be random search at these budgets)
MAX_ASKS = 40  # asks per slot before a slot keeps the planner's own numbers (the space is nearly exhausted)


def numeric_grid(space: SearchSpace, max_train: int) -> dict[str, list]:
    """The numbers the sampler chooses: every ordered field the space searches (one with a single value too, so a
    proposal holds it to that value)."""
    return {n: space.values(n, max_train) for n in space.searched() if n != "warm_start" and FIELDS[n].ordered}


def strategy_of(cfg: dict, space: SearchSpace) -> tuple:
    """A trial's strategy as the sampler conditions on it: its categorical choices (compared as text)."""
    return tuple(FIELDS[n].text(value(cfg, n)) for n in space.searched()
                 if n != "warm_start" and not FIELDS[n].ordered)


def run_history(tree: dict) -> list[tuple[dict, float | None]]:
    """(config, validation score or None for a failed trial) of every trained trial in the tree, in tree order."""
    out = []
    for node in tree.values():
        for cfg in node.get("trials", []):
            res = node.get("results", {}).get(cfg.get("id"), {})
            if cfg.get("epochs", 0) > 0 and "score" in res:
                out.append((cfg, float(res["score"]) if res.get("status", "ok") == "ok" else None))
    return out


def _index(values: list, v) -> int:
    """A value's grid index; an off-grid value (an LLM's, a human's edit) counts as its nearest grid value."""
    if v in values:
        return values.index(v)
    return min(range(len(values)), key=lambda i: abs(values[i] - v)) if isinstance(v, (int, float)) else 0


def _study(history, grid: dict, higher_is_better: bool, seed: int):
    import optuna
    from optuna.distributions import IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP)
    study = optuna.create_study(direction="maximize" if higher_is_better else "minimize", sampler=sampler)
    dists = {n: IntDistribution(0, len(v) - 1) for n, v in grid.items()}
    scores = [s for _, s in history if s is not None]
    worst = (min(scores) if higher_is_better else max(scores)) if scores else 0.0
    for cfg, score in history:
        params = {n: _index(v, value(cfg, n)) for n, v in grid.items() if value(cfg, n) is not None}
        study.add_trial(optuna.trial.create_trial(params=params, distributions={n: dists[n] for n in params},
                                                  value=worst if score is None else score))
    return study, worst


def fill_numbers(picks: list[dict], pinned: list[set], tree: dict, parent_id: str, space: SearchSpace,
                 max_train: int, seed: int, higher_is_better: bool = True) -> tuple[list[dict], list[str]]:
    """The picks with their free numbers proposed by TPE, and one note per slot. pinned[i]: the fields slot i
    keeps as the planner set them ("*" keeps them all: a warm start, the default recipe, an earlier run's winner).
    A proposal never repeats a trial of the tree or an earlier slot; a slot that cannot find a new one within
    MAX_ASKS keeps the planner's numbers."""
    grid = numeric_grid(space, max_train)
    history = run_history(tree)
    known = {trial_key(cfg, None): s for cfg, s in history}
    tried = {trial_key(t, n.get("parent")) for n in tree.values() for t in n.get("trials", [])}
    out, notes = [], []
    for slot, (cfg, pins) in enumerate(zip(picks, pinned)):
        free = [] if "*" in pins or cfg.get("warm_start") else [n for n in grid if n not in pins]
        if not free:
            out.append(cfg)
            tried.add(trial_key(cfg, parent_id))
            notes.append("numbers kept as planned")
            continue
        same = [h for h in history if strategy_of(h[0], space) == strategy_of(cfg, space)]
        fit = same if len(same) >= MIN_SAME else history
        rng = random.Random(f"numbers:{seed}:{parent_id}:{len(tree)}:{slot}")
        study, worst = _study(fit, grid, higher_is_better, rng.getrandbits(31))
        chosen = None
        for _ in range(MAX_ASKS):
            trial = study.ask()
            cand = {**cfg, **{n: grid[n][trial.suggest_int(n, 0, len(grid[n]) - 1)] for n in free}}
            if "lora_r" in free:
                cand["lora_alpha"] = default_alpha(cand["lora_r"])
            key = trial_key(cand, None)
            if key not in tried:
                chosen = cand
                study.tell(trial, worst)  # keeps the study consistent; it is not asked again
                break
            study.tell(trial, known[key] if known.get(key) is not None else worst)  # a repeat: learnt again
        if chosen is None:
            chosen = cfg
            notes.append(f"numbers kept as planned (no new values in {MAX_ASKS} asks)")
        else:
            notes.append(f"numbers by TPE on {len(fit)} {'same-strategy ' if fit is same and len(same) < len(history) else ''}trials: "
                         + ", ".join(f"{n}={FIELDS[n].text(chosen[n])}" for n in free))
        tried.add(trial_key(chosen, None))
        out.append(chosen)
    return out, notes
