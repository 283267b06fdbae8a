"""Build worker jobs and cache keys for a trial, so train, evaluate and the final test share one recipe."""
from __future__ import annotations

from pathlib import Path

from graph.context import Context
from graph.spec import TaskSpec
from memory.trial_cache import TrialCache, cache_key
from tools.datasets import file_digest
from tools.trial_runner import run_job


def task_payload(spec: TaskSpec, labels: list[str]) -> dict:
    return {"task_type": spec.task_type, "instruction": spec.instruction, "labels": labels, "metric": spec.metric,
            "max_new_tokens": spec.max_new_tokens, "scoring": spec.scoring}


def _hyper(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k != "id"}


def train_key(spec: TaskSpec, data: dict, cfg: dict, init_key: str | None = None) -> str:
    """Everything that determines a trained adapter: base model, data, task, hyper-parameters, seed, the
    adapter it warm-started from, and (inside cache_key) the backend's code version."""
    return cache_key("train", {"base_model": spec.base_model, "task": task_payload(spec, data["labels"]),
                               "train": file_digest(data["paths"]["train"]), "val": file_digest(data["paths"]["val"]),
                               "config": _hyper(cfg), "init": init_key})


def eval_key(spec: TaskSpec, data: dict, cfg: dict, train_id: str, split: str, max_examples: int | None) -> str:
    return cache_key("eval", {"base_model": spec.base_model, "train": train_id, "split": file_digest(data["paths"][split]),
                              "task": task_payload(spec, data["labels"]), "template": cfg.get("template", "chat"),
                              "max_examples": max_examples})


def run_training(spec: TaskSpec, data: dict, cfg: dict, ctx: Context, init: tuple[str, str] | None = None) -> dict:
    """Train one config, or take its result from the cache. Adapters live in the shared cache.

    init = (adapter path, train key) of the parent trial to warm-start from; the child then trains only its
    own epochs on top of the parent's adapter.

    The training job also scores the validation split while its model is loaded; that score goes into
    the cache under the evaluation's key, so the evaluate step finds it there."""
    cache = TrialCache(ctx.cache_dir)
    key = train_key(spec, data, cfg, init[1] if init else None)
    hit = cache.get(key)
    if hit and Path(hit.get("adapter", "")).is_dir():
        return {**hit, "cached": True, "key": key}
    job = {"mode": "train", "base_model": spec.base_model, "cache_dir": ctx.cache_dir, "device": ctx.device,
           "task": task_payload(spec, data["labels"]), "config": _hyper(cfg),
           "train_path": data["paths"]["train"], "val_path": data["paths"]["val"],
           "score": {"eval_path": data["paths"]["val"], "max_examples": ctx.max_eval_examples},
           "backend": ctx.backend, "memory_mb": ctx.trial_memory_mb, "init_adapter": init[0] if init else None}
    result = run_job(job, Path(ctx.cache_dir) / "adapters" / key, ctx.trial_timeout_s)
    val_eval = result.pop("val_eval", None)
    if val_eval:
        cache.put(eval_key(spec, data, cfg, key, "val", ctx.max_eval_examples), val_eval)
    cache.put(key, result)
    return {**result, "cached": False, "key": key}


def run_scoring(spec: TaskSpec, data: dict, cfg: dict, adapter: str | None, train_id: str, split: str,
                ctx: Context, job_dir: Path, max_examples: int | None) -> dict:
    """Score base (adapter None) or base + adapter on a split, or take the score from the cache."""
    cache = TrialCache(ctx.cache_dir)
    key = eval_key(spec, data, cfg, train_id, split, max_examples)
    hit = cache.get(key)
    if hit:
        return {**hit, "cached": True}
    job = {"mode": "eval", "base_model": spec.base_model, "cache_dir": ctx.cache_dir, "device": ctx.device,
           "task": task_payload(spec, data["labels"]), "config": _hyper(cfg), "adapter": adapter,
           "eval_path": data["paths"][split], "max_examples": max_examples}
    result = run_job(job, job_dir, ctx.trial_timeout_s)
    cache.put(key, result)
    return {**result, "cached": False}
