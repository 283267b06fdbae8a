"""Checkpointed state. Everything in it is plain JSON-able data; the tree is a flat dict of nodes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

# typing_extensions' TypedDict: pydantic (the API server's schema endpoint) refuses typing's before Python 3.12.
from typing_extensions import TypedDict

from trex.spec import TaskSpec, trusted_spec


class TrialConfig(TypedDict, total=False):
    id: str
    lr: float
    epochs: int  # 0 = no training: the base model as it is (the root's baseline)
    lora_r: int
    lora_alpha: int
    batch_size: int
    max_samples: int
    layer_fraction: float  # top share of decoder layers that get LoRA adapters
    template: str  # "chat" (the base model's chat template) or "plain"
    seed: int
    method: str  # lora (default) | qlora | full
    recipe: dict[str, Any]  # data-recipe changes on top of the task's recipe (tools.data.recipes.Recipe fields)
    warm_start: bool  # start from the parent's best adapter and train only this trial's epochs on top


class TrialResult(TypedDict, total=False):
    trial_id: str
    status: str  # "ok" | "failed"
    score: float  # validation score; the metric's worst value when failed
    error: str
    failure: str  # timeout | oom | diverged | crash | no_result | unavailable | warm_start | lost_worker | storage | missing
    adapter: str
    train: dict[str, Any]  # loss curve, val loss, tokens, wall time, peak memory
    eval: dict[str, Any]  # n examples, bad cases, wall time
    cached: bool


class Node(TypedDict, total=False):
    id: str
    parent: str | None
    round: int
    rationale: str
    trials: list[TrialConfig]
    results: dict[str, TrialResult]
    status: str  # planned -> trained -> evaluated
    score: float  # best trial's validation score (the metric's worst value if all failed)
    failed: bool  # every trial failed
    best_trial: str | None
    reward: float  # normalised gain over the base model
    visits: int
    value: float  # sum of rewards backed up through this node
    diagnosis: str
    bad_cases: list[dict[str, str]]  # worst validation examples of the best trial: input, prediction, reference
    diagnosis_kind: str  # diverged, overfitting, underfitting, no_gain, improving, baseline
    planner: str  # who planned the trials: llm | llm-retry | offline (the built-in planner)
    config_notes: list[str]  # bounds applied to LLM-proposed configs (clamped/rejected, with reasons), fills
    priors_used: list[dict]  # earlier runs' winning configs the planner started this round from
    insights_used: list[str]  # lessons (this run and the shared store) the planner was shown for this round
    trial_rationales: dict[str, str]  # trial id -> the LLM's reason for it
    token_budget: dict  # the train_tokens budget at planning: cap, trained, left, estimates by trial, fits


def upsert_nodes(current: dict[str, Node] | None, update: dict[str, Node] | None) -> dict[str, Node]:
    """Reducer for the tree: nodes in the update replace (or add) nodes by id; nothing is deleted."""
    merged = dict(current or {})
    merged.update(update or {})
    return merged


@dataclass
class State:
    task: dict[str, Any] | str = field(default_factory=dict)  # a TaskSpec dict, or a path to a spec file
    run_dir: str = ""
    requirement: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # prepared split files, labels, sizes
    selected: str = ""  # the node the Researcher chose to expand
    tree: Annotated[dict[str, Node], upsert_nodes] = field(default_factory=dict)
    current: str = ""  # the node whose trials this round runs
    round: int = 0
    started_at: float = 0.0
    clock: dict[str, Any] = field(default_factory=dict)  # running time across resumes (tools/run/clock.py)
    stop_reason: str = ""
    accounting: dict[str, Any] = field(default_factory=dict)  # wall time, tokens, GPU-hours, peak memory so far
    final: dict[str, Any] = field(default_factory=dict)  # test-split scores of the best node vs base
    report_path: str = ""
    research: dict[str, Any] = field(default_factory=dict)  # literature notes with sources, candidate datasets
    insights: list[dict[str, Any]] = field(default_factory=list)  # lessons distilled in this run, with metadata
    llm: dict[str, Any] = field(default_factory=dict)  # chat-model calls, tokens, spend, which steps fell back
    feedback: list[str] = field(default_factory=list)  # human notes (rejected plans) the planner must honour

    @property
    def spec(self) -> TaskSpec:
        """The task, typed: validated once by analyze_requirements, which stores its dump in `task`."""
        if not isinstance(self.task, dict) or "task_type" not in self.task:
            raise ValueError("the task spec is not validated yet (analyze_requirements validates it first)")
        return trusted_spec(self.task)


# What each subgraph reads from the parent's state (input) and hands back (output): narrow views of State.
class ResearcherInput(TypedDict, total=False):
    task: dict[str, Any] | str
    run_dir: str
    selected: str
    current: str
    requirement: dict[str, Any]
    data: dict[str, Any]  # split sizes bound the planned sample counts
    tree: Annotated[dict[str, Node], upsert_nodes]
    round: int
    research: dict[str, Any]
    insights: list[dict[str, Any]]
    llm: dict[str, Any]
    feedback: list[str]
    started_at: float


class ResearcherOutput(TypedDict, total=False):
    task: dict[str, Any] | str  # the validated spec's dump, after round 0
    run_dir: str
    requirement: dict[str, Any]
    selected: str
    tree: Annotated[dict[str, Node], upsert_nodes]
    current: str
    round: int
    started_at: float
    research: dict[str, Any]
    llm: dict[str, Any]
    feedback: list[str]


class ExecutorInput(TypedDict, total=False):
    task: dict[str, Any] | str
    run_dir: str
    data: dict[str, Any]
    tree: Annotated[dict[str, Node], upsert_nodes]
    current: str
    llm: dict[str, Any]


class ExecutorOutput(TypedDict, total=False):
    data: dict[str, Any]
    tree: Annotated[dict[str, Node], upsert_nodes]
    llm: dict[str, Any]
