"""Where a task spec may read files from, and safe names for what TREX writes.

The rule. A relative path in a spec resolves against the spec file's directory (``base_dir``; the cwd for
a mapping without one). Whatever it names, after ``..`` and symlinks are resolved, must lie under one of
the allowed roots:

* the spec file's directory (a graph input given as a mapping has none, unless its own ``base_dir``
  passes this same rule),
* the current working directory,
* the cache directory (``Context.cache_dir`` / ``TREX_CACHE_DIR``, default ``~/.cache/trex``),
* every directory in ``TREX_DATA_DIRS`` / ``Context.data_dirs`` (``os.pathsep``-separated),
* the folder of the tasks that ship with TREX (``tools/data/shipped/``: their specs and data).

So ``../../etc/passwd`` and a symlink that points out of the roots are rejected, while a spec in
``tools/data/shipped/tasks`` may still name ``../data/x.jsonl``. Why: a spec can come from an API client
(``langgraph dev``), and what a data file holds ends up in training files, reports and bad-case tables.
"""
from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path


class UnsafePathError(ValueError):
    """A path that resolves outside every allowed root; the message says where it went."""


def _default_cache_dir() -> str:
    return os.environ.get("TREX_CACHE_DIR") or str(Path.home() / ".cache" / "trex")


def split_dirs(value: str | None) -> list[str]:
    """TREX_DATA_DIRS-style text: directories separated by os.pathsep, blanks ignored."""
    return [d.strip() for d in (value or "").split(os.pathsep) if d.strip()]


def allowed_roots(spec_dir: str | Path | None = None, cache_dir: str | None = None,
                  data_dirs: str | list[str] | None = None) -> list[Path]:
    """The allowed roots, fully resolved. data_dirs None reads TREX_DATA_DIRS."""
    from tools.data.task_catalog import SHIPPED_DIR  # light: paths only

    dirs = split_dirs(os.environ.get("TREX_DATA_DIRS")) if data_dirs is None else (
        split_dirs(data_dirs) if isinstance(data_dirs, str) else list(data_dirs))
    candidates = [spec_dir, os.getcwd(), cache_dir or _default_cache_dir(), SHIPPED_DIR, *dirs]
    roots = []
    for c in candidates:
        if c:
            r = Path(os.path.expanduser(str(c))).resolve()
            if r not in roots:
                roots.append(r)
    return roots


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def resolve_within(path: str | Path, base_dir: str | Path | None, roots: list[Path]) -> Path:
    """The real absolute path of `path` (relative to base_dir), or UnsafePathError if it leaves the roots."""
    if not str(path).strip():
        raise UnsafePathError("empty path")
    try:
        raw = Path(path)
        joined = raw if raw.is_absolute() else Path(base_dir or os.getcwd()) / raw
        lexical = Path(os.path.normpath(joined.absolute()))
        real = joined.resolve()  # follows symlinks, also for parts that do not exist yet
    except (OSError, RuntimeError, ValueError) as err:  # a symlink loop, a NUL byte
        raise UnsafePathError(f"{str(path)[:200]!r}: not a usable path ({err})") from None
    if _under(real, roots):
        return real
    where = ", ".join(str(r) for r in roots)
    if _under(lexical, roots):
        raise UnsafePathError(f"{path}: a symlink leads out of the allowed directories (to {real}); "
                              f"allowed: {where}; add a directory to TREX_DATA_DIRS to allow it")
    how = "'..' leads" if ".." in raw.parts else "is"
    raise UnsafePathError(f"{path}: {how} outside the allowed directories ({real}); allowed: {where}; "
                          "add a directory to TREX_DATA_DIRS to allow it")


def still_safe(path: Path) -> bool:
    """True when an already-validated absolute path still names itself: no symlink was swapped in since."""
    try:
        return path.is_absolute() and path.resolve() == Path(os.path.normpath(path))
    except (OSError, RuntimeError, ValueError):
        return False


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(name: str, fallback: str = "task") -> str:
    """A single path component from free text: no '/', no '..', no leading dot, at most 64 characters."""
    text = _UNSAFE.sub("_", str(name)).replace("..", "_").strip("._-")[:64]
    return text or fallback


def resolve_spec_paths(spec, roots: list[Path], spec_dir: str | None) -> tuple[dict, list[str]]:
    """A TaskSpec's base_dir, data paths and recipe source paths made real and absolute (so what was
    checked is what is read) as a model_copy update, plus the problems found, each naming its field."""
    problems, update = [], {}
    if spec.base_dir:
        try:
            real = resolve_within(os.path.expanduser(spec.base_dir), spec_dir, roots)
            if not real.is_dir():
                problems.append(f"field 'base_dir': {spec.base_dir} is not a directory")
            update["base_dir"] = str(real)
        except UnsafePathError as err:
            problems.append(f"field 'base_dir': {err}")
    moved = spec.model_copy(update={"base_dir": update.get("base_dir", spec.base_dir)})
    for field in ("data", "test_data"):  # the training data and the optional fixed test set
        given = getattr(spec, field) or []
        sources = []
        for i, source in enumerate(given):
            if source.path is None:  # a Hugging Face dataset: no file to check
                sources.append(source)
                continue
            try:
                real = resolve_within(moved.data_path(source), None, roots)
                sources.append(source.model_copy(update={"path": str(real)}))
            except UnsafePathError as err:
                problems.append(f"field '{field}.{i}.path': {err}")
        if given and len(sources) == len(given):
            update[field] = sources
    extra = [dict(s) for s in (spec.recipe or {}).get("extra_sources", [])]
    for j, source in enumerate(extra):
        if source.get("path"):
            try:
                source["path"] = str(resolve_within(os.path.expanduser(source["path"]), moved.base_dir or None, roots))
            except UnsafePathError as err:
                problems.append(f"field 'recipe.extra_sources.{j}.path': {err}")
    if extra:
        update["recipe"] = {**spec.recipe, "extra_sources": extra}
    return update, problems


def new_run_dir(runs_dir: str, name: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    return str((Path(runs_dir).expanduser() / f"{safe_name(name)}-{stamp}").absolute())  # a task name never
    # becomes '/', '..' or a hidden dir; the path is absolute, so workers and resumes find it from anywhere
