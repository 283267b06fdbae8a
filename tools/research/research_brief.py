"""A brief of the research notes: a few takeaways, each citing the notes it rests on, and suggested datasets.

With Context.chat_model the brief is a `tools.llm.schemas.ResearchBrief` written from the requirement, the numbered
(clipped) notes and the candidate datasets; an answer that cites a note not shown or suggests a dataset not
among the candidates is rejected (one retry, then the offline brief). Offline the brief is extractive: each
note's first sentence, citing that note. Either way the brief is plain data:
``{"takeaways": [{"text", "sources": [note sources]}], "suggested_datasets": [ids], "source": llm|llm-retry|offline}``.
"""
from __future__ import annotations

import json
import re

from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from tools.llm.schemas import ResearchBrief
from tools.planning.llm_planner import clip

MAX_NOTES, NOTE_PROMPT_CHARS, MAX_DATASETS = 8, 700, 12
FIRST_SENTENCE_CHARS, TAKEAWAY_CHARS = 240, 500
STEP = "research:0"


def note_ref(note: dict, i: int) -> str:
    """What a takeaway cites: the note's URL or corpus path, else its title, else its number."""
    return str(note.get("source") or note.get("url") or note.get("title") or f"note {i}")


def first_sentence(text: str, limit: int = FIRST_SENTENCE_CHARS) -> str:
    flat = " ".join(ln.lstrip("#-* ").strip() for ln in str(text).splitlines())
    flat = " ".join(flat.split())
    # A sentence ends at . ! ? followed by a capital or digit (so "e.g. the" and "0.90" do not end one).
    head = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])", flat, maxsplit=1)[0]
    return clip(head, limit)


def extractive_brief(notes: list[dict]) -> dict:
    takeaways = [{"text": first_sentence(n.get("text") or n.get("title") or ""), "sources": [note_ref(n, i)]}
                 for i, n in enumerate(notes, 1)]
    return {"takeaways": [t for t in takeaways if t["text"]], "suggested_datasets": []}


def _dataset_line(d: dict) -> str:
    bits = [d.get("source", ""), f"{d['size']} rows" if d.get("size") else "", d.get("task_type", ""),
            f"licence {d['license']}" if d.get("license") else "",
            "fields " + ", ".join(map(str, d["fields"])) if d.get("fields") else ""]
    return f"- {d.get('id', '?')}: " + clip("; ".join(b for b in bits if b), 240)


def brief_messages(requirement: dict, notes: list[dict], datasets: list[dict]) -> list:
    from tools.llm.prompts import BRIEF_SYSTEM, BRIEF_USER

    shown = "\n\n".join(f"[{i}] {clip(n.get('title', ''), 160)} ({note_ref(n, i)})\n"
                        f"{clip(n.get('text', ''), NOTE_PROMPT_CHARS)}" for i, n in enumerate(notes, 1))
    req = {k: v for k, v in (requirement or {}).items() if k != "source"}
    return [("system", BRIEF_SYSTEM),
            ("human", BRIEF_USER.format(requirement=clip(json.dumps(req, ensure_ascii=False, default=str), 3000),
                                        notes=shown, n=len(notes),
                                        datasets="\n".join(_dataset_line(d) for d in datasets) or "- (none)"))]


def research_brief(requirement: dict, notes: list[dict], datasets: list[dict], ctx, ledger: dict | None,
                   chat: ChatSource = DEFAULT_CHAT) -> tuple[dict, dict]:
    """(brief, new state.llm), with the step "research:0" recorded either way."""
    from tools.llm.structured_llm import OFFLINE, Outcome, record_call, structured_step

    notes = [n for n in (notes or []) if isinstance(n, dict)][:MAX_NOTES]
    candidates = [d for d in (datasets or []) if isinstance(d, dict) and d.get("id")][:MAX_DATASETS]
    ids = {str(d["id"]) for d in candidates}

    def offline() -> dict:
        return extractive_brief(notes)

    if not notes:  # nothing to cite: an answer could never validate, so do not spend a call on it
        spec = chat.spec(ctx)
        outcome = Outcome(offline(), OFFLINE, error="no research notes to summarise" if chat.configured(ctx) else "")
        brief = {**outcome.value, "source": OFFLINE, **({"llm_error": outcome.error} if outcome.error else {})}
        return brief, record_call(ledger, STEP, outcome, spec)

    def validate(brief: ResearchBrief) -> None:
        for i, t in enumerate(brief.takeaways, 1):
            if not t.text.strip():
                raise ValueError(f"takeaway {i} is empty")
            bad = [s for s in t.sources if not 1 <= s <= len(notes)]
            if bad:
                raise ValueError(f"takeaway {i} cites note(s) {bad}: only notes 1..{len(notes)} were shown")
        unknown = [d for d in brief.suggested_datasets if d not in ids]
        if unknown:
            raise ValueError(f"suggested dataset(s) {unknown} are not among the candidates: {sorted(ids)}")

    messages = brief_messages(requirement, notes, candidates) if chat.configured(ctx) else []
    outcome, ledger = structured_step(ctx, STEP, ledger, ResearchBrief, messages, offline, validate, chat=chat)
    if outcome.source == OFFLINE:
        brief = outcome.value
    else:
        takeaways = []
        for t in outcome.value.takeaways:
            refs = list(dict.fromkeys(note_ref(notes[s - 1], s) for s in t.sources))
            takeaways.append({"text": clip(t.text, TAKEAWAY_CHARS), "sources": refs})
        brief = {"takeaways": takeaways, "suggested_datasets": list(dict.fromkeys(outcome.value.suggested_datasets))}
    out = {**brief, "source": outcome.source}
    if outcome.error:
        out["llm_error"] = outcome.error
    return out, ledger
