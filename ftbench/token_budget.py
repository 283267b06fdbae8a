"""A fixed training-token budget for every policy (`ftbench run --compute budget --token-share 0.15`): a share of the
tokens it takes to train the whole space once, read from a curve table (each configuration's whole curve). TREX gets
it as `budget.train_tokens` (its planner fits rounds to what is left, tools/planning/token_fit.py); random search, TPE
and the pruned searches train until they have spent it (the trial that crosses the line finishes)."""
from __future__ import annotations

from ftbench.space import all_configs, max_train_for
from ftbench.space import space as search_space


class BudgetError(ValueError):
    """A fixed token budget that cannot be computed (no curve table, or one with holes)."""


def space_configs(spec, data: dict, space: str) -> list[dict]:
    """Every configuration of the space as the task's spec narrows it (what the searches draw from)."""
    narrowed = search_space(space).narrowed(spec.search_space)
    max_train = narrowed.max_examples(max_train_for(space, spec.budget.max_train_samples), data["sizes"]["train"])
    return all_configs(narrowed, max_train, seed=0)


def space_tokens(spec, data: dict, space: str, runner) -> int:
    """Training tokens of every configuration of the space trained to its end (the curve table's last points)."""
    curve_of = getattr(runner, "curve", None)
    if curve_of is None:
        raise BudgetError("a fixed token budget (--compute budget) needs a curve table (--replay TABLE)")
    total, holes = 0, 0
    for cfg in space_configs(spec, data, space):
        curve = curve_of(spec, data, cfg)
        if not curve:
            holes += 1
            continue
        total += int(curve[-1]["tokens"])
    if holes:
        raise BudgetError(f"{spec.name}: {holes} configuration(s) of space {space!r} have no curve in the table")
    return total


def token_budget(share: float, spec, data: dict, space: str, runner) -> int:
    if not 0 < share <= 1:
        raise BudgetError(f"--token-share must be in (0, 1], not {share!r}")
    return max(1, round(share * space_tokens(spec, data, space, runner)))


def fixed_budget(share: float, spec, data: dict, space: str, runner) -> tuple[int, int]:
    """(the tokens every policy may spend, the trials that bounds: the space's size)."""
    return token_budget(share, spec, data, space, runner), len(space_configs(spec, data, space))
