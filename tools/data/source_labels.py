"""A classification task's extra source keeps only rows whose label is one of the task's, before mixing.

A row with a foreign label (a catalog set's `fraud` mixed into a task that has no `fraud`) would teach an answer
the task cannot give. Each such row is mapped to a task label by the source's `label_map` (spec entry), else by
the chat model when one is configured (one small structured call per source, with the distinct foreign labels),
else dropped. A source that keeps fewer than MIN_SOURCE_ROWS rows is refused with the reason (a DataError: the
trial fails as data, the node records why). Applied by tools/data/recipes.apply_recipe; the research step's
vetting counts the same survivors (tools/research/source_vetting.py).
"""
from __future__ import annotations

from collections import Counter
from typing import Callable

from pydantic import BaseModel, Field

from tools.data.datasets import DataError

MIN_SOURCE_ROWS = 20  # as vetting's MIN_ROWS: fewer rows than that are not worth a source
MAX_ASKED = 100  # distinct foreign labels shown to the chat model; a source with more is not mapped by it
SHOWN = 5  # foreign labels named in the stats and in a refusal

# mapper(foreign labels, task labels) -> {foreign label: task label or None}
LabelMapper = Callable[[list[str], list[str]], dict[str, str | None]]


class LabelPair(BaseModel):
    source_label: str = Field(description="A label of the source dataset, exactly as given.")
    task_label: str | None = Field(None, description="The task label it means, exactly as given; null when none.")


class LabelMapping(BaseModel):
    """Which of the task's labels each label of another dataset means, if any."""
    pairs: list[LabelPair] = Field(default_factory=list)


def clean_source_labels(records: list[dict], labels: list[str], name: str, label_map: dict[str, str] | None = None,
                        mapper: LabelMapper | None = None) -> tuple[list[dict], dict]:
    """(kept records, stats): rows with a task label kept, foreign ones mapped or dropped. DataError when the
    label_map names a label the task lacks, or when fewer than MIN_SOURCE_ROWS rows are kept."""
    allowed = set(labels)
    bad = sorted({v for v in (label_map or {}).values() if v not in allowed})
    if bad:
        raise DataError(f"source {name}: label_map maps to {', '.join(map(repr, bad[:SHOWN]))}, not among the "
                        f"task's labels ({', '.join(labels[:10])})")
    mapping = {k: v for k, v in (label_map or {}).items() if k not in allowed}
    foreign = Counter(r["output"] for r in records if r["output"] not in allowed and r["output"] not in mapping)
    by_llm: dict[str, str] = {}
    if mapper is not None and foreign and len(foreign) <= MAX_ASKED:
        answer = mapper(sorted(foreign), list(labels)) or {}
        by_llm = {k: v for k, v in answer.items() if k in foreign and v in allowed}
    kept, mapped, mapped_llm, dropped = [], 0, 0, Counter()
    for r in records:
        label = r["output"]
        if label in allowed:
            kept.append(r)
        elif label in mapping or label in by_llm:
            kept.append({**r, "output": mapping.get(label) or by_llm[label]})
            mapped += 1
            mapped_llm += label not in mapping
        else:
            dropped[label] += 1
    stats = {"kept": len(kept), "foreign_dropped": sum(dropped.values()), "mapped": mapped,
             "foreign_labels": dict(dropped.most_common(SHOWN))}
    if mapped_llm:
        stats["mapped_by_chat_model"] = mapped_llm
        stats["chat_model_map"] = dict(sorted(by_llm.items()))
    if len(kept) < MIN_SOURCE_ROWS:
        raise DataError(f"source {name} refused: only {len(kept)} of its {len(records)} rows have one of the task's "
                        f"labels{' after mapping' if mapped else ''} (fewer than {MIN_SOURCE_ROWS}); foreign labels: "
                        + (", ".join(f"{k} ({n})" for k, n in dropped.most_common(SHOWN)) or "none")
                        + "; give a label_map in the source's spec entry to map them")
    return kept, stats


def label_counts(rows: list[dict], field: str, labels: list[str]) -> tuple[int, Counter]:
    """(rows whose `field` is one of labels, Counter of the other values): what cleaning would keep and drop."""
    allowed, foreign, kept = set(labels), Counter(), 0
    for r in rows:
        value = "" if r.get(field) is None else str(r.get(field))
        if value in allowed:
            kept += 1
        else:
            foreign[value] += 1
    return kept, foreign


def make_label_mapper(model, task: str, model_spec: str = "") -> LabelMapper:
    """A mapper asking `model` (one structured call of schema LabelMapping per source); answers naming a label
    the task lacks are ignored by clean_source_labels. Its `.report` counts the calls (the run's LLM ledger)."""
    report: dict = {"calls": 0, "input_tokens": 0, "output_tokens": 0, "errors": []}

    def mapper(foreign: list[str], labels: list[str]) -> dict[str, str | None]:
        from tools.llm.structured_llm import call_structured

        messages = [("system", "You map the labels of another dataset onto a classification task's labels. Map a "
                               "label only when it means the same thing as a task label; otherwise answer null."),
                    ("human", f"Task: {task}\nTask labels: {', '.join(labels)}\n"
                              f"Labels to map: {', '.join(foreign)}")]
        out = call_structured(model, LabelMapping, messages, fallback=lambda: None)
        for k in ("calls", "input_tokens", "output_tokens"):
            report[k] += getattr(out, k)
        if out.value is None:
            report["errors"] = [*report["errors"], out.error][-3:]
            return {}
        return {p.source_label: p.task_label for p in out.value.pairs}

    mapper.report = report  # type: ignore[attr-defined]
    mapper.model_spec = model_spec  # type: ignore[attr-defined]
    return mapper


def label_mapper_for(spec, recipe: dict, ctx, chat=None) -> LabelMapper | None:
    """The chat model's mapper for a classification trial whose recipe adds sources, or None (no chat model
    configured, nothing to map). chat: the run's chat-model source (tools/llm/chat_models), else Context's.
    RecipeError when a configured model cannot be built."""
    name = chat.spec(ctx) if chat is not None else (getattr(ctx, "chat_model", "") or "").strip()
    if spec.task_type != "classification" or not (recipe or {}).get("extra_sources") or not name:
        return None
    from tools.data.recipe_chat import recipe_chat_model

    model, task, _ = recipe_chat_model(spec, ctx, "label mapping", *([chat] if chat is not None else []))
    return None if model is None else make_label_mapper(model, task, name)
