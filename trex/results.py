"""What a trial's training and scoring return: typed results, and a typed failure (a failed trial is data with
the metric's worst value, never an exception that escapes a node). A TrialRunner returns these."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# Why a trial failed; the report and the Researcher's diagnosis read these.
FAILURE_KINDS = ("timeout", "oom", "diverged", "crash", "no_result", "unavailable", "warm_start", "lost_worker",
                 "storage", "missing", "data")

# What a trial's record in the tree keeps of its training job (the accounting the report and the Researcher read).
TRAIN_STATS = ("loss_curve", "val_loss", "steps", "tokens", "train_examples", "train_s", "wall_s", "peak_memory_mb",
               "peak_gpu_memory_mb", "tokens_per_s", "gpu_hours", "backend", "method", "device", "warm_start_from",
               "recipe_stats", "executor",
               # the learning curve (tools/worker/learning_curve.py): a point per epoch (and per eval_steps), the kept
               # point, why and when early stopping ended the trial, the epochs trained and the epoch it resumed from
               "curve", "best_epoch", "best_step", "selected_by", "stopped", "epochs_trained", "resumed_from_epoch",
               "eval_s",
               # successive halving (nodes/train.py): the epoch a job paused after, and the trial's rungs
               "paused_at", "halving")
EVAL_STATS = ("n", "n_wrong", "bad_cases", "wall_s", "cached")


@dataclass(frozen=True)
class TrialFailure:
    kind: str  # one of FAILURE_KINDS
    error: str
    log_tail: str = ""


def _fresh(out: dict, key: str) -> dict | None:
    """A chat-model usage a job result carries, when its calls were made now: a cached result (trial or eval
    cache, replay table, reused recipe file) carries the usage of calls made before."""
    return None if out.get("cached") else out.get(key)


def _failure(out: dict, prefix: str = "") -> TrialFailure | None:
    if out.get("status") == "ok":
        return None
    return TrialFailure(out.get("failure", "crash"), f"{prefix}{out.get('error', 'unknown')}",
                        str(out.get("log_tail", ""))[-1000:])


@dataclass
class TrainResult:
    key: str = ""  # the trial's cache key: what its scoring refers to ("" when it never got one)
    adapter: str | None = None
    cached: bool = False
    stats: dict[str, Any] = field(default_factory=dict)  # TRAIN_STATS the job reported
    recipe_usage: dict | None = None  # chat-model calls its data recipe made now (synthesis, judge filter)
    judge_usage: dict | None = None  # an llm_judge's calls scoring validation inside the job, now
    failure: TrialFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def paused_at(self) -> int | None:
        """The epoch this (paused) trial stopped after, to be continued or stopped by its round; None: finished."""
        return self.stats.get("paused_at") if self.ok else None

    @classmethod
    def from_job(cls, out: dict) -> "TrainResult":
        """From a training job's result (tools.trials.trial_jobs, a replay table)."""
        return cls(key=out.get("key", ""), adapter=out.get("adapter"), cached=bool(out.get("cached")),
                   stats={k: out[k] for k in TRAIN_STATS if k in out},
                   recipe_usage=_fresh(out.get("recipe_stats") or {}, "llm_usage"),
                   judge_usage=_fresh(out, "val_llm_usage"), failure=_failure(out))

    def record(self, trial_id: str) -> dict:
        """The trial's result as the tree keeps it (plain data, checkpointed)."""
        rec = {"trial_id": trial_id, "status": "ok" if self.ok else "failed", "adapter": self.adapter,
               "train": dict(self.stats), "cached": self.cached, "key": self.key}
        if self.failure:
            rec.update(error=self.failure.error, failure=self.failure.kind, log_tail=self.failure.log_tail)
        return rec


@dataclass
class EvalResult:
    score: float | None = None  # None when scoring failed
    stats: dict[str, Any] = field(default_factory=dict)  # EVAL_STATS: examples, wrong ones, bad cases, time
    cached: bool = False
    judge_usage: dict | None = None  # an llm_judge's calls made now
    failure: TrialFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @classmethod
    def from_job(cls, out: dict) -> "EvalResult":
        """From a scoring job's result (tools.trials.trial_jobs, a replay table)."""
        ok = out.get("status") == "ok"
        return cls(score=float(out["score"]) if ok else None, stats={k: out.get(k) for k in EVAL_STATS},
                   cached=bool(out.get("cached")), judge_usage=_fresh(out, "llm_usage"), failure=_failure(out))


class TrialRunner(Protocol):
    """Trains and scores trials. The default runs a worker process per job (tools.trials.runner); a benchmark
    passes its own (FT-Bench's replay table) to graph.main.build_graph(runner=...)."""

    def train(self, spec, data: dict, cfg: dict, ctx, init: tuple[str, str] | None = None,
              pause_after: int = 0) -> TrainResult:
        """Train one config (init: the parent's (adapter, train key) to warm-start from). pause_after > 0: stop
        after that epoch, ready to continue (TrainResult.paused_at); training it again continues it. A runner
        that cannot pause trains to the end (a finished result)."""

    def score(self, spec, data: dict, cfg: dict, adapter: str | None, train_key: str, split: str, ctx,
              job_dir, max_examples: int | None) -> EvalResult:
        """Score the base model (adapter None) or base + adapter on a split."""
