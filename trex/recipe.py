"""The data recipe schema: plain JSON-able data stored on a trial, applied to the TRAIN split only
(tools/data/recipes.py applies it). Recipe() is the identity."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trex.data_format import DataFormat
from trex.licence import DataLicence


# Bump when an operator's semantics change: old cached files then no longer match.
RECIPE_VERSION = 1
SOURCE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the offending field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExtraSource(_Strict):
    path: str | None = Field(None, description="Local .jsonl/.csv/.parquet file (relative to base_dir).")
    hf_id: str | None = Field(None, description="Hugging Face datasets id, loaded only when the recipe runs.")
    hf_config: str | None = None
    split: str = "train"
    input_field: str = "input"
    output_field: str = "output"
    format: DataFormat = Field("auto", description="The rows' shape, as a task's data source's `format`.")
    weight: float = Field(1.0, gt=0, description="Share of the mix relative to the task's train split (1.0).")
    licence: DataLicence | None = Field(None, description="The source's terms; one that forbids training is refused.")
    label_map: dict[str, str] | None = Field(None, description=(
        "Classification: {source label: task label}. A row whose label is neither a task label nor mapped here "
        "is dropped before mixing (tools/data/source_labels.py)."))

    @model_validator(mode="after")
    def _one_origin(self) -> "ExtraSource":
        if (self.path is None) == (self.hf_id is None):
            raise ValueError("give exactly one of 'path' or 'hf_id'")
        refusal = self.licence.forbids_training(self.name) if self.licence else None
        if refusal:
            raise ValueError(refusal)
        if self.path is not None and Path(self.path).suffix.lower() not in SOURCE_SUFFIXES:
            raise ValueError(f"path {self.path!r}: unsupported format (use {', '.join(SOURCE_SUFFIXES)})")
        return self

    @property
    def name(self) -> str:
        return self.path or f"hf:{self.hf_id}" + (f"/{self.hf_config}" if self.hf_config else "") + f":{self.split}"


class Filters(_Strict):
    min_input_chars: int | None = Field(None, ge=0)
    max_input_chars: int | None = Field(None, ge=1)
    min_output_chars: int | None = Field(None, ge=0)
    max_output_chars: int | None = Field(None, ge=1)
    regex_include: str | None = Field(None, description="Keep only inputs matching this (re.search).")
    regex_exclude: str | None = Field(None, description="Drop inputs matching this (re.search).")
    max_symbol_ratio: float | None = Field(None, ge=0, le=1)
    drop_empty_output: bool = False

    @field_validator("regex_include", "regex_exclude")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        try:
            return v if v is None else re.compile(v).pattern
        except re.error as err:
            raise ValueError(f"not a valid regular expression: {err}") from None

    @model_validator(mode="after")
    def _ordered(self) -> "Filters":
        for side in ("input", "output"):
            lo, hi = getattr(self, f"min_{side}_chars"), getattr(self, f"max_{side}_chars")
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"min_{side}_chars ({lo}) exceeds max_{side}_chars ({hi})")
        return self


class Synthesis(_Strict):
    n: int = Field(ge=1, le=100_000, description="How many examples to synthesize or rewrite.")
    instruction: str = Field(min_length=1, description="What the chat model should produce.")


class JudgeFilter(_Strict):
    """An LLM judge rates each training example (is its output a right answer to its input, for this task?)."""
    min_score: float = Field(0.5, ge=0, le=1, description="Keep examples the judge scores at least this (0..1).")
    scope: Literal["all", "sources"] = Field("all", description=(
        "Judge every example (all), or only the added sources' rows and spare the task's own (sources)."))
    instruction: str | None = Field(None, max_length=1000, description="What a good example is, if not obvious.")


class Recipe(_Strict):
    """Recipe() is the identity: the task's training split unchanged (bar exact validation/test leaks)."""
    extra_sources: list[ExtraSource] = Field(default_factory=list)
    filters: Filters = Field(default_factory=Filters)
    dedup: Literal["none", "exact", "near"] = "none"
    near_threshold: float = Field(0.8, ge=0.5, le=1, description="Jaccard on character 5-gram shingles "
                                  "(below 0.5 is not a near-duplicate, and the search slows down).")
    balance: Literal["none", "downsample", "upsample"] = "none"
    per_class_cap: int | None = Field(None, ge=1)
    max_samples: int | None = Field(None, ge=1, description="Cap after mixing; the mixing weights still hold.")
    seed: int = 0
    synthesis: Synthesis | None = None
    loss_filter: float | None = Field(None, gt=0, lt=1, description=(
        "Model-based filter (AIDP's scoring operator, done with the model at hand): drop this share of the "
        "training examples with the highest answer loss under the model the trial starts from (its parent's "
        "adapter on a warm start, else the base model). Wrong labels stand out once a parent has learnt the task."))
    judge_filter: JudgeFilter | None = Field(None, description=(
        "Model-based filter by the configured chat model (an LLM judge): drop examples it scores below "
        "min_score. Skipped, and the recipe's stats say so, when no chat model is configured."))
    curriculum: Literal["none", "short_first", "easy_first"] = Field("none", description=(
        "Order of the training examples in every epoch: shuffled (none), shortest first, or easiest first (lowest "
        "answer loss under the model the trial starts from). Applied by the training worker."))


# The recipe steps the training worker applies (they need the model the trial starts from), not the prepared
# file: the one list of them (the train job carries each as its own field, trex/jobs.py TrainJob).
WORKER_STEPS = ("loss_filter", "curriculum")


def parse_recipe(data: Recipe | dict | None) -> Recipe:
    """A Recipe from a node's stored dict; raise RecipeError naming each bad field."""
    if isinstance(data, Recipe):
        return data
    if data is None:
        return Recipe()
    if not isinstance(data, dict):
        raise RecipeError(f"invalid recipe: expected a mapping, got {type(data).__name__}")
    try:
        return Recipe.model_validate(data)
    except ValidationError as err:
        raise RecipeError("; ".join(f"recipe field '{'.'.join(map(str, e['loc'])) or '(top level)'}': "
                                    f"{e['msg'].removeprefix('Value error, ')}" for e in err.errors())) from None


def recipe_hash(recipe: Recipe | dict, train_digest: str) -> str:
    """sha256 of the canonical recipe JSON (defaults included, so {} == Recipe()) and the input data digest."""
    # A source's licence does not change the rows it gives, so it is not part of the hash; nor is the default
    # format (auto reads input/output columns as before): keys made before these fields existed stay valid.
    dump = parse_recipe(recipe).model_dump(mode="json", exclude={"extra_sources": {"__all__": {"licence"}}})
    for source in dump.get("extra_sources", []):
        if source.get("format") == "auto":
            del source["format"]
        if source.get("label_map") is None:  # keys made before label maps existed stay valid
            source.pop("label_map", None)
    if dump.get("judge_filter") is None:  # keys made before the judge filter existed stay valid
        dump.pop("judge_filter", None)
    for worker_side in WORKER_STEPS:  # applied by the training worker, not to the prepared file
        dump.pop(worker_side, None)  # (trial_jobs keys them)
    canonical = json.dumps(dump, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"v{RECIPE_VERSION}\n{canonical}\n{train_digest}".encode()).hexdigest()
