"""Runtime settings of a run (the graph's context_schema). Precedence: explicit value, environment, default."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path


POLICIES = ("uct_global", "uct_descend", "greedy", "sequential")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_num(name: str, default: str, kind=float):
    raw = _env(name, default)
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a valid {kind.__name__}") from None


@dataclass
class Context:
    selection_policy: str = field(
        default_factory=lambda: _env("TREX_SELECTION_POLICY", "uct_global"),
        metadata={"description": "How the next node to expand is chosen: uct_global, uct_descend, greedy, sequential."})
    exploration_c: float = field(
        default_factory=lambda: _env_num("TREX_EXPLORATION_C", "1.0", float),
        metadata={"description": "UCT exploration constant; larger explores more."})
    max_children: int = field(
        default_factory=lambda: _env_num("TREX_MAX_CHILDREN", "3", int),
        metadata={"description": "A node with this many children is fully expanded."})
    seed: int = field(
        default_factory=lambda: _env_num("TREX_SEED", "0", int),
        metadata={"description": "Seed of the planner and of every trial."})
    trial_timeout_s: float = field(
        default_factory=lambda: _env_num("TREX_TRIAL_TIMEOUT_S", "900", float),
        metadata={"description": "A training or evaluation subprocess running longer than this is a failed trial."})
    runs_dir: str = field(
        default_factory=lambda: _env("TREX_RUNS_DIR", "runs"),
        metadata={"description": "Where new run directories are created when the input names none."})
    cache_dir: str = field(
        default_factory=lambda: _env("TREX_CACHE_DIR", str(Path.home() / ".cache" / "trex")),
        metadata={"description": "Trial-result cache and converted base models, shared across runs."})
    device: str = field(
        default_factory=lambda: _env("TREX_DEVICE", "auto"),
        metadata={"description": "Training device: auto, cpu or cuda."})
    backend: str = field(
        default_factory=lambda: _env("TREX_BACKEND", "auto"),
        metadata={"description": "Training backend: auto (unsloth on a CUDA GPU when installed, else peft), peft or unsloth."})
    trial_memory_mb: int = field(
        default_factory=lambda: _env_num("TREX_TRIAL_MEMORY_MB", "0", int),
        metadata={"description": "Address-space cap of each trial process in MiB (0 = none); over it the trial fails as out-of-memory."})
    max_eval_examples: int = field(
        default_factory=lambda: _env_num("TREX_MAX_EVAL_EXAMPLES", "200", int),
        metadata={"description": "Validation examples scored per trial (the test split is always scored whole)."})

    def __post_init__(self) -> None:
        if self.selection_policy not in POLICIES:
            raise ValueError(f"selection_policy must be one of {', '.join(POLICIES)}, not {self.selection_policy!r}")
        if self.backend not in ("auto", "peft", "unsloth"):
            raise ValueError(f"backend must be auto, peft or unsloth, not {self.backend!r}")
        if self.trial_memory_mb < 0:
            raise ValueError("trial_memory_mb must be >= 0 (0 = no cap)")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.exploration_c < 0 or self.max_children < 1 or self.trial_timeout_s <= 0 or self.max_eval_examples < 1:
            raise ValueError("exploration_c must be >= 0, max_children >= 1, trial_timeout_s > 0, max_eval_examples >= 1")

    @classmethod
    def from_dict(cls, data: dict) -> "Context":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown context field(s): {', '.join(sorted(unknown))}")
        return cls(**data)
