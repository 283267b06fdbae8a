"""Trials written as Optuna trials, so `optuna-dashboard STORAGE` shows TREX's runs and FT-Bench's baselines
side by side: one study per run, every run with the same parameter distributions (from the trial table,
trex/trial_config.py), each trial written once (a resumed run, or a round seen again, adds nothing)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from trex.trial_config import FIELDS

TRIAL_ATTR = "trex_trial"  # a trial's id in its run (node/trial): what makes a second write a no-op
INT_HIGH = 10**9  # an open upper end (max_samples)


def storage_url(setting: str, run_dir: str | Path) -> str | None:
    """The Optuna storage a setting names: 'run' = SQLite in the run directory, 'off'/'' = none, else a URL."""
    if setting in ("", "off"):
        return None
    if setting == "run":
        return f"sqlite:///{Path(run_dir).absolute() / 'optuna.db'}"
    return setting


def distribution(name: str):
    """The one distribution a field has in every study (Optuna refuses a parameter whose distribution changes
    between trials of a study); None for fields kept as attributes (the recipe, unknown keys)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    f = FIELDS.get(name)
    if f is None or f.kind == "recipe":
        return None
    if f.kind in ("choice", "flag"):
        return CategoricalDistribution(list(f.choices))
    if f.kind == "float":
        return FloatDistribution(1e-8 if name == "lr" else 0.0, f.high or 1.0, log=name == "lr")
    return IntDistribution(0, int(f.high) if f.high is not None else INT_HIGH)


def split_config(cfg: dict) -> tuple[dict, dict, dict]:
    """(params, distributions, attributes): a value its field's distribution cannot hold becomes an attribute."""
    params, dists, attrs = {}, {}, {}
    for name, value in cfg.items():
        if name == "id":
            continue
        dist = distribution(name)
        try:
            fits = dist is not None and value is not None and dist._contains(dist.to_internal_repr(value))
        except (ValueError, TypeError):
            fits = False
        if fits:
            params[name], dists[name] = value, dist
        else:
            attrs[f"config.{name}"] = json.dumps(value, sort_keys=True)
    return params, dists, attrs


def intermediate_values(row: dict) -> dict[int, float]:
    """A trial's values by step as Optuna keeps them (what its pruners read): the task metric on validation at each
    point of the trial's learning curve, by optimizer step; without a scored curve (an Unsloth trial), the
    validation loss before training (0) and after each epoch."""
    curve = (row.get("train") or {}).get("curve") or []
    scored = {int(p["step"]): float(p["val_score"]) for p in curve
              if isinstance(p.get("val_score"), (int, float)) and math.isfinite(p["val_score"])}
    if scored:
        return scored
    return {i: float(v) for i, v in enumerate(row.get("val_loss") or []) if v is not None and math.isfinite(v)}


def record_trials(storage: str, study_name: str, higher_is_better: bool, rows: list[dict],
                  study_attrs: dict | None = None) -> int:
    """Write rows ({"trial", "config", "status", "score", and optional "attrs", "val_loss"}) not yet in the study;
    returns how many were added. A failed trial is a FAIL trial with its failure kind as an attribute."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name=study_name, load_if_exists=True,
                                direction="maximize" if higher_is_better else "minimize")
    for key, value in (study_attrs or {}).items():
        study.set_user_attr(key, value)
    seen = {t.user_attrs.get(TRIAL_ATTR) for t in study.get_trials(deepcopy=False)}
    added = 0
    for row in rows:
        if row["trial"] in seen:
            continue
        params, dists, attrs = split_config(row["config"])
        score = row.get("score")
        ok = row["status"] == "ok" and isinstance(score, (int, float)) and math.isfinite(score)
        steps = intermediate_values(row)
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=dists, value=float(score) if ok else None,
            state=optuna.trial.TrialState.COMPLETE if ok else optuna.trial.TrialState.FAIL,
            intermediate_values=steps,
            user_attrs={TRIAL_ATTR: row["trial"], "status": row["status"], **attrs, **(row.get("attrs") or {})}))
        seen.add(row["trial"])
        added += 1
    return added
