"""Safety bounds for trial configurations that did not come from the built-in planner's grid (an LLM's).

`check_config` returns the config with unsafe values clamped, or None when it cannot be repaired, and the
reasons either way, so the node can record what was changed and why. A recipe is data: an LLM may change
filters, dedup, balancing and caps, never add data sources (files or downloads it cannot know about).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

LR_MAX = 1e-2
EPOCHS_MAX = 20
LORA_R_MAX = 256
BATCH_MAX = 512
LAYER_FRACTION_MIN = 0.05
METHODS = ("lora", "qlora", "full")
TEMPLATES = ("chat", "plain")
WARM_START_FIXED = ("lora_r", "lora_alpha", "layer_fraction", "method")  # the parent adapter's shape


def model_hidden_size(base_model: str, cache_dir: str) -> int | None:
    """hidden_size from the base model's config.json when it is on disk (never builds or downloads it)."""
    from tools.base_models import TINY, _slug

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


def _check_recipe(recipe: dict, max_train: int, reasons: list[str]) -> dict | None:
    from tools.recipes import RecipeError, parse_recipe

    recipe = dict(recipe)
    if recipe.pop("extra_sources", None):
        reasons.append("recipe.extra_sources dropped: a planned trial may not add data files or downloads")
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


def check_config(cfg: dict, max_train: int, hidden_size: int | None = None,
                 anchor: dict | None = None, can_warm_start: bool = True) -> tuple[dict | None, list[str]]:
    """(safe config or None, reasons). `anchor` is the parent's best trial config (a warm start keeps its
    adapter shape); `can_warm_start` is False when the parent has no trained adapter."""
    out, reasons = dict(cfg), []

    def reject(why: str) -> tuple[None, list[str]]:
        return None, reasons + [f"rejected: {why}"]

    lr, bad = _number(out, "lr", float)
    if bad or lr <= 0:
        return reject(bad or f"lr {lr:g} must be > 0")
    if lr > LR_MAX:
        reasons.append(f"lr {lr:g} clamped to {LR_MAX:g} (higher diverges)")
        out["lr"] = LR_MAX
    epochs, bad = _number(out, "epochs", int)
    if bad or epochs < 1:
        return reject(bad or f"epochs {epochs} must be >= 1 (0 is the untrained baseline)")
    if epochs > EPOCHS_MAX:
        reasons.append(f"epochs {epochs} clamped to {EPOCHS_MAX}")
        out["epochs"] = EPOCHS_MAX
    r_max = min(LORA_R_MAX, hidden_size or LORA_R_MAX)
    r, bad = _number(out, "lora_r", int)
    if bad or r < 1:
        return reject(bad or f"lora_r {r} must be >= 1")
    alpha, bad_alpha = _number(out, "lora_alpha", int) if "lora_alpha" in out else (2 * r, None)
    if bad_alpha or alpha < 1:
        reasons.append(f"lora_alpha {out.get('lora_alpha')!r} replaced by 2 x lora_r")
        alpha = 2 * r
    if r > r_max:
        why = f"the model's hidden size {hidden_size}" if hidden_size and hidden_size < LORA_R_MAX else f"{LORA_R_MAX}"
        reasons.append(f"lora_r {r} clamped to {r_max} ({why})")
        alpha = max(1, round(alpha * r_max / r))  # keep the alpha/r scale
        r = r_max
    out["lora_r"], out["lora_alpha"] = r, alpha
    bs, bad = _number(out, "batch_size", int)
    if bad or bs < 1:
        return reject(bad or f"batch_size {bs} must be >= 1")
    if bs > BATCH_MAX:
        reasons.append(f"batch_size {bs} clamped to {BATCH_MAX}")
        out["batch_size"] = BATCH_MAX
    n, bad = _number(out, "max_samples", int)
    if bad or n < 1:
        return reject(bad or f"max_samples {n} must be >= 1")
    if n > max_train:
        reasons.append(f"max_samples {n} clamped to the {max_train} training examples available")
        out["max_samples"] = max_train
    lf, bad = _number(out, "layer_fraction", float)
    if bad or lf <= 0:
        return reject(bad or f"layer_fraction {lf:g} must be > 0")
    if not LAYER_FRACTION_MIN <= lf <= 1:
        clamped = min(1.0, max(LAYER_FRACTION_MIN, lf))
        reasons.append(f"layer_fraction {lf:g} clamped to {clamped:g}")
        out["layer_fraction"] = clamped
    method = out.get("method", "lora")
    if method not in METHODS:
        return reject(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    if out.get("template", "chat") not in TEMPLATES:
        return reject(f"unknown template {out.get('template')!r} (known: {', '.join(TEMPLATES)})")
    if out.get("recipe"):
        if not isinstance(out["recipe"], dict):
            return reject(f"recipe must be a mapping, not {type(out['recipe']).__name__}")
        recipe = _check_recipe(out["recipe"], max_train, reasons)
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
