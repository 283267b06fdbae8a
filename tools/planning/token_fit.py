"""Fit a planned round to the training tokens left under `budget.train_tokens` (docs/budgets.md).

Whichever planner proposed the round (built-in or LLM), its trials are kept in the planner's order while the tokens
left pay for them; a trial that does not fit is shrunk (fewer epochs, then fewer examples, only to values the
search space offers) to the largest version that fits, or dropped. When not even the smallest version of the
first trial fits, the round keeps that one trial and says it does not fit: nodes/check_budget.py stops the run
before it trains. The costs are estimates (tools/run/token_cost.py); a round that still overshoots trains to the
end (a trial is never killed for the budget) and the overshoot shows in the stop reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from tools.run.token_cost import field_of, per_example, planned_examples, trial_tokens


@dataclass
class Fit:
    configs: list[dict]  # the round as it will train
    estimates: dict[str, int]  # trial id -> estimated training tokens
    notes: list[str] = field(default_factory=list)  # what was shrunk or dropped, and why
    fits: bool = True  # False: not even the smallest trial fits what is left


def _grid(space, name: str, max_train: int) -> list:
    return space.values(name, max_train) if space is not None and name in space.grids else []


def variants(cfg: dict, max_train: int, epochs_grid: list, samples_grid: list) -> list[dict]:
    """Smaller versions of a trial (epochs and max_samples from the grids, at most its own), largest first."""
    e0, s0 = field_of(cfg, "epochs") or 0, planned_examples(cfg, max_train)
    epochs = sorted({e for e in epochs_grid if 1 <= e < e0} | {e0}, reverse=True)
    samples = sorted({s for s in samples_grid if 1 <= s < s0} | {s0}, reverse=True)
    out = []
    for e in epochs:
        for s in samples:
            if (e, s) == (e0, s0):
                continue
            v = {**cfg, "epochs": e}
            if s < max_train or "max_samples" in cfg:
                v["max_samples"] = s
            out.append(v)
    return sorted(out, key=lambda v: -field_of(v, "epochs") * planned_examples(v, max_train))


def fit_round(configs: list[dict], left: float, cost: Callable[[dict], int], max_train: int,
              epochs_grid: list, samples_grid: list, key: Callable[[dict], object] = lambda c: id(c),
              tried: set | None = None) -> Fit:
    """The round that fits `left` tokens: keep, shrink or drop each trial in order (see the module doc).
    key/tried: a shrunk trial must not repeat one in the tree (tried) or in the round."""
    estimates = {c.get("id", str(i)): cost(c) for i, c in enumerate(configs)}
    if sum(estimates.values()) <= left:
        return Fit(list(configs), estimates)
    taken = set(tried or ()) | {key(c) for c in configs}
    kept, out, notes, room = [], {}, [], left
    for i, cfg in enumerate(configs):
        tid, need = cfg.get("id", str(i)), estimates[cfg.get("id", str(i))]
        if need <= room:
            kept.append(cfg)
            out[tid], room = need, room - need
            continue
        for v in variants(cfg, max_train, epochs_grid, samples_grid):
            c = cost(v)
            if c <= room and key(v) not in taken:
                taken.add(key(v))
                kept.append(v)
                out[tid], room = c, room - c
                notes.append(f"{tid} shrunk to fit the train_tokens budget: epochs {field_of(cfg, 'epochs')}->"
                             f"{field_of(v, 'epochs')}, examples {planned_examples(cfg, max_train)}->"
                             f"{planned_examples(v, max_train)} (~{c:,} of ~{need:,} tokens)")
                break
        else:
            notes.append(f"{tid} dropped: needs ~{need:,} tokens, {max(0, room):,.0f} left")
    if kept:
        return Fit(kept, out, notes)
    smallest = (variants(configs[0], max_train, epochs_grid, samples_grid) or [configs[0]])[-1]
    tid, need = configs[0].get("id", "0"), cost(smallest)
    if need <= left:  # every smaller trial that fits was tried already: train the smallest again (a cache hit)
        return Fit([smallest], {tid: need}, notes + [f"{tid} at its smallest (~{need:,} tokens) repeats a tried trial"])
    return Fit([smallest], {tid: need}, notes + [
        f"not even the smallest trial fits: {tid} at {field_of(smallest, 'epochs')} epoch(s) x "
        f"{planned_examples(smallest, max_train)} examples needs ~{need:,} tokens, {max(0, left):,.0f} left"],
        fits=False)


def fit_to_budget(tree: dict, configs: list[dict], limit: float, trained: int, max_train: int, space,
                  prior: float | None, key: Callable[[dict], object], tried: set,
                  committed_epochs: int | None = None) -> tuple[Fit, dict]:
    """fit_round with the tree's estimates; (fit, the record the node keeps: cap, left, estimates, source).
    committed_epochs: what a trial commits to when it starts (successive halving: its first rung, epoch 1; the
    epochs past it are trained only for trials that earn them, and may run past the cap as a round always could)."""
    left = limit - trained

    def cost(cfg: dict) -> int:
        committed = cfg if committed_epochs is None else {**cfg, "epochs": min(field_of(cfg, "epochs") or 0,
                                                                                 committed_epochs)}
        return trial_tokens(committed, max_train, per_example(tree, cfg, max_train, prior)[0])

    fit = fit_round(configs, left, cost, max_train, _grid(space, "epochs", max_train),
                    _grid(space, "max_samples", max_train), key, tried)
    rate, source = per_example(tree, fit.configs[0], max_train, prior) if fit.configs else (0.0, "")
    record = {"cap": limit, "trained": trained, "left": left, "estimates": fit.estimates,
              "tokens_per_example": round(rate, 2), "source": source, "fits": fit.fits}
    if fit.notes:
        record["notes"] = fit.notes
    return fit, record


def budget_line(limit: float, trained: int, tree: dict, max_train: int, prior: float | None) -> str:
    """What the planner is told (an LLM's prompt): the tokens left and what a trial costs."""
    rate, source = per_example(tree, {}, max_train, prior)
    return (f"training tokens: {max(0, limit - trained):,.0f} of {limit:,.0f} left; a trial costs about "
            f"{rate:.0f} tokens per example per epoch ({source}): examples x epochs x {rate:.0f}. The round is "
            "cut to fit (trials shrunk or dropped), so plan the most useful trials first")
