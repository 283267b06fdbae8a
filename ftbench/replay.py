"""Replay table: a tabular benchmark of (task, trial) -> result recorded from real training runs.

A ReplayRunner over a table (ftbench/replay_runner.py) is the trial runner the benchmark passes to
graph.main.build_graph(runner=...) and to its baselines; it asks the table before training or scoring anything:

* mode "replay" (default): a trial in the table returns its recorded result and no process starts; a
  trial that is not in it is a failed trial with failure "missing" (the metric's worst score). It is
  never trained, so a replayed comparison costs seconds; the runner counts and reports missing trials.
* mode "record": a trial in the table is replayed; one that is not is trained and scored for real
  (through the trial cache, so earlier real runs cost nothing) and appended to the table.

Key of a trial: the task (name, base model, prompt/metric payload, digests of its train/val/test
splits), the trial's configuration without its id and seed, and for a warm start the key of the trial
it started from. The training seed is left out on purpose: the table holds one recorded training per
configuration and a replayed benchmark varies the search's seed only (training noise is not replayed).

The file is JSON lines, appended to; a later line for a key replaces an earlier one.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tools.data.datasets import file_digest
from tools.trials import trial_jobs
from trex.trial_config import key_view

PREFIX = "replay:"  # train ids and adapter paths of replayed trials start with this
MISSING = "missing"  # failure kind of a trial the table does not hold (replay mode)
MODES = ("replay", "record")
DROP = ("adapter", "val_eval", "val_llm_usage", "log_tail", "cached", "key", "recipe_stats", "status")


def _hash(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def task_key(spec, data: dict) -> str:
    splits = {s: file_digest(p) for s, p in sorted(data["paths"].items())}
    return _hash({"task": spec.name, "base_model": spec.base_model,
                  "payload": trial_jobs.task_payload(spec, data["labels"]), "splits": splits})


def config_key(cfg: dict) -> dict:
    """What of a trial config decides its result here: everything but its id and training seed, with
    default values dropped (no recipe change, a cold start, LoRA), so equal configs get one key."""
    defaults = {"recipe": {}, "warm_start": False, "method": "lora"}
    return {k: v for k, v in key_view(cfg).items()
            if k not in ("id", "seed") and not (k in defaults and (v or defaults[k]) == defaults[k])}


def trial_key(tkey: str, cfg: dict, init: str | None) -> str:
    return _hash({"task": tkey, "config": config_key(cfg), "init": init})


class ReplayTable:
    """One table file, loaded once per process and kept in step with what this process appends."""

    def __init__(self, path: str | Path, mode: str = "replay"):
        if mode not in MODES:
            raise ValueError(f"replay mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.path, self.mode = Path(path), mode
        if mode == "replay" and not self.path.is_file():
            raise FileNotFoundError(f"replay table {self.path} does not exist (record one with --record)")
        self.entries: dict[str, dict] = {}
        self.by_train_key: dict[str, str] = {}
        self.stats = {"replayed": 0, "missing": 0, "recorded": 0}
        self.seen: tuple = ()
        self.reload()

    def _stat(self) -> tuple:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return ()
        return st.st_mtime_ns, st.st_size

    def reload(self) -> None:
        """Read the file again if it changed since this process last read or wrote it."""
        if self._stat() == self.seen:
            return
        self.entries, self.by_train_key = {}, {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    self._index(json.loads(line))
        self.seen = self._stat()

    def _index(self, entry: dict) -> None:
        self.entries[entry["key"]] = entry
        if entry.get("train_key"):
            self.by_train_key[entry["train_key"]] = entry["key"]

    def _append(self, entry: dict) -> None:
        self._index(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        self.seen = self._stat()

    def add(self, entry: dict) -> None:
        """Append an entry the caller built (a recorded curve: ftbench/curve_sweep.py)."""
        self.stats["recorded"] += 1
        self._append(entry)

    def _missing(self, what: str) -> dict:
        self.stats["missing"] += 1
        return {"status": "failed", "failure": MISSING, "cached": False, "key": "",
                "error": f"not in replay table {self.path} ({what}); record it with --record or train it for real"}

    # -- training ---------------------------------------------------------------------------------------
    def _init_key(self, init: tuple[str, str] | None) -> str | None:
        if init is None:
            return None
        train_id = init[1]
        return train_id[len(PREFIX):] if train_id.startswith(PREFIX) else self.by_train_key.get(train_id, train_id)

    def training(self, spec, data: dict, cfg: dict, init: tuple[str, str] | None, stopping=None,
                 higher_is_better: bool = True, stop_epoch: int | None = None, metric: str = "",
                 pause: bool = False) -> dict | None:
        """The recorded training result, a "missing" failure (replay mode), or None: train it for real. A recorded
        curve (ftbench/curve_replay.py) is served as the prefix the trial trains: up to early stopping (`stopping`,
        an EarlyStopping; None: off) or stop_epoch, keeping its best point, at that prefix's tokens. pause: a cut at
        stop_epoch is a pause (`paused_at`), not a stop."""
        key = trial_key(task_key(spec, data), cfg, self._init_key(init))
        entry = self.entries.get(key)
        if entry is not None and entry.get("curve"):
            from ftbench.curve_replay import point_key, prefix_result, walk
            from trex.jobs import EarlyStopping

            self.stats["replayed"] += 1
            walked = walk(entry["curve"], stopping or EarlyStopping(0), higher_is_better, stop_epoch, metric, pause)
            return {**prefix_result(entry["train"], entry["curve"], walked), "status": "ok", "cached": True,
                    "adapter": PREFIX + point_key(key, walked["kept"]["epoch"]),
                    "key": PREFIX + point_key(key, walked["kept"]["epoch"])}
        if entry is not None and entry.get("train"):
            self.stats["replayed"] += 1
            adapter = entry.get("adapter") or ""  # a real adapter still on disk lets a warm-start child train
            adapter = adapter if adapter and Path(adapter).is_dir() else PREFIX + key
            return {**entry["train"], "status": "ok", "adapter": adapter, "cached": True, "key": PREFIX + key}
        if self.mode == "replay" or (init is not None and init[1].startswith(PREFIX) and not Path(init[0]).is_dir()):
            return self._missing(f"config {json.dumps(config_key(cfg), sort_keys=True)}")
        return None

    def record_training(self, spec, data: dict, cfg: dict, init: tuple[str, str] | None, result: dict, ctx) -> None:
        """Append a trial trained (or found in the trial cache) for real, with its validation score when the
        training job left one in the cache."""
        if self.mode != "record" or result.get("status") != "ok":
            return
        from memory.trial_cache import TrialCache
        from tools.trials.trial_jobs import eval_key

        train_key, max_eval = result["key"], ctx.max_eval_examples
        val = TrialCache(ctx.cache_dir).get(eval_key(spec, data, cfg, train_key, "val", max_eval, ctx.device))
        key = trial_key(task_key(spec, data), cfg, self._init_key(init))
        if self.entries.get(key, {}).get("train"):  # another seed of this config is recorded: keep that one
            self.by_train_key[train_key] = key
            return
        entry = {"key": key, "task": spec.name, "config": config_key(cfg), "init": self._init_key(init),
                 "train_key": train_key, "adapter": result.get("adapter"), "scores": {},
                 "train": {k: v for k, v in result.items() if k not in DROP}}
        if val and val.get("status") == "ok":
            entry["scores"]["val"] = _score_part(val, max_eval)
        self.stats["recorded"] += 1
        self._append(entry)

    # -- scoring ----------------------------------------------------------------------------------------
    def _entry_for(self, spec, data: dict, cfg: dict, train_id: str) -> str:
        if train_id == "base":
            return trial_key(task_key(spec, data), cfg, None)
        if train_id.startswith(PREFIX):
            return train_id[len(PREFIX):]
        return self.by_train_key.get(train_id, "")

    def scoring(self, spec, data: dict, cfg: dict, train_id: str, split: str, max_examples: int | None,
                adapter: str | None = None) -> dict | None:
        """The recorded score of a trial on a split, a "missing" failure (replay mode), or None: score for real
        (record mode; a replayed trial only while its real adapter is still on disk)."""
        key = self._entry_for(spec, data, cfg, train_id)
        part = self._point_score(key, split) or self.entries.get(key, {}).get("scores", {}).get(split)
        if part is not None and part.get("max_examples") == max_examples:
            self.stats["replayed"] += 1
            return {**part, "status": "ok", "cached": True}
        if self.mode == "replay" or (train_id.startswith(PREFIX) and not (adapter and Path(adapter).is_dir())):
            return self._missing(f"{split} score of {train_id}")
        return None

    def _point_score(self, key: str, split: str) -> dict | None:
        """A curve point's score on a split (key "<entry>@<epoch>"), or None for any other key."""
        from ftbench.curve_replay import split_point_key

        base, epoch = split_point_key(key)
        if epoch is None:
            return None
        for p in self.entries.get(base, {}).get("curve", []):
            if p["epoch"] == epoch:
                return p["evals"].get(split)
        return None

    def curve(self, spec, data: dict, cfg: dict) -> list[dict] | None:
        """The recorded curve of a cold-started config, or None (not a curve table, or not recorded)."""
        return self.entries.get(trial_key(task_key(spec, data), cfg, None), {}).get("curve")

    def record_score(self, spec, data: dict, cfg: dict, train_id: str, split: str, max_examples: int | None,
                     result: dict) -> None:
        if self.mode != "record" or result.get("status") != "ok":
            return
        key = self._entry_for(spec, data, cfg, train_id)
        if not key:
            return
        entry = self.entries.get(key) or {"key": key, "task": spec.name, "config": config_key(cfg), "init": None,
                                          "train_key": None, "adapter": None, "scores": {}, "train": {}}
        entry = {**entry, "scores": {**entry["scores"], split: _score_part(result, max_examples)}}
        self.stats["recorded"] += 1
        self._append(entry)

    def holes(self, tasks: list[str] | None = None, split: str = "test") -> dict[str, int]:
        """Per task, the trained configurations the table holds without a score on `split`: a comparison that
        picks one of them as its winner would have no test score, and a mean over the others is biased."""
        out: dict[str, int] = {}
        for e in self.entries.values():
            if e.get("train") and split not in e.get("scores", {}) and (tasks is None or e.get("task") in tasks):
                out[e["task"]] = out.get(e["task"], 0) + 1
        return out

    def compact(self) -> int:
        """Rewrite the file with one line per key (the latest); returns the number of entries."""
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in self.entries.values()), encoding="utf-8")
        tmp.replace(self.path)
        self.seen = self._stat()
        return len(self.entries)


def _score_part(result: dict, max_examples: int | None) -> dict:
    return {"score": result["score"], "n": result.get("n"), "n_wrong": result.get("n_wrong"),
            "bad_cases": result.get("bad_cases", []), "max_examples": max_examples}


_TABLES: dict[tuple[str, str], ReplayTable] = {}


def open_table(path: str | Path, mode: str = "replay") -> ReplayTable:
    """The replay table in a file (one instance per file and mode in a process), up to date with the file."""
    if mode not in MODES:
        raise ValueError(f"replay mode must be one of {', '.join(MODES)}, not {mode!r}")
    ident = (str(Path(path).resolve()), mode)
    if ident not in _TABLES:
        _TABLES[ident] = ReplayTable(path, mode)
    _TABLES[ident].reload()
    return _TABLES[ident]
