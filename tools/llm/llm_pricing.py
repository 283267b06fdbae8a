"""What chat-model tokens cost: a small default price table (USD per million tokens), overridable per run.

The override (Context.llm_prices / TREX_LLM_PRICES) is a JSON object, inline or in a file:
``{"gpt-4.1": {"input": 2.0, "output": 8.0}, "my-local-model": {"input": 0, "output": 0}}``.
A model is priced by its exact name, else by the longest table key it starts with ("gpt-4.1-2025-04-14"
is priced as "gpt-4.1"); a model in no table costs 0 and is reported as unpriced. Local models ("hf:...")
cost 0.
"""
from __future__ import annotations



# USD per 1M tokens (input, output): public list prices, for budgeting only.
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "gpt-4.1": {"input": 2.0, "output": 8.0},
    "gpt-4.1-mini": {"input": 0.4, "output": 1.6},
    "gpt-4.1-nano": {"input": 0.1, "output": 0.4},
    "gpt-4o": {"input": 2.5, "output": 10.0},
    "gpt-4o-mini": {"input": 0.15, "output": 0.6},
    "o3": {"input": 2.0, "output": 8.0},
    "o4-mini": {"input": 1.1, "output": 4.4},
    "claude-sonnet-4": {"input": 3.0, "output": 15.0},
    "claude-3-5-haiku": {"input": 0.8, "output": 4.0},
}


def model_name(spec: str) -> str:
    """'openai:gpt-4.1' -> 'gpt-4.1'; 'hf:/models/x' stays as is."""
    if spec.startswith("hf:"):
        return spec
    return spec.split(":", 1)[1] if ":" in spec else spec


def price_of(spec: str, overrides: dict[str, dict[str, float]] | None = None) -> dict[str, float] | None:
    """{"input", "output"} USD per 1M tokens for a chat-model spec; None when no table knows it."""
    if spec.startswith("hf:"):
        return {"input": 0.0, "output": 0.0}
    name = model_name(spec)
    for table in (overrides or {}, DEFAULT_PRICES):
        for key in (spec, name):
            if key in table:
                return table[key]
        prefixes = [k for k in table if name.startswith(k)]
        if prefixes:
            return table[max(prefixes, key=len)]
    return None


def cost_usd(spec: str, input_tokens: int, output_tokens: int,
             overrides: dict[str, dict[str, float]] | None = None) -> float:
    price = price_of(spec, overrides)
    if price is None:
        return 0.0
    return (input_tokens * price["input"] + output_tokens * price["output"]) / 1e6
