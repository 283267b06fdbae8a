"""The chat-model price override (Context.llm_prices / TREX_LLM_PRICES): a JSON object, inline or in a file,
{model: {input: USD per 1M tokens, output: USD per 1M tokens}}. Read here so a bad table fails when the
Context is made; tools/llm/llm_pricing.py prices the calls with it."""
from __future__ import annotations

import json
from pathlib import Path


def parse_prices(raw: str) -> dict[str, dict[str, float]]:
    """The override table from a JSON string or a path to a JSON file; "" = none. Raises ValueError."""
    raw = (raw or "").strip()
    if not raw:
        return {}
    text = raw
    if not raw.startswith("{"):
        path = Path(raw).expanduser()
        if not path.is_file():
            raise ValueError(f"llm_prices: {raw!r} is neither a JSON object nor a file")
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"llm_prices: not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ValueError("llm_prices: expected a JSON object {model: {input: usd_per_1M, output: usd_per_1M}}")
    table = {}
    for name, price in data.items():
        if not isinstance(price, dict) or not all(isinstance(price.get(k), (int, float)) and price[k] >= 0
                                                  for k in ("input", "output")):
            raise ValueError(f"llm_prices: {name!r} needs non-negative numbers 'input' and 'output' (USD per 1M tokens)")
        table[name] = {"input": float(price["input"]), "output": float(price["output"])}
    return table
