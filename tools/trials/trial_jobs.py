"""Build worker jobs and cache keys for a trial, so train, evaluate and the final test share one recipe."""
from __future__ import annotations

import json
from pathlib import Path

from trex.context import Context
from trex.spec import TaskSpec
from memory.trial_cache import TrialCache, cache_key
from trex.trial_config import key_view
from tools.data.datasets import DataError, file_digest
from tools.data.recipes import prepare_train_file
from tools.llm.chat_models import DEFAULT_CHAT, ChatSource
from trex.jobs import EarlyStopping, ScoreJob, ScoreSplit, TrainJob
from trex.recipe import WORKER_STEPS, RecipeError
from tools.trials.adapter_claim import claimed
from tools.trials.trial_pool import JobLauncher, run_job, with_executor  # a subprocess or Ray task (trial_executor)
from tools.trials.trial_runtime import runtime_payload


def task_payload(spec: TaskSpec, labels: list[str]) -> dict:
    task = {"task_type": spec.task_type, "instruction": spec.instruction, "labels": labels, "metric": spec.metric,
            "max_new_tokens": spec.max_new_tokens, "scoring": spec.scoring}
    # Only when set: the trial keys of specs without it (the shipped caches and replay tables) stay as they were.
    return {**task, "max_seq_length": spec.max_seq_length} if spec.max_seq_length else task


def _hyper(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k != "id"}


def effective_recipe(spec: TaskSpec, cfg: dict) -> dict:
    """The task's own recipe with the trial's changes on top."""
    return {**(spec.recipe or {}), **(cfg.get("recipe") or {})}


def worker_recipe(spec: TaskSpec, cfg: dict) -> dict:
    """The recipe steps the training worker applies (trex.recipe.WORKER_STEPS: they need the model); only those
    set, so the keys of trials without them stay as they were."""
    recipe = effective_recipe(spec, cfg)
    return {k: recipe.get(k) for k in WORKER_STEPS if recipe.get(k) not in (None, "none")}


def training_data(spec: TaskSpec, data: dict, cfg: dict, ctx: Context,
                  chat: ChatSource = DEFAULT_CHAT) -> tuple[str, dict | None]:
    """The training file this trial reads: the run's train split, or what its recipe makes of it (cached by
    recipe hash, shared by trials and runs). chat: the run's chat model, for the recipe steps that call one.
    Raises DataError/RecipeError for a recipe that cannot run."""
    recipe = effective_recipe(spec, cfg)
    if not recipe:
        return data["paths"]["train"], None
    from tools.data.recipe_judging import judge_for  # the chat model judges examples when the recipe asks
    from tools.data.recipe_synthesis import synthesizer_for  # the chat model writes examples when the recipe asks
    from tools.data.source_labels import label_mapper_for  # the chat model maps an added source's foreign labels

    labels = data.get("labels") if spec.task_type == "classification" else None  # an added source keeps only these
    path, stats = prepare_train_file(data["paths"]["train"], recipe, [data["paths"]["val"], data["paths"]["test"]],
                                     ctx.cache_dir, base_dir=spec.base_dir, synthesize=synthesizer_for(spec, recipe, ctx, chat),
                                     judge=judge_for(spec, recipe, ctx, chat), labels=labels or None,
                                     label_mapper=label_mapper_for(spec, recipe, ctx, chat))
    if not stats.get("train_out"):
        raise DataError("the data recipe left no training examples")
    return path, stats


def early_stopping(spec: TaskSpec, ctx: Context) -> EarlyStopping:
    """A run's early stopping: the context's when set, else the task spec's, else patience 1."""
    if getattr(ctx, "early_stopping", ""):
        return EarlyStopping.parse(json.loads(ctx.early_stopping))
    return EarlyStopping.parse(spec.early_stopping) if spec.early_stopping is not None else EarlyStopping()


def selection(spec: TaskSpec, cfg: dict, ctx: Context) -> dict | None:
    """What, besides its config, decides which point of a trial's curve is kept (the best validation score, among
    at most max_eval_examples, with early stopping's patience) and so its adapter; None for a trial of one epoch
    scored only at its end, whose adapter is its last step's as it always was (its key stays as it was)."""
    steps = int(getattr(ctx, "eval_steps", 0) or 0)
    if int(cfg.get("epochs", 1)) <= 1 and not steps:
        return None
    stop = early_stopping(spec, ctx)
    return {"keep": "best", "patience": stop.patience, "min_delta": stop.min_delta, "eval_steps": steps,
            "max_eval_examples": ctx.max_eval_examples}


def train_key(spec: TaskSpec, data: dict, cfg: dict, init_key: str | None = None, train_path: str | None = None,
              device: str = "cpu", backend: str = "peft", select: dict | None = None) -> str:
    """Everything that determines a trained adapter: base model, the training data actually used (so two
    recipes that yield the same data are one trial), task, hyper-parameters, seed, the adapter it
    warm-started from, where it trains (backend, device, precision: tools/trials/trial_runtime.py), which point
    of its curve is kept (`select`: selection()) and (inside cache_key) the training code's version."""
    hyper = {k: v for k, v in key_view(_hyper(cfg)).items() if k != "recipe"}
    hyper.update(worker_recipe(spec, cfg))  # same file, other training data or order
    payload = {"base_model": spec.base_model, "task": task_payload(spec, data["labels"]),
               "train": file_digest(train_path or data["paths"]["train"]), "val": file_digest(data["paths"]["val"]),
               "config": hyper, "init": init_key, **runtime_payload(device, backend, cfg.get("method", "lora"))}
    return cache_key("train", {**payload, **({"select": select} if select else {})})


def run_key(spec: TaskSpec, data: dict, cfg: dict, ctx: Context, init_key: str | None = None,
            train_path: str | None = None, record_split: str | None = None) -> str:
    """The key a trial trained in this run gets (train_key with the run's device, backend and selection). A
    benchmark recording (record_split) is its own trial: its curve holds that split's scores, which a run's
    trial must never see."""
    select = selection(spec, cfg, ctx)
    if record_split:
        select = {**(select or {}), "record_split": record_split}
    return train_key(spec, data, cfg, init_key, train_path, ctx.device, ctx.backend, select)


def eval_key(spec: TaskSpec, data: dict, cfg: dict, train_id: str, split: str, max_examples: int | None,
             device: str = "cpu") -> str:
    # Scoring runs plain PEFT/transformers (never Unsloth), on the trial's device.
    return cache_key("eval", {"base_model": spec.base_model, "train": train_id, "split": file_digest(data["paths"][split]),
                              "task": task_payload(spec, data["labels"]), "template": cfg.get("template", "chat"),
                              "max_examples": max_examples, **runtime_payload(device, "peft")})


def pause_key(key: str, epoch: int) -> str:
    """The cache key of trial `key` paused after `epoch` (successive halving): its best point so far."""
    return cache_key("pause", {"train": key, "epoch": epoch})


def pausing(cfg: dict, pause_after: int) -> int:
    """The epoch a trial pauses after, or 0 when it trains to its end (a pause at or past its epochs is none)."""
    return pause_after if 0 < pause_after < int(cfg.get("epochs", 1)) else 0


def run_training(spec: TaskSpec, data: dict, cfg: dict, ctx: Context, init: tuple[str, str] | None = None,
                 chat: ChatSource = DEFAULT_CHAT, record_split: str | None = None,
                 launch: JobLauncher = run_job, pause_after: int = 0) -> dict:
    """Train one config, or take its result from the cache. Adapters live in the shared cache. chat: the run's
    chat model, for the recipe steps that call one (build_graph(chat_model=...)).

    init = (adapter path, train key) of the parent trial to warm-start from; the child then trains only its
    own epochs on top of the parent's adapter.

    The training job also scores the validation split while its model is loaded; that score goes into
    the cache under the evaluation's key, so the evaluate step finds it there. record_split (benchmark
    recording only, ftbench/curve_sweep.py): every point of the curve is also scored on that split, in full.
    launch: runs the worker job (trial_pool.JobLauncher; a test passes a stand-in).

    pause_after (successive halving, nodes/train.py): stop after that epoch with the trial's checkpoint kept; the
    result has `paused_at` and its best point so far as the adapter, cached under pause_key. Training the same
    config again (a later pause, or to the end) continues from that checkpoint and reports the whole trial's
    tokens and time. A trial that ends before its pause (early stopping) is simply finished."""
    cache = TrialCache(ctx.cache_dir)
    try:
        train_path, recipe_stats = training_data(spec, data, cfg, ctx, chat)
    except (DataError, RecipeError, OSError) as err:  # a recipe that cannot run is a failed trial, not a crash
        return {"status": "failed", "failure": "data", "error": f"data recipe: {err}", "cached": False, "key": ""}
    key = run_key(spec, data, cfg, ctx, init[1] if init else None, train_path, record_split)
    pause = pausing(cfg, pause_after)
    # A paused trial's result is its own entry: the whole trial's entry (key) never holds a prefix of it.
    wanted = pause_key(key, pause) if pause else key
    hit = cache.get(wanted)
    if hit and Path(hit.get("adapter", "")).is_dir():
        return {**hit, "cached": True, "key": wanted, "recipe_stats": recipe_stats}
    adapter_dir = Path(ctx.cache_dir) / "adapters" / key
    with claimed(adapter_dir):  # another run training this very trial now: wait, then take its result
        hit = cache.get(wanted)
        if hit and Path(hit.get("adapter", "")).is_dir():
            return {**hit, "cached": True, "key": wanted, "recipe_stats": recipe_stats}
        return _train(spec, data, cfg, ctx, init, key, train_path, recipe_stats, adapter_dir, record_split, launch,
                      pause)


def _train(spec: TaskSpec, data: dict, cfg: dict, ctx: Context, init, key: str, train_path: str,
           recipe_stats: dict | None, adapter_dir: Path, record_split: str | None = None,
           launch: JobLauncher = run_job, pause: int = 0) -> dict:
    cache = TrialCache(ctx.cache_dir)
    job = TrainJob(base_model=spec.base_model, cache_dir=ctx.cache_dir, device=ctx.device,
                   task=task_payload(spec, data["labels"]), config=_hyper(cfg),
                   train_path=train_path, val_path=data["paths"]["val"],
                   score=ScoreSplit(data["paths"]["val"], ctx.max_eval_examples),
                   backend=ctx.backend, memory_mb=ctx.trial_memory_mb,
                   gradient_checkpointing=ctx.gradient_checkpointing, init_adapter=init[0] if init else None,
                   early_stopping=early_stopping(spec, ctx), eval_steps=int(getattr(ctx, "eval_steps", 0) or 0),
                   record_split=ScoreSplit(data["paths"][record_split], None) if record_split else None,
                   pause_after=pause, **worker_recipe(spec, cfg))
    result = launch(with_executor(job.to_dict(), ctx), adapter_dir, ctx.trial_timeout_s)
    if result.get("status") == "ok" and result.get("paused_at"):
        key, result = _keep_paused(ctx, key, result)
    val_eval = result.pop("val_eval", None)
    if val_eval:
        cache.put(eval_key(spec, data, cfg, key, "val", ctx.max_eval_examples, ctx.device), val_eval)
    cache.put(key, result)
    # An LLM judge scored validation just now (the evaluate step will find that score cached): the train node
    # folds its calls into the run's LLM ledger. Not in the cache: a later hit made no calls.
    usage = {"val_llm_usage": val_eval["llm_usage"]} if (val_eval or {}).get("llm_usage") else {}
    return {**result, "cached": False, "key": key, "recipe_stats": recipe_stats, **usage}


def _keep_paused(ctx: Context, key: str, result: dict) -> tuple[str, dict]:
    """A paused trial's (key, result): its best-so-far adapter moves out of the trial's directory into its own
    (the trial's directory keeps the checkpoint it continues from, and later its final adapter)."""
    import shutil

    paused_key = pause_key(key, int(result["paused_at"]))
    src = Path(result["adapter"])
    dest = Path(ctx.cache_dir) / "adapters" / paused_key / src.name
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), dest)
    shutil.rmtree(src.parent, ignore_errors=True)
    return paused_key, {**result, "adapter": str(dest), "trial_key": key}


def run_scoring(spec: TaskSpec, data: dict, cfg: dict, adapter: str | None, train_id: str, split: str,
                    ctx: Context, job_dir: Path, max_examples: int | None, launch: JobLauncher = run_job) -> dict:
    """Score base (adapter None) or base + adapter on a split, or take the score from the cache. launch: as
    run_training's."""
    cache = TrialCache(ctx.cache_dir)
    key = eval_key(spec, data, cfg, train_id, split, max_examples, ctx.device)
    hit = cache.get(key)
    if hit:
        return {**hit, "cached": True}
    job = ScoreJob(base_model=spec.base_model, cache_dir=ctx.cache_dir, device=ctx.device,
                   task=task_payload(spec, data["labels"]), config=_hyper(cfg), adapter=adapter,
                   eval_path=data["paths"][split], max_examples=max_examples)
    result = launch(with_executor(job.to_dict(), ctx), job_dir, ctx.trial_timeout_s)
    cache.put(key, result)
    return {**result, "cached": False}
