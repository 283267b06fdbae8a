"""The inputs of `trex predict`: a JSONL, CSV or text file, or stdin's lines.

A JSONL line is a string, or an object whose "messages" (a chat to answer next), "input" or the task's own
input field (trex_model.json's input_fields) holds the input; a CSV (with a header row) takes the same
columns, else its first; any other file, and stdin, is one input per non-empty line.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path


def _pick(row: dict, fields: list[str], where: str):
    for name in ("messages", "input", *fields):
        if row.get(name) not in (None, ""):
            return row[name]
    raise ValueError(f"{where}: no input: expected a 'messages' or 'input' field"
                     + (f" or {', '.join(repr(f) for f in fields)}" if fields else ""))


def _jsonl(text: str, fields: list[str], name: str) -> list:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise ValueError(f"{name} line {n} is not JSON ({err})") from None
        out.append(row if isinstance(row, str) else _pick(row, fields, f"{name} line {n}") if isinstance(row, dict)
                   else str(row))
    return out


def _csv(text: str, fields: list[str]) -> list:
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    if not columns:
        return []
    known = [c for c in ("input", *fields) if c in columns]
    column = known[0] if known else columns[0]  # a file of one column needs no header name TREX knows
    return [row[column] for row in reader if (row.get(column) or "").strip()]


def read_inputs(path: str | None, fields: list[str] | None = None) -> list:
    """The inputs in order: strings, or chats (lists of {role, content}). path None or '-': stdin."""
    fields = list(fields or [])
    if path in (None, "-"):
        return [line for line in sys.stdin.read().splitlines() if line.strip()]
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"input file {file} does not exist")
    text = file.read_text(encoding="utf-8-sig")
    suffix = file.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return _jsonl(text, fields, str(file))
    if suffix == ".csv":
        return _csv(text, fields)
    return [line for line in text.splitlines() if line.strip()]
