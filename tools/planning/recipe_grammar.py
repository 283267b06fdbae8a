"""The data-recipe grammar the LLM planner is shown, generated from trex.recipe.Recipe's fields, their types,
bounds and descriptions: a field added to Recipe reaches the prompt with no edit here."""
from __future__ import annotations

import re
import types
from typing import Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from tools.planning.config_bounds import SOURCE_WEIGHTS
from trex.recipe import ExtraSource, Recipe

# Recipe fields a planned trial does not set in its recipe, and who owns that setting for a trial instead.
OWNED_ELSEWHERE = {
    "max_samples": "the trial's max_samples (trex/trial_config.py): the one training-size setting a plan has",
    "seed": "the run's seed",
}


def _bounds(info: FieldInfo) -> str:
    lo = hi = ""
    for m in info.metadata:
        if isinstance(m, Ge):
            lo = f"[{m.ge:g}"
        elif isinstance(m, Gt):
            lo = f"({m.gt:g}"
        elif isinstance(m, Le):
            hi = f"{m.le:g}]"
        elif isinstance(m, Lt):
            hi = f"{m.lt:g})"
    if lo and hi:
        return f" {lo[1:]}..{hi[:-1]}" if lo[0] == "[" and hi[-1] == "]" else f" in {lo}, {hi}"
    if lo:
        return f" {'>=' if lo[0] == '[' else '>'} {lo[1:]}"
    return f" {'<=' if hi[-1] == ']' else '<'} {hi[:-1]}" if hi else ""


def _type(ann, info: FieldInfo) -> str:
    origin, args = get_origin(ann), get_args(ann)
    if origin in (Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        return " | ".join(_type(a, info) for a in kept)
    if origin is Literal:
        return "|".join(map(str, args))
    if origin is list:
        return f"[{_type(args[0], info)}, ...]"
    if origin is dict:
        return "{" + f"{_type(args[0], info)}: {_type(args[1], info)}" + "}"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "{" + ", ".join(_field(n, f) for n, f in ann.model_fields.items()) + "}"
    if ann is bool:
        return "true|false"
    if ann is str:
        return "text"
    return getattr(ann, "__name__", str(ann)) + _bounds(info)


def _first_sentence(text: str) -> str:
    """A description's first sentence: what the planner needs; the rest speaks to spec authors (the prompt's
    size is bounded: tests/test_llm_planner.py)."""
    return re.split(r"(?<=[a-z)])\. (?=[A-Z])", text.strip(), maxsplit=1)[0].rstrip(".")


def _field(name: str, info: FieldInfo) -> str:
    text = f"{name}: {_type(info.annotation, info)}"
    return text + (f" ({_first_sentence(info.description)})" if info.description else "")


def _extra_sources() -> str:
    """A plan names a collected (vetted) source and its weight; the rest of the source is as vetted."""
    weight = ExtraSource.model_fields["weight"]
    lo, hi = SOURCE_WEIGHTS
    return (f"extra_sources: [{{path or hf_id of a collected source below, weight in [{lo:g}, {hi:g}] "
            f"({_first_sentence(weight.description)})}}, ...]")


def recipe_grammar(with_sources: bool = False, model: type[BaseModel] = Recipe) -> list[str]:
    """One line per Recipe field a plan may set; extra_sources only when there are collected sources to add."""
    lines = []
    for name, info in model.model_fields.items():
        if name in OWNED_ELSEWHERE:
            continue
        if name == "extra_sources":
            if with_sources:
                lines.append(_extra_sources())
            continue
        lines.append(_field(name, info))
    return lines


def fold_owned_elsewhere(cfg: dict) -> list[str]:
    """Move what a planned recipe set of OWNED_ELSEWHERE to its owner, in place: recipe.max_samples caps the
    trial's max_samples (the smaller wins), recipe.seed is dropped (the run's seed holds). The notes say so."""
    recipe, notes = dict(cfg.get("recipe") or {}), []
    if "max_samples" in recipe:
        n = recipe.pop("max_samples")
        if isinstance(n, int) and not isinstance(n, bool) and n >= 1:
            cfg["max_samples"] = min(n, cfg.get("max_samples") or n)
            notes.append(f"recipe.max_samples {n} applied as the trial's max_samples={cfg['max_samples']} "
                         "(a plan has one training-size setting)")
        else:
            notes.append(f"recipe.max_samples {n!r} dropped: not a whole number >= 1")
    if "seed" in recipe:
        notes.append(f"recipe.seed {recipe.pop('seed')!r} dropped: {OWNED_ELSEWHERE['seed']} holds")
    if notes:
        cfg["recipe"] = recipe
    return notes
