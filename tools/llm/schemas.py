"""Pydantic schemas of every structured LLM answer (used through `with_structured_output`).

Types are kept loose where a value has a safe range (learning rate, epochs, rank...): an out-of-range
value is clamped or rejected, with a reason, by tools/planning/config_bounds.py, not by the schema, so one bad
number costs one trial slot instead of the whole plan.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from trex.trial_config import FIELDS, PROPOSABLE, TrialField


class Constraints(BaseModel):
    """Limits the fine-tuned model must respect, as far as the task states or implies them."""
    max_model_params: str | None = Field(None, description="Largest acceptable model size, e.g. '135M', '1B'.")
    max_latency_ms: float | None = Field(None, description="Largest acceptable latency per example, in ms.")
    data_licence: str | None = Field(None, description="Licence the training data must allow, e.g. 'commercial use'.")
    other: list[str] = Field(default_factory=list, description="Any other constraint, one short sentence each.")


class Requirement(BaseModel):
    """The structured requirement derived from the user's free-text goal and the task spec."""
    task_type: Literal["classification", "generation"]
    input_format: str = Field(description="What one input looks like.")
    output_format: str = Field(description="What one output must look like.")
    metric: str = Field(description="The metric the task is scored by.")
    direction: Literal["higher", "lower"] = Field(description="Whether a higher or a lower metric value is better.")
    constraints: Constraints = Field(default_factory=Constraints)
    success_criterion: str = Field(description="When the fine-tuning counts as a success, measurably.")
    risks: list[str] = Field(default_factory=list, description="What could make the fine-tuning fail or mislead.")


def _proposal_field(f: TrialField):
    """One trial-table row as an optional field of the LLM's proposal (left out = the anchor's value)."""
    kind = {"float": float, "int": int, "choice": str, "recipe": dict[str, Any]}[f.kind]
    desc = f.help + (f" One of: {', '.join(map(str, f.choices))}." if f.choices else "")
    if f.grid and f.kind in ("float", "int") and not f.relative:
        desc += f" E.g. {', '.join(f.text(v) for v in f.grid)}."
    return (kind | None, Field(None, description=desc))


# One trial configuration, built from the trial table (trex/trial_config.py): every field a proposal may set.
TrialProposal = create_model(
    "TrialProposal",
    __doc__="One trial configuration. A field left out keeps the value of the anchor (the parent's best trial, "
            "or the default recipe when nothing is trained yet).",
    **{n: _proposal_field(f) for n, f in FIELDS.items() if n in PROPOSABLE and f.kind != "flag"},
    warm_start=(bool, Field(False, description=FIELDS["warm_start"].help)),
    rationale=(str, Field(description="Why this trial, in one or two sentences: the hypothesis it tests.")),
)


class RoundPlan(BaseModel):
    """The next round of the search: a few trial configurations for a new child of the selected node."""
    rationale: str = Field(description="What this round tests and why, given the memory.")
    trials: list[TrialProposal] = Field(min_length=1, description="The trial configurations, each a different idea.")


class Lesson(BaseModel):
    lesson: str = Field(description="A short, falsifiable lesson, e.g. 'on bank_intents, lr 2e-4 beat 5e-5 at r=16: +3.1 acc'.")
    evidence: str = Field("", description="The nodes/trials and numbers that support it.")
    metric_delta: float | None = Field(None, description="The metric change the lesson is about, when there is one.")


class Lessons(BaseModel):
    """What the last round taught, for the insight store."""
    lessons: list[Lesson] = Field(min_length=1, max_length=3)


class Takeaway(BaseModel):
    text: str = Field(description="One takeaway for fine-tuning this task, in one or two sentences.")
    sources: list[int] = Field(min_length=1, description="The numbers (1-based) of the notes it rests on.")


class ResearchBrief(BaseModel):
    """What the research notes say for this task, each point with the notes it rests on."""
    takeaways: list[Takeaway] = Field(min_length=1, max_length=6)
    suggested_datasets: list[str] = Field(default_factory=list,
                                          description="Ids of candidate datasets worth using, only from the list shown.")


class Score(BaseModel):
    """A judge's score of one prediction against its reference."""
    score: float = Field(ge=0.0, le=1.0, description="0 = wrong or useless, 1 = as good as the reference.")
    reason: str = Field("", description="One sentence.")


class ExampleScore(BaseModel):
    id: int = Field(description="The example's id as shown.")
    score: float = Field(ge=0.0, le=1.0, description="1 = a right, useful training example; 0 = wrong or junk.")


class ExampleScores(BaseModel):
    """A judge's scores of training examples (a data filter), one per example shown."""
    scores: list[ExampleScore] = Field(min_length=1)


class Example(BaseModel):
    input: str
    output: str


class SyntheticExamples(BaseModel):
    """New training examples written by the chat model."""
    examples: list[Example] = Field(min_length=1)


class ColumnMap(BaseModel):
    """Which columns of a candidate dataset hold a task's input and its expected output."""
    input_field: str | None = Field(None, description="The column holding what the model is given; null if none.")
    output_field: str | None = Field(None, description="The column holding the expected answer; null if none.")
    reason: str = Field("", description="One sentence.")
