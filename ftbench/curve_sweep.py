"""Record a curve table: every configuration of a curve space (ftbench/space.py: "bench_curves",
"data_wide_curves") trained once to its last epoch, with early stopping off, and scored after every epoch on the
validation split (capped as a run caps it) and on the whole test split, in the training process.

One line per curve, appended as soon as the curve is trained, so a long recording is resumable: a rerun skips every
configuration the table already holds (and a killed training resumes from its last epoch checkpoint). The table is
a replay table (ftbench/replay.py) whose trained entries carry a `curve`; the base model's val and test scores are
entries as in any table. ftbench/curve_replay.py serves any prefix of a curve.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from ftbench.replay import config_key, open_table, task_key, trial_key
from ftbench.space import all_configs, max_train_for
from ftbench.space import space as search_space
from ftbench.task_files import resolve_task
from tools.data.datasets import prepare_splits
from tools.data.spec_loading import load_spec
from tools.trials import trial_jobs
from trex.context import Context

BASE_CFG = {"id": "base", "epochs": 0, "template": "chat"}
DROP = ("adapter", "val_eval", "val_llm_usage", "log_tail", "cached", "key", "recipe_stats", "status", "curve")


def curve_entry(spec, data: dict, cfg: dict, result: dict) -> dict:
    """A table line for one trained curve: its points (each with the val and test scoring), the training's
    other numbers, and the scores of its last point as the entry's own (what a run without stopping keeps)."""
    points = [{k: p[k] for k in ("epoch", "step", "tokens", "val_loss", "train_loss")} | {"evals": p["evals"]}
              for p in result.get("curve", []) if p.get("evals")]
    if not points or len(points) != len(result.get("curve", [])):
        raise ValueError(f"{spec.name} {cfg.get('id')}: the training returned no scored curve (was it recorded "
                         "with record_split?)")
    return {"key": trial_key(task_key(spec, data), cfg, None), "task": spec.name, "config": config_key(cfg),
            "init": None, "train_key": result["key"], "adapter": None, "curve": points,
            "scores": dict(points[-1]["evals"]), "train": {k: v for k, v in result.items() if k not in DROP}}


def record_curves(tasks: list[str], space: str, ctx: Context, out_dir: str | Path, table_path: str | Path,
                  log=print) -> int:
    """Train and record every missing curve of `space` for each task; returns the curves added."""
    table = open_table(table_path, "record")
    ctx = replace(ctx, early_stopping="off", eval_steps=0)  # every epoch, scored: the whole curve
    out_dir, added = Path(out_dir), 0
    for task in tasks:
        spec = load_spec(resolve_task(task))
        run_dir = out_dir / "curves" / spec.name
        data = prepare_splits(spec, run_dir / "data")
        tkey = task_key(spec, data)
        for split, n in (("val", ctx.max_eval_examples), ("test", None)):
            base_key = trial_key(tkey, BASE_CFG, None)
            if split not in table.entries.get(base_key, {}).get("scores", {}):
                out = trial_jobs.run_scoring(spec, data, {**BASE_CFG, "seed": ctx.seed}, None, "base", split, ctx,
                                             run_dir / f"base_{split}", n)
                table.record_score(spec, data, BASE_CFG, "base", split, n, out)
        narrowed = search_space(space).narrowed(spec.search_space)  # the task's own data moves and pins
        max_train = narrowed.max_examples(max_train_for(space, spec.budget.max_train_samples), data["sizes"]["train"])
        configs = all_configs(narrowed, max_train, ctx.seed)
        for i, cfg in enumerate(configs):
            cfg = {**cfg, "id": f"c{i}"}
            key = trial_key(tkey, cfg, None)
            if table.entries.get(key, {}).get("curve"):
                continue
            started = time.time()
            result = trial_jobs.run_training(spec, data, cfg, ctx, None, record_split="test")
            if result.get("status") != "ok":
                log(f"{spec.name} {i + 1}/{len(configs)}: failed ({result.get('failure')}: {result.get('error')})")
                continue
            table.add(curve_entry(spec, data, cfg, result))
            added += 1
            vals = " ".join(f"{p['evals']['val']['score']:.3f}/{p['evals']['test']['score']:.3f}"
                            for p in table.entries[key]["curve"])
            log(f"{spec.name} {i + 1}/{len(configs)} lr={cfg['lr']:g} samples={cfg['max_samples']} "
                f"recipe={cfg.get('recipe') or {}}: val/test by epoch {vals}, {result.get('tokens')} tokens, "
                f"{time.time() - started:.0f} s")
    return added
