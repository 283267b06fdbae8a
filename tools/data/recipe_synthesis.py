"""Synthesis / rewriting of training examples by the chat model: the recipe's ``synthesis: {n, instruction}``.

The model answers in a schema (`SyntheticExamples`: a list of {input, output}); what comes back is plain
text data, checked and never executed: empty fields are dropped, a classification output must be one of
the task's labels (matched case-insensitively, stored as the canonical label), and an example whose input
repeats an existing or an already synthesized one is dropped. The recipe then filters, leak-checks and
de-duplicates the result like any other source (tools/recipes.apply_recipe). Without a chat model the step
is skipped and the recipe's stats say so.
"""
from __future__ import annotations

import json
import math
import random
from typing import Callable

from tools.data.recipe_chat import recipe_chat_model
from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from tools.llm.schemas import SyntheticExamples
from tools.llm.prompts import SYNTHESIS_LABEL_RULE, SYNTHESIS_SYSTEM, SYNTHESIS_USER
from trex.recipe import RecipeError, Synthesis

BATCH = 25  # examples asked for per call
MAX_CALLS = 20  # per recipe: at most BATCH * MAX_CALLS examples, whatever n asks
N_SEEDS = 8
SEED_CHARS = 400


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


def make_synthesizer(model, task: str, labels: list[str] | None = None,
                     seed: int = 0) -> Callable[[list[dict], Synthesis], list[dict]]:
    """A `synthesize(records, synthesis)` callable for tools.data.recipes.apply_recipe. Its `.report` dict says what
    was asked, returned, rejected and why."""
    canonical = {_norm(lab): lab for lab in labels or []}
    report: dict = {}

    def synthesize(records: list[dict], synthesis: Synthesis) -> list[dict]:
        from tools.llm.structured_llm import call_structured

        rng = random.Random(seed)
        seeds = rng.sample(records, min(N_SEEDS, len(records)))
        seen = {_norm(r["input"]) for r in records}
        rule = SYNTHESIS_LABEL_RULE.format(labels=", ".join(labels)) if labels else ""
        made: list[dict] = []
        counts = {"calls": 0, "returned": 0, "empty": 0, "off_label": 0, "duplicate": 0, "input_tokens": 0,
                  "output_tokens": 0}
        errors: list[str] = []
        calls = min(MAX_CALLS, math.ceil(synthesis.n / BATCH) + 2)  # two spare calls for rejected examples
        for _ in range(calls):
            want = min(BATCH, synthesis.n - len(made))
            if want <= 0:
                break
            shown = [{"input": s["input"][:SEED_CHARS], "output": s["output"][:SEED_CHARS]} for s in seeds]
            messages = [("system", SYNTHESIS_SYSTEM.format(label_rule=rule)),
                        ("human", SYNTHESIS_USER.format(task=task, instruction=synthesis.instruction,
                                                        seeds=json.dumps(shown, ensure_ascii=False), n=want))]
            out = call_structured(model, SyntheticExamples, messages, fallback=lambda: None)
            counts["calls"] += out.calls
            counts["input_tokens"] += out.input_tokens
            counts["output_tokens"] += out.output_tokens
            if out.value is None:
                errors.append(out.error)
                continue
            for ex in out.value.examples:
                counts["returned"] += 1
                inp, outp = ex.input.strip(), ex.output.strip()
                if not inp or not outp:
                    counts["empty"] += 1
                    continue
                if canonical:
                    if _norm(outp) not in canonical:
                        counts["off_label"] += 1
                        continue
                    outp = canonical[_norm(outp)]
                if _norm(inp) in seen:
                    counts["duplicate"] += 1
                    continue
                seen.add(_norm(inp))
                made.append({"input": inp, "output": outp})
        report.clear()
        report.update(requested=synthesis.n, added=len(made[:synthesis.n]), errors=errors[:3], **counts)
        if not made and errors:
            raise RecipeError(f"recipe synthesis: the chat model gave no usable examples: {errors[-1]}")
        return made[:synthesis.n]

    synthesize.report = report  # type: ignore[attr-defined]
    return synthesize


def synthesizer_for(spec, recipe: dict, ctx, chat: ChatSource = DEFAULT_CHAT
                    ) -> Callable[[list[dict], Synthesis], list[dict]] | None:
    """The synthesizer for a trial's recipe, or None (synthesis skipped, with a note) when the recipe asks for
    none or `chat` (the run's chat model) has none. RecipeError when a configured model cannot be built."""
    if not (recipe or {}).get("synthesis") or not chat.configured(ctx):
        return None
    model, task, labels = recipe_chat_model(spec, ctx, "synthesis", chat)
    return None if model is None else make_synthesizer(model, task, labels)
