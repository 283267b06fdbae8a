"""Cache of trial results keyed by everything that determines them, so no identical trial runs twice.

One JSON file per entry under <cache_dir>/trials; shared across runs. Failures are not cached: a
timeout may pass with a longer limit.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

# Bump when the training or scoring code changes what a trial produces.
BACKEND_VERSION = "peft-loop-2"  # 2: warm start, methods, fused validation scoring


def cache_key(kind: str, payload: dict) -> str:
    text = json.dumps({"kind": kind, "backend": BACKEND_VERSION, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class TrialCache:
    def __init__(self, root: str | Path):
        self.root = Path(root) / "trials"

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            return json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def put(self, key: str, result: dict) -> None:
        if result.get("status") != "ok":
            return
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.path(key).with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(result), encoding="utf-8")
        tmp.replace(self.path(key))  # atomic: a crash never leaves half an entry
