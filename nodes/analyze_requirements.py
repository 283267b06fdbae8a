"""Round 0 of the Researcher: validate the task, derive the structured requirement, plant the root."""
from __future__ import annotations

import json
import time
from pathlib import Path

from langgraph.runtime import Runtime

from tools.data.safe_paths import new_run_dir
from tools.data.spec_loading import load_task
from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from trex.context import Context
from trex.metrics import LLM_JUDGE, get_metric
from trex.spec import SpecError, TaskSpec
from trex.state import Node, State
from trex.tree import ROOT


def requirement_from_spec(spec: TaskSpec) -> dict:
    metric = get_metric(spec.metric)
    direction = "higher" if metric.higher_is_better else "lower"
    target = (f"reach the reference score {spec.reference_score}" if spec.reference_score is not None
              else "beat the base model on the hidden test split")
    return {
        "task_type": spec.task_type,
        "input_format": "free text",
        "output_format": "one label of: " + ", ".join(spec.labels) if spec.labels else
        ("one label" if spec.task_type == "classification" else "free text"),
        "metric": spec.metric,
        "direction": direction,
        "constraints": {"base_model": spec.base_model, "max_train_samples": spec.budget.max_train_samples,
                        "rounds": spec.budget.rounds, "wall_time_s": spec.budget.wall_time_s},
        "success_criterion": f"{spec.metric} ({direction} is better): {target}",
        "risks": ["small validation split: scores are noisy"] if spec.splits.val_fraction < 0.1 else [],
        "source": "offline: derived from the task spec",
    }


def analysed_requirement(spec: TaskSpec, ctx: Context, ledger: dict | None,
                         chat: ChatSource = DEFAULT_CHAT) -> tuple[dict, dict]:
    """(requirement, new state.llm). With a chat model, a structured Requirement read from the free-text goal;
    the spec stays authoritative on how the task is scored. Offline (or on LLM failure): from the spec."""
    from tools.llm.schemas import Requirement
    from tools.llm.prompts import REQUIREMENT_SYSTEM, REQUIREMENT_USER
    from tools.llm.structured_llm import OFFLINE, structured_step

    offline = requirement_from_spec(spec)
    shown = json.dumps(spec.model_dump(exclude={"base_dir"}), ensure_ascii=False)[:6000]
    messages = [("system", REQUIREMENT_SYSTEM), ("human", REQUIREMENT_USER.format(goal=spec.goal, spec=shown))]
    outcome, ledger = structured_step(ctx, "analyze_requirements:0", ledger, Requirement, messages, lambda: offline,
                                      chat=chat)
    if outcome.source == OFFLINE:
        return ({**offline, "llm_error": outcome.error} if outcome.error else offline), ledger
    req = outcome.value.model_dump()
    differs = [k for k in ("task_type", "metric", "direction") if req[k] != offline[k]]
    req.update({k: offline[k] for k in ("task_type", "metric", "direction")})
    if differs:
        req["risks"] = req["risks"] + [f"the goal was read differently from the spec on {', '.join(differs)}; the spec is used"]
    req["constraints"] = {**offline["constraints"], **{k: v for k, v in req["constraints"].items() if v}}
    req["source"] = f"{outcome.source}: {chat.spec(ctx)}"
    return req, ledger


def analyze_requirements(state: State, runtime: Runtime[Context], chat: ChatSource = DEFAULT_CHAT) -> dict:
    spec = load_task(state.task, runtime.context)
    if spec.metric == LLM_JUDGE and not runtime.context.chat_model:  # the scoring workers judge with it
        raise SpecError(f"metric {LLM_JUDGE!r} needs a chat model to judge with: set TREX_CHAT_MODEL or "
                        "Context(chat_model=...)")
    run_dir = str(Path(state.run_dir).absolute()) if state.run_dir else new_run_dir(runtime.context.runs_dir, spec.name)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / "spec.json").write_text(json.dumps(spec.model_dump(), indent=2), encoding="utf-8")
    root = Node(id=ROOT, parent=None, round=0, status="planned", visits=0, value=0.0, results={},
                rationale="baseline: the base model without fine-tuning",
                trials=[{"id": "base", "epochs": 0, "template": "chat", "seed": runtime.context.seed}])
    requirement, llm = analysed_requirement(spec, runtime.context, state.llm, chat)
    return {"task": spec.model_dump(), "run_dir": run_dir, "requirement": requirement, "llm": llm,
            "tree": {ROOT: root}, "current": ROOT, "selected": ROOT, "round": 0, "started_at": time.time()}
