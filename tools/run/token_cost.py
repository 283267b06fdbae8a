"""What a trial will cost in training tokens before it trains: the estimate the `budget.train_tokens` cap is spent
against (tools/planning/token_fit.py fits a round to what is left; nodes/check_budget.py stops a round that cannot
start within it).

A training token is a non-padding token of a training example, counted once per epoch: the worker's `tokens`,
which run accounting sums over the trials trained this run (a cache hit costs 0 new tokens). A trial costs

    planned examples (its max_samples, at most the task's cap) x epochs x tokens per example-epoch.

Tokens per example-epoch are measured on the tree's trained trials with the same data (recipe and template),
else on any trained trial, else guessed from the prepared training file (characters / CHARS_PER_TOKEN plus
TEMPLATE_TOKENS per example: a rough prior that the first trained trial replaces). A trial stopped early costs
less than its estimate: the estimate counts every planned epoch.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from trex.trial_config import FIELDS, value

CHARS_PER_TOKEN = 4.0  # BPE tokenizers on English text: about 4 characters a token
TEMPLATE_TOKENS = 12  # chat-template and separator tokens around each example


def field_of(cfg: dict, name: str):
    """A config's value of a field, its default where the config leaves it out (the trainer's reading)."""
    v = value(cfg, name)
    return FIELDS[name].default if v is None else v


def planned_examples(cfg: dict, max_train: int) -> int:
    """The training examples a trial asks for: its max_samples, at most the task's cap (absent: the cap)."""
    asked = cfg.get("max_samples") or max_train
    return max(0, min(int(asked), int(max_train)))


def trial_tokens(cfg: dict, max_train: int, per_example: float) -> int:
    """Estimated training tokens of one trial: planned examples x epochs x tokens per example-epoch."""
    epochs = field_of(cfg, "epochs") or 0
    return int(math.ceil(planned_examples(cfg, max_train) * epochs * per_example))


def data_key(cfg: dict) -> tuple[str, str]:
    """What makes two trials' examples the same length: the data recipe and the prompt template."""
    return json.dumps(value(cfg, "recipe"), sort_keys=True), str(field_of(cfg, "template"))


def measured_per_example(tree: dict, max_train: int, key: tuple | None = None) -> float | None:
    """Tokens per planned example-epoch over the tree's trained trials (of data `key` when given); None if none.
    Cached trials count too: their stats were measured when they trained."""
    tokens = units = 0.0
    for node in tree.values():
        configs = {t.get("id"): t for t in node.get("trials", [])}
        for tid, res in (node.get("results") or {}).items():
            train, cfg = res.get("train") or {}, configs.get(tid)
            if res.get("status") != "ok" or not cfg or not train.get("tokens"):
                continue
            if key is not None and data_key(cfg) != key:
                continue
            epochs = train.get("epochs_trained") or field_of(cfg, "epochs") or 0  # early stopping trains fewer
            n = planned_examples(cfg, max_train) * epochs
            if n > 0:
                tokens, units = tokens + train["tokens"], units + n
    return tokens / units if units else None


def file_per_example(path: str | Path | None, instruction: str = "", limit: int = 2000) -> float | None:
    """A prior from the prepared training file: the characters of each row's text fields and the instruction,
    as tokens, plus the template's; None when the file cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:  # the first rows only: a large file is not read whole
            lines = [line for _, line in zip(range(limit), f)]
    except (OSError, TypeError):  # TypeError: no path
        return None
    chars = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            chars.append(len(instruction) + sum(len(json.dumps(v, ensure_ascii=False)) if not isinstance(v, str)
                                                else len(v) for v in row.values()))
    if not chars:
        return None
    return sum(chars) / len(chars) / CHARS_PER_TOKEN + TEMPLATE_TOKENS


def per_example(tree: dict, cfg: dict, max_train: int, prior: float | None) -> tuple[float, str]:
    """(tokens per example-epoch for `cfg`, where the number came from)."""
    same = measured_per_example(tree, max_train, data_key(cfg))
    if same is not None:
        return same, "measured on trials with the same data"
    anyone = measured_per_example(tree, max_train)
    if anyone is not None:
        return anyone, "measured on the tree's trials"
    if prior is not None:
        return prior, "estimated from the prepared training file"
    return float(TEMPLATE_TOKENS), "no data to estimate from"
