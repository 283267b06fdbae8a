"""What a human reviewer of a plan can do (nodes/review_plan.py asks): the plan as shown, the answers
approve / edit / reject validated and applied, and the rejected plans the re-planning round counts as tried."""
from __future__ import annotations

import json

from tools.planning.config_bounds import WARM_START_FIXED
from tools.planning.planner import hyper_key
from trex.recipe import RecipeError, parse_recipe
from trex.state import State
from trex.trial_config import FIELDS

# Editable trial fields, from the trial table: (type, lowest, highest) for numbers (None: the task's training-set
# size), the allowed values for choices; a value is accepted only inside the bounds the bounds check enforces.
NUMBERS = {n: (float if f.kind == "float" else int, f.lowest(), None if f.relative else f.high)
           for n, f in FIELDS.items() if f.ordered}
CHOICES = {n: f.choices for n, f in FIELDS.items() if f.kind in ("choice", "flag")}
HOW = {"approve": {"action": "approve"},
       "edit": {"action": "edit", "edits": {"t0": {"lr": 0.0001}}, "drop": ["t1"]},
       "reject": {"action": "reject", "note": "why, for the planner"}}


class ReviewError(ValueError):
    """A resume value that cannot be applied; the message is shown to the reviewer."""


def summary(cfg: dict) -> str:
    keys = [n for n in FIELDS if n not in ("warm_start", "lora_alpha", "seed")]
    parts = [f"{k}={json.dumps(cfg[k]) if k == 'recipe' else cfg[k]}" for k in keys if cfg.get(k) not in (None, {})]
    return f"{cfg.get('id')} " + " ".join(parts) + (" warm-start" if cfg.get("warm_start") else "")


def plan_payload(node: dict, max_samples: int) -> dict:
    """What the reviewer sees (Studio shows it as the interrupt's value): JSON-able, self-describing."""
    return {"review": "plan", "node": node["id"], "parent": node.get("parent"), "round": node.get("round"),
            "rationale": node.get("rationale", ""), "trials": [{"recipe": {}, **t} for t in node.get("trials", [])],
            "editable": {**{k: f"{t.__name__} in [{lo:g}, {hi if hi is not None else max_samples:g}]"
                            + (" (exclusive)" if FIELDS[k].low_open and FIELDS[k].clamp_low is None else "")
                            for k, (t, lo, hi) in NUMBERS.items()},
                         **{k: f"one of {list(v)}" for k, v in CHOICES.items()},
                         "recipe": "data-recipe changes (trex.recipe.Recipe fields)"},
            "resume_with": HOW}


def _coerce(trial: str, name: str, value, max_samples: int):
    where = f"{trial}.{name}"
    if name in NUMBERS:
        kind, lo, hi = NUMBERS[name]
        hi = max_samples if hi is None else hi
        if isinstance(value, str):  # typed at a prompt or in a form
            try:
                value = float(value)
            except ValueError:
                raise ReviewError(f"{where}: {value!r} is not a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ReviewError(f"{where}: expected a number, got {json.dumps(value)}")
        if kind is int:
            if value != int(value):
                raise ReviewError(f"{where}: expected a whole number, got {value}")
            value = int(value)
        value = kind(value)
        if not lo <= value <= hi or (value == lo and FIELDS[name].low_open and FIELDS[name].clamp_low is None):
            raise ReviewError(f"{where}: {value:g} is out of range [{lo:g}, {hi:g}]")
        return value
    if name in CHOICES:
        if name == "warm_start" and isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if value not in CHOICES[name] or (name == "warm_start" and not isinstance(value, bool)):
            raise ReviewError(f"{where}: {value!r} is not one of {list(CHOICES[name])}")
        return value
    if name == "recipe":
        try:
            parse_recipe(value)
        except RecipeError as err:
            raise ReviewError(f"{where}: {err}") from None
        return dict(value or {})
    raise ReviewError(f"{where}: unknown field {name!r}; editable fields: {', '.join(FIELDS)}")


def apply_edits(trials: list[dict], edits, drop, max_samples: int) -> list[dict]:
    """The trials that will run: edited and without the dropped ones. Raises ReviewError."""
    ids = [t["id"] for t in trials]
    edits = edits or {}
    drop = drop or []
    if not isinstance(edits, dict) or not all(isinstance(v, dict) for v in edits.values()):
        raise ReviewError('"edits" must map trial ids to {field: value}, e.g. {"t0": {"lr": 0.0001}}')
    if isinstance(drop, str):
        drop = [drop]
    if not isinstance(drop, list):
        raise ReviewError('"drop" must be a list of trial ids, e.g. ["t1"]')
    for tid in [*edits, *drop]:
        if tid not in ids:
            raise ReviewError(f"unknown trial {tid!r}; this plan has {', '.join(ids)}")
    kept = []
    for cfg in trials:
        if cfg["id"] in drop:
            continue
        changes = {k: _coerce(cfg["id"], k, v, max_samples) for k, v in edits.get(cfg["id"], {}).items()}
        new = {**cfg, **changes}
        if new.get("warm_start"):
            fixed = [k for k in WARM_START_FIXED if k in changes and changes[k] != cfg.get(k)]
            if fixed:
                raise ReviewError(f"{cfg['id']} warm-starts from its parent's adapter, which fixes {', '.join(fixed)}; "
                                  f"also set {cfg['id']}.warm_start=false to train a fresh adapter")
        kept.append(new)
    if not kept:
        raise ReviewError("every trial would be dropped; to discard the whole plan, reject it")
    seen = {}
    for cfg in kept:
        other = seen.setdefault(hyper_key(cfg), cfg["id"])
        if other != cfg["id"]:
            raise ReviewError(f"{other} and {cfg['id']} would be the same trial")
    return kept


def decide(answer, trials: list[dict], max_samples: int) -> dict:
    """Validate a resume value; return {"action", "note", "trials" (for approve/edit)}."""
    if isinstance(answer, str):
        answer = {"action": answer}
    if not isinstance(answer, dict) or answer.get("action") not in HOW:
        raise ReviewError(f"expected {{\"action\": \"approve\" | \"edit\" | \"reject\", ...}}, got {json.dumps(answer)[:200]}")
    unknown = set(answer) - {"action", "edits", "drop", "note"}
    if unknown:
        raise ReviewError(f"unknown key(s) {', '.join(sorted(unknown))}; use action, edits, drop, note")
    note = answer.get("note") or ""
    if not isinstance(note, str):
        raise ReviewError('"note" must be text')
    action = answer["action"]
    if action != "edit" and (answer.get("edits") or answer.get("drop")):
        raise ReviewError(f'"edits" and "drop" need "action": "edit", not {action!r}')
    out = {"action": action, "note": note.strip()}
    if action == "edit":
        out["trials"] = apply_edits(trials, answer.get("edits"), answer.get("drop"), max_samples)
        out["edits"], out["drop"] = answer.get("edits") or {}, answer.get("drop") or []
    elif action == "approve":
        out["trials"] = trials
    return out


def _rejected(state: State) -> list[dict]:
    node = state.tree.get(state.current) or {}
    return node.get("rejected_plans", []) if node.get("status") == "rejected" else []


def planning_tree(state: State) -> dict:
    """The tree as plan_round's planner should see it: when the reviewer rejected this round's plan, its configs
    appear as tried siblings, so the re-plan proposes different ones (the built-in planner never repeats a
    config in the tree)."""
    rejected = _rejected(state)
    if not rejected:
        return state.tree
    node = state.tree[state.current]
    ghosts = {f"{node['id']}~rejected{i}": {"id": f"{node['id']}~rejected{i}", "parent": node.get("parent"),
                                            "round": node["round"], "status": "rejected", "trials": plan["trials"]}
              for i, plan in enumerate(rejected)}
    return {**state.tree, **ghosts}


def rejected_plans(state: State) -> dict:
    """Fields the re-planned node keeps: the plans rejected for it, so the tree shows what the human turned down."""
    rejected = _rejected(state)
    return {"rejected_plans": rejected} if rejected else {}
