"""The task specs that ship with TREX, found by name."""
from __future__ import annotations

from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
DEFAULT_TASK = "bank_intents"


def needs_prepare(task: str) -> bool:
    """An FT-Bench task whose spec names a loader: its public data must be fetched first
    (`python -m ftbench.loaders <task>`), unlike the tasks whose data ships with TREX."""
    path = TASKS_DIR / f"{task}.yaml"
    return path.is_file() and any(line.startswith("loader:") for line in path.read_text(encoding="utf-8").splitlines())


def shipped_tasks() -> list[str]:
    """Ready-to-run tasks first, then those that need their data prepared; alphabetical within each."""
    return sorted((p.stem for p in TASKS_DIR.glob("*.yaml")), key=lambda name: (needs_prepare(name), name))


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
