"""A collected dataset whose columns vetting could not map by name (tools/research/source_vetting.py) is shown to
the configured chat model with a few of its rows; its mapping is checked against the dataset's real columns and
the candidate is vetted again with it. Without a chat model, or when the answer names no usable columns, the
candidate stays refused with the reason."""
from __future__ import annotations

import json
from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from tools.llm.schemas import ColumnMap
from tools.research.dataset_search import head_rows

UNMAPPED = "no input and output columns"  # the start of vetting's refusal that a mapping may cure
SAMPLE_ROWS = 3


def mapping_messages(candidate: dict, spec) -> list:
    rows = "\n".join(json.dumps(r, ensure_ascii=False)[:400] for r in head_rows(candidate.get("path"), SAMPLE_ROWS))
    return [("system", "You map the columns of a dataset onto a fine-tuning task's input and output. Name only "
                       "columns the dataset has; answer null when none fits."),
            ("human", f"Task: {spec.goal}\nTask type: {spec.task_type}\n"
                      + (f"Labels: {', '.join(spec.labels[:30])}\n" if spec.labels else "")
                      + f"Dataset {candidate.get('id')}: columns {', '.join(map(str, candidate.get('fields') or []))}\n"
                      + (f"First rows:\n{rows}\n" if rows else "")
                      + "Which column is the input the model reads, and which the output it must produce?")]


def checked_mapping(answer: ColumnMap, fields: list[str]) -> tuple[str, str]:
    """(input, output) when both are real, distinct columns; ValueError saying what is wrong otherwise."""
    if not answer.input_field or not answer.output_field:
        raise ValueError(f"no mapping given ({answer.reason or 'no reason'})")
    missing = [f for f in (answer.input_field, answer.output_field) if f not in fields]
    if missing:
        raise ValueError(f"columns {missing} are not among the dataset's ({', '.join(fields)})")
    if answer.input_field == answer.output_field:
        raise ValueError("input and output are the same column")
    return answer.input_field, answer.output_field


def map_unmapped(candidates: list[dict], verdicts: list[dict], spec, ctx, ledger: dict | None,
                 vet_again, chat: ChatSource = DEFAULT_CHAT) -> tuple[list[dict], dict | None]:
    """Verdicts with each refusal for unmapped columns retried through the chat model's mapping (when one is
    configured); `vet_again(candidate)` re-vets a candidate that now names its columns. Returns the new verdicts
    and the LLM ledger."""
    if not chat.configured(ctx):
        return verdicts, ledger
    from tools.llm.structured_llm import structured_step

    out = []
    for cand, verdict in zip(candidates, verdicts):
        if verdict["accepted"] or not verdict["why"].startswith(UNMAPPED) or not cand.get("fields"):
            out.append(verdict)
            continue
        fields = [str(f) for f in cand["fields"]]
        got: dict = {}

        def validate(answer: ColumnMap) -> None:
            got["pair"] = checked_mapping(answer, fields)

        outcome, ledger = structured_step(ctx, f"research:map_columns:{cand.get('id')}", ledger, ColumnMap,
                                          mapping_messages(cand, spec), lambda: None, validate, chat=chat)
        if outcome.value is None or "pair" not in got:
            out.append({**verdict, "why": f"{verdict['why']}; the chat model's mapping was not usable"
                                          + (f" ({outcome.error[:160]})" if outcome.error else "")})
            continue
        again = vet_again({**cand, "input_field": got["pair"][0], "output_field": got["pair"][1]})
        out.append({**again, "mapped_by": "chat model",
                    "why": again["why"] + f" (columns mapped by the chat model: {outcome.value.reason[:160]})"})
    return out, ledger
