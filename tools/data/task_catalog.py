"""The task specs that ship with TREX, found by name.

They are package data of this folder (`tools/data/shipped/tasks/*.yaml`, their data and the dataset catalog in
`tools/data/shipped/data/`), in a checkout and in an installed wheel alike. The product knows only these; a caller
with tasks of its own (FT-Bench: ftbench/task_files.py) passes its directories in, searched before these.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
TASKS_DIR = SHIPPED_DIR / "tasks"
DATA_DIR = SHIPPED_DIR / "data"  # the shipped tasks' data (their specs name ../data/<file>) and catalog.yaml
DEFAULT_TASK = "bank_intents"


def _spec_file(task: str, dirs: Sequence[Path]) -> Path | None:
    return next((d / f"{task}.yaml" for d in dirs if (d / f"{task}.yaml").is_file()), None)


def needs_prepare(task: str, dirs: Sequence[Path] = (TASKS_DIR,)) -> bool:
    """A task whose spec names a loader: its public data must be fetched first (FT-Bench: `python -m
    ftbench.loaders <task>`), unlike the tasks whose data ships with TREX."""
    path = _spec_file(task, dirs)
    return path is not None and any(line.startswith("loader:")
                                    for line in path.read_text(encoding="utf-8").splitlines())


def shipped_tasks(dirs: Sequence[Path] = (TASKS_DIR,)) -> list[str]:
    """Ready-to-run tasks first, then those that need their data prepared; alphabetical within each."""
    names = {p.stem for d in dirs for p in d.glob("*.yaml")}
    return sorted(names, key=lambda name: (needs_prepare(name, dirs), name))


def resolve_task(task: str, dirs: Sequence[Path] = (TASKS_DIR,)) -> Path:
    """A path to a spec file, or the name of a shipped task (in dirs, first match)."""
    path = Path(task)
    if path.is_file():
        return path
    shipped = _spec_file(task, dirs)
    if shipped is not None:
        return shipped
    raise FileNotFoundError(f"no task spec file {task!r} and no shipped task of that name "
                            f"(shipped: {', '.join(shipped_tasks(dirs))})")
