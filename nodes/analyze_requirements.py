"""Round 0 of the Researcher: validate the task, derive the structured requirement, plant the root."""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from langgraph.runtime import Runtime

from graph.context import Context
from ftbench.catalog import resolve_task, shipped_tasks
from graph.spec import SpecError, TaskSpec, load_spec, parse_spec
from graph.state import Node, State
from graph.tree import ROOT
from tools.metrics import get_metric

LLM_JUDGE = "llm_judge"


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


def analysed_requirement(spec: TaskSpec, ctx: Context, ledger: dict | None) -> tuple[dict, dict]:
    """(requirement, new state.llm). With a chat model, a structured Requirement read from the free-text goal;
    the spec stays authoritative on how the task is scored. Offline (or on LLM failure): from the spec."""
    from graph.schemas import Requirement
    from nodes.prompts import REQUIREMENT_SYSTEM, REQUIREMENT_USER
    from tools.structured_llm import OFFLINE, structured_step

    offline = requirement_from_spec(spec)
    shown = json.dumps(spec.model_dump(exclude={"base_dir"}), ensure_ascii=False)[:6000]
    messages = [("system", REQUIREMENT_SYSTEM), ("human", REQUIREMENT_USER.format(goal=spec.goal, spec=shown))]
    outcome, ledger = structured_step(ctx, "analyze_requirements:0", ledger, Requirement, messages, lambda: offline)
    if outcome.source == OFFLINE:
        return ({**offline, "llm_error": outcome.error} if outcome.error else offline), ledger
    req = outcome.value.model_dump()
    differs = [k for k in ("task_type", "metric", "direction") if req[k] != offline[k]]
    req.update({k: offline[k] for k in ("task_type", "metric", "direction")})
    if differs:
        req["risks"] = req["risks"] + [f"the goal was read differently from the spec on {', '.join(differs)}; the spec is used"]
    req["constraints"] = {**offline["constraints"], **{k: v for k, v in req["constraints"].items() if v}}
    req["source"] = f"{outcome.source}: {ctx.chat_model}"
    return req, ledger


def new_run_dir(runs_dir: str, name: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    from tools.safe_paths import safe_name  # a task name never becomes '/', '..' or a hidden dir

    return str(Path(runs_dir) / f"{safe_name(name)}-{stamp}")


def load_task(task, ctx: Context | None = None) -> TaskSpec:
    """The graph's input names its task by a spec mapping, a spec file path, or a shipped task's name."""
    roots = {"cache_dir": ctx.cache_dir, "data_dirs": ctx.data_dirs} if ctx else {}  # where data may be read
    if not task:
        raise SpecError("the graph input has no 'task': give a task spec mapping, a spec file path, or a shipped "
                        f"task name ({', '.join(shipped_tasks())})")
    if isinstance(task, str):
        try:
            return load_spec(resolve_task(task), **roots)
        except FileNotFoundError as err:
            raise SpecError(str(err)) from None
        except (OSError, ValueError) as err:  # a NUL byte, a name too long: still the input's fault
            raise err if isinstance(err, SpecError) else SpecError(f"graph input 'task': {err}") from None
    return parse_spec(task, **roots)


def analyze_requirements(state: State, runtime: Runtime[Context]) -> dict:
    spec = load_task(state.task, runtime.context)
    if spec.metric == LLM_JUDGE:
        if not runtime.context.chat_model:
            raise SpecError(f"metric {LLM_JUDGE!r} needs a chat model to judge with: set TREX_CHAT_MODEL or "
                            "Context(chat_model=...)")
        os.environ.setdefault("TREX_CHAT_MODEL", runtime.context.chat_model)  # the scoring workers inherit it
    run_dir = state.run_dir or new_run_dir(runtime.context.runs_dir, spec.name)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / "spec.json").write_text(json.dumps(spec.model_dump(), indent=2), encoding="utf-8")
    root = Node(id=ROOT, parent=None, round=0, status="planned", visits=0, value=0.0, results={},
                rationale="baseline: the base model without fine-tuning",
                trials=[{"id": "base", "epochs": 0, "template": "chat", "seed": runtime.context.seed}])
    requirement, llm = analysed_requirement(spec, runtime.context, state.llm)
    return {"task": spec.model_dump(), "run_dir": run_dir, "requirement": requirement, "llm": llm,
            "tree": {ROOT: root}, "current": ROOT, "selected": ROOT, "round": 0, "started_at": time.time()}
