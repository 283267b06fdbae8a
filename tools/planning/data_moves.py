"""The data strategy of a round: which data recipes a trial may move to (the space's own, or vetted collected
sources mixed in as they are and cleaned by rules), and how each is scored from the diagnosis, the research
step's refusals and the effects recipes and sources had in the tree."""
from __future__ import annotations

import json

from tools.planning.tree_evidence import scored_children
from trex.search_space import SearchSpace
from trex.state import Node, TrialConfig
from trex.trial_config import value

# Mixing in more data (a recipe that adds a source) is what a diagnosis argues for: the paper's largest gains came
# from data, and a base model or a run that stalls, overfits or underfits on a small split is short of examples.
# Recipes that only reshape the task's own data (dedup, balance, filters) keep the planner's DIAGNOSIS_PRIORS
# ("recipe", 1) weight, passed in as reshape_prior.
SOURCE_PRIORS = {"baseline": 0.9, "underfitting": 0.7, "no_gain": 1.0, "overfitting": 1.1, "improving": 0.4}
CLEANED_BONUS = 0.1  # of two recipes with the same sources, the one that also filters or dedups goes first

# Generic clean-up of a collected source (rules that need no model): drop exact duplicates, empty answers and
# rows that are mostly markup or symbols (scraped fragments).
SOURCE_CLEANUP = {"dedup": "exact", "filters": {"drop_empty_output": True, "max_symbol_ratio": 0.3}}


def _sources(recipe: dict) -> tuple[str, ...]:
    return tuple(sorted(s.get("path") or f"hf:{s.get('hf_id')}" for s in (recipe or {}).get("extra_sources", [])))


def _reshapes(recipe: dict) -> bool:
    """Does a recipe clean the data (filters, dedup) on top of what it mixes?"""
    return bool((recipe or {}).get("filters")) or (recipe or {}).get("dedup", "none") != "none"


def recipe_variants(space: SearchSpace, sources: list[dict] | None) -> list[dict]:
    """The data recipes a round may move to: the space's own, and for a space that does not hold recipes to its
    grid, each vetted collected source (tools/research/source_vetting.py) mixed in as it is and cleaned by rules."""
    variants = [dict(r) for r in space.grids.get("recipe", ())]
    if "recipe" in space.grids and not space.exact and "recipe" not in space.strict:
        for src in sources or []:
            for extra in ({}, SOURCE_CLEANUP):
                v = {"extra_sources": [dict(src)], **extra}
                if v not in variants:
                    variants.append(v)
    return variants


def data_effects(tree: dict[str, Node]) -> dict[str, float]:
    """Reward change seen when a child's trial used another data recipe than its parent's best: per recipe
    (its JSON) and per source it mixes in ("source:" + path), so a source that hurt once is not mixed in again."""
    out: dict[str, float] = {}
    for trial, base_cfg, delta in scored_children(tree):
        recipe = value(trial, "recipe")
        if recipe == value(base_cfg, "recipe"):
            continue
        key = json.dumps(recipe, sort_keys=True)
        out[key] = out.get(key, 0.0) + delta
        for name in set(_sources(recipe)) - set(_sources(value(base_cfg, "recipe"))):
            out["source:" + name] = out.get("source:" + name, 0.0) + delta
    return out


REFUSED_PRIOR = -1.0  # a data move mixing in a source the research step refused: last of all moves


def data_moves(anchor: TrialConfig, diagnosis: str, variants: list[dict], tree: dict[str, Node],
               sign: int, refused: dict[str, str] | None = None,
               reshape_prior: float = 0.0) -> list[tuple[float, str, TrialConfig]]:
    """(score, label, config) for each data recipe other than the anchor's, scored by the diagnosis' prior for
    its kind of move, what the research step said of its sources, and the effects its recipe and sources had in
    the tree. reshape_prior: the diagnosis' weight for a recipe that only reshapes the task's own data."""
    refused = refused or {}
    effects = data_effects(tree)
    current = value(anchor, "recipe")
    out = []
    for variant in variants:
        if variant == current:
            continue
        added = set(_sources(variant)) - set(_sources(current))
        why_not = [refused[name] for name in sorted(added) if name in refused]
        if added and why_not:
            prior = REFUSED_PRIOR
            label = f"add {', '.join(sorted(added))}, which research refused ({why_not[0][:120]})"
        elif added:
            prior = SOURCE_PRIORS.get(diagnosis, 0.0) + (CLEANED_BONUS if _reshapes(variant) else 0.0)
            label = f"add {', '.join(sorted(added))}" + (" (cleaned)" if _reshapes(variant) else "")
        else:
            prior = reshape_prior
            label = f"reshape the data {json.dumps(variant, sort_keys=True)}"
        evidence = effects.get(json.dumps(variant, sort_keys=True), 0.0)
        # A source's effect argues for adding it, not for a variant of a recipe that already has it: once the
        # cleaned pool has helped, the raw pool is a step back (it drops the cleaning), not more of the same.
        evidence += 0.5 * sum(effects.get("source:" + name, 0.0) for name in added)
        cfg = TrialConfig(**{**anchor, "warm_start": False, "recipe": variant})
        if not variant:
            cfg.pop("recipe", None)
        out.append((prior + 5.0 * sign * evidence, label, cfg))
    return out
