"""The jobs a trial sends to its worker process: a TrainJob or a ScoreJob, built by the trial layer
(tools/trials/trial_jobs.py) and read by the worker (tools/worker). They cross the process boundary as JSON
(to_dict / job_from_dict); a key the schema does not know, or a required one left out, is refused by name, so a
job written by one side and misread by the other fails at once instead of training something else.
"""
from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any


class JobError(ValueError):
    """A job dict that does not fit its schema."""


def _check_keys(cls, data: dict, what: str) -> None:
    if not isinstance(data, dict):
        raise JobError(f"{what}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names - {"mode"})
    if unknown:
        raise JobError(f"{what}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
    missing = [f.name for f in fields(cls)
               if f.default is MISSING and f.default_factory is MISSING and f.name not in data]
    if missing:
        raise JobError(f"{what}: missing key{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")


@dataclass(frozen=True)
class EarlyStopping:
    """Stop a trial after `patience` epochs whose validation score beats the best so far by at most min_delta.
    patience 0 is off: the trial trains all its epochs (the best epoch is still the one kept)."""
    patience: int = 1
    min_delta: float = 0.0

    @property
    def on(self) -> bool:
        return self.patience > 0

    @classmethod
    def parse(cls, value: Any) -> "EarlyStopping":
        """From a spec / context value: a mapping {patience, min_delta}, an int patience, or off / false / 0 /
        None-as-off. A bad value raises ValueError with a one-line reason."""
        if isinstance(value, EarlyStopping):
            return value
        if value is None or value is False or (isinstance(value, str) and value.strip().lower() in ("off", "none", "no")):
            return cls(0, 0.0)
        if isinstance(value, bool):  # True: the default patience
            return cls()
        if isinstance(value, int):
            value = {"patience": value}
        if not isinstance(value, dict) or set(value) - {"patience", "min_delta"}:
            raise ValueError(f"early_stopping must be off or {{patience: N, min_delta: X}}, not {value!r}")
        patience, min_delta = value.get("patience", 1), value.get("min_delta", 0.0)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"early_stopping.patience must be a whole number >= 0 (0 = off), not {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not 0 <= min_delta < 1e9:
            raise ValueError(f"early_stopping.min_delta must be a number >= 0, not {min_delta!r}")
        return cls(int(patience), float(min_delta))


@dataclass(frozen=True)
class ScoreSplit:
    """What a training job scores while its model is loaded: a split's file and how many of its records."""
    eval_path: str
    max_examples: int | None = None


@dataclass(frozen=True)
class TrainJob:
    mode = "train"
    base_model: str
    task: dict  # tools.trials.trial_jobs.task_payload: task_type, instruction, labels, metric, ...
    config: dict  # the trial's hyper-parameters (trex/trial_config.py), seed included
    train_path: str
    val_path: str
    cache_dir: str = ""
    device: str = "auto"
    backend: str = "auto"
    memory_mb: int = 0
    gradient_checkpointing: str = "auto"
    init_adapter: str | None = None  # the parent's adapter a warm start trains on top of
    score: ScoreSplit | None = None  # score the validation split after every epoch (the trial's curve)
    eval_steps: int = 0  # also score every N optimizer steps (0: at epoch ends only)
    # Benchmark recording only (ftbench curves): also score this split at every point, so a replay table holds
    # each point's test score. Never read to select a point or stop a trial.
    record_split: ScoreSplit | None = None
    early_stopping: EarlyStopping = field(default_factory=lambda: EarlyStopping(0))
    # Successive halving (nodes/train.py): stop after this epoch with the checkpoint kept, so the round can rank
    # its trials and continue the best ones from there; 0 trains to the end. Not part of the checkpoint's
    # fingerprint: the same trial paused and continued is one training.
    pause_after: int = 0
    loss_filter: float | None = None  # the recipe's worker-side steps (trex.recipe.WORKER_STEPS)
    curriculum: str | None = None
    out_dir: str = ""  # set by the launcher (tools/trials/trial_runner.py)

    def to_dict(self) -> dict:
        return {"mode": self.mode, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "TrainJob":
        _check_keys(cls, data, "train job")
        if data.get("mode", "train") != "train":
            raise JobError(f"train job: mode {data['mode']!r}")
        body = {k: v for k, v in data.items() if k != "mode"}
        for name in ("score", "record_split"):
            if isinstance(body.get(name), dict):
                _check_keys(ScoreSplit, body[name], f"train job's {name}")
                body[name] = ScoreSplit(**body[name])
        if isinstance(body.get("early_stopping"), dict):
            _check_keys(EarlyStopping, body["early_stopping"], "train job's early_stopping")
            body["early_stopping"] = EarlyStopping(**body["early_stopping"])
        return cls(**body)

    def model_source(self) -> dict:
        """What tools.worker.model_loading.load_model reads: which base model, from where, onto which device."""
        return {"base_model": self.base_model, "cache_dir": self.cache_dir, "device": self.device}


@dataclass(frozen=True)
class ScoreJob:
    """Score the base model (adapter None) or base + adapter on a split. base_model may stay empty only for a
    model already loaded in this process (tools.worker.scoring.score_model)."""
    mode = "eval"
    task: dict
    config: dict
    eval_path: str
    max_examples: int | None = None
    adapter: str | None = None
    base_model: str = ""
    cache_dir: str = ""
    device: str = "auto"
    out_dir: str = ""

    def to_dict(self) -> dict:
        return {"mode": self.mode, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "ScoreJob":
        _check_keys(cls, data, "score job")
        if data.get("mode", "eval") != "eval":
            raise JobError(f"score job: mode {data['mode']!r}")
        return cls(**{k: v for k, v in data.items() if k != "mode"})

    def model_source(self) -> dict:
        return {"base_model": self.base_model, "cache_dir": self.cache_dir, "device": self.device}


JOBS = {"train": TrainJob, "eval": ScoreJob}


def job_from_dict(data: dict) -> TrainJob | ScoreJob:
    """The job a worker reads from its job.json, by its mode."""
    mode = data.get("mode") if isinstance(data, dict) else None
    if mode not in JOBS:
        raise JobError(f"unknown job mode {mode!r} (one of {', '.join(JOBS)})")
    return JOBS[mode].from_dict(data)


def as_train_job(job: TrainJob | dict) -> TrainJob:
    return job if isinstance(job, TrainJob) else TrainJob.from_dict(job)


def as_score_job(job: ScoreJob | dict) -> ScoreJob:
    return job if isinstance(job, ScoreJob) else ScoreJob.from_dict(job)
