"""The run's chat model for a recipe step that needs one (synthesis, the judge filter), built when the step runs."""
from __future__ import annotations

from trex.recipe import RecipeError


def recipe_chat_model(spec, ctx, step: str) -> tuple[object, str, list[str] | None]:
    """(chat model, the task as the model is told it, the labels of a classification task or None).
    RecipeError naming the step when the configured model cannot be built."""
    from tools.llm.chat_models import load_chat_model

    try:
        model = load_chat_model(ctx.chat_model, getattr(ctx, "cache_dir", None))
    except ValueError as err:
        raise RecipeError(f"recipe {step}: {err}") from None
    task = f"{spec.goal} {spec.instruction}".strip()
    return model, task, spec.labels if spec.task_type == "classification" else None
