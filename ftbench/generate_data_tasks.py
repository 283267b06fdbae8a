"""Deterministic generator of the offline tasks where data, not a learning rate, decides the result.

`python -m ftbench.generate_data_tasks` rewrites these files of tools/data/shipped/data/ (the product ships them) byte for byte:

* support_queues.jsonl + support_queues_pool.jsonl: route an IT-support message to one of five queues. The
  task's own data gives 20 training examples; a large pool of exported tickets holds more clean examples,
  but also rows from an old ticket system whose queue names mean something else (marked "[ticket-import]")
  and scraped page fragments (symbol soup) filed under "billing". The pool helps only once rules filter it.
* clock_24h.jsonl + clock_phrases_catalog.jsonl: write the time a message mentions as 24-hour HH:MM. The
  own 20 training examples are too few; a related catalog dataset with the same convention and other
  sentences helps.
* phone_e164.jsonl + phone_directory_catalog.jsonl: write the US phone number a message mentions in E.164
  (+1 and ten digits). A tempting catalog dataset (same fields, same kind of messages, four times larger)
  writes its answers in the national format (415-555-0199): mixing it in hurts exact match.

Every task's spec (tools/data/shipped/tasks/) declares the data moves its search may take as `search_space.recipe`.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from tools.data.task_catalog import DATA_DIR

DATA = DATA_DIR

# -- support_queues -------------------------------------------------------------------------------------
QUEUES = {
    "network": ["the wifi on floor {n} keeps dropping", "I can't connect to the VPN from {place}",
                "internet is very slow in {room}", "no network cable signal at desk {n}",
                "the office wifi asks for a password it never asked before", "VPN disconnects every {n} minutes",
                "can't reach the shared drive over the network from {place}", "ethernet port in {room} is dead"],
    "password": ["I forgot my password for {app}", "my account is locked after too many logins",
                 "please reset my {app} password", "the password reset link for {app} expired",
                 "I need to change my password, it expires today", "locked out of {app} again",
                 "two-factor code for {app} never arrives", "can't log in to {app}, says wrong password"],
    "hardware": ["my laptop screen flickers", "the printer in {room} jams every page",
                 "keyboard keys stopped working on my laptop", "my monitor at desk {n} shows no signal",
                 "laptop battery dies after {n} minutes", "the docking station in {room} won't charge my laptop",
                 "mouse is broken, need a new one", "headset microphone crackles in calls"],
    "billing": ["I was charged twice for {app} this month", "need a copy of the invoice for {app}",
                "why did our {app} subscription price go up", "cancel the {app} licence for a leaver",
                "the {app} invoice has the wrong cost centre", "refund the duplicate {app} charge",
                "who approves the {app} renewal payment", "update the card used to pay for {app}"],
    "software": ["{app} crashes when I open a file", "please install {app} on my laptop",
                 "{app} won't update, error {n}", "{app} freezes on startup",
                 "need a licence key to activate {app}", "the {app} plugin stopped loading",
                 "{app} shows a blank window after the update", "uninstall the old version of {app}"],
}
QUEUE_SLOTS = {"n": ["2", "3", "5", "10", "12", "15", "20", "42"],
               "place": ["home", "the hotel", "the airport", "a client site", "the train", "my flat"],
               "room": ["room 204", "the meeting room", "reception", "the east wing", "lab 3", "the library"],
               "app": ["Outlook", "Slack", "Zoom", "Excel", "Salesforce", "Jira", "Photoshop", "Teams"]}
QUEUE_OPENERS = ["", "", "", "hi, ", "hello, ", "urgent: ", "hey team, ", "good morning, "]
QUEUE_CLOSERS = ["", "", "", " please", " thanks", "!", " asap", " - thank you"]
# The old ticket system named its queues differently; its exports carry its old names, mapped 1:1 here.
LEGACY_NAMES = {"network": "software", "password": "hardware", "hardware": "billing", "billing": "network",
                "software": "password"}
JUNK = ["<div class=\"nav\">{a}</div> &nbsp;|&nbsp; {b} &raquo;", "{{{{ {a} }}}} ## {b} ## ==>", "[{a}]({b}) ** || **",
        "@@{a}@@ %% {b} %% $$", "/* {a} */ ;; {b} ;; <br/><br/>", "~~{a}~~ &lt;{b}&gt; &amp;&amp;"]
JUNK_WORDS = ["menu", "home", "login", "cart", "footer", "cookie", "subscribe", "share", "top", "index"]


def _fill(text: str, slots: dict, rng: random.Random) -> str:
    for slot, values in slots.items():
        text = text.replace("{" + slot + "}", rng.choice(values))
    return text


def _tickets(n_per_queue: int, rng: random.Random, seen: set) -> list[dict]:
    out = []
    for queue, templates in QUEUES.items():
        made = 0
        while made < n_per_queue:
            text = rng.choice(QUEUE_OPENERS) + _fill(rng.choice(templates), QUEUE_SLOTS, rng) + rng.choice(QUEUE_CLOSERS)
            if text not in seen:
                seen.add(text)
                out.append({"text": text, "queue": queue})
                made += 1
    rng.shuffle(out)
    return out


def support_queues(seed: int = 21) -> tuple[list[dict], list[dict]]:
    """(the task's own 100 messages, the 300-row exported pool)."""
    rng, seen = random.Random(seed), set()
    own = _tickets(20, rng, seen)
    clean = _tickets(20, rng, seen)
    legacy = [{"text": "[ticket-import] " + r["text"], "queue": LEGACY_NAMES[r["queue"]]} for r in _tickets(20, rng, seen)]
    junk = [{"text": _fill(rng.choice(JUNK), {"a": JUNK_WORDS, "b": JUNK_WORDS}, rng) + f" #{i}", "queue": "billing"}
            for i in range(100)]
    pool = clean + legacy + junk
    rng.shuffle(pool)
    return own, pool


# -- clock_24h ------------------------------------------------------------------------------------------
def _clock_forms(h: int, m: int) -> list[str]:
    """Ways a message writes the time h:m (24-hour h), each unambiguous."""
    h12, half = (h % 12 or 12), ("am" if h < 12 else "pm")
    day = "in the morning" if h < 12 else "in the afternoon" if h < 18 else "in the evening"
    forms = [f"{h12}:{m:02d} {half}", f"{h12}:{m:02d}{half}", f"{h12}.{m:02d} {half.upper()}", f"{h:02d}{m:02d} hours"]
    if m == 0:
        forms += [f"{h12} o'clock {day}", f"{h12} {half}"]
    if m == 30:
        forms.append(f"half past {h12} {day}")
    if m == 15:
        forms.append(f"quarter past {h12} {day}")
    if m == 45:
        forms.append(f"quarter to {h12 % 12 + 1} {day}")
    if (h, m) == (12, 0):
        forms.append("noon")
    return forms


CLOCK_OWN = ["The call is at {t}.", "Meet me at {t}", "Bus leaves {t}", "Doors open at {t}.", "Lunch at {t}?"]
CLOCK_CATALOG = ["Reminder set for {t}.", "Shift starts {t}", "The train arrives at {t}.", "Check-in closes at {t}",
                 "Pick me up at {t} please", "Alarm: {t}", "Store closes at {t} today.", "Webinar begins {t}",
                 "Dinner reservation for {t}.", "Standup moved to {t}"]


def _clock_rows(n: int, frames: list[str], rng: random.Random, seen: set) -> list[dict]:
    out = []
    while len(out) < n:
        h, m = rng.randrange(24), rng.choice([0, 0, 15, 30, 45, 5, 10, 20, 40, 50, 25, 55])
        if m == 45 and h == 23:  # "quarter to 12" at night would need the next day
            continue
        text = rng.choice(frames).format(t=rng.choice(_clock_forms(h, m)))
        if text not in seen:
            seen.add(text)
            out.append({"text": text, "time": f"{h:02d}:{m:02d}"})
    return out


def clock_24h(seed: int = 22) -> tuple[list[dict], list[dict]]:
    """(the task's own 100 messages, the 400-row related catalog dataset)."""
    rng, seen = random.Random(seed), set()
    own = _clock_rows(100, CLOCK_OWN, rng, seen)
    catalog = [{"sentence": r["text"], "time_24h": r["time"]} for r in _clock_rows(400, CLOCK_CATALOG, rng, seen)]
    return own, catalog


# -- phone_e164 -----------------------------------------------------------------------------------------
PHONE_FORMS = [lambda a, b, c: f"({a}) {b}-{c}", lambda a, b, c: f"{a}-{b}-{c}", lambda a, b, c: f"{a}.{b}.{c}",
               lambda a, b, c: f"{a} {b} {c}", lambda a, b, c: f"+1 {a} {b} {c}", lambda a, b, c: f"1-{a}-{b}-{c}",
               lambda a, b, c: f"+1 ({a}) {b}-{c}"]
PHONE_FRAMES = ["Call Dana at {p}.", "my number is {p}", "Reach the front desk on {p}", "Text {p} for updates",
                "Office: {p}", "Please call back {p} after 5", "New mobile {p}", "Fax it to {p}"]
NAMES = ["Ana", "Ben", "Chloe", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo"]


def _phone_rows(n: int, rng: random.Random, seen: set) -> list[tuple[str, str, str, str]]:
    out = []
    while len(out) < n:
        a, b, c = f"{rng.randrange(201, 990)}", f"{rng.randrange(200, 999)}", f"{rng.randrange(10000):04d}"
        frame = rng.choice(PHONE_FRAMES).replace("Dana", rng.choice(NAMES))
        text = frame.format(p=rng.choice(PHONE_FORMS)(a, b, c))
        if text not in seen:
            seen.add(text)
            out.append((text, a, b, c))
    return out


def phone_e164(seed: int = 23) -> tuple[list[dict], list[dict]]:
    """(the task's own 100 messages, the 400-row tempting directory in the national format)."""
    rng, seen = random.Random(seed), set()
    own = [{"text": t, "e164": f"+1{a}{b}{c}"} for t, a, b, c in _phone_rows(100, rng, seen)]
    directory = [{"text": t, "phone": f"{a}-{b}-{c}"} for t, a, b, c in _phone_rows(400, rng, seen)]
    return own, directory


FILES = {"support_queues": support_queues, "clock_24h": clock_24h, "phone_e164": phone_e164}
SECOND_FILE = {"support_queues": "support_queues_pool", "clock_24h": "clock_phrases_catalog",
               "phone_e164": "phone_directory_catalog"}


def write(directory: Path = DATA) -> list[Path]:
    written = []
    for name, make in FILES.items():
        own, extra = make()
        for stem, rows in ((name, own), (SECOND_FILE[name], extra)):
            path = directory / f"{stem}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            written.append(path)
    return written


def main() -> None:
    for path in write():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
