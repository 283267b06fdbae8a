"""When two trial configurations are the same trial: what the planners and the number optimiser compare to avoid
proposing a trial the tree already holds. Its own module so both import it without importing each other."""
from __future__ import annotations

import json

from trex.trial_config import IDENTITY, value


def hyper_key(cfg: dict) -> tuple:
    """Identity of a config's settings (the trial table's IDENTITY fields, absent ones at their default)."""
    return tuple(json.dumps(value(cfg, k), sort_keys=True) if k == "recipe" else value(cfg, k) for k in IDENTITY)


def trial_key(cfg: dict, parent_id: str | None) -> tuple:
    """Identity of a trial in the tree: a warm start is new under each parent (it starts from its adapter)."""
    return hyper_key(cfg) + ((parent_id if cfg.get("warm_start") else None),)
