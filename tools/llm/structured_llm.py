"""Structured chat-model calls that never fail a node: schema-checked answer, one retry, offline fallback.

`call_structured` asks the model for a Pydantic schema through `with_structured_output` (tool calling; JSON
for models without it, e.g. a local ChatHuggingFace pipeline), retries once with the error when the call
raises or the answer does not validate, and otherwise returns the offline fallback's answer. It says which
one was used ("llm" | "llm-retry" | "offline") and how many tokens were spent.

`record_call` folds one outcome into the run's `state.llm` ledger:
``{"calls", "input_tokens", "output_tokens", "cost_usd", "steps": {"<node>:<round>": source}, "errors": {...}}``.
`record_usage` / `record_usages` fold calls made elsewhere (the llm_judge metric in a scoring worker,
a recipe's synthesis and judge filter) the same way, under steps "judge:<round>:<trial>", "judge:test:<label>",
"recipe:<round>:<trial>".
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from tools.llm.prompts import JSON_ANSWER_NOTE, RETRY_NOTE

LLM, LLM_RETRY, OFFLINE = "llm", "llm-retry", "offline"


@dataclass
class Outcome:
    value: Any  # the schema instance (LLM) or whatever the fallback returned
    source: str  # llm | llm-retry | offline
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    error: str = ""  # why the LLM answer was not used (empty when it was)


def _runnable(model, schema: type[BaseModel]):
    """(runnable, uses_json): tool calling where the model has it for Pydantic schemas, else JSON output."""
    try:
        return model.with_structured_output(schema, method="function_calling", include_raw=True), False
    except NotImplementedError:
        return model.with_structured_output(schema, method="json_schema", include_raw=True), True


def _usage(raw) -> tuple[int, int]:
    meta = getattr(raw, "usage_metadata", None) or {}
    return int(meta.get("input_tokens", 0) or 0), int(meta.get("output_tokens", 0) or 0)


def _short(err: BaseException | str, limit: int = 300) -> str:
    text = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    return " ".join(str(text).split())[:limit]


def _parse(schema: type[BaseModel], result: dict) -> BaseModel:
    if result.get("parsing_error") is not None:
        raise ValueError(f"answer does not fit {schema.__name__}: {_short(result['parsing_error'])}")
    parsed = result.get("parsed")
    if parsed is None:
        raw = result.get("raw")
        seen = _short(getattr(raw, "content", "") or "(empty)", 120)
        raise ValueError(f"no {schema.__name__} in the answer (got: {seen})")
    return parsed if isinstance(parsed, schema) else schema.model_validate(parsed)


def call_structured(model, schema: type[BaseModel], messages: list, fallback: Callable[[], Any],
                    validate: Callable[[BaseModel], None] | None = None, retries: int = 1) -> Outcome:
    """Ask `model` for a `schema` answer; `validate` may raise ValueError to reject a well-formed but unusable
    answer. `model` None means no chat model: the fallback answers. Never raises for an LLM failure."""
    if model is None:
        return Outcome(fallback(), OFFLINE)
    msgs = list(messages)
    out = Outcome(None, OFFLINE)
    try:
        runnable, uses_json = _runnable(model, schema)
    except Exception as err:  # noqa: BLE001 - a model that cannot do structured output at all
        out.value, out.error = fallback(), _short(err)
        return out
    if uses_json:
        msgs = [("system", JSON_ANSWER_NOTE.format(schema=json.dumps(schema.model_json_schema())))] + msgs
    for attempt in range(retries + 1):
        out.calls += 1
        try:
            result = runnable.invoke(msgs)
            tin, tout = _usage(result.get("raw"))
            out.input_tokens += tin
            out.output_tokens += tout
            value = _parse(schema, result)
            if validate is not None:
                validate(value)
        except (ValidationError, ValueError) as err:
            out.error = _short(err)
        except Exception as err:  # noqa: BLE001 - network, server, provider errors: retry, then fall back
            out.error = _short(err)
        else:
            out.value, out.source, out.error = value, LLM if attempt == 0 else LLM_RETRY, ""
            return out
        msgs = msgs + [("human", RETRY_NOTE.format(error=out.error))]
    out.value = fallback()
    return out


def record_call(ledger: dict | None, step: str, outcome: Outcome, spec: str,
                prices: dict[str, dict[str, float]] | None = None) -> dict:
    """A new `state.llm` dict with this call's tokens, spend and source added (the input is not changed)."""
    from tools.llm.llm_pricing import cost_usd, price_of

    led = {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "steps": {}, **(ledger or {})}
    led["steps"] = {**led.get("steps", {}), step: outcome.source}
    led["calls"] += outcome.calls
    led["input_tokens"] += outcome.input_tokens
    led["output_tokens"] += outcome.output_tokens
    if outcome.calls:
        led["cost_usd"] = round(led["cost_usd"] + cost_usd(spec, outcome.input_tokens, outcome.output_tokens, prices), 6)
        if spec and price_of(spec, prices) is None and spec not in led.get("unpriced", []):
            led["unpriced"] = [*led.get("unpriced", []), spec]  # counted as 0 USD: say so
    if outcome.error:
        led["errors"] = {**led.get("errors", {}), step: outcome.error}
    if spec:
        led["model"] = spec
    return led


def structured_step(ctx, step: str, ledger: dict | None, schema: type[BaseModel], messages: list,
                    fallback: Callable[[], Any], validate: Callable[[BaseModel], None] | None = None,
                    chat: ChatSource = DEFAULT_CHAT) -> tuple[Outcome, dict]:
    """What a node calls: get the model from `chat` (the run's ChatSource; none = offline), call, and record
    the step."""
    spec = chat.spec(ctx)
    model, load_error = None, ""
    try:
        model = chat.model(ctx)
    except Exception as err:  # noqa: BLE001 - a model that cannot be built: the round goes on offline
        load_error = _short(err)
    outcome = call_structured(model, schema, messages, fallback, validate)
    if load_error:
        outcome.error = load_error
    return outcome, record_call(ledger, step, outcome, spec, chat_prices(ctx))


def chat_prices(ctx) -> dict[str, dict[str, float]]:
    """Context.llm_prices parsed ({} when unset or malformed: the defaults price the calls)."""
    from trex.prices import parse_prices

    try:
        return parse_prices(getattr(ctx, "llm_prices", ""))
    except ValueError:
        return {}


def record_usage(ledger: dict | None, step: str, usage: dict, spec: str,
                 prices: dict[str, dict[str, float]] | None = None) -> dict:
    """A new `state.llm` with calls made outside a structured step (the llm_judge metric, recipe synthesis):
    usage = {"calls", "input_tokens", "output_tokens"[, "model": the spec that made them, else `spec`]}."""
    outcome = Outcome(None, LLM, int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0),
                      int(usage.get("calls") or 0))
    return record_call(ledger, step, outcome, usage.get("model") or spec, prices)


def record_usages(ctx, ledger: dict | None, usages: dict[str, dict | None]) -> dict | None:
    """What a node calls: fold {step: usage} into the ledger, priced as Context.chat_model / llm_prices.
    Usages without calls are skipped; the ledger comes back unchanged (same object) when none has any."""
    spec, prices = (getattr(ctx, "chat_model", "") or "").strip(), None
    for step, usage in usages.items():
        if usage and int(usage.get("calls") or 0) > 0:
            prices = chat_prices(ctx) if prices is None else prices
            ledger = record_usage(ledger, step, usage, spec, prices)
    return ledger
