"""Deterministic generator of the offline task `contact_json`: pull name, city and order number out of a
customer message as one line of JSON.

`python -m ftbench.generate_contacts` rewrites tools/data/shipped/data/contact_json.jsonl byte for byte. The answer
always has the keys in the order name, city, order, written by json.dumps (", " and ": " separators).
"""
from __future__ import annotations

import json
import random

from tools.data.task_catalog import DATA_DIR

FIRST = ["Maria", "John", "Aiko", "Omar", "Lena", "Carlos", "Priya", "Tom", "Fatima", "Ivan", "Chloe", "Kwame",
         "Sofia", "Lucas", "Mei", "Noah", "Amara", "Erik", "Yara", "Diego"]
LAST = ["Lopez", "Smith", "Tanaka", "Haddad", "Fischer", "Silva", "Sharma", "Brown", "Okafor", "Petrov",
        "Martin", "Mensah", "Rossi", "Dubois", "Chen", "Wilson", "Nwosu", "Larsen", "Costa", "Garcia"]
CITIES = ["Berlin", "Lyon", "Osaka", "Toronto", "Nairobi", "Austin", "Porto", "Seoul", "Dublin", "Lima",
          "Krakow", "Accra", "Denver", "Milan", "Perth", "Oslo"]
MESSAGES = [
    "Hi, this is {name} from {city}. My order {order} never arrived.",
    "Order #{order} is damaged. {name}, {city}",
    "Hello! {name} here, writing from {city} about order number {order}.",
    "Could you check order {order}? Thanks, {name} ({city})",
    "I'm {name} and I live in {city}; where is my package {order}?",
    "{city} customer {name} wants to return order {order}.",
    "Re: order {order} - please call {name}, we are based in {city}.",
    "Greetings from {city}. Order {order} was charged twice. Regards, {name}",
]


def generate(n: int = 480, seed: int = 17) -> list[dict]:
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        city, order = rng.choice(CITIES), str(rng.randrange(10000, 99999))
        text = rng.choice(MESSAGES).format(name=name, city=city, order=order)
        if text not in seen:
            seen.add(text)
            out.append({"message": text, "json": json.dumps({"name": name, "city": city, "order": order})})
    return out


def main() -> None:
    path = DATA_DIR / "contact_json.jsonl"  # the product ships it (tools/data/task_catalog.py)
    path.write_text("".join(json.dumps(r) + "\n" for r in generate()), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
