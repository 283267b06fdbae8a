"""Deterministic generator of the offline task `date_iso`: rewrite a date written in a message as ISO 8601.

`python -m ftbench.generate_dates` rewrites tools/data/shipped/data/date_iso.jsonl byte for byte. Every input is a
distinct message; numeric dates are always month/day/year (US order) or year.month.day, as the task's
instruction says, so every answer is unambiguous.
"""
from __future__ import annotations

import json
import random
from datetime import date, timedelta

from tools.data.task_catalog import DATA_DIR

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 11 <= n % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


# How a date is written: each takes a date and returns its surface form.
FORMATS = [
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    lambda d: f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]}, {d.year}",
    lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    lambda d: f"{d.month}/{d.day}/{d.year}",
    lambda d: f"{d.year}.{d.month:02d}.{d.day:02d}",
    lambda d: f"{d.day}-{MONTHS[d.month - 1][:3]}-{d.year}",
]
SENTENCES = [
    "The meeting was moved to {d}.", "Invoice dated {d}, please file it.", "My flight leaves on {d}",
    "Payment due {d}", "She was born on {d}.", "Contract signed {d} in the main office.",
    "Delivery expected {d}, weather permitting.", "Can we do {d} instead?", "{d}",
    "Last login: {d}", "The warranty ends {d}.", "Reminder: dentist appointment on {d}",
]


def generate(n: int = 480, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    start, span = date(1950, 1, 1), (date(2035, 12, 31) - date(1950, 1, 1)).days
    out, seen = [], set()
    while len(out) < n:
        d = start + timedelta(days=rng.randrange(span + 1))
        text = rng.choice(SENTENCES).format(d=rng.choice(FORMATS)(d))
        if text not in seen:
            seen.add(text)
            out.append({"text": text, "iso": d.isoformat()})
    return out


def main() -> None:
    path = DATA_DIR / "date_iso.jsonl"  # the product ships it (tools/data/task_catalog.py)
    path.write_text("".join(json.dumps(r) + "\n" for r in generate()), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
