"""RUN_DIR/best_adapter/: the best trial's adapter with its tokenizer and trex_model.json, ready to use.

Called by nodes/score_test.py in the graph's process, so it only copies files: the tokenizer files are the
ones the trials loaded (the base model's local directory), copied rather than re-saved, which needs no
transformers, no subprocess, and gives the tokenizer training used byte for byte.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from memory.trial_cache import TrialCache
from tools.export.manifest import MANIFEST, TOKENIZER_FILES, build_manifest, write_manifest
from tools.models.base_models import local_model_dir
from tools.trials.trial_jobs import task_payload

BEST_ADAPTER = "best_adapter"
# The best trial's answers to the first validation rows, as the run scored them: what `trex export` checks the
# model it writes against (tools/export/export_check.py). Kept beside the adapter, never shipped with it.
PREDICTIONS = "val_predictions.json"


def has_tokenizer(model_dir: str | Path) -> bool:
    return (Path(model_dir) / "tokenizer_config.json").is_file()


def copy_tokenizer(source: str | Path | None, dest: str | Path) -> bool:
    """Copy a saved tokenizer's files; False when `source` holds none."""
    if not source or not has_tokenizer(source):
        return False
    for name in TOKENIZER_FILES:
        if (Path(source) / name).is_file():
            shutil.copy2(Path(source) / name, Path(dest) / name)
    return True


def val_predictions(spec, data: dict, cfg: dict, train_key: str, ctx) -> dict | None:
    """The trial's stored answers to the first validation rows (tools/worker/scoring.kept_predictions), from
    the validation scoring result in the trial cache; None when it has none (a result cached by an older TREX,
    a benchmark's replayed trial)."""
    from tools.trials.trial_jobs import eval_key

    if not train_key:
        return None
    key = eval_key(spec, data, cfg, train_key, "val", ctx.max_eval_examples, ctx.device)
    return (TrialCache(ctx.cache_dir).get(key) or {}).get("predictions")


def keep_best_adapter(spec, labels: list[str], cfg: dict, adapter: str, run_dir: str, cache_dir: str,
                      scores: dict, predictions: dict | None = None) -> str:
    """Copy the best trial's adapter (or full model) to RUN_DIR/best_adapter with its tokenizer and manifest;
    returns that path. scores: the metric and the validation and test scores, for the manifest. predictions:
    the trial's stored validation answers (val_predictions), written beside it for the export's check."""
    kind = "full" if (Path(adapter) / "config.json").is_file() else "lora"
    manifest = build_manifest(spec, task_payload(spec, labels), cfg, local_model_dir(spec.base_model, cache_dir),
                              kind, scores)
    kept = Path(run_dir) / BEST_ADAPTER
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(adapter, kept)
    # A full fine-tune saved its tokenizer with the model; an adapter borrows the base model's.
    tokenizer = has_tokenizer(kept) or copy_tokenizer(manifest.get("base_model_path"), kept)
    write_manifest(kept, {**manifest, "tokenizer": tokenizer})
    if predictions:
        (kept / PREDICTIONS).write_text(json.dumps({"split": "val", **predictions}) + "\n", encoding="utf-8")
    return str(kept)


def best_adapter_dir(run_dir: str | Path) -> Path:
    """The tuned model of a run (RUN_DIR/best_adapter), or of a directory that is one; a clear error if none."""
    run_dir = Path(run_dir)
    for candidate in (run_dir / BEST_ADAPTER, run_dir):
        if (candidate / MANIFEST).is_file():
            return candidate
    if (run_dir / BEST_ADAPTER).is_dir():
        raise FileNotFoundError(f"{run_dir / BEST_ADAPTER} has no {MANIFEST} (a run of an older TREX): "
                                "load it with PEFT directly, or run the task again")
    if (run_dir / "run.json").is_file():
        raise FileNotFoundError(f"{run_dir} has no best adapter: the run has not finished, no trial succeeded, "
                                "or the base model beat every trial")
    raise FileNotFoundError(f"{run_dir} is neither a TREX run directory nor a tuned model (no {MANIFEST})")
