"""The planner that needs no LLM (DESIGN §4): K child configs by local search over the space,
guided by the parent's result and diagnosis, what its siblings tried, and the effects seen in the tree.
Seeded and reproducible."""
from __future__ import annotations

import random

from tools.planning.data_moves import SOURCE_CLEANUP, data_moves, recipe_variants  # noqa: F401 (SOURCE_CLEANUP: re-exported)
from tools.planning.tree_evidence import best_trial_config, observed_effects
from tools.planning.trial_identity import hyper_key, trial_key  # noqa: F401 (re-exported: the planners' identity)
from trex.state import Node, TrialConfig
from trex.search_space import DEFAULT_SPACE, SearchSpace
from trex.trial_config import FIELDS, default_alpha, value

# Which moves a diagnosis argues for: (dimension, direction) -> prior weight.
DIAGNOSIS_PRIORS = {
    # The root (the base model, untrained): round 1 tries the default recipe, and its other slots the moves that
    # most often decide a LoRA run: a larger learning rate (the default is cautious for small models), then
    # more epochs. Without an entry here those slots were random neighbours.
    "baseline": {("lr", 1): 0.8, ("epochs", 1): 0.6, ("layer_fraction", 1): 0.3},
    "underfitting": {("lr", 1): 1.0, ("epochs", 1): 1.0, ("layer_fraction", 1): 0.6, ("max_samples", 1): 0.5},
    "no_gain": {("lr", 1): 1.0, ("epochs", 1): 0.8, ("layer_fraction", 1): 0.5, ("template", 1): 0.4, ("recipe", 1): 0.3,
                ("max_samples", 1): 0.5},
    "overfitting": {("epochs", -1): 1.0, ("lr", -1): 0.7, ("lora_r", -1): 0.4, ("max_samples", 1): 0.6,
                    ("recipe", 1): 0.3},
    "diverged": {("lr", -1): 1.5, ("batch_size", 1): 0.5},
    "improving": {("epochs", 1): 0.5, ("lr", 1): 0.3, ("max_samples", 1): 0.3, ("warm_start", 1): 0.4},
}
DIAGNOSIS_PRIORS["underfitting"][("warm_start", 1)] = 1.1  # val loss still falling: keep training the parent

# Coarse step of a round (the paper's strategy, then configuration): each slot first picks a strategy type, then
# the best concrete move of that type. Training strategies move one hyper-parameter (DIAGNOSIS_PRIORS); the data
# strategy swaps the trial's data recipe for another the space offers (tools/planning/data_moves.py).
STRATEGIES = {"data": ("recipe",), "schedule": ("lr", "epochs", "warm_start"), "samples": ("max_samples",),
              "capacity": ("lora_r", "layer_fraction", "batch_size", "template")}
STRATEGY_OF = {dim: name for name, dims in STRATEGIES.items() for dim in dims}


def default_config(max_train: int, seed: int, space: SearchSpace = DEFAULT_SPACE) -> TrialConfig:
    return TrialConfig(**space.default_config(max_train, seed))


def continue_training(cfg: TrialConfig) -> TrialConfig:
    """Warm start: the parent's adapter trained one more epoch with the same recipe. The adapter's shape
    (rank, layers) comes from the parent, so only the schedule changes."""
    return TrialConfig(**{**cfg, "warm_start": True, "epochs": 1})


def move(cfg: TrialConfig, dim: str, direction: int, max_train: int,
         space: SearchSpace = DEFAULT_SPACE) -> TrialConfig | None:
    """One step along one dimension of the space, as a cold start (a fresh adapter)."""
    if dim == "warm_start":
        return continue_training(cfg) if direction > 0 else None
    cfg = TrialConfig(**{**cfg, "warm_start": False})
    grid = space.values(dim, max_train)
    current = value(cfg, dim)
    if not FIELDS[dim].ordered:  # no order: step to the next choice
        idx = grid.index(current) if current in grid else 0
        new = (idx + 1) % len(grid)
    else:
        idx = grid.index(current) if current in grid else min(range(len(grid)), key=lambda i: abs(grid[i] - current))
        new = idx + direction
    if not 0 <= new < len(grid) or new == idx:
        return None
    out = TrialConfig(**{**cfg, dim: grid[new]})
    if dim == "lora_r":
        out["lora_alpha"] = default_alpha(out["lora_r"])
    return out


def snap(cfg: dict, max_train: int, seed: int, space: SearchSpace = DEFAULT_SPACE) -> TrialConfig:
    """A config from elsewhere (an earlier run's winner) moved onto this planner's grid: each ordered value to
    the nearest grid value, an unknown choice to the default, a cold start. Keeps a prior inside the space the
    run searches (a restricted benchmark space included)."""
    out = default_config(max_train, seed, space)
    for dim in space.searched():
        if dim == "warm_start" or dim not in cfg:
            continue
        snapped = space.snap(dim, cfg[dim], max_train)
        if snapped is not None:
            out[dim] = snapped
    if cfg.get("method") in ("qlora", "full") and "method" not in space.grids:  # lora is the default
        out["method"] = cfg["method"]
    out["lora_alpha"] = default_alpha(out["lora_r"])
    if not out.get("recipe"):
        out.pop("recipe", None)
    return TrialConfig(**out)


def propose(tree: dict[str, Node], parent_id: str, k: int, max_train: int, seed: int,
            higher_is_better: bool = True, priors: list[dict] | None = None,
            space: SearchSpace = DEFAULT_SPACE, sources: list[dict] | None = None,
            refused: dict[str, str] | None = None, numbers: str = "prior") -> tuple[str, list[TrialConfig]]:
    """Return (rationale, k configs) for a new child of parent_id; never repeats a config in the tree.

    `priors` ([{config, task, gain}], best first; memory.insight_store.prior_configs) are configurations that
    won earlier runs: with no trained parent yet they take the first slots and the best one becomes the anchor
    the remaining slots move around, instead of the default recipe. numbers="tpe": the moves choose each slot's
    strategy and an Optuna sampler its numbers (tools/planning/number_optimiser.py); the default recipe and an
    earlier run's winner keep theirs."""
    rng = random.Random(f"{seed}:{parent_id}:{len(tree)}")
    parent = tree[parent_id]
    anchor = best_trial_config(parent)
    tried = {trial_key(t, n.get("parent")) for n in tree.values() for t in n.get("trials", [])}
    picks: list[TrialConfig] = []
    pinned: list[set] = []  # per pick, the numbers a numbers="tpe" sampler must keep ("*": all of them)
    notes = []
    trained_anchor = anchor is not None and anchor.get("epochs", 0) > 0
    if not trained_anchor:
        anchor = default_config(max_train, seed, space)
        notes.append("anchor: the default LoRA recipe (no trained parent yet)")
        for prior in (priors or [])[:max(1, k - 1)]:  # leave a slot for the default when k > 1
            cfg = snap(prior["config"], max_train, seed, space)
            if trial_key(cfg, parent_id) not in tried:
                if len(picks) == 0:
                    anchor = cfg
                    notes[-1] = f"anchor: the best configuration of an earlier run on {prior.get('task')}"
                picks.append(cfg)
                pinned.append({"*"})
                tried.add(trial_key(cfg, parent_id))
                notes.append(f"prior from {prior.get('task')} (gain {float(prior.get('gain') or 0):+.3f})")
        default = default_config(max_train, seed, space)
        if len(picks) < k and trial_key(default, parent_id) not in tried:
            picks.append(default)
            pinned.append({"*"})
            tried.add(trial_key(default, parent_id))
    else:
        notes.append(f"anchor: best trial {parent['best_trial']} of {parent_id} (val {parent['score']:.4f})")
    diagnosis = parent.get("diagnosis_kind") or "no_gain"
    priors = DIAGNOSIS_PRIORS.get(diagnosis, {})
    effects = observed_effects(tree, max_train)
    sign = 1 if higher_is_better else -1
    candidates = []
    for dim in space.searched():
        if dim == "recipe":
            continue  # data moves: below, one per recipe the space offers
        for direction in (1, -1) if FIELDS[dim].ordered else (1,):
            if dim == "warm_start" and not trained_anchor:
                continue  # nothing to warm-start from
            cfg = move(anchor, dim, direction, max_train, space)
            if cfg is None or trial_key(cfg, parent_id) in tried:
                continue
            score = priors.get((dim, direction), 0.0) + 5.0 * sign * effects.get((dim, direction), 0.0)
            candidates.append((score + rng.random() * 0.1, dim, direction, cfg))
    if "recipe" in space.searched():
        reshape = priors.get(("recipe", 1), 0.0)
        for score, label, cfg in data_moves(anchor, diagnosis, recipe_variants(space, sources), tree, sign, refused,
                                            reshape):
            if trial_key(cfg, parent_id) not in tried:
                candidates.append((score + rng.random() * 0.1, "recipe", label, cfg))
    candidates.sort(key=lambda c: -c[0])
    # Two-step moves (the two best single moves combined) widen the search once singles run out.
    for a, b in zip(candidates, candidates[1:]):
        if a[1] != b[1] and "warm_start" not in (a[1], b[1]):  # a warm start keeps its parent's recipe
            combo = (TrialConfig(**{**a[3], "recipe": value(b[3], "recipe")}) if b[1] == "recipe"
                     else move(a[3], b[1], b[2], max_train, space))
            if combo is not None:
                if not combo.get("recipe"):
                    combo.pop("recipe", None)
                candidates.append((a[0] + b[0] - 1.0, f"{a[1]}+{b[1]}", 0, combo))
    for score, dim, direction, cfg in candidates:
        if len(picks) >= k:
            break
        if trial_key(cfg, parent_id) not in tried:
            picks.append(cfg)
            pinned.append(set())
            tried.add(trial_key(cfg, parent_id))
            strategy = "+".join(dict.fromkeys(STRATEGY_OF.get(d, d) for d in dim.split("+")))
            how = direction if isinstance(direction, str) else (
                f"{dim} {'up' if direction > 0 else 'down' if direction < 0 else 'combined'}")
            notes.append(f"{strategy} strategy: {how} (prior {score:.2f})")
    for _ in range(200 * k):  # the neighbourhood is exhausted: random restarts over the grid
        if len(picks) >= k:
            break
        cfg = TrialConfig(**{d: rng.choice(g) for d, g in space.choice_grid().items()},
                          max_samples=rng.choice(space.values("max_samples", max_train)), seed=seed)
        cfg["lora_alpha"] = default_alpha(cfg["lora_r"])
        if trial_key(cfg, parent_id) not in tried:
            picks.append(cfg)
            pinned.append(set())
            tried.add(trial_key(cfg, parent_id))
            notes.append("random restart (neighbourhood exhausted)")
    if numbers == "tpe":
        from tools.planning.number_optimiser import fill_numbers

        picks, filled = fill_numbers(picks, pinned, tree, parent_id, space, max_train, seed, higher_is_better)
        notes += [f"t{i}: {note}" for i, note in enumerate(filled)]
    elif numbers != "prior":
        raise ValueError(f"numbers must be prior or tpe, not {numbers!r}")
    rationale = f"diagnosis of {parent_id}: {diagnosis}. " + "; ".join(notes)
    for i, cfg in enumerate(picks):
        cfg["id"] = f"t{i}"
        cfg["seed"] = seed
    return rationale, picks
