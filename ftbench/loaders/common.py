"""What every FT-Bench loader shares: where prepared files go, fetching raw files, holdouts, leak removal, caps.

A loader turns a public dataset into rows {"id", "input", "output"} (plus an optional "subset") and hands
train and test rows to `finalize`, which writes <cache_dir>/ftbench/<task>/{train,test}.jsonl and meta.json.
The test file is the benchmark's hidden split: no training row may share its (normalised) input.
"""
from __future__ import annotations

import csv
import io
import json
import os
import random
import tempfile
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable

MAX_TRAIN = 50_000  # the paper's cap on training samples per round
TIMEOUT_S = 120


class LoaderError(RuntimeError):
    """Public data could not be fetched or did not have the documented layout."""


def default_cache_dir() -> Path:
    # Same rule as trex.context.Context.cache_dir, so specs naming ${TREX_CACHE_DIR} find the files.
    return Path(os.environ.get("TREX_CACHE_DIR") or Path.home() / ".cache" / "trex")


def task_dir(cache_dir: str | Path | None, task: str) -> Path:
    return Path(cache_dir or default_cache_dir()) / "ftbench" / task


def norm(text: str) -> str:
    return " ".join(str(text).lower().split())


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def download(url: str, dest: Path) -> Path:
    """Fetch url once into dest (kept as a cache); a partial download never replaces a good file."""
    if dest.is_file():
        return dest
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:  # noqa: S310 - fixed https URLs
            _atomic_write(dest, resp.read())
    except OSError as err:
        raise LoaderError(f"cannot download {url}: {err}") from None
    return dest


class RawFiles:
    """Files of a public repository, by their path in it: read from a local mirror (`source`) or downloaded."""

    def __init__(self, base_url: str | Callable[[str], str], raw_dir: Path, source: str | Path | None = None):
        self.url = base_url if callable(base_url) else (lambda rel: f"{base_url.rstrip('/')}/{rel}")
        self.raw_dir, self.source = raw_dir, Path(source) if source else None

    def path(self, rel: str, required: bool = True) -> Path | None:
        if self.source is not None:
            p = self.source / rel
            if p.is_file():
                return p
            if required:
                raise LoaderError(f"{self.source}: missing {rel} (expected the public repository's layout)")
            return None
        return download(self.url(rel), self.raw_dir / rel)


def read_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))


def hf_load(path: str | Path, cache_dir: Path, **kwargs):
    """datasets.load_dataset on a Hub id or on a local directory with the same layout (tests, mirrors)."""
    try:
        from datasets import load_dataset  # heavy: only when a task is prepared
    except ImportError:
        raise LoaderError("FT-Bench loaders need the 'datasets' package (pip install datasets)") from None
    try:
        return load_dataset(str(path), cache_dir=str(cache_dir), **kwargs)
    except Exception as err:  # noqa: BLE001 - network, gating, layout: all mean "cannot prepare"
        raise LoaderError(f"load_dataset({str(path)!r}, {kwargs}) failed: {err}") from None


def holdout(rows: list[dict], fraction: float, seed: int = 0, group: Callable[[dict], str] | None = None,
            stratify: Callable[[dict], str] | None = None) -> tuple[list[dict], list[dict]]:
    """Seeded train/test split for sources without an official test split.

    Whole groups move together (all steps of one GTA query), and each stratum (LawBench task, OpenFinData
    file) gives the same share to test, so every subtask is scored.
    """
    group = group or (lambda r: r["id"])
    stratify = stratify or (lambda r: "")
    strata: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        strata[stratify(r)][group(r)].append(r)
    train, test = [], []
    rng = random.Random(seed)
    for key in sorted(strata):
        groups = sorted(strata[key])
        rng.shuffle(groups)
        n_test = max(1, round(len(groups) * fraction)) if len(groups) > 1 else 0
        for i, g in enumerate(groups):
            (test if i < n_test else train).extend(strata[key][g])
    return train, test


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    _atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))


def sample_test(test: list[dict], max_test: int, seed: int = 0) -> list[dict]:
    """At most max_test test rows, taken in turn from each subset (LawBench task, CS-Bench domain/format) so every
    subset stays scored; seeded, in the original order. A CPU-sized run needs a smaller hidden test set."""
    if len(test) <= max_test:
        return test
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(test):
        groups[str(r.get("subset", ""))].append(i)
    rng = random.Random(seed)
    queues = [rng.sample(ids, len(ids)) for _, ids in sorted(groups.items())]
    keep: set[int] = set()
    while len(keep) < max_test:
        for q in queues:
            if q and len(keep) < max_test:
                keep.add(q.pop())
    return [r for i, r in enumerate(test) if i in keep]


def finalize(task: str, train: list[dict], test: list[dict], cache_dir: str | Path | None, *,
             sources: dict, max_train: int = MAX_TRAIN, max_test: int | None = None, seed: int = 0) -> dict:
    """Drop leaks and duplicates, cap the training (and, when asked, test) rows, write the prepared files; return
    their summary. Leaks are checked against the whole test split, so a row left out of a capped test set still
    never trains."""
    for where, rows in (("train", train), ("test", test)):
        bad = [r for r in rows if not isinstance(r.get("input"), str) or not isinstance(r.get("output"), str)]
        if bad:
            raise LoaderError(f"{task}: {where} row without string input/output: {str(bad[0])[:120]}")
    if not test:
        raise LoaderError(f"{task}: the hidden test split is empty")
    held = {norm(r["input"]) for r in test}
    seen, kept, leaked, dupes = set(), [], 0, 0
    for r in train:
        key = norm(r["input"])
        if key in held:
            leaked += 1
        elif (key, r["output"]) in seen:
            dupes += 1
        else:
            seen.add((key, r["output"]))
            kept.append(r)
    capped = len(kept) > max_train
    if capped:  # seeded sample, original order kept
        keep = set(random.Random(seed).sample(range(len(kept)), max_train))
        kept = [r for i, r in enumerate(kept) if i in keep]
    if not kept:
        raise LoaderError(f"{task}: no training rows left after removing test leaks")
    full_test = len(test)
    if max_test is not None:
        test = sample_test(test, max_test, seed)
    out = task_dir(cache_dir, task)
    _write_jsonl(out / "train.jsonl", kept)
    _write_jsonl(out / "test.jsonl", test)
    meta = {"task": task, "sources": sources, "sizes": {"train": len(kept), "test": len(test)},
            "dropped": {"test_leaks": leaked, "duplicates": dupes, "over_cap": capped},
            "max_train": max_train, "max_test": max_test, "test_before_cap": full_test, "seed": seed}
    _atomic_write(out / "meta.json", json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8"))
    return {"train": str(out / "train.jsonl"), "test": str(out / "test.jsonl"), **meta}
