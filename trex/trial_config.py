"""The trial configuration table: each field of a trial once, with its type, default, the built-in planner's
grid, the bounds on proposed and edited values, and its help text.

Everything else derives from this table: the planners' grid and defaults, the bounds check of LLM proposals,
human review, the LLM's proposal schema and its prompt, the progress lines, the report and the insight texts.
A SearchSpace (a restriction of the table) says what a run's planners may choose; it is passed in
(graph.main.build_graph(space=...)), never patched in. Adding a hyper-parameter is one row here; the trainer
(tools/worker) reads it by its name.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
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
               '{"dedup": "near"}, {"balance": "upsample"}, {"filters": {"min_input_chars": 5}}, {"max_samples": 500}.',
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


# Fields a task spec's `search_space` may pin or restrict. Derived ones (max_samples: budget.max_train_samples,
# lora_alpha: 2 x lora_r, seed: the run's) and the recipe (the spec's own `recipe`) are set elsewhere.
SPEC_SETTABLE = tuple(n for n, f in FIELDS.items() if f.default is not None and f.kind != "recipe")


def _checked(f: TrialField, v):
    """A declared value of a field, or ValueError saying what is wrong with it."""
    if f.kind == "flag":
        if not isinstance(v, bool):
            raise ValueError(f"{f.name} is true or false, got {v!r}")
        return v
    if f.kind == "choice":
        if v not in f.choices:
            raise ValueError(f"{f.name} is one of {', '.join(map(str, f.choices))}, got {v!r}")
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (f.kind == "int" and not isinstance(v, int)):
        raise ValueError(f"{f.name} takes {'an integer' if f.kind == 'int' else 'a number'}, got {v!r}")
    if f.low is not None and (v < f.low or (f.low_open and v == f.low)):
        raise ValueError(f"{f.name} must be {'>' if f.low_open else '>='} {f.low:g}, got {v:g}")
    if f.high is not None and v > f.high:
        raise ValueError(f"{f.name} must be <= {f.high:g}, got {v:g}")
    return v


def declared_grid(name: str, declared) -> tuple:
    """The values a spec's `search_space` entry allows: a value pins the field, a list restricts it to those
    values, {min, max} keeps the field's grid values in that range (and the two ends)."""
    if name not in SPEC_SETTABLE:
        raise ValueError(f"{name!r} cannot be set in search_space (settable: {', '.join(SPEC_SETTABLE)}; "
                         "training examples: budget.max_train_samples; data changes: recipe)")
    f = FIELDS[name]
    if isinstance(declared, dict):
        if not f.ordered:
            raise ValueError(f"{name}: only numeric fields take a {{min, max}} range; give a value or a list")
        if not declared or set(declared) - {"min", "max"}:
            raise ValueError(f"{name}: a range has the keys min and/or max, got {sorted(declared)}")
        lo = _checked(f, declared["min"]) if "min" in declared else -math.inf
        hi = _checked(f, declared["max"]) if "max" in declared else math.inf
        if lo > hi:
            raise ValueError(f"{name}: min {lo:g} is above max {hi:g}")
        ends = {declared[k] for k in ("min", "max") if k in declared}
        return tuple(sorted({g for g in f.grid if lo <= g <= hi} | ends)) or (lo,)
    values = declared if isinstance(declared, list) else [declared]
    if not values:
        raise ValueError(f"{name}: an empty list allows nothing")
    return tuple(dict.fromkeys(_checked(f, v) for v in values))


@dataclass(frozen=True)
class SearchSpace:
    """What a run's planners may choose: for each searched field its values (for max_samples: fractions of the
    task's training-set cap), and whether a child may warm-start from its parent's adapter. The fields the
    space leaves out keep their default."""
    grids: dict[str, tuple] = field(default_factory=dict)
    warm_start: bool = True
    exact: bool = False  # every trial takes the grids' values (an LLM's proposal is snapped onto them)
    strict: frozenset = frozenset()  # fields held to their grid even when the space is not exact (spec-declared)

    def __post_init__(self) -> None:
        for name, values in self.grids.items():
            if name not in FIELDS or name == "warm_start":
                raise ValueError(f"search space: {name!r} is not a searchable trial field "
                                 f"({', '.join(n for n in FIELDS if n not in ('warm_start', 'seed'))})")
            if not values:
                raise ValueError(f"search space: {name!r} has no values")

    @classmethod
    def restricted(cls, grids: dict[str, list], warm_start: bool = False) -> "SearchSpace":
        return cls({k: tuple(v) for k, v in grids.items()}, warm_start, exact=True)

    def narrowed(self, declared: dict | None) -> "SearchSpace":
        """This space as a task spec's `search_space` pins or restricts it (trex/spec.py checks the entries):
        each declared field keeps only the declared values, and every trial is held to them; `warm_start:
        false` turns warm starts off."""
        if not declared:
            return self
        grids, warm = dict(self.grids), self.warm_start
        for name, d in declared.items():
            values = declared_grid(name, d)
            if name == "warm_start":
                warm = warm and True in values
            else:
                grids[name] = values
        return SearchSpace(grids, warm, self.exact, self.strict | (set(declared) - {"warm_start"}))

    def searched(self) -> tuple[str, ...]:
        """The dimensions the planner moves along, in table order."""
        return tuple(n for n in FIELDS if n in self.grids or (n == "warm_start" and self.warm_start))

    def choice_grid(self) -> dict[str, list]:
        """The grids of every searched field but max_samples and warm_start, in table order."""
        return {n: list(self.grids[n]) for n in FIELDS if n in self.grids and n != "max_samples"}

    def values(self, name: str, max_train: int) -> list:
        """A searched field's values; max_samples resolved against the task's cap."""
        if name == "warm_start":
            return [False, True]
        grid = self.grids[name]
        if FIELDS[name].relative:
            return sorted({max_train if f >= 1 else max(8, int(f * max_train)) for f in grid})
        return list(grid)

    def default(self, name: str):
        """The field's default, or the middle of the space's values when the space excludes it."""
        d = FIELDS[name].default
        grid = self.grids.get(name)
        if grid is None or d in grid:
            return d
        return grid[len(grid) // 2]

    def default_config(self, max_train: int, seed: int) -> dict:
        """The default LoRA recipe within this space."""
        names = [n for n, f in FIELDS.items() if (f.in_default_config or n in self.grids) and not f.relative
                 and f.kind != "recipe"]
        cfg = {n: self.default(n) for n in names}
        cfg.update(lora_alpha=2 * cfg["lora_r"], max_samples=max_train, seed=seed, warm_start=False)
        return cfg

    def snap(self, name: str, val, max_train: int):
        """A value moved onto this space's grid: the nearest ordered value (on a log scale), an unknown choice
        to the default; None when the field is not searched here."""
        if name not in self.grids:
            return None
        grid = self.values(name, max_train)
        if not FIELDS[name].ordered:
            return val if val in grid else self.default(name)
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            return None
        return min(grid, key=lambda g: abs(math.log(g) - math.log(val)) if val > 0 and g > 0 else abs(g - val))

    def onto(self, cfg: dict, max_train: int) -> tuple[dict, list[str]]:
        """An exact space's version of a config: each searched field snapped onto its grid (with the changes
        made); a config unchanged in a space that is not exact."""
        held = self.grids if self.exact else self.strict
        if not held and (self.warm_start or not cfg.get("warm_start")):
            return cfg, []
        out, notes = dict(cfg), []
        for name in held:
            snapped = self.snap(name, value(cfg, name), max_train)
            if snapped is not None and snapped != value(cfg, name):
                notes.append(f"{name} {FIELDS[name].text(value(cfg, name))} moved to {FIELDS[name].text(snapped)} "
                             "(the search space's grid)")
                out[name] = snapped
        if "lora_r" in held:
            out["lora_alpha"] = 2 * out["lora_r"]
        if not self.warm_start and out.get("warm_start"):
            notes.append("warm_start dropped: this search space has no warm starts")
            out["warm_start"] = False
        return out, notes

    def size(self, max_train: int) -> int:
        n = 1
        for name in self.grids:
            n *= len(self.values(name, max_train))
        return n


DEFAULT_SPACE = SearchSpace({n: f.grid for n, f in FIELDS.items() if f.searched and f.grid})
