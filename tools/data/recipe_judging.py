"""The recipe's ``judge_filter``: the configured chat model, as an LLM judge, scores training examples and the
recipe drops those below ``min_score`` (tools/data/recipes.apply_recipe applies it).

Rules filters catch junk by its form; a judge catches a wrong label on a well-formed row (the issue's noisy
pools: a queue name that means another queue). Examples go to the judge in batches (one structured call of
schema `ExampleScores` each, ids local to the batch); an example the judge did not score is kept and counted,
never given a made-up score. Without a chat model the step is skipped and the recipe's stats say so.
"""
from __future__ import annotations

import json
from typing import Callable

from tools.data.recipe_chat import recipe_chat_model
from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from tools.llm.prompts import DATA_JUDGE_LABEL_RULE, DATA_JUDGE_SYSTEM, DATA_JUDGE_USER
from tools.llm.schemas import ExampleScores
from trex.recipe import JudgeFilter, RecipeError

BATCH = 20  # examples per call
MAX_JUDGED = 2000  # per recipe: a bigger pool is refused rather than silently sampled (100 calls at most)
MAX_CHARS = 600  # per text shown

Judge = Callable[[list[dict], JudgeFilter], list[float | None]]


def make_judge(model, task: str, labels: list[str] | None = None, model_spec: str = "") -> Judge:
    """A `judge(records, judge_filter) -> scores` callable (None: not scored). Its `.report` says how many
    calls were made, what they cost and why any failed; `.model_spec` names the judge (part of the data's key)."""
    rule = DATA_JUDGE_LABEL_RULE.format(labels=", ".join(labels)) if labels else ""
    report: dict = {}

    def judge(records: list[dict], jf: JudgeFilter) -> list[float | None]:
        from tools.llm.structured_llm import call_structured

        if len(records) > MAX_JUDGED:
            raise RecipeError(f"recipe judge_filter: {len(records)} examples to judge, more than {MAX_JUDGED}; "
                              "cap the pool first (max_samples, filters) or judge only the added sources")
        scores: list[float | None] = [None] * len(records)
        counts = {"calls": 0, "input_tokens": 0, "output_tokens": 0}
        errors: list[str] = []
        for start in range(0, len(records), BATCH):
            batch = records[start:start + BATCH]
            shown = [{"id": i, "input": r["input"][:MAX_CHARS], "output": r["output"][:MAX_CHARS]}
                     for i, r in enumerate(batch)]
            messages = [("system", DATA_JUDGE_SYSTEM.format(label_rule=rule)),
                        ("human", DATA_JUDGE_USER.format(task=task, instruction=jf.instruction or "",
                                                         examples=json.dumps(shown, ensure_ascii=False)))]
            out = call_structured(model, ExampleScores, messages, fallback=lambda: None)
            for k in counts:
                counts[k] += getattr(out, k)
            if out.value is None:
                errors.append(out.error)
                continue
            for item in out.value.scores:
                if 0 <= item.id < len(batch) and scores[start + item.id] is None:  # first score of an id counts
                    scores[start + item.id] = float(item.score)
        report.clear()
        report.update(judged=sum(s is not None for s in scores), errors=errors[:3], **counts)
        if records and all(s is None for s in scores):
            raise RecipeError(f"recipe judge_filter: the chat model scored no example: {(errors or ['no ids matched'])[-1]}")
        return scores

    judge.report = report  # type: ignore[attr-defined]
    judge.model_spec = model_spec  # type: ignore[attr-defined]
    return judge


def judge_for(spec, recipe: dict, ctx, chat: ChatSource = DEFAULT_CHAT) -> Judge | None:
    """The judge for a trial's recipe, or None (the filter is skipped, with a note) when the recipe asks for
    none or `chat` (the run's chat model) has none. RecipeError when a configured model cannot be built."""
    if not (recipe or {}).get("judge_filter") or not chat.configured(ctx):
        return None
    model, task, labels = recipe_chat_model(spec, ctx, "judge_filter", chat)
    return None if model is None else make_judge(model, task, labels, chat.spec(ctx))
