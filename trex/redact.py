"""Scrub secrets from text before it leaves the process (logs, results, reports, checkpoints, the CLI).

Two nets: the values of secret-named environment variables (read at call time, so a key set after
import is still caught), and key-shaped patterns (OpenAI/Anthropic ``sk-...``, Tavily ``tvly-...``,
Hugging Face ``hf_...``, GitHub, AWS access key ids) for keys that never were in this environment.
"""
from __future__ import annotations

import os
import re
from typing import Any

KNOWN = ("OPENAI_API_KEY", "TAVILY_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "ANTHROPIC_API_KEY")
SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
MIN_LEN = 8  # shorter values are not real keys, and scrubbing them would mangle ordinary text
MASK = "[REDACTED]"

_PATTERNS = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"sk-[A-Za-z0-9_-]{16,}"          # OpenAI (sk-proj-...), Anthropic (sk-ant-...)
    r"|tvly-[A-Za-z0-9_-]{12,}"       # Tavily
    r"|hf_[A-Za-z0-9]{16,}"           # Hugging Face
    r"|gh[pousr]_[A-Za-z0-9]{20,}"    # GitHub
    r"|AKIA[0-9A-Z]{16}"              # AWS access key id
    r")")


def secret_values(env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(name, value) of every secret-looking variable, longest value first (so overlaps scrub whole)."""
    env = os.environ if env is None else env
    found = {(k, v) for k, v in env.items()
             if (k in KNOWN or k.upper().endswith(SUFFIXES)) and v and len(v.strip()) >= MIN_LEN}
    return sorted(found, key=lambda kv: -len(kv[1]))


def redact(text: Any) -> Any:
    """text with secret values and key-shaped strings masked; non-strings are returned unchanged."""
    if not isinstance(text, str) or not text:
        return text
    for name, value in secret_values():
        if value in text:
            text = text.replace(value, f"[REDACTED:{name}]")
        stripped = value.strip()
        if stripped != value and stripped in text:
            text = text.replace(stripped, f"[REDACTED:{name}]")
    return _PATTERNS.sub(MASK, text)


def redact_obj(obj: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, strings) with every string redacted, keys included."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact_obj(k): redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj] if isinstance(obj, list) else tuple(redact_obj(v) for v in obj)
    return obj


def redact_file(path) -> None:
    """Rewrite a text file in place, redacted (a subprocess's log that we did not write ourselves)."""
    from pathlib import Path

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    clean = redact(text)
    if clean != text:
        p.write_text(clean, encoding="utf-8")
