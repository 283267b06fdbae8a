"""What a run's planners may choose: a SearchSpace restricts the trial table (trex/trial_config.py) to grids of
values per field, and a task spec's `search_space` narrows it further (a value pins a field, a list restricts it,
{min, max} keeps the grid inside a range, `warm_start: false` turns warm starts off, and `recipe` lists the data
moves the search may take, e.g. an extra source with and without filters). A space is passed in
(graph.main.build_graph(space=...)), never patched in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from trex.trial_config import FIELDS, TrialField, default_alpha, value


# Fields a task spec's `search_space` may pin or restrict. Derived ones (max_samples: budget.max_train_samples,
# lora_alpha: 2 x lora_r, seed: the run's) are set elsewhere. `recipe` takes data-recipe variants (trex/recipe.py)
# applied on top of the spec's own `recipe`: the data strategies a planner may choose.
SPEC_SETTABLE = tuple(n for n, f in FIELDS.items() if f.default is not None)


def _checked(f: TrialField, v):
    """A declared value of a field, or ValueError saying what is wrong with it."""
    if f.kind == "flag":
        if not isinstance(v, bool):
            raise ValueError(f"{f.name} is true or false, got {v!r}")
        return v
    if f.kind == "choice":
        if v not in f.choices:
            raise ValueError(f"{f.name} is one of {', '.join(map(str, f.choices))}, got {v!r}")
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (f.kind == "int" and not isinstance(v, int)):
        raise ValueError(f"{f.name} takes {'an integer' if f.kind == 'int' else 'a number'}, got {v!r}")
    if f.low is not None and (v < f.low or (f.low_open and v == f.low)):
        raise ValueError(f"{f.name} must be {'>' if f.low_open else '>='} {f.low:g}, got {v:g}")
    if f.high is not None and v > f.high:
        raise ValueError(f"{f.name} must be <= {f.high:g}, got {v:g}")
    return v


def declared_grid(name: str, declared) -> tuple:
    """The values a spec's `search_space` entry allows: a value pins the field, a list restricts it to those
    values, {min, max} keeps the field's grid values in that range (and the two ends)."""
    if name not in SPEC_SETTABLE:
        raise ValueError(f"{name!r} cannot be set in search_space (settable: {', '.join(SPEC_SETTABLE)}; "
                         "training examples: budget.max_train_samples)")
    f = FIELDS[name]
    if f.kind == "recipe":
        return _recipe_grid(declared)
    if isinstance(declared, dict):
        if not f.ordered:
            raise ValueError(f"{name}: only numeric fields take a {{min, max}} range; give a value or a list")
        if not declared or set(declared) - {"min", "max"}:
            raise ValueError(f"{name}: a range has the keys min and/or max, got {sorted(declared)}")
        lo = _checked(f, declared["min"]) if "min" in declared else -math.inf
        hi = _checked(f, declared["max"]) if "max" in declared else math.inf
        if lo > hi:
            raise ValueError(f"{name}: min {lo:g} is above max {hi:g}")
        ends = {declared[k] for k in ("min", "max") if k in declared}
        return tuple(sorted({g for g in f.grid if lo <= g <= hi} | ends)) or (lo,)
    values = declared if isinstance(declared, list) else [declared]
    if not values:
        raise ValueError(f"{name}: an empty list allows nothing")
    return tuple(dict.fromkeys(_checked(f, v) for v in values))


def _recipe_grid(declared) -> tuple:
    """Recipe variants as a spec declares them: one mapping pins it, a list offers each; every variant is checked
    (trex/recipe.py) and kept in its compact form (defaults left out), so equal variants are one value."""
    from trex.recipe import RecipeError, parse_recipe

    variants = declared if isinstance(declared, list) else [declared]
    if not variants:
        raise ValueError("recipe: an empty list allows nothing (give [{}] to keep the task's data as it is)")
    out = []
    for i, v in enumerate(variants):
        if not isinstance(v, dict):
            raise ValueError(f"recipe: variant {i + 1} is not a mapping of recipe fields: {v!r}")
        try:
            compact = parse_recipe(v).model_dump(mode="json", exclude_defaults=True)
        except RecipeError as err:
            raise ValueError(f"recipe: variant {i + 1}: {err}") from None
        if compact not in out:
            out.append(compact)
    return tuple(out)


def recipe_growth(recipe: dict) -> float:
    """How many training examples a recipe variant can give per example of the task's own split: 1 plus the
    weights of its extra sources (tools/data/recipe_ops.mix_sources takes len(own) x weight from each)."""
    return 1.0 + sum(float(s.get("weight", 1.0)) for s in (recipe or {}).get("extra_sources", []))


@dataclass(frozen=True)
class SearchSpace:
    """What a run's planners may choose: for each searched field its values (for max_samples: fractions of the
    task's training-set cap), and whether a child may warm-start from its parent's adapter. The fields the
    space leaves out keep their default."""
    grids: dict[str, tuple] = field(default_factory=dict)
    warm_start: bool = True
    exact: bool = False  # every trial takes the grids' values (an LLM's proposal is snapped onto them)
    strict: frozenset = frozenset()  # fields held to their grid even when the space is not exact (spec-declared)

    def __post_init__(self) -> None:
        for name, values in self.grids.items():
            if name not in FIELDS or name == "warm_start":
                raise ValueError(f"search space: {name!r} is not a searchable trial field "
                                 f"({', '.join(n for n in FIELDS if n not in ('warm_start', 'seed'))})")
            if not values:
                raise ValueError(f"search space: {name!r} has no values")

    @classmethod
    def restricted(cls, grids: dict[str, list], warm_start: bool = False) -> "SearchSpace":
        return cls({k: tuple(v) for k, v in grids.items()}, warm_start, exact=True)

    def narrowed(self, declared: dict | None) -> "SearchSpace":
        """This space as a task spec's `search_space` pins or restricts it (trex/spec.py checks the entries):
        each declared field keeps only the declared values, and every trial is held to them; `warm_start:
        false` turns warm starts off."""
        if not declared:
            return self
        grids, warm = dict(self.grids), self.warm_start
        for name, d in declared.items():
            values = declared_grid(name, d)
            if name == "warm_start":
                warm = warm and True in values
            else:
                grids[name] = values
        return SearchSpace(grids, warm, self.exact, self.strict | (set(declared) - {"warm_start"}))

    def searched(self) -> tuple[str, ...]:
        """The dimensions the planner moves along, in table order."""
        return tuple(n for n in FIELDS if n in self.grids or (n == "warm_start" and self.warm_start))

    def choice_grid(self) -> dict[str, list]:
        """The grids of every searched field but max_samples and warm_start, in table order."""
        return {n: list(self.grids[n]) for n in FIELDS if n in self.grids and n != "max_samples"}

    def values(self, name: str, max_train: int) -> list:
        """A searched field's values; max_samples resolved against the task's cap."""
        if name == "warm_start":
            return [False, True]
        grid = self.grids[name]
        if FIELDS[name].relative:
            return sorted({max_train if f >= 1 else max(8, int(f * max_train)) for f in grid})
        return list(grid)

    def default(self, name: str):
        """The field's default, or the middle of the space's values when the space excludes it."""
        d = FIELDS[name].default
        grid = self.grids.get(name)
        if grid is None or d in grid:
            return d
        return grid[len(grid) // 2]

    def default_config(self, max_train: int, seed: int) -> dict:
        """The default LoRA recipe within this space."""
        names = [n for n, f in FIELDS.items() if (f.in_default_config or n in self.grids) and not f.relative
                 and f.kind != "recipe"]
        cfg = {n: self.default(n) for n in names}
        cfg.update(lora_alpha=default_alpha(cfg["lora_r"]), max_samples=max_train, seed=seed, warm_start=False)
        return cfg

    def snap(self, name: str, val, max_train: int):
        """A value moved onto this space's grid: the nearest ordered value (on a log scale), an unknown choice
        to the default; None when the field is not searched here."""
        if name not in self.grids:
            return None
        grid = self.values(name, max_train)
        if not FIELDS[name].ordered:
            return val if val in grid else self.default(name)
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            return None
        return min(grid, key=lambda g: abs(math.log(g) - math.log(val)) if val > 0 and g > 0 else abs(g - val))

    def onto(self, cfg: dict, max_train: int) -> tuple[dict, list[str]]:
        """An exact space's version of a config: each searched field snapped onto its grid (with the changes
        made); a config unchanged in a space that is not exact."""
        held = self.grids if self.exact else self.strict
        if not held and (self.warm_start or not cfg.get("warm_start")):
            return cfg, []
        out, notes = dict(cfg), []
        for name in held:
            snapped = self.snap(name, value(cfg, name), max_train)
            if snapped is not None and snapped != value(cfg, name):
                notes.append(f"{name} {FIELDS[name].text(value(cfg, name))} moved to {FIELDS[name].text(snapped)} "
                             "(the search space's grid)")
                out[name] = snapped
        if "lora_r" in held:
            out["lora_alpha"] = default_alpha(out["lora_r"])
        if not self.warm_start and out.get("warm_start"):
            notes.append("warm_start dropped: this search space has no warm starts")
            out["warm_start"] = False
        return out, notes

    def max_examples(self, cap: int, train_size: int | None) -> int:
        """The training examples a trial may use at most: the task's cap, or fewer when no recipe of this space
        can produce that many (the task's own split, grown by the extra sources a recipe variant mixes in)."""
        if train_size is None:
            return cap
        growth = max(map(recipe_growth, self.grids.get("recipe", ({},))), default=1.0)
        return max(1, min(cap, int(train_size * growth)))

    def size(self, max_train: int) -> int:
        n = 1
        for name in self.grids:
            n *= len(self.values(name, max_train))
        return n


DEFAULT_SPACE = SearchSpace({n: f.grid for n, f in FIELDS.items() if f.searched and f.grid})
