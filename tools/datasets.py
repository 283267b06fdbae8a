"""Load a task's local data, map its fields, de-duplicate and split it into train / val / hidden test."""
from __future__ import annotations

import csv
import hashlib
import json
import random
from pathlib import Path

from graph.spec import TaskSpec


class DataError(ValueError):
    """The task's data cannot be used; the message says which file and what is wrong."""


def _read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    if path.suffix in (".jsonl", ".json"):
        rows = []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}:{i}: not valid JSON ({err.msg})") from None
        return rows
    raise DataError(f"{path}: unsupported data format {path.suffix!r} (use .jsonl or .csv)")


def load_records(spec: TaskSpec) -> list[dict]:
    """All examples of all sources as {"input", "output"} records."""
    records = []
    for source in spec.data:
        path = spec.data_path(source)
        rows = _read_rows(path)
        if not rows:
            raise DataError(f"{path}: the dataset is empty")
        for field in (source.input_field, source.output_field):
            if field not in rows[0]:
                raise DataError(f"{path}: missing column {field!r} (has: {', '.join(map(str, rows[0]))})")
        records += [{"input": str(r[source.input_field]), "output": str(r[source.output_field])} for r in rows]
    return records


def split_records(records: list[dict], val_fraction: float, test_fraction: float, seed: int):
    """Exact duplicates of an input are dropped first, so no example leaks between splits."""
    seen, unique = set(), []
    for r in records:
        key = r["input"].strip().lower()
        if key not in seen:
            seen.add(key)
            unique.append(r)
    random.Random(seed).shuffle(unique)
    n_val = max(1, round(len(unique) * val_fraction))
    n_test = max(1, round(len(unique) * test_fraction))
    if len(unique) < n_val + n_test + 2:
        raise DataError(f"only {len(unique)} distinct examples: too few to split into train/val/test")
    return unique[n_val + n_test:], unique[:n_val], unique[n_val:n_val + n_test]


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def prepare_splits(spec: TaskSpec, out_dir: Path) -> dict:
    """Write train/val/test JSONL files once per run; return their paths and the label set."""
    records = load_records(spec)
    train, val, test = split_records(records, spec.splits.val_fraction, spec.splits.test_fraction, spec.splits.seed)
    paths = {}
    for name, part in (("train", train), ("val", val), ("test", test)):
        paths[name] = str(out_dir / f"{name}.jsonl")
        write_jsonl(Path(paths[name]), part)
    labels = spec.labels or (sorted({r["output"] for r in records}) if spec.task_type == "classification" else [])
    if spec.task_type == "classification":
        unknown = sorted({r["output"] for r in records} - set(labels))
        if unknown:
            raise DataError(f"outputs not among the spec's labels: {', '.join(unknown[:5])}")
    return {"paths": paths, "labels": labels, "sizes": {"train": len(train), "val": len(val), "test": len(test)}}
