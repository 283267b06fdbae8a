"""Rows of a Hugging Face Hub dataset split: the one place TREX calls `datasets.load_dataset`.

Imported lazily, only when a source names an hf_id: most runs never touch the network or `datasets`.
Downloads are cached by `datasets` under <TREX_CACHE_DIR>/hf-datasets, so a second run reads the cache.
"""
from __future__ import annotations

import os
from pathlib import Path

from trex.spec import SpecError


class HubDataError(SpecError):
    """A Hub dataset that cannot be read; the message names its id."""


def hub_cache_dir() -> str:
    root = os.environ.get("TREX_CACHE_DIR") or str(Path.home() / ".cache" / "trex")
    return str(Path(root).expanduser() / "hf-datasets")


def load_hub_rows(hf_id: str, config: str | None, split: str) -> list[dict]:
    """Every row of hf_id[/config] split as a dict; a HubDataError naming the id when it cannot be had
    (offline and not cached, no such dataset, config or split)."""
    name = f"Hugging Face dataset {hf_id!r}" + (f" (config {config!r})" if config else "") + f" split {split!r}"
    try:
        from datasets import load_dataset
    except ImportError:
        raise HubDataError(f"{name} needs the 'datasets' package (pip install datasets)") from None
    try:
        rows = load_dataset(hf_id, config, split=split, cache_dir=hub_cache_dir())
    except Exception as err:  # noqa: BLE001 - offline, unknown id, gated, bad split: all "cannot be loaded"
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise HubDataError(f"{name} cannot be loaded ({type(err).__name__}: {first}); "
                           "check the id, the split and the network (or the datasets cache)") from None
    return [dict(r) for r in rows]
