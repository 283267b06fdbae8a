"""The task specs that ship with TREX, found by name.

They are package data of the `ftbench` folder, found through the import system without importing that package
(the product never imports the benchmark): `ftbench/tasks/*.yaml` in a checkout and in an installed wheel alike.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # locates the package; runs none of its code
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the shipped tasks' package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


TASKS_DIR = _package_dir("ftbench") / "tasks"
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
