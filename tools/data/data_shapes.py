"""Tell a data file's shape from its rows' keys and turn its rows into flat training records.

Shapes (trex/data_format.py): input/output columns, TRL prompt/completion pairs, Alpaca (instruction,
optional input, output), chat `messages` ({role, content}) and ShareGPT `conversations` ({from, value}).
Every record keeps a string `input` and `output`, which dedup, leak checks, recipe filters, labels and
reports read; a chat also keeps `messages` (its turns up to the last assistant turn), which the worker
trains on when present (tools/worker/chat_encoding.py). Input/output columns are mapped by the callers,
whose column errors predate this module and stay as they are.
"""
from __future__ import annotations

import json

from trex.spec import SpecError

SHAPE_NAMES = {"input_output": "input/output columns", "prompt_completion": "prompt/completion pairs",
               "alpaca": "Alpaca instructions", "messages": "chat messages", "sharegpt": "ShareGPT conversations"}
# Said after a missing-column error when no shape was recognised, so the user learns the other shapes exist.
OTHER_SHAPES = ("no other known data shape either (prompt/completion, instruction/output, messages, "
                "conversations; or set `format`)")
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "system": "system"}


class ShapeError(SpecError):
    """Rows that are not the shape their source says, or could be several shapes."""


def _marks(keys: set[str], input_field: str, output_field: str) -> list[str]:
    found = [shape for shape, needs in (("messages", {"messages"}), ("sharegpt", {"conversations"}),
                                        ("prompt_completion", {"prompt", "completion"}),
                                        ("alpaca", {"instruction", "output"})) if needs <= keys]
    # Alpaca rows also have `input` and `output`: those columns are then part of the Alpaca shape.
    if "alpaca" not in found and {input_field, output_field} <= keys:
        found.append("input_output")
    return found


def resolve_shape(rows: list[dict], fmt: str, input_field: str, output_field: str, at: str, origin: str) -> str:
    """The shape to read rows as (`at` starts any error): the given `format`, input_output when the columns were named, else the one
    shape the keys show. Two shapes at once is a ShapeError naming the fields found; none falls back to
    input_output, whose missing-column error names them."""
    if fmt != "auto":
        return fmt
    if (input_field, output_field) != ("input", "output"):
        return "input_output"
    keys = {str(k) for r in rows[:100] for k in r}
    found = _marks(keys, input_field, output_field)
    if len(found) > 1:
        raise ShapeError(f"{at}: ambiguous data in {origin}: fields found: {', '.join(sorted(keys))} "
                         f"fit {' and '.join(SHAPE_NAMES[s] for s in found)}; set `format` to one of: {', '.join(found)}")
    return found[0] if found else "input_output"


def shape_line(where: str, shape: str, n_rows: int, fmt: str) -> str:
    """What a run says it read, e.g. "data.0: detected chat messages (412 rows)"."""
    return f"{where}: {'detected ' if fmt == 'auto' else ''}{SHAPE_NAMES[shape]} ({n_rows} rows)"


def _text(value) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)


def _content(value, row: int, at: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in value):
        return "".join(str(p.get("text", "")) for p in value)  # OpenAI content parts, text only
    raise ShapeError(f"{at}: row {row}: a turn's content must be text, got {type(value).__name__}")


def _turns(value, row: int, at: str, sharegpt: bool) -> list[dict]:
    """{role, content} turns from OpenAI messages or ShareGPT {from, value} turns."""
    role_key, text_key, what = ("from", "value", "conversations") if sharegpt else ("role", "content", "messages")
    if not isinstance(value, list) or not value:
        raise ShapeError(f"{at}: row {row}: {what!r} must be a non-empty list of turns")
    turns = []
    for t in value:
        if not isinstance(t, dict) or role_key not in t or text_key not in t:
            raise ShapeError(f"{at}: row {row}: each turn needs {role_key!r} and {text_key!r}, got "
                             f"{_text(t)[:80]}")
        role = _SHAREGPT_ROLES.get(str(t[role_key])) if sharegpt else str(t[role_key])
        if role not in ("system", "user", "assistant"):
            known = "human, gpt, system" if sharegpt else "system, user, assistant"
            raise ShapeError(f"{at}: row {row}: unknown {role_key} {t[role_key]!r} (use {known})")
        turns.append({"role": role, "content": _content(t[text_key], row, at)})
    return turns


def flatten(turns: list[dict]) -> str:
    """A readable one-string view of a conversation's context: a lone user turn is itself; more turns are
    labelled lines. It is what dedup, leak checks, filters and reports compare."""
    if len(turns) == 1 and turns[0]["role"] == "user":
        return turns[0]["content"]
    return "\n".join(f"{t['role'].capitalize()}: {t['content']}" for t in turns)


def chat_record(turns: list[dict], row: int, at: str) -> dict:
    """A flat record of a conversation that ends at its last assistant turn (later turns teach nothing)."""
    last = max((i for i, t in enumerate(turns) if t["role"] == "assistant"), default=None)
    if last is None:
        raise ShapeError(f"{at}: row {row}: the conversation has no assistant turn to learn")
    first = next(i for i, t in enumerate(turns) if t["role"] != "system")
    if turns[first]["role"] != "user":
        raise ShapeError(f"{at}: row {row}: the conversation must start with a user turn "
                         "(after any system turn)")
    turns = turns[:last + 1]
    return {"input": flatten(turns[:last]), "output": turns[last]["content"], "messages": turns}


def _field(r: dict, key: str, row: int, at: str):
    if r.get(key) is None:
        raise ShapeError(f"{at}: row {row}: missing or null {key!r}")
    return r[key]


def _prompt_completion(r: dict, row: int, at: str) -> dict:
    prompt, completion = _field(r, "prompt", row, at), _field(r, "completion", row, at)
    if isinstance(prompt, str) and isinstance(completion, str):
        return {"input": prompt, "output": completion}
    # TRL's conversational form: prompt turns, then the completion's (assistant) turns.
    head = _turns(prompt, row, at, False) if isinstance(prompt, list) else [{"role": "user", "content": _text(prompt)}]
    tail = (_turns(completion, row, at, False) if isinstance(completion, list)
            else [{"role": "assistant", "content": _text(completion)}])
    return chat_record(head + tail, row, at)


def _alpaca(r: dict, row: int, at: str) -> dict:
    instruction, extra = _text(_field(r, "instruction", row, at)), r.get("input")
    text = f"{instruction}\n\n{_text(extra)}" if extra is not None and _text(extra).strip() else instruction
    return {"input": text, "output": _text(_field(r, "output", row, at))}


def convert(rows: list[dict], shape: str, at: str) -> list[dict]:
    """Flat records of rows of a shape other than input_output; a bad row is a ShapeError naming it."""
    if shape == "prompt_completion":
        return [_prompt_completion(r, n, at) for n, r in enumerate(rows, 1)]
    if shape == "alpaca":
        return [_alpaca(r, n, at) for n, r in enumerate(rows, 1)]
    key = "conversations" if shape == "sharegpt" else "messages"
    return [chat_record(_turns(r.get(key), n, at, shape == "sharegpt"), n, at) for n, r in enumerate(rows, 1)]
