"""The "llm_judge" metric: a chat model scores each prediction against its reference (0..1, higher is better).

Use it as a task's ``metric: llm_judge`` when exact or n-gram matching misjudges free text. The judge is the
run's chat model, read from TREX_CHAT_MODEL (scoring runs in the trial's worker process, which inherits the
environment). Each example is one structured call (schema `Score`) with one retry; an example the judge
cannot score fails the trial with the judge's error rather than scoring a made-up value. Scores are
memoised per (prediction, reference), so ranking bad cases and the mean cost one call per example.
The metric's `usage` counts the real calls and their tokens (a memo hit costs nothing), with the judge's
model spec; tools/worker/scoring.py reports it so the run's LLM ledger sees the judge's spend.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

from tools.llm.schemas import Score
from tools.llm.prompts import JUDGE_SYSTEM, JUDGE_USER
from trex.metrics import Metric

NAME = "llm_judge"
MAX_CHARS = 4000  # per text shown to the judge


class JudgeError(ValueError):
    """The judge cannot score: no chat model configured, or no usable answer."""


def judge_model_spec() -> str:
    spec = os.environ.get("TREX_CHAT_MODEL", "").strip()
    if not spec:
        raise JudgeError(f"metric {NAME!r} needs a chat model to judge with: set TREX_CHAT_MODEL "
                         "(e.g. 'openai:gpt-4.1-mini', or 'openai:<name>' with OPENAI_BASE_URL for a local server)")
    return spec


@dataclass(frozen=True)
class JudgeMetric(Metric):
    """A Metric that also counts its chat-model calls: {"calls", "input_tokens", "output_tokens"[, "model"]}."""
    usage: dict = field(default_factory=dict)


def judge_metric(model=None):
    """The Metric; `model` (a chat model) is for tests and callers that hold one, else the loader builds it."""
    memo: dict[tuple[str, str], float] = {}
    holder = {"model": model}
    usage = {"calls": 0, "input_tokens": 0, "output_tokens": 0}

    def score_one(pred: str, ref: str) -> float:
        key = (str(pred), str(ref))
        if key in memo:
            return memo[key]
        from tools.llm.structured_llm import call_structured

        if holder["model"] is None:
            from tools.llm.chat_models import load_chat_model

            usage["model"] = judge_model_spec()  # what the ledger prices the calls as
            holder["model"] = load_chat_model(usage["model"])
        messages = [("system", JUDGE_SYSTEM),
                    ("human", JUDGE_USER.format(reference=key[1][:MAX_CHARS], prediction=key[0][:MAX_CHARS]))]
        outcome = call_structured(holder["model"], Score, messages, fallback=lambda: None)
        usage["calls"] += outcome.calls  # a failed call was still made (and billed)
        usage["input_tokens"] += outcome.input_tokens
        usage["output_tokens"] += outcome.output_tokens
        if outcome.value is None:
            raise JudgeError(f"{NAME}: the judge gave no usable score: {outcome.error}")
        memo[key] = float(outcome.value.score)
        return memo[key]

    def compute(preds: Sequence[str], refs: Sequence[str]) -> float:
        if not refs:
            return 0.0
        return sum(score_one(p, r) for p, r in zip(preds, refs)) / len(refs)

    return JudgeMetric(NAME, True, 0.0, compute, per_example=score_one, usage=usage)
