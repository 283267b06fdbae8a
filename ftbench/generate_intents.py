"""Deterministic generator of the offline default task: banking-assistant intent classification.

`python -m ftbench.generate_intents` rewrites tools/data/shipped/data/bank_intents.jsonl byte for byte.
"""
from __future__ import annotations

import json
import random

from tools.data.task_catalog import DATA_DIR

TEMPLATES = {
    "balance": ["how much money is in my {acct} account", "what's my current balance", "can you tell me the balance of my {acct} account",
                "show me how much I have left", "check my {acct} balance", "do I have enough funds in {acct} to cover {amount}",
                "balance please", "what is left on my {acct} account after the last payment"],
    "card_lost": ["I lost my {card} card", "my {card} card was stolen in {city}", "I can't find my card anywhere, please block it",
                  "someone took my wallet with my {card} card", "freeze my {card} card, it's missing", "I left my card at a shop in {city} and it's gone",
                  "need to report a missing {card} card", "block card ending {digits}, I lost it"],
    "transfer": ["send {amount} to {name}", "transfer {amount} from {acct} to my {acct2} account", "wire {amount} to {name} in {city}",
                 "move {amount} into savings", "pay {name} back {amount}", "I want to send money to {name}",
                 "make a transfer of {amount} to account {digits}", "can you move {amount} between my accounts"],
    "bill_payment": ["pay my {bill} bill", "I need to pay the {bill} invoice of {amount}", "set up autopay for {bill}",
                     "when is my {bill} bill due", "settle the {bill} bill from {acct}", "pay {amount} for {bill} today",
                     "schedule the {bill} payment for next friday", "has my {bill} bill been paid"],
    "exchange_rate": ["what is the exchange rate from {cur} to {cur2}", "how many {cur2} do I get for {amount}", "convert {amount} to {cur2}",
                      "current {cur} to {cur2} rate", "is the {cur2} rate good today", "how much is one {cur} in {cur2}",
                      "rate for changing {cur} into {cur2}", "what would {amount} be in {cur2}"],
    "loan": ["I want to apply for a {loan} loan", "what interest rate do you offer on a {loan} loan", "can I borrow {amount} for a {loan}",
             "how do I get a {loan} loan", "am I eligible for a {loan} loan", "increase my {loan} loan by {amount}",
             "what are the monthly repayments on a {amount} loan", "tell me about {loan} financing"],
    "fraud": ["there is a charge of {amount} I don't recognise", "someone used my card in {city} without permission",
              "I see a payment to {name} that I never made", "suspicious transaction on my {acct} account", "I think my account was hacked",
              "unknown withdrawal of {amount} from {acct}", "I got a text asking for my pin, is this a scam", "dispute the {amount} charge from yesterday"],
    "address_change": ["I moved to {city}, update my address", "change my home address", "please update my mailing address to {num} {street}",
                       "my new address is {num} {street}, {city}", "I need to change where you send my statements",
                       "update the address on my {acct} account", "new postal address: {num} {street}", "I relocated to {city}, please change my details"],
}
SLOTS = {
    "acct": ["checking", "savings", "joint", "business", "current", "student"],
    "acct2": ["savings", "checking", "holiday", "joint"],
    "amount": ["$50", "$120", "200 euros", "£75", "$1,000", "300 dollars", "$15.99", "€2,500", "$40", "£1,200"],
    "name": ["Alice", "my landlord", "Bob", "my sister", "Carlos", "Dana", "the plumber", "Mr. Smith"],
    "city": ["Paris", "Chicago", "Lagos", "Berlin", "Tokyo", "Lima", "Austin", "Madrid"],
    "card": ["debit", "credit", "visa", "mastercard", "business", "travel"],
    "digits": ["4421", "0097", "8830", "1265", "7002", "5519"],
    "bill": ["electricity", "water", "phone", "internet", "gas", "credit card", "rent", "insurance"],
    "cur": ["dollars", "euros", "pounds", "yen", "pesos", "USD", "EUR"],
    "cur2": ["euros", "yen", "pounds", "dollars", "francs", "rupees", "GBP"],
    "loan": ["car", "home", "personal", "student", "mortgage", "business"],
    "num": ["12", "221", "7", "1600", "42", "88"],
    "street": ["Oak Street", "Baker Street", "Main Ave", "Elm Road", "Park Lane", "River Drive"],
}
PREFIXES = ["", "", "", "hi, ", "hello, ", "hey ", "excuse me, ", "quick question: "]
SUFFIXES = ["", "", "", " please", " thanks", "?", " asap", "!"]


def generate(per_label: int = 80, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    out, seen = [], set()
    for label, templates in TEMPLATES.items():
        count, attempts = 0, 0
        while count < per_label and attempts < per_label * 50:
            attempts += 1
            text = rng.choice(templates)
            for slot, values in SLOTS.items():
                text = text.replace("{" + slot + "}", rng.choice(values))
            text = rng.choice(PREFIXES) + text + rng.choice(SUFFIXES)
            if text not in seen:
                seen.add(text)
                out.append({"text": text, "intent": label})
                count += 1
    rng.shuffle(out)
    return out


def main() -> None:
    path = DATA_DIR / "bank_intents.jsonl"  # the product ships it (tools/data/task_catalog.py)
    path.write_text("".join(json.dumps(r) + "\n" for r in generate()), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
