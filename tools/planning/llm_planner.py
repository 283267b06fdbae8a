"""The LLM planner: K child configurations from the condensed planning memory, in the offline planner's shape.

The memory (DESIGN §1) is the path root -> selected node, the node's siblings and already-tried children,
the tree's key successes and failures, the latest diagnosis and bad cases, the effects seen so far,
retrieved insights and the human's notes. Every section has a size cap, so the prompt stays bounded
however large the tree grows (`estimate_tokens` measures it).

Proposals are merged onto the anchor (the parent's best config), pass tools/planning/config_bounds.py, and are
de-duplicated with the offline planner's `trial_key`; the built-in planner fills any slot left empty, and
the whole round when the LLM fails (after one retry).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Callable

from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from tools.llm.schemas import RoundPlan, TrialProposal
from trex.state import TrialConfig
from trex.tree import ROOT, children, describe, evaluated, path_to, siblings
from tools.llm.prompts import PLAN_SYSTEM, PLAN_USER
from tools.planning.config_bounds import check_config
from tools.planning.planner import default_config, trial_key
from tools.planning.recipe_grammar import fold_owned_elsewhere, recipe_grammar
from tools.planning.tree_evidence import best_trial_config, observed_effects
from trex.search_space import DEFAULT_SPACE, SearchSpace
from trex.trial_config import FIELDS, PROPOSABLE, bounds_text, default_alpha, extra_settings

MAX_PATH, MAX_TRIED, MAX_BAD_CASES, MAX_INSIGHTS, MAX_FEEDBACK, MAX_EFFECTS, MAX_KEY = 8, 12, 5, 6, 5, 6, 3
MAX_TAKEAWAYS, MAX_PRIORS = 4, 3  # research brief lines and earlier runs' winning configs shown
MAX_SOURCES = 5  # vetted datasets shown as possible extra sources
MAX_MEMORY_CHARS = 14_000  # ~3.5k tokens: a hard cap on top of the per-section caps


def estimate_tokens(text: str) -> int:
    """Tokenizer-free estimate, on the safe side: ~4 characters a token for English prose, nearer 3 for the
    numbers and JSON of a planning prompt (SmolLM2's BPE counts 2,923 tokens for 8,970 characters)."""
    return math.ceil(len(text) / 3)


def clip(text, limit: int) -> str:
    """One line, at most `limit` characters (an ellipsis marks a cut): prompts stay bounded."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


SHOWN = ("lr", "epochs", "lora_r", "lora_alpha", "batch_size", "max_samples", "layer_fraction", "template", "method",
         "recipe", "warm_start")  # what compact() writes itself


def compact(cfg: dict) -> str:
    """One trial config on one line: 'lr=0.001 ep=2 r=8/16 bs=8 n=128 lf=0.5 chat'."""
    if cfg.get("epochs", 0) == 0:
        return "base model, no training"
    parts = [f"lr={cfg.get('lr', 0):g}", f"ep={cfg.get('epochs')}", f"r={cfg.get('lora_r')}/{cfg.get('lora_alpha')}",
             f"bs={cfg.get('batch_size')}", f"n={cfg.get('max_samples')}", f"lf={cfg.get('layer_fraction')}",
             cfg.get("template", "chat")]
    if cfg.get("method", "lora") != "lora":
        parts.append(cfg["method"])
    if cfg.get("recipe"):
        parts.append("recipe=" + json.dumps(cfg["recipe"], sort_keys=True))
    if cfg.get("warm_start"):
        parts.append("warm-start")
    parts += extra_settings(cfg, SHOWN)
    return clip(" ".join(parts), 240)


def node_line(node: dict) -> str:
    best = best_trial_config(node)
    line = describe(node) + f", {node.get('diagnosis_kind', node.get('status', '?'))}"
    return line + (f"; best: {compact(best)}" if best else "")


def _section(title: str, lines: list[str]) -> str:
    return f"## {title}\n" + ("\n".join(f"- {ln}" for ln in lines) if lines else "- (none)")


@dataclass
class PlanInput:
    tree: dict
    parent_id: str
    k: int
    max_train: int
    seed: int
    higher_is_better: bool = True
    task: dict = field(default_factory=dict)  # the TaskSpec dict
    requirement: dict = field(default_factory=dict)
    insights: list[str] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)
    hidden_size: int | None = None
    priors: list[dict] = field(default_factory=list)  # earlier runs' winning configs (insight_store.prior_configs)
    research: list[str] = field(default_factory=list)  # takeaways of the research brief (nodes/research.py)
    space: SearchSpace = DEFAULT_SPACE  # what the round may choose from (graph.main.build_graph(space=...))
    sources: list[dict] = field(default_factory=list)  # vetted datasets a recipe may add (tools/research/source_vetting.py)
    refused: dict[str, str] = field(default_factory=dict)  # sources of the space's data moves research refused: why
    numbers: str = "prior"  # tpe: the numbers a proposal leaves out come from the sampler (Context.numbers)
    tokens: str = ""  # the train_tokens budget left and a trial's price (tools/planning/token_fit.py), if capped


def condensed_memory(p: PlanInput) -> str:
    """The planning memory as bounded text."""
    tree, nid = p.tree, p.parent_id
    task = p.task
    labels = task.get("labels") or []
    req = p.requirement or {}
    head = [f"task {task.get('name', '?')}: {clip(task.get('goal', ''), 400)}",
            f"type {task.get('task_type', '?')}, metric {task.get('metric', '?')} "
            f"({'higher' if p.higher_is_better else 'lower'} is better), base model {task.get('base_model', '?')}",
            f"labels: {clip(', '.join(labels[:30]), 400)}" if labels else "output: free text",
            f"success: {clip(req.get('success_criterion', ''), 300)}" if req.get("success_criterion") else "",
            f"budget: {p.k} trials per round, at most {p.max_train} training examples", p.tokens]
    # max_samples is stated once, by the trial table's bounds line below (bounds_text).
    space = [f"{k}: {json.dumps(v)}" for k, v in p.space.choice_grid().items() if k != "recipe"]
    space += [f"{n}: {' | '.join(map(str, f.choices))} ({f.help})" for n, f in FIELDS.items()
              if f.kind == "choice" and n not in p.space.grids]
    space += [f"{n} (default {f.text(f.default)}): {f.help}" for n, f in FIELDS.items()
              if f.ordered and f.default is not None and n not in p.space.grids]
    if p.space.exact or "recipe" in p.space.strict:  # the space (a task's spec) lists the data moves allowed
        space += [f"recipe (data strategy; one of these, as written): {json.dumps(v, sort_keys=True)}"
                  + "".join(f" -- research refused {name}: {clip(why, 160)}" for name, why in p.refused.items()
                            if name in json.dumps(v)) for v in p.space.grids.get("recipe", ({},))]
    else:  # generated from trex.recipe.Recipe (tools/planning/recipe_grammar.py)
        space += ["recipe (data strategy): a JSON object of these fields, each optional:"]
        space += [f"recipe.{line}" for line in recipe_grammar(with_sources=bool(p.sources))]
    space += [f"collected source {s.get('path') or s.get('hf_id')}: {s['input_field']} -> input, {s['output_field']} "
              f"-> output, licence {s['licence']['name'] if s.get('licence') else '?'}" for s in p.sources[:MAX_SOURCES]]
    space += [
              f"bounds: {bounds_text(p.hidden_size, p.max_train)}; "
              + ("warm_start continues the parent's adapter (same rank and layers)" if p.space.warm_start
                 else "no warm starts in this search space")]
    path = path_to(tree, nid)
    path = path if len(path) <= MAX_PATH else [path[0]] + path[-(MAX_PATH - 1):]
    node = tree[nid]
    tried = [f"{c['id']} {compact(t)} -> " + (f"{c['results'][t['id']]['score']:.4f}" if "score" in c.get("results", {}).get(t["id"], {}) else "pending")
             for c in children(tree, nid) for t in c.get("trials", [])]
    n_tried = len(tried)
    tried = tried[-MAX_TRIED:] + ([f"({n_tried - MAX_TRIED} older tries not shown)"] if n_tried > MAX_TRIED else [])
    bad = [f"input {clip(b.get('input', ''), 160)!r} -> predicted {clip(b.get('prediction', ''), 60)!r}, "
           f"expected {clip(b.get('reference', ''), 60)!r}" for b in (node.get("bad_cases") or [])[:MAX_BAD_CASES]]
    latest = max(tree.values(), key=lambda n: n.get("round", 0))
    diag = [f"{nid}: {node.get('diagnosis_kind', '?')}: {clip(node.get('diagnosis', ''), 300)}"]
    if latest["id"] != nid and latest.get("diagnosis"):
        diag.append(f"latest round {latest['id']}: {latest.get('diagnosis_kind', '?')}: {clip(latest['diagnosis'], 200)}")
    effects = sorted(observed_effects(tree, p.max_train).items(), key=lambda e: -abs(e[1]))[:MAX_EFFECTS]
    eff = [f"{dim} {'up' if d > 0 else 'down'}: {v:+.3f} summed score change" for (dim, d), v in effects]
    sib = [node_line(s) for s in siblings(tree, nid)[:3]]
    sign = 1 if p.higher_is_better else -1
    done = sorted((n for n in evaluated(tree) if n["id"] != ROOT and not n.get("failed")), key=lambda n: -sign * n["score"])
    failed = [n for n in evaluated(tree) if n.get("failed")][-MAX_KEY:]
    fails = [node_line(n) for n in done[::-1][:MAX_KEY] if n not in done[:MAX_KEY]]
    fails += [f"{n['id']} (round {n['round']}): all trials failed ({clip(n.get('diagnosis', ''), 120)}), e.g. "
              + compact((n.get("trials") or [{}])[0]) for n in failed]
    sections = [
        _section("Task", [h for h in head if h]),
        _section("Search space", space),
        _section(f"Path from the root to the selected node {nid}", [node_line(n) for n in path]),
        _section(f"Diagnosis and bad cases of {nid}", diag + bad),
        _section(f"Already tried as children of {nid} (repeats are dropped)", tried),
        _section(f"Siblings of {nid}", sib),
        _section("Key successes", [node_line(n) for n in done[:MAX_KEY]]),
        _section("Key failures", fails),
        _section("Effects seen so far", eff),
        _section("Retrieved insights", [clip(i, 300) for i in p.insights[:MAX_INSIGHTS]]),
        *([_section("Research takeaways", [clip(t, 200) for t in p.research[:MAX_TAKEAWAYS]])] if p.research else []),
        *([_section("Winning configurations of earlier runs (a good first round starts from them)",
                    [f"{pr.get('task')}: {compact(pr['config'])} (gain {float(pr.get('gain') or 0):+.3f})"
                     for pr in p.priors[:MAX_PRIORS]])] if p.priors else []),
        _section("Human feedback (must be honoured)", [clip(f, 300) for f in p.feedback[-MAX_FEEDBACK:]]),
    ]
    text = "\n\n".join(sections)
    return text if len(text) <= MAX_MEMORY_CHARS else text[:MAX_MEMORY_CHARS - 20] + "\n…(memory truncated)"


def planning_messages(p: PlanInput) -> list:
    return [("system", PLAN_SYSTEM.format(k=p.k)),
            ("human", PLAN_USER.format(memory=condensed_memory(p), k=p.k, node=p.parent_id))]


def anchor_config(p: PlanInput) -> tuple[TrialConfig, bool]:
    """(the config proposals are relative to, whether the parent has a trained adapter to warm-start)."""
    best = best_trial_config(p.tree[p.parent_id])
    if best is not None and best.get("epochs", 0) > 0:
        return TrialConfig(**{k: v for k, v in best.items() if k != "id"}), True
    return default_config(p.max_train, p.seed, p.space), False


def merge(anchor: dict, prop: TrialProposal) -> dict:
    cfg = {**anchor, "warm_start": bool(prop.warm_start)}
    given = {k: getattr(prop, k) for k in PROPOSABLE if k != "warm_start" and getattr(prop, k, None) is not None}
    cfg.update(given)
    if "lora_r" in given and "lora_alpha" not in given:
        cfg["lora_alpha"] = default_alpha(cfg["lora_r"])
    if prop.warm_start and "epochs" not in given:
        cfg["epochs"] = 1  # continue training: one more epoch, as the built-in planner does
    return cfg


def usable_configs(plan: RoundPlan, p: PlanInput) -> tuple[list[TrialConfig], list[str], list[str]]:
    """(safe, new configs, up to k; notes per proposal; the kept proposals' rationales)."""
    anchor, trained = anchor_config(p)
    tried = {trial_key(t, n.get("parent")) for n in p.tree.values() for t in n.get("trials", [])}
    # Sources a recipe may add: the vetted collected ones, and those of the data moves the space itself lists.
    allowed = p.sources + [src for v in p.space.grids.get("recipe", ()) for src in (v or {}).get("extra_sources", [])]
    listed_recipes = p.space.exact or "recipe" in p.space.strict  # the spec's data moves, taken as written
    configs, notes, why = [], [], []
    for i, prop in enumerate(plan.trials):
        if len(configs) >= p.k:
            notes.append(f"proposal {i}: beyond the {p.k} trials of a round, not run")
            continue
        merged = merge(anchor, prop)
        folded = fold_owned_elsewhere(merged) if prop.recipe and not listed_recipes else []
        cfg, reasons = check_config(merged, p.max_train, p.hidden_size, anchor,
                                    trained and p.space.warm_start, sources=allowed)
        reasons = folded + reasons
        if cfg is not None:
            cfg, moved = p.space.onto(cfg, p.max_train)
            reasons += moved
        if cfg is not None and p.numbers == "tpe":  # the numbers the LLM gave are pinned, the sampler fills the rest
            cfg = _sampled(cfg, prop, p, configs)
        if cfg is not None and trial_key(cfg, p.parent_id) in tried:
            reasons, cfg = reasons + ["rejected: repeats a configuration already in the tree"], None
        notes += [f"proposal {i}: {r}" for r in reasons]
        if cfg is None:
            continue
        tried.add(trial_key(cfg, p.parent_id))
        configs.append(TrialConfig(**cfg))
        why.append(clip(prop.rationale, 300))
    return configs, notes, why


def _sampled(cfg: dict, prop: TrialProposal, p: PlanInput, planned: list) -> dict:
    from tools.planning.number_optimiser import fill_numbers

    pins = {k for k in PROPOSABLE if getattr(prop, k, None) is not None}
    tree = {**p.tree, "__planned__": {"id": "__planned__", "parent": p.parent_id, "trials": planned}}
    return fill_numbers([cfg], [pins], tree, p.parent_id, p.space, p.max_train, p.seed, p.higher_is_better)[0][0]


@dataclass
class RoundProposal:
    rationale: str
    configs: list[TrialConfig]
    source: str  # llm | llm-retry | offline
    notes: list[str] = field(default_factory=list)  # config_bounds reasons, fills, the LLM error
    trial_rationales: dict[str, str] = field(default_factory=dict)
    ledger: dict = field(default_factory=dict)  # the new state.llm
    prompt_tokens: int = 0


def plan_next_round(p: PlanInput, offline: Callable[..., tuple[str, list[TrialConfig]]], ctx, step: str,
                    ledger: dict | None, chat: ChatSource = DEFAULT_CHAT) -> RoundProposal:
    """Plan with the run's chat model (`chat`) when it has one, else (or on failure) with `offline`, which is
    called like tools.planning.planner.propose(tree, parent_id, k, max_train, seed, higher_is_better)."""
    from tools.llm.structured_llm import OFFLINE, structured_step

    p = replace(p, numbers=getattr(ctx, "numbers", p.numbers))

    def run_offline(tree=None, k=None):
        return offline(tree or p.tree, p.parent_id, k or p.k, p.max_train, p.seed, p.higher_is_better,
                       priors=p.priors, space=p.space, sources=p.sources, refused=p.refused)

    kept: dict = {}

    def validate(plan: RoundPlan) -> None:
        configs, notes, why = usable_configs(plan, p)
        if not configs:
            raise ValueError("no usable trial configuration: " + "; ".join(notes)[:600])
        kept.update(configs=configs, notes=notes, why=why)

    messages = planning_messages(p) if chat.configured(ctx) else []
    outcome, new_ledger = structured_step(ctx, step, ledger, RoundPlan, messages, run_offline, validate, chat=chat)
    tokens = estimate_tokens("".join(m[1] for m in messages))
    if outcome.source == OFFLINE:
        rationale, configs = outcome.value
        notes = [f"LLM not used: {outcome.error}"] if outcome.error else []
        return RoundProposal(rationale, _finish(configs, p.seed), OFFLINE, notes, {}, new_ledger, tokens)
    configs, notes, why = kept["configs"], kept["notes"], kept["why"]
    rationales = {f"t{i}": w for i, w in enumerate(why)}
    if len(configs) < p.k:  # fill the empty slots with the built-in planner, avoiding the LLM's picks
        planned = {"id": "__planned__", "parent": p.parent_id, "round": -1, "trials": configs}
        _, extra = run_offline({**p.tree, "__planned__": planned}, p.k - len(configs))
        for cfg in extra[:p.k - len(configs)]:
            notes.append(f"t{len(configs)}: filled by the built-in planner")
            configs.append(cfg)
    return RoundProposal(outcome.value.rationale, _finish(configs, p.seed), outcome.source, notes, rationales,
                         new_ledger, tokens)


def _finish(configs: list[TrialConfig], seed: int) -> list[TrialConfig]:
    out = []
    for i, cfg in enumerate(configs):
        out.append(TrialConfig(**{**cfg, "id": f"t{i}", "seed": seed}))
    return out
