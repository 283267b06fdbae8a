"""Deterministic generator of the offline task `unit_convert`: convert a metric quantity to another unit.

`python -m ftbench.generate_units` rewrites ftbench/data/unit_convert.jsonl byte for byte. The answer is
the bare number in the target unit, written without exponent or trailing zeros ("2500", "0.045").
"""
from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

# unit -> (quantity, factor to the quantity's base unit, name used in questions)
UNITS = {
    "mm": ("length", Decimal("0.001"), "millimetres"), "cm": ("length", Decimal("0.01"), "centimetres"),
    "m": ("length", Decimal(1), "metres"), "km": ("length", Decimal(1000), "kilometres"),
    "mg": ("mass", Decimal("0.001"), "milligrams"), "g": ("mass", Decimal(1), "grams"),
    "kg": ("mass", Decimal(1000), "kilograms"),
    "ml": ("volume", Decimal("0.001"), "millilitres"), "cl": ("volume", Decimal("0.01"), "centilitres"),
    "l": ("volume", Decimal(1), "litres"),
}
QUESTIONS = [
    "Convert {v} {u} to {t}.", "How many {tn} are in {v} {u}?", "{v} {u} = ? {t}", "Express {v} {un} in {tn}.",
    "What is {v} {u} in {t}?", "{v} {un} to {tn}", "I have {v} {u}; how much is that in {tn}?",
]


def plain(x: Decimal) -> str:
    """A decimal as plain text: no exponent, no trailing zeros."""
    text = format(x.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def generate(n: int = 480, seed: int = 13) -> list[dict]:
    rng = random.Random(seed)
    units = sorted(UNITS)
    out, seen = [], set()
    while len(out) < n:
        u = rng.choice(units)
        t = rng.choice([x for x in units if UNITS[x][0] == UNITS[u][0] and x != u])
        digits = rng.choice([1, 2, 3])
        value = Decimal(rng.randrange(1, 10 ** digits)) / Decimal(10) ** rng.choice([0, 0, 1, 2])
        answer = plain(value * UNITS[u][1] / UNITS[t][1])
        text = rng.choice(QUESTIONS).format(v=plain(value), u=u, t=t, un=UNITS[u][2], tn=UNITS[t][2])
        if text not in seen:
            seen.add(text)
            out.append({"question": text, "answer": answer})
    return out


def main() -> None:
    path = Path(__file__).parent / "data" / "unit_convert.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in generate()), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
