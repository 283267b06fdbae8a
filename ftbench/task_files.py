"""FT-Bench's task specs (ftbench/tasks/*.yaml: the paper's tasks, whose public data a loader fetches) beside the
offline tasks that ship with TREX (tools/data/task_catalog.py). The benchmark passes both directories to the
product's catalog; the product itself knows only its own."""
from __future__ import annotations

from pathlib import Path

from tools.data import task_catalog

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
TASK_DIRS = (TASKS_DIR, task_catalog.TASKS_DIR)


def resolve_task(task: str) -> Path:
    """A spec file's path, or the name of an FT-Bench task or of a task that ships with TREX."""
    return task_catalog.resolve_task(task, TASK_DIRS)


def bench_tasks() -> list[str]:
    """Every task FT-Bench can run: ready-to-run ones first, then those whose data a loader must fetch."""
    return task_catalog.shipped_tasks(TASK_DIRS)


def needs_prepare(task: str) -> bool:
    return task_catalog.needs_prepare(task, TASK_DIRS)
