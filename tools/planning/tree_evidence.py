"""What the search tree has shown so far: each node's best trial, and the reward change of every child trial
against its parent's best, the evidence the planners read (tools/planning/planner.py, data_moves.py,
llm_planner.py)."""
from __future__ import annotations

from typing import Iterator

from trex.state import Node, TrialConfig
from trex.trial_config import FIELDS, IDENTITY, value
from trex.tree import ROOT


def best_trial_config(node: Node) -> TrialConfig | None:
    if node.get("failed") or not node.get("best_trial"):
        return None
    return next((t for t in node.get("trials", []) if t["id"] == node["best_trial"]), None)


def scored_children(tree: dict[str, Node]) -> Iterator[tuple[dict, TrialConfig, float]]:
    """(trial, its parent's best config, the trial's score minus the parent's) for every scored trial of an
    evaluated node whose parent is a trained node."""
    for node in tree.values():
        parent = tree.get(node.get("parent") or "")
        if not parent or node.get("status") != "evaluated" or parent["id"] == ROOT or parent.get("score") is None:
            continue
        base_cfg = best_trial_config(parent)
        if base_cfg is None:
            continue
        for trial in node.get("trials", []):
            res = node.get("results", {}).get(trial["id"], {})
            if "score" in res:
                yield trial, base_cfg, res["score"] - parent["score"]


def observed_effects(tree: dict[str, Node], max_train: int) -> dict[tuple[str, int], float]:
    """Reward change seen for each (dimension, direction) move between a parent's best config and its
    children's trials: evidence about which way this task responds."""
    effects: dict[tuple[str, int], float] = {}
    for trial, base_cfg, delta in scored_children(tree):
        for dim in IDENTITY:
            if value(trial, dim) != value(base_cfg, dim):
                direction = 1 if not FIELDS[dim].ordered or (value(trial, dim) > value(base_cfg, dim)) else -1
                effects[(dim, direction)] = effects.get((dim, direction), 0.0) + delta
    return effects
