"""Load a task's local data, map its fields, de-duplicate and split it into train / val / hidden test.

`check_data` is also what spec loading runs before anything starts: a missing file, a file with no rows,
a column the spec names but the rows lack, an output that is not a label, or too few distinct examples
for the splits is a DataError (a SpecError) whose message names the spec field at fault.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from pathlib import Path

from trex.spec import DataSource, SpecError, TaskSpec
from tools.data.data_shapes import OTHER_SHAPES, ShapeError, convert, resolve_shape, shape_line
from tools.data.hub_datasets import HubDataError, load_hub_rows
from tools.data.safe_paths import UnsafePathError, allowed_roots, resolve_within, still_safe


class DataError(SpecError):
    """The task's data cannot be used; the message says which file and what is wrong."""


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte
        return False


def _json_rows(text: str, path: Path) -> list:
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):  # one JSON array of objects
        try:
            rows = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as err:
            raise DataError(f"{path}: not valid JSON ({getattr(err, 'msg', err)})") from None
        numbered = list(enumerate(rows, 1))
    else:
        numbered = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    numbered.append((i, json.loads(line)))
                except (json.JSONDecodeError, RecursionError) as err:
                    raise DataError(f"{path}:{i}: not valid JSON ({getattr(err, 'msg', err)})") from None
    for i, row in numbered:
        if not isinstance(row, dict):
            raise DataError(f"{path}:{i}: expected a JSON object per example, got {type(row).__name__}")
    return [row for _, row in numbered]


def _read_rows(path: Path) -> list[dict]:
    if not _is_file(path):
        try:
            exists = path.exists()
        except (OSError, ValueError):
            exists = False
        raise DataError(f"{path} is not a file" if exists else f"data file not found: {path}")
    if path.suffix.lower() not in (".jsonl", ".json", ".csv"):
        raise DataError(f"{path}: unsupported data format {path.suffix!r} (use .jsonl or .csv)")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start})") from None
    if path.suffix.lower() != ".csv":
        return _json_rows(text, path)
    try:
        return list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise DataError(f"{path}: not valid CSV ({err})") from None


def _text(value) -> str:
    # Structured outputs (a JSON object to extract) stay JSON, not Python's repr.
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)


def source_path(spec: TaskSpec, source: DataSource) -> Path:
    """The file a source names, re-checked at read time: a path validated by parse_spec is real and
    absolute, so a symlink swapped in since (or an unparsed relative path) is checked against the roots."""
    path = spec.data_path(source)
    if still_safe(path):
        return path
    try:
        return resolve_within(path, None, allowed_roots(spec.base_dir or None))
    except UnsafePathError as err:
        raise DataError(str(err)) from None


def refuse_training_forbidden(source: DataSource, where: str) -> None:
    """Data whose terms forbid training never reaches a trial; the same file may still be the test set."""
    refusal = source.licence.forbids_training(source.path or source.hf_id) if source.licence else None
    if refusal:
        raise DataError(f"field '{where}.licence': {refusal}")


def _source_rows(spec: TaskSpec, source: DataSource, where: str) -> tuple[list[dict], str, str]:
    """A source's raw rows, what they are called in messages, and the spec field that names them."""
    if source.hf_id is not None:
        try:
            return load_hub_rows(source.hf_id, source.hf_config, source.split), f"hf:{source.hf_id}", "hf_id"
        except HubDataError as err:
            raise DataError(f"field '{where}.hf_id': {err}") from None
    try:
        path = source_path(spec, source)
        return _read_rows(path), str(path), "path"
    except DataError as err:
        raise DataError(f"field '{where}.path': {err}") from None


def _source_records(spec: TaskSpec, i: int, source: DataSource, field: str = "data",
                    notes: list[str] | None = None) -> list[dict]:
    """A source's rows as flat records (tools/data/data_shapes.py); notes gets the shape that was read."""
    where = f"{field}.{i}"
    if field == "data":
        refuse_training_forbidden(source, where)
    rows, path, origin = _source_rows(spec, source, where)
    if not rows:
        raise DataError(f"field '{where}.{origin}': {path} holds no rows: the dataset is empty")
    try:
        shape = resolve_shape(rows, source.format, source.input_field, source.output_field, f"field '{where}.format'", path)
        records = None if shape == "input_output" else convert(rows, shape, f"field '{where}.{origin}': {path}")
    except ShapeError as err:
        raise DataError(str(err)) from None
    if notes is not None:
        notes.append(shape_line(where, shape, len(rows), source.format))
    if records is not None:
        blank = [n for n, r in enumerate(records, 1) if not r["output"].strip()]
        if spec.task_type == "classification" and blank:
            raise DataError(f"field '{where}.{origin}': {len(blank)} rows of {path} have an empty answer: a "
                            f"classification example needs its label (first: row {blank[0]})")
        return records
    # Input/output columns: the checks (and messages) from before other shapes were read.
    guessed = source.format == "auto" and (source.input_field, source.output_field) == ("input", "output")
    columns = sorted({str(k) for r in rows[:100] for k in r})
    for key in ("input_field", "output_field"):
        col = getattr(source, key)
        lacking = [n for n, r in enumerate(rows, 1) if r.get(col) is None]
        if len(lacking) == len(rows):
            raise DataError(f"field '{where}.{key}': missing column {col!r} in {path} (has: {', '.join(columns)})"
                            + (f"; {OTHER_SHAPES}" if guessed else ""))
        if lacking:
            raise DataError(f"field '{where}.{key}': column {col!r} is missing or null in {len(lacking)} of "
                            f"{len(rows)} rows of {path} (first: row {lacking[0]})")
    if spec.task_type == "classification":
        blank = [n for n, r in enumerate(rows, 1) if not _text(r[source.output_field]).strip()]
        if blank:
            raise DataError(f"field '{where}.output_field': {len(blank)} rows of {path} have an empty "
                            f"{source.output_field!r}: a classification example needs its label (first: row {blank[0]})")
    return [{"input": _text(r[source.input_field]), "output": _text(r[source.output_field])} for r in rows]


def load_records(spec: TaskSpec, notes: list[str] | None = None) -> list[dict]:
    """All examples of all sources as {"input", "output"} records (plus "messages" for a chat)."""
    return [r for i, source in enumerate(spec.data) for r in _source_records(spec, i, source, notes=notes)]


def split_records(records: list[dict], val_fraction: float, test_fraction: float, seed: int):
    """Exact duplicates of an input are dropped first, so no example leaks between splits. test_fraction 0:
    no test split (the spec gives a fixed test set)."""
    seen, unique = set(), []
    for r in records:
        key = r["input"].strip().lower()
        if key not in seen:
            seen.add(key)
            unique.append(r)
    random.Random(seed).shuffle(unique)
    n_val = max(1, round(len(unique) * val_fraction))
    n_test = max(1, round(len(unique) * test_fraction)) if test_fraction > 0 else 0
    if len(unique) < n_val + n_test + 2:
        raise DataError(f"field 'splits': only {len(unique)} distinct examples (of {len(records)} rows): too few to "
                        f"split into train/val/test (need at least {n_val + n_test + 2})")
    return unique[n_val + n_test:], unique[:n_val], unique[n_val:n_val + n_test]


def task_labels(spec: TaskSpec, records: list[dict]) -> list[str]:
    """The label set: the spec's (every output must be one), else the data's distinct outputs."""
    if spec.task_type != "classification":
        return []
    outputs = {r["output"] for r in records}
    if spec.labels:
        unknown = sorted(outputs - set(spec.labels))
        if unknown:
            raise DataError(f"field 'labels': {len(unknown)} data outputs not among the spec's labels: "
                            f"{', '.join(map(repr, unknown[:5]))}{' ...' if len(unknown) > 5 else ''}")
        return list(spec.labels)
    labels = sorted(outputs)
    if len(labels) < 2:
        raise DataError(f"field 'labels': not given, and the data's outputs hold {len(labels)} distinct value(s); "
                        "a classification task needs at least two labels")
    if len(labels) > 20 and len(labels) > len(records) / 2:  # free text, not classes: scoring would choose among all
        raise DataError(f"field 'labels': not given, and the data's outputs hold {len(labels)} distinct values in "
                        f"{len(records)} rows: that is free text, not labels (list the labels, or use task_type generation)")
    return labels


def check_data(spec: TaskSpec, notes: list[str] | None = None) -> tuple[list[dict], list[dict], list[dict], list[str]]:
    """Read and check the task's data; (train, val, test, labels). Raises DataError naming the field.
    notes: gets one line per source saying the shape read ("data.0: detected chat messages (412 rows)")."""
    records = load_records(spec, notes)
    if not spec.test_data:
        train, val, test = split_records(records, spec.splits.val_fraction, spec.splits.test_fraction, spec.splits.seed)
        return train, val, test, task_labels(spec, records)
    # A fixed test set (e.g. a benchmark's official file): used as given; the data minus its inputs is split.
    test = [r for i, source in enumerate(spec.test_data) for r in _source_records(spec, i, source, "test_data", notes)]
    held = {r["input"].strip().lower() for r in test}
    kept = [r for r in records if r["input"].strip().lower() not in held]
    if not kept:
        raise DataError("field 'test_data': every row of `data` has its input in the test set: nothing to train on")
    train, val, _ = split_records(kept, spec.splits.val_fraction, 0, spec.splits.seed)
    return train, val, test, task_labels(spec, kept + test)


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def prepare_splits(spec: TaskSpec, out_dir: Path) -> dict:
    """Write train/val/test JSONL files once per run; return their paths, the label set, the split sizes and
    the shape each source was read as."""
    notes: list[str] = []
    train, val, test, labels = check_data(spec, notes)  # everything is checked before a file is written
    paths = {}
    for name, part in (("train", train), ("val", val), ("test", test)):
        paths[name] = str(out_dir / f"{name}.jsonl")
        write_jsonl(Path(paths[name]), part)
    return {"paths": paths, "labels": labels, "sizes": {"train": len(train), "val": len(val), "test": len(test)},
            "shapes": notes}
