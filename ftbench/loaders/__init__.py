"""FT-Bench loaders: fetch each benchmark's public data and write TREX-ready train/test files.

    from ftbench.loaders import prepare
    prepare("hoc")                      # -> <cache>/ftbench/hoc/{train,test}.jsonl, meta.json
    prepare("hoc", source="mirror/")    # same, from a local copy in the public dataset's own layout

`train.jsonl` is what a task spec's `data` names (TREX carves its validation split from it); `test.jsonl` is
the benchmark's hidden test split, scored once at the end with the spec's metric, never trained on.
Rows are {"id", "input", "output"} (+ "subset"). Where the benchmark scores by more than a reference
string (TOMG-Bench, LawBench, GTA), a test row's output is the benchmark's JSON scoring record.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ftbench.loaders.common import MAX_TRAIN, LoaderError, default_cache_dir, task_dir

TASKS: dict[str, str] = {  # task name -> "module:function" (imported lazily)
    "aci_bench": "github:prepare_aci_bench",
    "tomg_bench": "tomg:prepare_tomg_bench",
    "omebench": "github:prepare_omebench",
    "hoc": "hub:prepare_hoc",
    "csbench": "github:prepare_csbench",
    "openfindata": "openfindata:prepare_openfindata",
    "sst2": "hub:prepare_sst2",
    "econlogicqa": "hub:prepare_econlogicqa",
    "gta": "gta:prepare_gta",
    "lawbench": "github:prepare_lawbench",
}


def _loader(task: str) -> Callable[..., dict]:
    import importlib

    if task not in TASKS:
        raise LoaderError(f"no FT-Bench loader for {task!r} (known: {', '.join(sorted(TASKS))})")
    module, func = TASKS[task].split(":")
    return getattr(importlib.import_module(f"ftbench.loaders.{module}"), func)


def prepare(task: str, cache_dir: str | Path | None = None, source: str | Path | None = None, *,
            max_train: int = MAX_TRAIN, max_test: int | None = None, seed: int = 0) -> dict:
    """Prepare one task; `source` is a local file or directory in the public dataset's raw format; max_test caps
    the hidden test split (every subset kept: CPU-sized runs)."""
    return _loader(task)(task, cache_dir or default_cache_dir(), source, max_train=max_train, max_test=max_test,
                         seed=seed)


def is_prepared(task: str, cache_dir: str | Path | None = None) -> bool:
    d = task_dir(cache_dir, task)
    return (d / "train.jsonl").is_file() and (d / "test.jsonl").is_file()


def prepared_spec(task: str, cache_dir: str | Path | None = None):
    """The shipped spec of `task`, validated with its data (and test data) pointing at the prepared files in `cache_dir`
    (its YAML names ${TREX_CACHE_DIR}, which is the default cache, not necessarily this one)."""
    import yaml

    from ftbench.task_files import resolve_task
    from tools.data.spec_loading import parse_spec

    path = resolve_task(task)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    train = str((task_dir(cache_dir, task) / "train.jsonl").resolve())
    data["data"] = [{**src, "path": train} for src in data["data"]]
    if data.get("test_data"):
        test = str((task_dir(cache_dir, task) / "test.jsonl").resolve())
        data["test_data"] = [{**src, "path": test} for src in data["test_data"]]
    return parse_spec(data, str(path), base_dir=str(path.parent.resolve()),
                      cache_dir=str(cache_dir) if cache_dir else None)


__all__ = ["TASKS", "LoaderError", "prepare", "is_prepared", "prepared_spec", "task_dir", "MAX_TRAIN"]
