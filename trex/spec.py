"""TaskSpec: what the user asks TREX to fine-tune for, as a pure schema (types, ranges, unknown fields,
metric vs task type). A spec is validated once, when the run starts (tools/data/spec_loading.py adds the checks
that need the machine: base model, paths, data), and travels typed from then on.

A bad spec raises SpecError (a ValueError) whose one-line message names each bad field and what is wrong.
"""
from __future__ import annotations

import difflib
import os
import re
import string
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from trex.data_format import DataFormat
from trex.jobs import EarlyStopping
from trex.licence import DataLicence
from trex.metrics import METRICS, resolve_metric
from trex.recipe import parse_recipe
from trex.redact import redact
from trex.search_space import declared_grid


class SpecError(ValueError):
    """A task spec that cannot be used; the message names the offending field.

    Always one line (it is printed by the CLI and returned by the API server) and scrubbed of secrets."""

    def __init__(self, message: object = "") -> None:
        super().__init__(redact(" ".join(str(message).split())))


class _Strict(BaseModel):
    # strict: `rounds: "3"` or `rounds: true` is a mistake to report, not to guess; NaN/inf are never budgets.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class DataSource(_Strict):
    path: str | None = Field(None, description="Local JSONL or CSV file, relative to the spec file (or give hf_id).")
    input_field: str = Field("input", min_length=1)
    output_field: str = Field("output", min_length=1)
    format: DataFormat = Field("auto", description="The rows' shape (trex/data_format.py); auto tells it from "
                               "their keys. Naming input_field/output_field means input_output.")
    hf_id: str | None = Field(None, min_length=1, description="A Hugging Face Hub dataset id, read instead of "
                              "a path (downloaded once, cached under the TREX cache dir).")
    hf_config: str | None = Field(None, min_length=1)
    split: str = Field("train", min_length=1, description="The Hub dataset's split.")
    licence: DataLicence | None = Field(None, description="The data's licence and terms; a source whose terms "
                                        "forbid training is refused under `data` (allowed under `test_data`).")

    @model_validator(mode="after")
    def _two_columns(self) -> "DataSource":
        if self.path is None and self.hf_id is None:  # reported as the missing path (_message)
            raise PydanticCustomError("path_missing", "required field is missing")
        if self.path is not None and self.hf_id is not None:
            raise ValueError("give exactly one of 'path' or 'hf_id'")
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
    gpu_hours: float | None = Field(None, gt=0, description="Hard cap on GPU-hours of training (tools/run/budget.py).")
    train_tokens: int | None = Field(None, gt=0, description="Hard cap on training tokens summed over the run's "
                                     "trials (cache hits cost 0 new tokens); the planner fits each round to what "
                                     "is left (docs/budgets.md).")
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
    max_seq_length: int | None = Field(
        None, ge=16, le=131072,
        description="Tokens of prompt + answer a training example keeps (cut from the left, so the answer stays); "
                    "a scored prompt is cut to fit beside its answer the same way. Left out: as long as the "
                    "longest training example, within the model's position limit (nothing is cut).")
    scoring: Literal["choice", "generate"] | None = Field(
        None, description="Classification: pick the likeliest label string (choice: fast, never off-label, the "
                          "default), or generate freely and compare the text. Generation tasks always generate "
                          "(the default for them). Left out, it is filled from task_type, so a dumped spec "
                          "validates to the same spec.")
    early_stopping: Any = Field(
        None, description="Stop a trial after `patience` epochs whose validation score beats the best by at most "
                          "min_delta: {patience: 1, min_delta: 0.0}, a patience, or off. The best epoch is kept "
                          "either way; `epochs` is a trial's maximum. Left out: the context's, else patience 1.")
    splits: Splits = Splits()
    budget: Budget = Budget()
    recipe: dict[str, Any] | None = Field(
        None, description="Data recipe applied to the training split of every trial (trex.recipe.Recipe): "
                          "extra sources with weights, filters, dedup, class balancing, sample cap.")
    search_space: dict[str, Any] | None = Field(
        None, description="What the search may choose, per trial field (trex/trial_config.py): a value pins it "
                          "(`lora_r: 16`), a list restricts it (`template: [chat]`), {min, max} keeps the grid "
                          "values in a range (`lr: {max: 1e-3}`), `warm_start: false` turns warm starts off. "
                          "TREX's planners, the bounds and FT-Bench's baselines all read it.")
    base_dir: str = Field("", description="Directory that relative data paths are read from.")
    loader: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description=
                               "'package.module:function' that fetches public data into the files `data` names, "
                               "called as function(name, cache_dir) (FT-Bench: `ftbench prepare <name>`).")
    notes: dict[str, Any] | None = Field(None, description="Provenance, never read by the search: data source "
                                         "ids/URLs and how they were confirmed, paper scores, approximations.")

    @field_validator("recipe")
    @classmethod
    def _valid_recipe(cls, v: dict | None) -> dict | None:
        return None if v is None else parse_recipe(v).model_dump(exclude_defaults=True)

    @field_validator("early_stopping")
    @classmethod
    def _valid_early_stopping(cls, v: Any) -> dict | None:
        if v is None:
            return None
        setting = EarlyStopping.parse(v)
        return {"patience": setting.patience, "min_delta": setting.min_delta}

    @field_validator("search_space")
    @classmethod
    def _valid_space(cls, v: dict | None) -> dict | None:
        for name, declared in (v or {}).items():
            declared_grid(name, declared)  # ValueError naming the field and what is wrong
        return v or None

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
        if self.scoring is None:  # the default follows the task type (set here, once: dumps carry it)
            self.scoring = "choice" if self.task_type == "classification" else "generate"
        if self.task_type == "generation" and self.scoring == "choice":
            problems.append("field 'scoring': 'choice' picks one of the labels, so it needs task_type "
                            "classification; generation tasks are scored by generating")
        if self.max_seq_length is not None and self.scoring == "generate" and self.max_seq_length <= self.max_new_tokens:
            problems.append(f"field 'max_seq_length': {self.max_seq_length} leaves no room for a prompt beside "
                            f"max_new_tokens {self.max_new_tokens}")
        if self.reference_score is not None and self.metric in METRICS and not 0 <= self.reference_score <= 1:
            problems.append(f"field 'reference_score': {self.metric} lies in 0..1, got {self.reference_score:g} "
                            "(give a fraction, not a percentage)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def licences(self) -> list[DataLicence]:
        """The distinct licences of the task's data and test data, in spec order."""
        found = [s.licence for s in (*self.data, *(self.test_data or [])) if s.licence is not None]
        return [lic for i, lic in enumerate(found) if lic not in found[:i]]

    def licence_warnings(self) -> list[str]:
        """One line per restriction a user of the tuned model must know (non-commercial data, test-only data)."""
        out = []
        for lic in self.licences():
            if not lic.commercial:
                out.append(f"non-commercial data: {lic.name}" + (f": {lic.terms}" if lic.terms else ""))
            if not lic.training:
                out.append(f"test-only data (terms forbid training): {lic.name}" + (f": {lic.terms}" if lic.terms else ""))
        return out

    def data_path(self, source: DataSource) -> Path:
        # ~ and $VARS expand ($TREX_CACHE_DIR to its default when unset), so a spec can name data
        # that a loader wrote into the cache.
        env = {"TREX_CACHE_DIR": str(Path.home() / ".cache" / "trex"), **os.environ}
        if source.path is None:
            raise ValueError(f"data source {source.hf_id!r} is a Hugging Face dataset, not a file")
        p = Path(os.path.expanduser(string.Template(source.path).safe_substitute(env)))
        return p if p.is_absolute() else Path(self.base_dir or ".") / p


def _metric(name: str):
    try:
        return resolve_metric(name)
    except Exception as err:  # noqa: BLE001 - a custom metric's import may raise anything; it is a field error
        raise ValueError(str(err) if isinstance(err, ValueError) else f"metric {name!r}: {type(err).__name__}: {err}") from None


# --- error messages ----------------------------------------------------------------------------

_PARTS = {(): ("task spec", TaskSpec), ("data",): ("data source", DataSource), ("splits",): ("splits", Splits),
          ("budget",): ("budget", Budget), ("test_data",): ("test data source", DataSource),
          ("data", "licence"): ("licence", DataLicence), ("test_data", "licence"): ("licence", DataLicence)}


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
    if kind == "path_missing":  # a data source with neither path nor hf_id
        return f"field '{where}.path': required field is missing"
    if kind in ("value_error", "assertion_error"):
        return f"field '{where or '(top level)'}': {msg}"
    return f"field '{where or '(top level)'}': {msg} (got {_show(e.get('input'))})"


def format_error(err: ValidationError, origin: str) -> str:
    return f"invalid task spec {origin}: " + "; ".join(_message(e) for e in err.errors()[:12])


def trusted_spec(data: dict[str, Any]) -> TaskSpec:
    """The typed spec from a dump of one that was validated when the run started (the graph's state holds the
    dump: checkpoints keep plain data). Nothing is checked again: no custom metric import, no disk."""
    def source(s: dict) -> DataSource:
        lic = s.get("licence")
        return DataSource.model_construct(**{**s, "licence": lic if lic is None else DataLicence.model_construct(**lic)})
    parts = {"data": [source(s) for s in data["data"]],
             "test_data": None if data.get("test_data") is None else [source(s) for s in data["test_data"]],
             "splits": Splits.model_construct(**data.get("splits", {})),
             "budget": Budget.model_construct(**data.get("budget", {}))}
    return TaskSpec.model_construct(**{**data, **parts})
