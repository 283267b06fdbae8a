"""The run's chat model for a recipe step that needs one (synthesis, the judge filter), built when the step runs."""
from __future__ import annotations

from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from trex.recipe import RecipeError


def recipe_chat_model(spec, ctx, step: str, chat: ChatSource = DEFAULT_CHAT) -> tuple[object, str, list[str] | None]:
    """(chat model or None, the task as the model is told it, the labels of a classification task or None).
    RecipeError naming the step when the configured model cannot be built."""
    try:
        model = chat.model(ctx)
    except ValueError as err:
        raise RecipeError(f"recipe {step}: {err}") from None
    task = f"{spec.goal} {spec.instruction}".strip()
    return model, task, spec.labels if spec.task_type == "classification" else None
