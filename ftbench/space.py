"""The search spaces the benchmark's policies share: TREX's planner, random search and Optuna TPE all
pick trial configurations from the same grid, so an equal trial budget is a fair comparison.

* "full": the trial table's default space (trex.search_space.DEFAULT_SPACE). TREX may also warm-start a
  child from its parent's adapter, a move that only a tree search has.
* "bench": a restricted grid whose every configuration is recorded in a replay table, so replayed
  comparisons never meet a missing trial (recording the whole of "full" is out of reach on a CPU).
  Warm starts are off in it: their result depends on the whole chain of parents, which a finite table
  cannot enumerate.
* "data": for the tasks where data decides (support_queues, clock_24h, phone_e164): lr x epochs, and the
  data moves each task's spec declares as `search_space.recipe` (27 configurations with three variants), all
  the training examples the recipe gives (up to the task's cap). Warm starts are off, as in "bench".
* "data_wide": "data" with a fourth, larger learning rate (1e-2): 36 configurations per task. In "data" the best
  configuration is the grid's corner (the largest lr and epochs), which a chain of steps reaches as well as a
  tree; past the corner a step can overshoot, which is where going back to an earlier node can pay.

* "bench_curves" and "data_wide_curves": the same spaces without epochs as a dimension. Every trial may train 3
  epochs and is scored after each (its learning curve); early stopping, a pruner or successive halving decide how
  far it goes. Their tables (ftbench/curve_sweep.py) hold one curve per configuration (6 and 12 per task instead of
  18 and 36 trainings), and a replayed trial stopped at epoch 2 is the exact prefix of its curve (the learning-rate
  schedule spans the trial's 3 epochs either way) and costs epoch 2's tokens.

Each is a SearchSpace value: TREX gets it through graph.main.build_graph(space=...), the baselines read it here.
"""
from __future__ import annotations

import itertools
import json

from trex.search_space import DEFAULT_SPACE, SearchSpace
from trex.trial_config import FIELDS, default_alpha

_DATA = {"lr": [3e-4, 1e-3, 3e-3], "epochs": [1, 2, 3], "lora_r": [8], "batch_size": [8], "layer_fraction": [0.5],
         "template": ["chat"], "recipe": [{}], "max_samples": [1.0]}
SPACES: dict[str, SearchSpace] = {
    "full": DEFAULT_SPACE,
    "bench": SearchSpace.restricted({"lr": [1e-4, 1e-3, 3e-3], "epochs": [1, 2, 3], "lora_r": [8], "batch_size": [8],
                                     "layer_fraction": [0.5], "template": ["chat"], "recipe": [{}],
                                     "max_samples": [0.5, 1.0]}),
    "data": SearchSpace.restricted(_DATA),
    "data_wide": SearchSpace.restricted({**_DATA, "lr": [3e-4, 1e-3, 3e-3, 1e-2]}),
}
SPACES["bench_curves"] = SearchSpace.restricted({**SPACES["bench"].choice_grid(), "max_samples": [0.5, 1.0],
                                                "epochs": [3]})
SPACES["data_wide_curves"] = SearchSpace.restricted({**_DATA, "lr": [3e-4, 1e-3, 3e-3, 1e-2], "epochs": [3]})
# A space's cap on training examples per trial (on top of the task's own budget.max_train_samples).
MAX_TRAIN = {"bench": 64, "bench_curves": 64}
ORDERED = tuple(n for n, f in FIELDS.items() if f.ordered)


def space(name: str | SearchSpace) -> SearchSpace:
    """A named space, or the space itself (e.g. one a task spec's search_space narrowed)."""
    if isinstance(name, SearchSpace):
        return name
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; known: {', '.join(SPACES)}")
    return SPACES[name]


def max_train_for(name: str, task_cap: int) -> int:
    return min(task_cap, MAX_TRAIN.get(name, task_cap))


def grid(name: str | SearchSpace, max_train: int) -> dict[str, list]:
    """Every dimension a baseline chooses, with its values (max_samples resolved for this task, last)."""
    s = space(name)
    return {**s.choice_grid(), "max_samples": s.values("max_samples", max_train)}


def make_config(choice: dict, max_train: int, seed: int) -> dict:
    """A trial config shaped as the planner shapes its own (same keys, so the cache and the replay table
    see one trial where the values agree)."""
    cfg = {**DEFAULT_SPACE.default_config(max_train, seed), **{k: v for k, v in choice.items() if k != "recipe"}}
    if choice.get("recipe"):
        cfg["recipe"] = choice["recipe"]
    cfg["lora_alpha"] = default_alpha(cfg["lora_r"])
    return cfg


def all_configs(name: str | SearchSpace, max_train: int, seed: int) -> list[dict]:
    """Every configuration of a space (for recording a complete replay table)."""
    g = grid(name, max_train)
    dims = list(g)
    return [make_config(dict(zip(dims, values)), max_train, seed) for values in itertools.product(*g.values())]


def space_size(name: str | SearchSpace, max_train: int) -> int:
    n = 1
    for values in grid(name, max_train).values():
        n *= len(values)
    return n


def config_id(cfg: dict) -> str:
    """Identity of a config within a run, for de-duplicating proposals (id and seed aside)."""
    return json.dumps({k: v for k, v in cfg.items() if k not in ("id", "seed")}, sort_keys=True)
