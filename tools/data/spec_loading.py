"""Load and check a task spec before anything starts: the checks that need the machine.

The schema itself (types, ranges, unknown fields, metric vs task type) is trex/spec.py. Here: a spec file is
read (YAML/JSON), the base model must be available, the data paths must stay inside the allowed directories
(tools/data/safe_paths.py), and the data must have the named columns, rows, labels and enough distinct examples
for the splits (tools/data/datasets.check_data). A bad spec fails with a one-line SpecError naming the field.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tools.models.base_models import check_base_model
from tools.data.task_catalog import resolve_task, shipped_tasks
from trex.context import Context
from trex.spec import SpecError, TaskSpec, format_error


# --- what needs the machine: the base model, the paths, the data -------------------------------

def parse_spec(data: Any, origin: str = "(input)", base_dir: str | None = None, *, cache_dir: str | None = None,
               data_dirs: str | None = None, check_data: bool = True) -> TaskSpec:
    """Validate a spec given as a dict; raise SpecError naming each bad field.

    base_dir: the directory of the spec file it came from (an allowed root). cache_dir/data_dirs: the run's
    Context values (default: the environment). check_data: also read the data (skipped, when a `loader`
    will fetch it, until its files exist)."""
    from tools.data.safe_paths import allowed_roots, resolve_spec_paths

    if not isinstance(data, dict):
        raise SpecError(f"invalid task spec {origin}: expected a mapping of fields (name, goal, task_type, "
                        f"base_model, data, metric, ...), got {type(data).__name__}")
    if base_dir and data.get("base_dir") in (None, ""):  # a spec file's data is read relative to the file
        data = {**data, "base_dir": base_dir}
    try:
        spec = TaskSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(format_error(err, origin)) from None
    update, problems = resolve_spec_paths(spec, allowed_roots(base_dir, cache_dir, data_dirs), base_dir)
    try:
        update["base_model"] = check_base_model(spec.base_model, update.get("base_dir", spec.base_dir))
    except (ValueError, OSError) as err:
        problems.append(f"field 'base_model': {err}")
    spec = spec.model_copy(update=update)  # what was checked is what is read: real absolute paths
    if problems:
        raise SpecError(f"invalid task spec {origin}: " + "; ".join(problems))
    every_file = [s for s in (*spec.data, *(spec.test_data or [])) if s.path is not None]
    if check_data and not (spec.loader and not all(spec.data_path(s).is_file() for s in every_file)):
        from tools.data.datasets import check_data as read_and_check

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


def load_task(task, ctx: Context | None = None) -> TaskSpec:
    """The graph's input names its task by a spec mapping, a spec file path, or a shipped task's name."""
    roots = {"cache_dir": ctx.cache_dir, "data_dirs": ctx.data_dirs} if ctx else {}  # where data may be read
    if not task:
        raise SpecError("the graph input has no 'task': give a task spec mapping, a spec file path, or a shipped "
                        f"task name ({', '.join(shipped_tasks())})")
    if isinstance(task, str):
        try:
            return load_spec(resolve_task(task), **roots)
        except FileNotFoundError as err:
            raise SpecError(str(err)) from None
        except (OSError, ValueError) as err:  # a NUL byte, a name too long: still the input's fault
            raise err if isinstance(err, SpecError) else SpecError(f"graph input 'task': {err}") from None
    return parse_spec(task, **roots)
