"""The trial configuration table: each field of a trial once, with its type, default, the built-in planner's
grid, the bounds on proposed and edited values, and its help text.

Everything else derives from this table: the planners' grid and defaults, the bounds check of LLM proposals,
human review, the LLM's proposal schema and its prompt, the progress lines, the report and the insight texts.
A SearchSpace (trex/search_space.py: a restriction of the table) says what a run's planners may choose. Adding
a hyper-parameter is one row here; the trainer (tools/worker) reads it by its name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrialField:
    name: str
    kind: str  # "float" | "int" | "choice" | "flag" | "recipe"
    default: Any  # None: derived (lora_alpha = 2 x lora_r, max_samples = the task's cap, seed = the run's)
    help: str
    grid: tuple = ()  # the built-in planner's values: ordered kinds step up and down, the others cycle
    low: float | None = None  # smaller values are refused ...
    low_open: bool = False  # ... and low itself too (lr > 0)
    clamp_low: float | None = None  # values between low and this are raised to it (by the bounds check)
    high: float | None = None  # larger values are clamped by the bounds check, refused by human review
    why_high: str = ""  # said with a clamp to high
    choices: tuple = ()  # the values a choice may take
    searched: bool = False  # in the default search space
    in_default_config: bool = False  # the default recipe spells it out (the others are absent = default)
    relative: bool = False  # grid values are fractions of the task's training-set cap (max_samples)
    adapter_shape: bool = False  # fixed by the parent's adapter when a trial warm-starts
    # The first fields are part of every trial key even at their default. A row added later is keyed only when
    # it differs from its default, so adding it keeps every earlier key (trial cache, replay tables).
    keyed_at_default: bool = True
    hf_name: str = ""  # the TRL / PEFT argument it is, where one exists

    @property
    def ordered(self) -> bool:
        return self.kind in ("float", "int")

    def lowest(self) -> float | None:
        """The smallest value a reviewer may set (the bounds check raises a proposal below it to this)."""
        return self.clamp_low if self.clamp_low is not None else self.low

    def text(self, value) -> str:
        """A value as the report, lessons and prompts show it."""
        if self.kind == "recipe":
            return json.dumps(value or {}, sort_keys=True)
        return f"{value:g}" if isinstance(value, float) else str(value)


# Table order is the planner's order of moves (it decides which of two equal-prior moves comes first).
FIELDS: dict[str, TrialField] = {f.name: f for f in (
    TrialField("lr", "float", 1e-3, "Learning rate (LoRA on a small model: 1e-4 .. 5e-3).",
               grid=(5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3), low=0, low_open=True, high=1e-2,
               why_high="higher diverges", searched=True, in_default_config=True, hf_name="learning_rate"),
    TrialField("epochs", "int", 2, "Training epochs (with warm_start: epochs on top of the parent); 0 is the "
               "untrained baseline.", grid=(1, 2, 3, 4, 6, 8), low=1, high=20, searched=True, in_default_config=True,
               hf_name="num_train_epochs"),
    TrialField("lora_r", "int", 8, "LoRA rank.", grid=(4, 8, 16, 32, 64), low=1, high=256, searched=True,
               in_default_config=True, adapter_shape=True, hf_name="r"),
    TrialField("batch_size", "int", 8, "Examples per optimizer step.", grid=(4, 8, 16, 32), low=1, high=512,
               searched=True, in_default_config=True, hf_name="per_device_train_batch_size"),
    TrialField("max_samples", "int", None, "Training examples used at most (default: all, up to the task's "
               "budget.max_train_samples).", grid=(0.25, 0.5, 1.0), low=1, searched=True, relative=True),
    TrialField("layer_fraction", "float", 0.5, "Top share of decoder layers that get LoRA adapters; lower = "
               "cheaper steps on a CPU.", grid=(0.25, 0.5, 1.0), low=0, low_open=True, clamp_low=0.05, high=1.0,
               searched=True, in_default_config=True, adapter_shape=True),
    TrialField("template", "choice", "chat", "Prompt format: the base model's chat template or plain text.",
               grid=("chat", "plain"), choices=("chat", "plain"), searched=True, in_default_config=True),
    # Data-recipe variants (trex.recipe.Recipe fields) on top of the task's own recipe. A variant that yields
    # the same training data as another is one trial to the cache: it costs nothing to try.
    TrialField("recipe", "recipe", {}, "Data-recipe changes on top of the task's recipe, e.g. "
               '{"dedup": "near"}, {"balance": "upsample"}, {"filters": {"min_input_chars": 5}}, '
               '{"curriculum": "short_first"}.',
               grid=({}, {"dedup": "near"}, {"balance": "upsample"}, {"balance": "downsample"}), searched=True),
    TrialField("warm_start", "flag", False, "Continue training the parent's best adapter (keeps its rank and "
               "layers; trains only this trial's epochs on top).", choices=(True, False), searched=True),
    TrialField("lora_alpha", "int", None, "LoRA alpha; 2 x lora_r unless set.", low=1, high=2048,
               adapter_shape=True, hf_name="lora_alpha"),
    TrialField("method", "choice", "lora", "lora, qlora (4-bit base, CUDA only) or full fine-tuning.",
               choices=("lora", "qlora", "full"), adapter_shape=True),
    TrialField("lora_dropout", "float", 0.05, "Dropout on the LoRA layers' input while training.",
               grid=(0.0, 0.05, 0.1), low=0, high=0.5, adapter_shape=True, keyed_at_default=False,
               hf_name="lora_dropout"),
    TrialField("seed", "int", None, "Training seed (the run's seed).", low=0, high=2**31 - 1, hf_name="seed"),
)}

# Fields that tell two trials apart in the tree (the run's seed and derived alpha aside).
IDENTITY = tuple(n for n in FIELDS if n not in ("seed", "lora_alpha", "method"))
PROPOSABLE = tuple(n for n in FIELDS if n != "seed")  # what an LLM proposal or a reviewer's edit may set


def value(cfg: dict, name: str):
    """A config's value of one field; an absent choice, flag, recipe or later row reads as its default."""
    f = FIELDS[name]
    if name == "warm_start":
        return bool(cfg.get(name))
    if name == "recipe":
        return cfg.get(name) or {}
    if name not in cfg and not f.keyed_at_default:
        return f.default
    return cfg.get(name)


ALPHA_PER_RANK = 2  # LoRA alpha, unless a trial sets it, is this many times its rank


def default_alpha(rank: int) -> int:
    """The LoRA alpha a trial of this rank gets when none is set: the one place that rule is written."""
    return ALPHA_PER_RANK * int(rank)


def lora_alpha(cfg: dict) -> int:
    """A config's LoRA alpha: its own, or derived from its rank (default_alpha)."""
    return int(cfg["lora_alpha"]) if cfg.get("lora_alpha") else default_alpha(cfg["lora_r"])


def key_view(cfg: dict) -> dict:
    """The config as trial keys see it: a later row at its default is left out (see keyed_at_default)."""
    return {k: v for k, v in cfg.items()
            if not (k in FIELDS and not FIELDS[k].keyed_at_default and v == FIELDS[k].default)}


def extra_settings(cfg: dict, shown: tuple[str, ...]) -> list[str]:
    """'name=value' of every field a renderer does not show itself that the config sets away from its default
    (so a new row appears in every rendering without an edit there)."""
    out = []
    for name, f in FIELDS.items():
        if name in shown or name in ("id", "seed") or name not in cfg:
            continue
        if f.default is not None and cfg[name] == f.default:
            continue
        out.append(f"{name}={f.text(cfg[name])}")
    return out


def bounds_text(hidden_size: int | None = None, max_train: int | None = None) -> str:
    """The bounds of every numeric field, as the LLM planner's prompt states them."""
    parts = []
    for f in FIELDS.values():
        if not f.ordered or f.name == "seed" or (f.low is None and f.high is None):
            continue
        high = f.high
        if f.name == "lora_r" and hidden_size:
            high = min(high, hidden_size)
        if f.relative:
            high = max_train
        lo = "" if f.lowest() is None else f"{f.lowest():g} {'<' if f.low_open and f.clamp_low is None else '<='} "
        hi = "" if high is None else f" <= {high:g}"
        parts.append(f"{lo}{f.name}{hi}")
    return ", ".join(parts)
