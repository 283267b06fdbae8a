"""Plan the next round: K trial configs for a new child of the selected node.

With a chat model (Context.chat_model) the LLM planner proposes them from the condensed memory; the
built-in planner (tools.planning.planner.propose) plans the round when there is none or the LLM fails, and fills
any slot the LLM's proposals could not. The node records which planner was used and every bound applied.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from langgraph.runtime import Runtime

from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from trex.context import Context
from trex.state import Node, State
from tools.planning.review import planning_tree, rejected_plans
from trex.metrics import get_metric
from tools.planning.planner import propose
from trex.search_space import DEFAULT_SPACE, SearchSpace


def retrieved_insights(state: State, stored: list[dict] | None = None) -> list[str]:
    """Lessons the planner reads: the store's lessons nearest to this node (this run and earlier runs of any
    task), then this run's latest ones; duplicates once."""
    texts: list[str] = []
    for item in [*(stored or []), *(state.insights or [])[-6:]]:
        text = item.get("text") or item.get("lesson") if isinstance(item, dict) else item
        if text and str(text) not in texts:
            texts.append(str(text))
    return texts[:10]


def stored_insights(state: State, ctx: Context) -> list[dict]:
    """Lessons from the shared insight store for the selected node; [] when the store is unavailable."""
    from trex.tree import describe
    from memory.insight_store import open_context_store, relevant_insights

    try:
        store = open_context_store(ctx)
    except Exception:  # noqa: BLE001 - planning goes on without the store; distill_insights records the failure
        return []
    node = state.tree.get(state.selected)
    return relevant_insights(store, state.requirement, describe(node) if node else "", k=5)


def stored_priors(state: State, ctx: Context, k: int) -> list[dict]:
    """Winning configurations of earlier runs (this task first, then like tasks on the same base model), for a
    round that has no trained parent to start from; [] otherwise or when the store is unavailable."""
    from memory.insight_store import open_context_store, prior_configs
    from tools.planning.tree_evidence import best_trial_config

    anchor = best_trial_config(state.tree.get(state.selected) or {})
    if anchor is not None and anchor.get("epochs", 0) > 0:
        return []
    try:
        store = open_context_store(ctx)
    except Exception:  # noqa: BLE001 - planning goes on without priors
        return []
    return prior_configs(store, state.task, k)


def accepted_sources(state: State) -> list[dict]:
    """The research step's vetted datasets (nodes/research.py) that may be mixed into a trial's recipe."""
    return [v["extra_source"] for v in (state.research or {}).get("sources", []) if v.get("accepted")]


def refused_sources(state: State, space: SearchSpace) -> dict[str, str]:
    """The extra sources of the space's recipe variants that the research step refused (by the path a variant
    names, relative to the spec's base_dir), with its reason: the planners avoid those data moves."""
    refused = {str(Path(v["path"]).resolve()): v["why"] for v in (state.research or {}).get("sources", [])
               if not v.get("accepted") and v.get("path")}
    out = {}
    for variant in space.grids.get("recipe", ()):
        for src in (variant or {}).get("extra_sources", []):
            path = src.get("path")
            if path:
                full = Path(path) if Path(path).is_absolute() else Path(state.spec.base_dir or ".") / path
                if str(full.resolve()) in refused:
                    out[path] = refused[str(full.resolve())]
    return out


def _tokens(state: State, ctx: Context) -> tuple[int, int, float | None] | None:
    """(train_tokens cap, tokens trained so far, the prepared file's tokens per example) or None: no cap."""
    from tools.run.accounting import run_accounting
    from tools.run.budget import caps, charged_tokens
    from tools.run.token_cost import file_per_example

    limit = caps(state.spec, ctx)["train_tokens"]
    if limit is None:
        return None
    return (limit, charged_tokens(run_accounting(state.tree, 0.0, 0.0), ctx),
            file_per_example((state.data.get("paths") or {}).get("train"), state.spec.instruction))


def token_prompt(state: State, ctx: Context, max_train: int) -> str:
    """The train_tokens budget as the LLM planner reads it; "" without a cap."""
    from tools.planning.token_fit import budget_line

    tokens = _tokens(state, ctx)
    return budget_line(tokens[0], tokens[1], state.tree, max_train, tokens[2]) if tokens else ""


def token_budget(state: State, ctx: Context, configs: list, inputs, space: SearchSpace):
    """(fit, record) of the round against the train_tokens budget (tools/planning/token_fit.py); None: no cap."""
    from tools.planning.planner import trial_key
    from tools.planning.token_fit import fit_to_budget

    tokens = _tokens(state, ctx)
    if tokens is None or not configs:
        return None
    tried = {trial_key(t, n.get("parent")) for n in inputs.tree.values() for t in n.get("trials", [])}
    # With successive halving a trial commits to its first rung (nodes/train.py); the rest it earns.
    return fit_to_budget(state.tree, configs, tokens[0], tokens[1], inputs.max_train, space, tokens[2],
                         lambda c: trial_key(c, inputs.parent_id), tried, 1 if ctx.halving else None)


def plan_round(state: State, runtime: Runtime[Context], space: SearchSpace = DEFAULT_SPACE,
               chat: ChatSource = DEFAULT_CHAT) -> dict:
    """The next round's node. space: what the planners may choose (build_graph(space=...)); chat: the run's
    chat model (build_graph(chat_model=...))."""
    from tools.planning.config_bounds import model_hidden_size
    from tools.planning.llm_planner import PlanInput, plan_next_round

    ctx = runtime.context
    spec = state.spec
    space = space.narrowed(spec.search_space)  # the task's own pins and ranges, inside the run's space
    max_train = space.max_examples(spec.budget.max_train_samples, state.data.get("sizes", {}).get("train"))
    round_no = state.round + 1
    # planning_tree: after a human rejected this round's plan, its configs count as tried (nodes/review_plan.py).
    inputs = PlanInput(tree=planning_tree(state), parent_id=state.selected, k=spec.budget.configs_per_round, max_train=max_train,
                       seed=ctx.seed, higher_is_better=get_metric(spec.metric).higher_is_better, task=state.task,
                       requirement=state.requirement, insights=retrieved_insights(state, stored_insights(state, ctx)), feedback=list(state.feedback),
                       hidden_size=model_hidden_size(spec.base_model, ctx.cache_dir) if chat.configured(ctx) else None,
                       priors=stored_priors(state, ctx, spec.budget.configs_per_round),
                       research=[t.get("text", "") for t in ((state.research or {}).get("brief") or {}).get("takeaways", [])],
                       space=space, sources=accepted_sources(state), refused=refused_sources(state, space),
                       tokens=token_prompt(state, ctx, max_train))
    # ctx.numbers: the built-in planner's numbers from its priors, or from TPE (tools/planning/number_optimiser.py)
    offline = partial(propose, numbers=ctx.numbers)
    plan = plan_next_round(inputs, offline, ctx, f"plan_round:{round_no}", state.llm, chat=chat)
    budget = token_budget(state, ctx, plan.configs, inputs, space)  # fit the round to the train_tokens left
    if budget is not None:
        plan.configs = budget[0].configs
        if budget[0].notes:  # the report's Plans section shows what the budget changed
            plan.rationale = f"{plan.rationale} train_tokens budget ({budget[1]['left']:,.0f} left): " + "; ".join(budget[0].notes)
    node = Node(id=f"n{round_no}", parent=state.selected, round=round_no, status="planned", rationale=plan.rationale,
                trials=plan.configs, results={}, visits=0, value=0.0, planner=plan.source,
                **rejected_plans(state))
    if inputs.priors:
        node["priors_used"] = [{"task": p["task"], "gain": p["gain"], "config": p["config"]} for p in inputs.priors]
    if inputs.insights:
        node["insights_used"] = list(inputs.insights)  # what the planner was shown, for the report and the audit
    if plan.notes:
        node["config_notes"] = plan.notes
    if budget is not None:
        node["token_budget"] = budget[1]  # what the train_tokens budget left and what each trial should cost
        node["config_notes"] = [*node.get("config_notes", []), *budget[0].notes]
    if plan.trial_rationales:
        node["trial_rationales"] = plan.trial_rationales
    return {"tree": {node["id"]: node}, "current": node["id"], "round": round_no, "llm": plan.ledger}
