"""TaskSpec: what the user asks TREX to fine-tune for, validated before anything starts.

A bad spec fails here, never deep inside a run: `parse_spec`/`load_spec` raise SpecError (a ValueError)
whose one-line message names each bad field and what is wrong. Beyond the schema (types, ranges, unknown
fields, metric vs task type) they check what needs the machine: the base model can be had, the data
paths stay inside the allowed directories (tools/safe_paths.py), and the data has the named columns,
rows, labels and enough distinct examples for the splits (tools/datasets.check_data).
"""
from __future__ import annotations

import difflib
import json
import os
import re
import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tools.base_models import check_base_model
from tools.metrics import METRICS, resolve_metric


class SpecError(ValueError):
    """A task spec that cannot be used; the message names the offending field.

    Always one line (it is printed by the CLI and returned by the API server) and scrubbed of secrets."""

    def __init__(self, message: object = "") -> None:
        from tools.redact import redact

        super().__init__(redact(" ".join(str(message).split())))


class _Strict(BaseModel):
    # strict: `rounds: "3"` or `rounds: true` is a mistake to report, not to guess; NaN/inf are never budgets.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class DataSource(_Strict):
    path: str = Field(description="Local JSONL or CSV file, relative to the spec file.")
    input_field: str = Field("input", min_length=1)
    output_field: str = Field("output", min_length=1)

    @model_validator(mode="after")
    def _two_columns(self) -> "DataSource":
        if self.input_field == self.output_field:
            raise ValueError(f"input_field and output_field are the same column {self.input_field!r}")
        return self


class Splits(_Strict):
    val_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)
    seed: int = Field(0, ge=0)


class Budget(_Strict):
    rounds: int = Field(3, ge=1, le=200, description="Training rounds after the baseline round.")
    configs_per_round: int = Field(3, ge=1, le=16)
    max_train_samples: int = Field(50_000, ge=1)
    wall_time_s: float | None = Field(None, gt=0)
    gpu_hours: float | None = Field(None, gt=0, description="Hard cap on GPU-hours of training (tools/budget.py).")
    llm_usd: float | None = Field(None, gt=0, description="Hard cap on chat-model spend in US dollars.")


class TaskSpec(_Strict):
    name: str
    goal: str = Field(min_length=1)
    task_type: Literal["classification", "generation"]
    base_model: str = Field(min_length=1)
    instruction: str = Field("", description="Task instruction placed in every prompt.")
    data: list[DataSource] = Field(min_length=1)
    test_data: list[DataSource] | None = Field(
        None, description="A fixed hidden test set (a benchmark's official test file). When given, the test "
                          "split is exactly these rows, `data` is split into train and val only "
                          "(splits.test_fraction is not used), and data rows whose input is in it are dropped.")
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
    loader: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description=
                               "'package.module:function' that fetches public data into the files `data` names, "
                               "called as function(name, cache_dir) (FT-Bench: `ftbench prepare <name>`).")
    notes: dict[str, Any] | None = Field(None, description="Provenance, never read by the search: data source "
                                         "ids/URLs and how they were confirmed, paper scores, approximations.")

    @field_validator("recipe")
    @classmethod
    def _valid_recipe(cls, v: dict | None) -> dict | None:
        from tools.recipes import parse_recipe

        return None if v is None else parse_recipe(v).model_dump(exclude_defaults=True)

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v):
            raise ValueError("must be 1-64 letters, digits, '_', '.' or '-' (it names the run directory)")
        return v

    @field_validator("goal", "base_model")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v

    @field_validator("labels", mode="before")
    @classmethod
    def _int_labels_as_text(cls, v: Any) -> Any:
        # YAML reads `labels: [0, 1]` as numbers; the data's outputs are compared as text.
        return [str(x) if type(x) is int else x for x in v] if isinstance(v, list) else v

    @field_validator("labels")
    @classmethod
    def _distinct_labels(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        if any(not x.strip() for x in v):
            raise ValueError("a label must not be blank")
        dupes = sorted({x for x in v if v.count(x) > 1})
        if dupes:
            raise ValueError(f"duplicate label(s): {', '.join(map(repr, dupes[:5]))}")
        if len(v) < 2:
            raise ValueError("a classification task needs at least two distinct labels")
        return v

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        _metric(v)  # "unknown metric ..." or a custom metric's import error
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "TaskSpec":
        metric, problems = _metric(self.metric), []
        # macro_f1 and choice scoring need classes: classification only. rouge/bleu/chrf compare free text; on
        # label strings they would reward half-right labels ('card' of 'card_lost'): generation only.
        if self.task_type not in metric.task_types:
            fits = [n for n, m in METRICS.items() if self.task_type in m.task_types]
            problems.append(f"field 'metric': metric {self.metric!r} does not fit task_type {self.task_type!r} "
                            f"(built-in metrics for it: {', '.join(fits)})")
        if self.higher_is_better is not None and self.higher_is_better != metric.higher_is_better:
            problems.append(f"field 'higher_is_better': higher_is_better contradicts metric {self.metric!r}")
        if self.task_type == "generation" and self.scoring == "choice" and "scoring" in self.model_fields_set:
            problems.append("field 'scoring': 'choice' picks one of the labels, so it needs task_type "
                            "classification; generation tasks are scored by generating")
        if self.reference_score is not None and self.metric in METRICS and not 0 <= self.reference_score <= 1:
            problems.append(f"field 'reference_score': {self.metric} lies in 0..1, got {self.reference_score:g} "
                            "(give a fraction, not a percentage)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def data_path(self, source: DataSource) -> Path:
        # ~ and $VARS expand ($TREX_CACHE_DIR to its default when unset), so a spec can name data
        # that a loader wrote into the cache.
        env = {"TREX_CACHE_DIR": str(Path.home() / ".cache" / "trex"), **os.environ}
        p = Path(os.path.expanduser(string.Template(source.path).safe_substitute(env)))
        return p if p.is_absolute() else Path(self.base_dir or ".") / p


def _metric(name: str):
    try:
        return resolve_metric(name)
    except Exception as err:  # noqa: BLE001 - a custom metric's import may raise anything; it is a field error
        raise ValueError(str(err) if isinstance(err, ValueError) else f"metric {name!r}: {type(err).__name__}: {err}") from None


# --- error messages ----------------------------------------------------------------------------

_PARTS = {(): ("task spec", TaskSpec), ("data",): ("data source", DataSource), ("splits",): ("splits", Splits),
          ("budget",): ("budget", Budget), ("test_data",): ("test data source", DataSource)}


def _show(value: Any) -> str:
    if value is None or isinstance(value, (bool, int, float, str)):
        text = repr(value)
        return f"{type(value).__name__} {text[:40] + '...' if len(text) > 40 else text}"
    return type(value).__name__


def _message(e: dict) -> str:
    loc, kind, msg = e["loc"], e["type"], e["msg"].removeprefix("Value error, ")
    where = ".".join(str(x) for x in loc)
    if not loc and msg.startswith("field '"):  # a cross-field check that names its own fields
        return msg
    if kind == "extra_forbidden":
        what, model = _PARTS.get(tuple(p for p in loc[:-1] if not isinstance(p, int)), ("mapping", None))
        known = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"field '{where}': unknown field{hint} (a {what} has: {', '.join(known)})"
    if kind == "missing":
        return f"field '{where}': required field is missing"
    if kind in ("value_error", "assertion_error"):
        return f"field '{where or '(top level)'}': {msg}"
    return f"field '{where or '(top level)'}': {msg} (got {_show(e.get('input'))})"


def _format_error(err: ValidationError, origin: str) -> str:
    return f"invalid task spec {origin}: " + "; ".join(_message(e) for e in err.errors()[:12])


# --- what needs the machine: the base model, the paths, the data -------------------------------

def parse_spec(data: Any, origin: str = "(input)", base_dir: str | None = None, *, cache_dir: str | None = None,
               data_dirs: str | None = None, check_data: bool = True) -> TaskSpec:
    """Validate a spec given as a dict; raise SpecError naming each bad field.

    base_dir: the directory of the spec file it came from (an allowed root). cache_dir/data_dirs: the run's
    Context values (default: the environment). check_data: also read the data (skipped, when a `loader`
    will fetch it, until its files exist)."""
    from tools.safe_paths import allowed_roots, resolve_spec_paths

    if not isinstance(data, dict):
        raise SpecError(f"invalid task spec {origin}: expected a mapping of fields (name, goal, task_type, "
                        f"base_model, data, metric, ...), got {type(data).__name__}")
    if base_dir and data.get("base_dir") in (None, ""):  # a spec file's data is read relative to the file
        data = {**data, "base_dir": base_dir}
    try:
        spec = TaskSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(_format_error(err, origin)) from None
    update, problems = resolve_spec_paths(spec, allowed_roots(base_dir, cache_dir, data_dirs), base_dir)
    try:
        update["base_model"] = check_base_model(spec.base_model, update.get("base_dir", spec.base_dir))
    except (ValueError, OSError) as err:
        problems.append(f"field 'base_model': {err}")
    spec = spec.model_copy(update=update)  # what was checked is what is read: real absolute paths
    if problems:
        raise SpecError(f"invalid task spec {origin}: " + "; ".join(problems))
    every_file = [*spec.data, *(spec.test_data or [])]
    if check_data and not (spec.loader and not all(spec.data_path(s).is_file() for s in every_file)):
        from tools.datasets import check_data as read_and_check

        try:
            read_and_check(spec)
        except SpecError as err:  # DataError: names the data field
            raise type(err)(f"invalid task spec {origin}: {err}") from None
    return spec


def _syntax_error(err: Exception) -> str:
    mark = getattr(err, "problem_mark", None)
    if mark is not None:  # YAML: where and what, without echoing the file's text
        return f"line {mark.line + 1}, column {mark.column + 1}: {getattr(err, 'problem', None) or err}"
    if isinstance(err, json.JSONDecodeError):
        return f"line {err.lineno}, column {err.colno}: {err.msg}"
    return f"{type(err).__name__}: {err}"


def load_spec(source: str | Path | dict, *, cache_dir: str | None = None, data_dirs: str | None = None,
              check_data: bool = True) -> TaskSpec:
    """Load a TaskSpec from a YAML/JSON file path or a dict (the graph's input)."""
    opts = {"cache_dir": cache_dir, "data_dirs": data_dirs, "check_data": check_data}
    if isinstance(source, dict):
        return parse_spec(source, **opts)
    path = Path(source)
    try:
        if not path.is_file():
            raise SpecError(f"task spec file not found: {path}" if not path.exists() else f"task spec {path} is not a file")
        raw = path.read_bytes()
    except (OSError, ValueError) as err:  # unreadable, a name too long, a NUL byte
        if isinstance(err, SpecError):
            raise
        raise SpecError(f"task spec file {str(path)[:200]!r} cannot be read: {err}") from None
    kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
    if not raw.strip():
        raise SpecError(f"invalid task spec {path}: the file is empty")
    try:
        text = raw.decode("utf-8-sig")
        data = json.loads(text) if kind == "JSON" else yaml.safe_load(text)
    except UnicodeDecodeError as err:
        raise SpecError(f"invalid task spec {path}: not UTF-8 text (byte {err.start})") from None
    except Exception as err:  # noqa: BLE001 - YAML/JSON errors, bad dates, deep nesting: all "not valid"
        raise SpecError(f"invalid task spec {path}: not valid {kind}: {_syntax_error(err)}") from None
    return parse_spec(data, str(path), base_dir=str(path.parent.resolve()), **opts)
