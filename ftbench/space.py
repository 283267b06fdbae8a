"""The search spaces the benchmark's policies share: TREX's planner, random search and Optuna TPE all
pick trial configurations from the same grid, so an equal trial budget is a fair comparison.

* "full": the offline planner's own grid (tools.planner.GRID, and sample_grid for max_samples). TREX
  may also warm-start a child from its parent's adapter, a move that only a tree search has.
* "bench": a restricted grid whose every configuration is recorded in a replay table, so replayed
  comparisons never meet a missing trial (recording the whole of "full" is out of reach on a CPU).
  Warm starts are off in it: their result depends on the whole chain of parents, which a finite table
  cannot enumerate.
"""
from __future__ import annotations

import contextlib
import itertools
import json

# dimension -> values, in order for ordered dimensions; max_samples given as fractions of the task's cap.
SPACES: dict[str, dict | None] = {
    "full": None,
    "bench": {"lr": [1e-4, 1e-3, 3e-3], "epochs": [1, 2, 3], "lora_r": [8], "batch_size": [8],
              "layer_fraction": [0.5], "template": ["chat"], "recipe": [{}], "max_samples": [0.5, 1.0]},
}
# A space's cap on training examples per trial (on top of the task's own budget.max_train_samples).
MAX_TRAIN = {"bench": 64}
ORDERED = ("lr", "epochs", "lora_r", "batch_size", "layer_fraction", "max_samples")
UNORDERED = ("template", "recipe")


def _check(name: str) -> dict | None:
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; known: {', '.join(SPACES)}")
    return SPACES[name]


def max_train_for(name: str, task_cap: int) -> int:
    return min(task_cap, MAX_TRAIN.get(name, task_cap))


def sample_values(name: str, max_train: int) -> list[int]:
    restricted = _check(name)
    if restricted is None:
        from tools.planner import sample_grid

        return sample_grid(max_train)
    return sorted({max(8, int(round(f * max_train))) for f in restricted["max_samples"]})


def grid(name: str, max_train: int) -> dict[str, list]:
    """Every dimension a policy chooses, with its values (max_samples resolved for this task)."""
    restricted = _check(name)
    if restricted is None:
        from tools.planner import GRID

        base = {k: list(v) for k, v in GRID.items()}
    else:
        base = {k: list(v) for k, v in restricted.items() if k != "max_samples"}
    return {**base, "max_samples": sample_values(name, max_train)}


def make_config(choice: dict, max_train: int, seed: int) -> dict:
    """A trial config shaped as the planner shapes its own (same keys, so the cache and the replay table
    see one trial where the values agree)."""
    from tools.planner import default_config

    cfg = {**default_config(max_train, seed), **{k: v for k, v in choice.items() if k != "recipe"}}
    if choice.get("recipe"):
        cfg["recipe"] = choice["recipe"]
    cfg["lora_alpha"] = 2 * cfg["lora_r"]
    return cfg


def all_configs(name: str, max_train: int, seed: int) -> list[dict]:
    """Every configuration of a space (for recording a complete replay table)."""
    g = grid(name, max_train)
    dims = list(g)
    return [make_config(dict(zip(dims, values)), max_train, seed) for values in itertools.product(*g.values())]


def space_size(name: str, max_train: int) -> int:
    n = 1
    for values in grid(name, max_train).values():
        n *= len(values)
    return n


def config_id(cfg: dict) -> str:
    """Identity of a config within a run, for de-duplicating proposals (id and seed aside)."""
    return json.dumps({k: v for k, v in cfg.items() if k not in ("id", "seed")}, sort_keys=True)


@contextlib.contextmanager
def planner_space(name: str):
    """Restrict TREX's built-in planner to a space for the duration (the runner is one process, one run
    at a time). "full" leaves the planner untouched."""
    restricted = _check(name)
    if restricted is None:
        yield
        return
    import tools.planner as planner

    saved = {k: getattr(planner, k) for k in ("GRID", "DEFAULTS", "HYPER", "sample_grid")}
    grid_ = {k: list(v) for k, v in restricted.items() if k != "max_samples"}
    defaults = {k: (v if v in grid_[k] else grid_[k][len(grid_[k]) // 2]) for k, v in planner.DEFAULTS.items()}
    planner.GRID = grid_
    planner.DEFAULTS = defaults
    planner.HYPER = tuple(d for d in planner.HYPER if d != "warm_start")
    planner.sample_grid = lambda max_train: sample_values(name, max_train)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(planner, k, v)
