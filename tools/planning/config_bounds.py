"""Safety bounds for trial configurations that did not come from the built-in planner's grid (an LLM's).

`check_config` returns the config with unsafe values clamped, or None when it cannot be repaired, and the
reasons either way, so the node can record what was changed and why. A recipe is data: an LLM may change
filters, dedup, balancing and caps, and add only the datasets the research step vetted
(tools/research/source_vetting.py), never files or downloads it cannot know about.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from trex.recipe import RecipeError, parse_recipe
from trex.trial_config import FIELDS, TrialField, default_alpha

# The parent adapter's shape: a warm start keeps it.
WARM_START_FIXED = tuple(n for n, f in FIELDS.items() if f.adapter_shape)


def model_hidden_size(base_model: str, cache_dir: str) -> int | None:
    """hidden_size from the base model's config.json when it is on disk (never builds or downloads it)."""
    from tools.models.base_models import TINY, _slug

    candidates = [Path(base_model) / "config.json", Path(cache_dir) / "models" / _slug(base_model) / "config.json"]
    if base_model == TINY:
        candidates.append(Path(cache_dir) / "models" / "tiny-random" / "config.json")
    for path in candidates:
        try:
            size = json.loads(path.read_text(encoding="utf-8")).get("hidden_size")
        except (OSError, ValueError):
            continue
        if isinstance(size, int) and size > 0:
            return size
    return None


def _number(cfg: dict, key: str, kind) -> tuple[object, str | None]:
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
        return None, f"{key} {v!r} is not a finite number"
    if kind is int and v != int(v):
        return None, f"{key} {v!r} is not a whole number"
    return kind(v), None


SOURCE_WEIGHTS = (0.1, 2.0)  # a planned extra source's share of the mix, relative to the task's own split


def _vetted_sources(asked, sources: list[dict], reasons: list[str]) -> list[dict]:
    """The planned extra sources that name a vetted one (by path or hub id), as vetted (fields, licence), with
    the plan's weight within SOURCE_WEIGHTS; any other is dropped with the reason."""
    by_origin = {s.get("path") or s.get("hf_id"): s for s in sources}
    kept = []
    for item in asked if isinstance(asked, list) else [asked]:
        origin = (item.get("path") or item.get("hf_id")) if isinstance(item, dict) else None
        if origin not in by_origin:
            reasons.append(f"recipe.extra_sources dropped: {origin or item!r} is not a dataset the research step "
                           "vetted (only those may be added: licence, fields and size checked)")
            continue
        weight = item.get("weight", by_origin[origin].get("weight", 0.5))
        weight = min(SOURCE_WEIGHTS[1], max(SOURCE_WEIGHTS[0], float(weight))) if isinstance(weight, (int, float)) and math.isfinite(weight) else 0.5
        kept.append({**by_origin[origin], "weight": weight})
    return kept


def _check_recipe(recipe: dict, max_train: int, reasons: list[str], sources: list[dict] | None = None) -> dict | None:
    recipe = dict(recipe)
    if recipe.get("extra_sources"):
        kept = _vetted_sources(recipe.pop("extra_sources"), sources or [], reasons)
        if kept:
            recipe["extra_sources"] = kept
    if isinstance(recipe.get("max_samples"), int) and recipe["max_samples"] > max_train:
        reasons.append(f"recipe.max_samples {recipe['max_samples']} clamped to the data's {max_train}")
        recipe["max_samples"] = max_train
    synth = recipe.get("synthesis")
    if isinstance(synth, dict) and isinstance(synth.get("n"), int) and synth["n"] > max_train:
        reasons.append(f"recipe.synthesis.n {synth['n']} clamped to {max_train}")
        recipe["synthesis"] = {**synth, "n": max_train}
    try:
        parse_recipe(recipe)
    except RecipeError as err:
        reasons.append(f"rejected: {err}")
        return None
    return recipe


def _check_number(out: dict, f: TrialField, max_train: int, reasons: list[str]) -> str | None:
    """Clamp out[f.name] into the field's bounds (noting why); the reason to reject it, if it cannot be."""
    v, bad = _number(out, f.name, float if f.kind == "float" else int)
    if bad:
        return bad
    show = f.text  # 0.001, 1000000: each kind as it reads
    if f.low is not None and (v <= f.low if f.low_open else v < f.low):
        return f"{f.name} {show(v)} must be {'>' if f.low_open else '>='} {f.low:g}"
    high = max_train if f.relative else f.high
    if f.clamp_low is not None and v < f.clamp_low:
        reasons.append(f"{f.name} {show(v)} clamped to {f.clamp_low:g}")
        v = f.clamp_low
    if high is not None and v > high:
        where = f"the {max_train} training examples available" if f.relative else f"{high:g}"
        reasons.append(f"{f.name} {show(v)} clamped to {where}" + (f" ({f.why_high})" if f.why_high else ""))
        v = type(v)(high)
    out[f.name] = v
    return None


def check_config(cfg: dict, max_train: int, hidden_size: int | None = None,
                 anchor: dict | None = None, can_warm_start: bool = True,
                 sources: list[dict] | None = None) -> tuple[dict | None, list[str]]:
    """(safe config or None, reasons). `anchor` is the parent's best trial config (a warm start keeps its
    adapter shape); `can_warm_start` is False when the parent has no trained adapter; `sources` are the vetted
    datasets a recipe may add. Every field's bounds come from the trial table (trex/trial_config.py); the
    fields of the default recipe must be there."""
    out, reasons = dict(cfg), []

    def reject(why: str) -> tuple[None, list[str]]:
        return None, reasons + [f"rejected: {why}"]

    for name, f in FIELDS.items():
        if name in ("lora_alpha", "seed") or not (name in out or (f.ordered and (f.in_default_config or f.relative))):
            continue
        if f.ordered:
            if name == "lora_r":  # also bounded by the model's hidden size; alpha keeps its ratio to r
                why = _check_rank(out, hidden_size, reasons)
            else:
                why = _check_number(out, f, max_train, reasons)
            if why:
                return reject(why)
        elif f.kind == "choice" and out.get(name, f.default) not in f.choices:
            return reject(f"unknown {name} {out.get(name)!r} (known: {', '.join(f.choices)})")
    if out.get("recipe"):
        if not isinstance(out["recipe"], dict):
            return reject(f"recipe must be a mapping, not {type(out['recipe']).__name__}")
        recipe = _check_recipe(out["recipe"], max_train, reasons, sources)
        if recipe is None:
            return None, reasons
        out["recipe"] = recipe
    if out.get("warm_start"):
        if not can_warm_start or not anchor:
            reasons.append("warm_start dropped: the parent has no trained adapter to start from")
            out["warm_start"] = False
        else:
            fixed = {k: anchor[k] for k in WARM_START_FIXED if k in anchor and out.get(k) != anchor[k]}
            if fixed:
                reasons.append("warm start keeps the parent adapter's " + ", ".join(f"{k}={v}" for k, v in fixed.items()))
                out.update(fixed)
    return out, reasons


def _check_rank(out: dict, hidden_size: int | None, reasons: list[str]) -> str | None:
    top = FIELDS["lora_r"].high
    r_max = min(top, hidden_size or top)
    r, bad = _number(out, "lora_r", int)
    if bad or r < 1:
        return bad or f"lora_r {r} must be >= 1"
    alpha, bad_alpha = _number(out, "lora_alpha", int) if "lora_alpha" in out else (default_alpha(r), None)
    if bad_alpha or alpha < FIELDS["lora_alpha"].low:  # a large alpha is scaled down with the rank below
        reasons.append(f"lora_alpha {out.get('lora_alpha')!r} replaced by 2 x lora_r")
        alpha = default_alpha(r)
    if r > r_max:
        why = f"the model's hidden size {hidden_size}" if hidden_size and hidden_size < top else f"{top:g}"
        reasons.append(f"lora_r {r} clamped to {r_max:g} ({why})")
        alpha = max(1, round(alpha * r_max / r))  # keep the alpha/r scale
        r = r_max
    out["lora_r"], out["lora_alpha"] = int(r), int(alpha)
    return None
