"""The task specs that ship with TREX, found by name."""
from __future__ import annotations

from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
DEFAULT_TASK = "bank_intents"


def shipped_tasks() -> list[str]:
    return sorted(p.stem for p in TASKS_DIR.glob("*.yaml"))


def resolve_task(task: str) -> Path:
    """A path to a spec file, or the name of a shipped task."""
    path = Path(task)
    if path.is_file():
        return path
    shipped = TASKS_DIR / f"{task}.yaml"
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(f"no task spec file {task!r} and no shipped task of that name "
                            f"(shipped: {', '.join(shipped_tasks())})")
