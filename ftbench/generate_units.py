"""Deterministic generator of the offline task `unit_convert`: convert a metric quantity one prefix step
(a factor of 1000: km/m, m/mm, kg/g, g/mg, l/ml) up or down.

`python -m ftbench.generate_units` rewrites tools/data/shipped/data/unit_convert.jsonl byte for byte. The answer is
the bare number in the target unit, written without exponent or trailing zeros ("2500", "0.45").
One step of 1000 keeps the task learnable by a 135M model in a few dozen steps (the decimal point moves
three places); an earlier version with any pair of units (factors up to 10^6) stayed at 0 exact match.
"""
from __future__ import annotations

import json
import random
from decimal import Decimal

from tools.data.task_catalog import DATA_DIR

# unit -> (quantity, factor to the quantity's base unit, name used in questions)
UNITS = {
    "mm": ("length", Decimal("0.001"), "millimetres"), "m": ("length", Decimal(1), "metres"),
    "km": ("length", Decimal(1000), "kilometres"),
    "mg": ("mass", Decimal("0.001"), "milligrams"), "g": ("mass", Decimal(1), "grams"),
    "kg": ("mass", Decimal(1000), "kilograms"),
    "ml": ("volume", Decimal("0.001"), "millilitres"), "l": ("volume", Decimal(1), "litres"),
}
STEPS = [("km", "m"), ("m", "mm"), ("kg", "g"), ("g", "mg"), ("l", "ml")]  # (larger, smaller): a factor of 1000
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
    out, seen = [], set()
    while len(out) < n:
        big, small = rng.choice(STEPS)
        if rng.random() < 0.5:  # down to the smaller unit: 2.5 km -> 2500 m
            u, t = big, small
            value = Decimal(rng.randrange(1, 1000)) if rng.random() < 0.7 else Decimal(rng.randrange(1, 100)) / 10
        else:  # up to the larger unit: 2300 g -> 2.3 kg
            u, t = small, big
            value = Decimal(rng.randrange(1, 100) * rng.choice([10, 100, 1000]))
        answer = plain(value * UNITS[u][1] / UNITS[t][1])
        text = rng.choice(QUESTIONS).format(v=plain(value), u=u, t=t, un=UNITS[u][2], tn=UNITS[t][2])
        if text not in seen:
            seen.add(text)
            out.append({"question": text, "answer": answer})
    return out


def main() -> None:
    path = DATA_DIR / "unit_convert.jsonl"  # the product ships it (tools/data/task_catalog.py)
    path.write_text("".join(json.dumps(r) + "\n" for r in generate()), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
