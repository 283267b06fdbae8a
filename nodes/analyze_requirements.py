"""Round 0 of the Researcher: validate the task, derive the structured requirement, plant the root."""
from __future__ import annotations

import json
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


def new_run_dir(runs_dir: str, name: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    return str(Path(runs_dir) / f"{name}-{stamp}")


def load_task(task) -> TaskSpec:
    """The graph's input names its task by a spec mapping, a spec file path, or a shipped task's name."""
    if not task:
        raise SpecError("the graph input has no 'task': give a task spec mapping, a spec file path, or a shipped "
                        f"task name ({', '.join(shipped_tasks())})")
    if isinstance(task, str):
        try:
            return load_spec(resolve_task(task))
        except FileNotFoundError as err:
            raise SpecError(str(err)) from None
    return parse_spec(task)


def analyze_requirements(state: State, runtime: Runtime[Context]) -> dict:
    spec = load_task(state.task)
    run_dir = state.run_dir or new_run_dir(runtime.context.runs_dir, spec.name)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / "spec.json").write_text(json.dumps(spec.model_dump(), indent=2), encoding="utf-8")
    root = Node(id=ROOT, parent=None, round=0, status="planned", visits=0, value=0.0, results={},
                rationale="baseline: the base model without fine-tuning",
                trials=[{"id": "base", "epochs": 0, "template": "chat", "seed": runtime.context.seed}])
    return {"task": spec.model_dump(), "run_dir": run_dir, "requirement": requirement_from_spec(spec),
            "tree": {ROOT: root}, "current": ROOT, "selected": ROOT, "round": 0, "started_at": time.time()}
