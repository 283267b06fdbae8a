"""The benchmark's trial runner over a replay table (ftbench/replay.py), and the export of the trial cache into a
table: a recorded result is replayed without a process; in record mode a missing one is trained and scored for
real by TREX's own jobs and added."""
from __future__ import annotations

import json
from pathlib import Path

from ftbench.replay import MISSING, PREFIX, ReplayTable, open_table
from tools.trials import trial_jobs
from tools.trials.runner import default_runner
from trex.results import EvalResult, TrainResult, TrialRunner


class ReplayRunner:
    """A TrialRunner whose trials come from a replay table: a recorded result is replayed; a missing one fails as
    "missing" (replay mode) or is trained and scored for real by TREX's own jobs and appended (record mode)."""

    def __init__(self, table: ReplayTable):
        self.table = table

    def train(self, spec, data: dict, cfg: dict, ctx, init: tuple[str, str] | None = None,
              pause_after: int = 0, stop_epoch: int | None = None) -> TrainResult:
        """stop_epoch (curve tables only): the search stopped the trial after that epoch (a pruner). pause_after
        (curve tables only): the prefix up to that epoch, paused (successive halving: training it again with a
        later pause, or none, continues it); a table without curves trains to the end."""
        from trex.metrics import get_metric

        pause = trial_jobs.pausing(cfg, pause_after)
        out = self.table.training(spec, data, cfg, init, trial_jobs.early_stopping(spec, ctx),
                                  get_metric(spec.metric).higher_is_better, pause or stop_epoch, spec.metric,
                                  pause=bool(pause))
        if out is None:  # recorded whole, never paused: a table's entry is the config's whole training
            out = trial_jobs.run_training(spec, data, cfg, ctx, init)
            self.table.record_training(spec, data, cfg, init, out, ctx)
        return TrainResult.from_job(out)

    def curve(self, spec, data: dict, cfg: dict) -> list[dict] | None:
        return self.table.curve(spec, data, cfg)

    def score(self, spec, data: dict, cfg: dict, adapter: str | None, train_key: str, split: str, ctx,
              job_dir, max_examples: int | None) -> EvalResult:
        out = self.table.scoring(spec, data, cfg, train_key, split, max_examples, adapter)
        if out is not None and out.get("failure") == MISSING and self.table.mode == "record":
            out = self._retrain_to_score(spec, data, cfg, train_key, split, ctx, job_dir, max_examples) or out
        elif out is None:
            out = trial_jobs.run_scoring(spec, data, cfg, adapter, train_key, split, ctx, job_dir, max_examples)
            self.table.record_score(spec, data, cfg, train_key, split, max_examples, out)
        return EvalResult.from_job(out)

    def _retrain_to_score(self, spec, data: dict, cfg: dict, train_key: str, split: str, ctx, job_dir,
                          max_examples: int | None) -> dict | None:
        """Record mode, a replayed trial whose adapter is gone and whose score on this split was never taken (a
        table's holes): train it again for real, score the split and add the score. Only a cold start whose
        retraining reproduces the recorded training key (same data, config and code) is filled; else None."""
        entry = self.table.entries.get(train_key[len(PREFIX):]) if train_key.startswith(PREFIX) else None
        if not entry or entry.get("init") is not None or not entry.get("train_key"):
            return None
        trained = trial_jobs.run_training(spec, data, cfg, ctx, None)
        if trained.get("status") != "ok" or trained.get("key") != entry["train_key"]:
            return None
        out = trial_jobs.run_scoring(spec, data, cfg, trained["adapter"], trained["key"], split, ctx, job_dir,
                                     max_examples)
        self.table.record_score(spec, data, cfg, train_key, split, max_examples, out)
        return out


def runner_for(table_path: str = "", mode: str = "replay") -> TrialRunner:
    """The benchmark's trial runner: a ReplayRunner when a table is named, else TREX's default runner."""
    return ReplayRunner(open_table(table_path, mode)) if table_path else default_runner()


def export_cache(spec, data: dict, ctx, table: ReplayTable) -> int:
    """Add to the table every trial in the trial cache that was trained on this task's data (with its
    validation and, where scored, test score), and the base model's scores. Returns the entries added."""
    from memory.trial_cache import TrialCache
    from tools.trials.trial_jobs import eval_key, run_key, training_data

    if table.mode != "record":
        raise ValueError("export needs a table opened in record mode")
    cache = TrialCache(ctx.cache_dir)
    jobs = {}
    for job_file in sorted((Path(ctx.cache_dir) / "adapters").glob("*/job.json")):
        job = json.loads(job_file.read_text(encoding="utf-8"))
        if job.get("mode") == "train" and job.get("base_model") == spec.base_model and cache.get(job_file.parent.name):
            jobs[job_file.parent.name] = job
    before = len(table.entries)

    def add(key: str, depth: int = 0) -> bool:
        if key in table.by_train_key:
            return True
        job = jobs.get(key)
        if job is None or depth > 50:
            return False
        cfg = job["config"]
        init_adapter = job.get("init_adapter")
        init_key = Path(init_adapter).parent.name if init_adapter else None
        if init_key and not add(init_key, depth + 1):  # a warm start is keyed by its parent: parents first
            return False
        try:
            train_path, _ = training_data(spec, data, cfg, ctx)
        except (ValueError, OSError):
            return False
        if run_key(spec, data, cfg, ctx, init_key, train_path) != key:  # trained on another task's data (or settings)
            return False
        init = (init_adapter, init_key) if init_key else None
        table.record_training(spec, data, cfg, init, {**cache.get(key), "key": key}, ctx)
        test = cache.get(eval_key(spec, data, cfg, key, "test", None, ctx.device))
        if test:
            table.record_score(spec, data, cfg, key, "test", None, test)
        return True

    for key in jobs:
        add(key)
    base = {"id": "base", "epochs": 0, "template": "chat"}
    for split, n in (("val", ctx.max_eval_examples), ("test", None)):
        hit = cache.get(eval_key(spec, data, base, "base", split, n, ctx.device))
        if hit:
            table.record_score(spec, data, base, "base", split, n, hit)
    return len(table.entries) - before
