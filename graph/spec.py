"""TaskSpec: what the user asks TREX to fine-tune for, validated before anything starts."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tools.metrics import resolve_metric


class SpecError(ValueError):
    """A task spec that cannot be used; the message names the offending field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSource(_Strict):
    path: str = Field(description="Local JSONL or CSV file, relative to the spec file.")
    input_field: str = "input"
    output_field: str = "output"


class Splits(_Strict):
    val_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)
    seed: int = 0


class Budget(_Strict):
    rounds: int = Field(3, ge=1, le=200, description="Training rounds after the baseline round.")
    configs_per_round: int = Field(3, ge=1, le=16)
    max_train_samples: int = Field(50_000, ge=1)
    wall_time_s: float | None = Field(None, gt=0)


class TaskSpec(_Strict):
    name: str
    goal: str = Field(min_length=1)
    task_type: Literal["classification", "generation"]
    base_model: str = Field(min_length=1)
    instruction: str = Field("", description="Task instruction placed in every prompt.")
    data: list[DataSource] = Field(min_length=1)
    labels: list[str] | None = None
    metric: str
    higher_is_better: bool | None = None
    reference_score: float | None = None
    max_new_tokens: int = Field(32, ge=1, le=2048)
    scoring: Literal["choice", "generate"] = Field(
        "choice", description="Classification: pick the likeliest label string (fast, never off-label), or "
                              "generate freely and compare the text. Generation tasks always generate.")
    splits: Splits = Splits()
    budget: Budget = Budget()
    recipe: dict[str, Any] | None = Field(
        None, description="Data recipe applied to the training split of every trial (tools.recipes.Recipe): "
                          "extra sources with weights, filters, dedup, class balancing, sample cap.")
    base_dir: str = Field("", description="Directory that relative data paths are read from.")

    @field_validator("recipe")
    @classmethod
    def _valid_recipe(cls, v: dict | None) -> dict | None:
        from tools.recipes import parse_recipe

        return None if v is None else parse_recipe(v).model_dump(exclude_defaults=True)

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v):
            raise ValueError("must be 1-64 letters, digits, '_', '.' or '-'")
        return v

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        resolve_metric(v)  # "unknown metric ..." or a custom metric's import error
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "TaskSpec":
        metric = resolve_metric(self.metric)
        if self.task_type not in metric.task_types:
            raise ValueError(f"metric {self.metric!r} does not fit task_type {self.task_type!r}")
        if self.higher_is_better is not None and self.higher_is_better != metric.higher_is_better:
            raise ValueError(f"higher_is_better contradicts metric {self.metric!r}")
        if self.labels is not None and len(set(self.labels)) < 2:
            raise ValueError("labels: a classification task needs at least two distinct labels")
        return self

    def data_path(self, source: DataSource) -> Path:
        p = Path(source.path)
        return p if p.is_absolute() else Path(self.base_dir or ".") / p


def _format_error(err: ValidationError, origin: str) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"field '{where}': {msg}")
    return f"invalid task spec {origin}: " + "; ".join(lines)


def parse_spec(data: Any, origin: str = "(input)", base_dir: str | None = None) -> TaskSpec:
    """Validate a spec given as a dict; raise SpecError naming each bad field."""
    if not isinstance(data, dict):
        raise SpecError(f"invalid task spec {origin}: expected a mapping, got {type(data).__name__}")
    if base_dir and not data.get("base_dir"):
        data = {**data, "base_dir": base_dir}
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(_format_error(err, origin)) from None


def load_spec(source: str | Path | dict) -> TaskSpec:
    """Load a TaskSpec from a YAML/JSON file path or a dict (the graph's input)."""
    if isinstance(source, dict):
        return parse_spec(source)
    path = Path(source)
    if not path.is_file():
        raise SpecError(f"task spec file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise SpecError(f"invalid task spec {path}: not valid {path.suffix.lstrip('.').upper() or 'YAML'}: {err}") from None
    return parse_spec(data, str(path), base_dir=str(path.parent.resolve()))
