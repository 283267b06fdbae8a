"""LoRA fine-tuning with transformers + PEFT: a plain, seeded training loop that masks the prompt.

Runs inside the training subprocess (tools.worker.train_worker); heavy imports happen here, never in the graph.
"""
from __future__ import annotations

import math
import random
import time
from pathlib import Path

from tools.run.progress_events import ProgressLog
from tools.worker.answer_loss import (LOSS_CHUNK_ROWS, answer_loss, answer_states, collate,  # noqa: F401 (re-exported)
                                      example_losses, mean_loss, token_losses)
from tools.worker.chat_encoding import encode_conversation
from tools.worker.prompting import render_prompt
from tools.worker.sequence_length import fit, model_positions, sequence_length
from trex.jobs import TrainJob, as_train_job


class DivergedError(RuntimeError):
    """Training produced a NaN or infinite loss."""


def encode_example(tokenizer, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """Token ids and labels, whole (tools/worker/sequence_length.py cuts them); the prompt's labels are -100
    so only the answer is learned."""
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return p_ids + a_ids, [-100] * len(p_ids) + a_ids


def encode_record(tokenizer, record: dict, task: dict, template: str) -> tuple[list[int], list[int]]:
    """A chat record (with "messages") learns its assistant turns; any other learns its output."""
    labels = task.get("labels") or []
    if record.get("messages"):
        return encode_conversation(tokenizer, template, record["messages"], task["instruction"], labels)
    return encode_example(tokenizer, render_prompt(tokenizer, template, task["instruction"], record["input"], labels),
                          record["output"])


def encode_split(tokenizer, records: list[dict], task: dict, template: str) -> list[tuple[list[int], list[int]]]:
    return [encode_record(tokenizer, r, task, template) for r in records]


def drop_high_loss(model, examples, pad_id: int, fraction: float) -> tuple[list, dict]:
    """The examples without the `fraction` of them the model finds least likely (highest answer loss), in their
    order, and a report: dropped, kept, the loss threshold and the mean losses of both groups."""
    losses = example_losses(model, examples, pad_id)
    n_drop = min(len(examples) - 1, int(round(fraction * len(examples))))
    if n_drop <= 0:
        return list(examples), {"dropped": 0, "kept": len(examples)}
    ranked = sorted(range(len(examples)), key=lambda i: -losses[i])
    dropped = set(ranked[:n_drop])
    kept = [e for i, e in enumerate(examples) if i not in dropped]
    mean = lambda xs: round(sum(xs) / len(xs), 4) if xs else None  # noqa: E731
    return kept, {"dropped": n_drop, "kept": len(kept), "threshold": round(losses[ranked[n_drop - 1]], 4),
                  "mean_loss_dropped": mean([losses[i] for i in dropped]),
                  "mean_loss_kept": mean([losses[i] for i in range(len(examples)) if i not in dropped])}


def difficulty(model, examples, pad_id: int, curriculum: str) -> list[float] | None:
    """Each example's difficulty under the recipe's curriculum: its length in tokens (short_first), its answer
    loss under the model the trial starts from (easy_first), or None (no curriculum: shuffled)."""
    if curriculum in (None, "", "none"):
        return None
    if curriculum == "short_first":
        return [float(len(ids)) for ids, _ in examples]
    if curriculum == "easy_first":
        return example_losses(model, examples, pad_id)
    raise ValueError(f"unknown curriculum {curriculum!r}")


def epoch_order(n: int, rng: random.Random, difficulty: list[float] | None) -> list[int]:
    """The order of one epoch's examples: shuffled, then (with a curriculum) easiest first; ties keep the
    shuffled order. The shuffle always runs, so a run without a curriculum draws the same numbers as before."""
    order = list(range(n))
    rng.shuffle(order)
    return order if difficulty is None else sorted(order, key=lambda i: difficulty[i])


def autocast(model):
    """bfloat16 mixed precision on a CUDA GPU that supports it. Not on the CPU: measured slower there
    (3.05 vs 2.19 s/step on an AVX512-BF16 Xeon, SmolLM2-135M)."""
    import contextlib

    import torch

    if model.device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def gradient_checkpointing(job: TrainJob, cfg: dict, model, backend: str, tokens_per_batch: int) -> bool | str:
    """Turns the job's gradient_checkpointing setting (auto, on, off) into this trial's choice and applies it;
    tells why on stdout. Unsloth checkpoints its own way ("unsloth") whatever the setting."""
    from tools.worker import activation_memory

    if backend == "unsloth":
        return "unsloth"
    conf = model.config
    dtype_bytes = 2 if model.device.type == "cuda" else 4  # bfloat16 autocast on a GPU (autocast())
    need = activation_memory.estimate_mb(tokens_per_batch, activation_memory.trained_layers(conf.num_hidden_layers, cfg),
                                         conf.hidden_size, dtype_bytes)
    free = activation_memory.available_mb(model.device.type, int(job.memory_mb or 0))
    on = activation_memory.decide(job.gradient_checkpointing, need, free)
    activation_memory.apply(model, on)
    print(f"gradient checkpointing {'on' if on else 'off'} ({job.gradient_checkpointing}): "
          f"activations about {need:.0f} MB a step, {'unknown' if free is None else f'{free:.0f} MB'} available", flush=True)
    return on


def train(job: TrainJob | dict, out_dir: Path) -> dict:
    import torch

    from tools.worker import checkpoints
    from tools.worker.backends import load_trainable
    from tools.worker.checkpoints import resume, save_checkpoint
    from tools.worker.learning_curve import Curve, higher_is_better, load_trainable_state, score_here, score_point
    from tools.worker.model_loading import read_jsonl

    job = as_train_job(job)
    cfg, task = job.config, job.task
    model, tokenizer, backend = load_trainable(job, cfg)
    rng = random.Random(int(cfg.get("seed", 0)))
    records = read_jsonl(job.train_path)
    rng.shuffle(records)
    records = records[: int(cfg["max_samples"])]
    train_set = encode_split(tokenizer, records, task, cfg["template"])
    seq_len = sequence_length(task, train_set, model_positions(model.config))
    train_set, cut = fit(train_set, seq_len)
    val_set, _ = fit(encode_split(tokenizer, read_jsonl(job.val_path)[:32], task, cfg["template"]), seq_len)
    filtered = None
    if job.loss_filter:  # the recipe's model-based filter, scored by the model this trial starts from
        train_set, filtered = drop_high_loss(model, train_set, tokenizer.pad_token_id, float(job.loss_filter))
        print(f"loss filter: dropped {filtered['dropped']} of {len(train_set) + filtered['dropped']} examples "
              f"(answer loss above {filtered.get('threshold')})", flush=True)
    hardness = difficulty(model, train_set, tokenizer.pad_token_id, job.curriculum)
    print(f"sequence length {seq_len} tokens ({'the spec' if task.get('max_seq_length') else 'the longest example'}); "
          f"{cut} of {len(train_set)} training examples cut", flush=True)
    pad = tokenizer.pad_token_id
    bs, epochs = int(cfg["batch_size"]), int(cfg["epochs"])
    checkpointing = gradient_checkpointing(job, cfg, model, backend, bs * max((len(e[0]) for e in train_set), default=0))
    steps_total = max(1, math.ceil(len(train_set) / bs) * epochs)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=float(cfg["lr"]))
    warmup = max(1, steps_total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warmup, max(0.0, (steps_total - s) / max(1, steps_total - warmup))))
    curve = Curve(job.early_stopping, higher_is_better(job, backend), task.get("metric", ""))
    loop = {"step": 0, "tokens": 0, "loss_curve": [], "val_loss": [], "epoch": 0, "train_s": 0.0, "eval_s": 0.0}
    fp = checkpoints.fingerprint(job)
    resumed = resume(out_dir, fp, model, optim, sched, rng, curve, loop)
    started = time.time() - loop["train_s"]  # train_s covers all the loop's work, scoring included (and resumed)
    if not resumed:
        loop["val_loss"] = [mean_loss(model, val_set, pad)]
    progress = ProgressLog(out_dir)  # live loss for the parent (tools/run/progress_events.py)
    progress.write("job_phase", phase="training", steps=steps_total, val_loss=round(loop["val_loss"][0], 5))
    model.train()
    pause = job.pause_after if 0 < job.pause_after < epochs else 0
    paused = False
    for epoch in range(loop["epoch"], epochs):
        if pause and epoch >= pause:  # successive halving: the round decides whether this trial goes on
            paused = True
            break
        order = epoch_order(len(train_set), rng, hardness)  # a curriculum runs every epoch easy to hard
        since: list[float] = []  # training losses since the last scored point
        for i in range(0, len(order), bs):
            ids, labels, mask = (t.to(model.device) for t in collate([train_set[j] for j in order[i:i + bs]], pad))
            with autocast(model):
                loss = answer_loss(model, ids, mask, labels)
            if not torch.isfinite(loss):
                raise DivergedError(f"loss became {float(loss.detach())} at step {loop['step']} (lr {cfg['lr']})")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad()
            loop["tokens"] += int(mask.sum())
            loop["step"] += 1
            step = loop["step"]
            loop["loss_curve"].append([step, round(float(loss.detach()), 5)])
            since.append(loop["loss_curve"][-1][1])
            progress.write("train_loss", step=step, steps=steps_total, epoch=epoch + 1, loss=since[-1])
            if step % 10 == 0 or step == steps_total:
                print(f"step {step}/{steps_total} loss {since[-1]:.4f} "
                      f"({(time.time() - started) / step:.2f} s/step)", flush=True)
            if job.eval_steps and step % job.eval_steps == 0 and i + bs < len(order):  # mid-epoch point
                score_here(model, tokenizer, job, curve, loop, epoch + 1, mean_loss(model, val_set, pad), since, progress)
                since = []
        loop["val_loss"].append(mean_loss(model, val_set, pad))
        progress.write("val_loss", epoch=epoch + 1, val_loss=round(loop["val_loss"][-1], 5))
        if not math.isfinite(loop["val_loss"][-1]):
            raise DivergedError(f"validation loss became {loop['val_loss'][-1]} after epoch {epoch + 1}")
        score_here(model, tokenizer, job, curve, loop, epoch + 1, loop["val_loss"][-1], since, progress)
        loop["epoch"] = epoch + 1
        if curve.end_epoch(epoch + 1):
            print(curve.stopped["reason"], flush=True)
            break
        if epoch + 1 < epochs:  # a later epoch may be killed: this one's end is where a re-run starts
            loop["train_s"] = time.time() - started
            save_checkpoint(out_dir, fp, model, optim, sched, rng, curve, loop)
    train_s = time.time() - started
    if curve.best_weights is not None:  # the best point's weights are the trial's: kept, cached and exported
        load_trainable_state(model, curve.best_weights)
    full = cfg.get("method", "lora") == "full"
    # A full fine-tune saves the whole model (plus tokenizer) where an adapter would go; loaders tell them
    # apart by config.json vs adapter_config.json. A paused trial saves its best point so far beside its checkpoint
    # (the round may stop it there: then that is its adapter), and keeps the checkpoint to continue from.
    adapter = out_dir / (f"paused-epoch-{loop['epoch']:04d}" if paused else "") / ("model" if full else "adapter")
    model.save_pretrained(adapter)
    if full:
        tokenizer.save_pretrained(adapter)
    if not paused:
        checkpoints.clear(out_dir)  # a finished trial keeps its adapter only
    tokens, step = loop["tokens"], loop["step"]
    result = {"status": "ok", "adapter": str(adapter), "loss_curve": loop["loss_curve"],
              "val_loss": [round(v, 5) for v in loop["val_loss"]], "steps": step, "tokens": tokens,
              "train_examples": len(train_set), "max_seq_length": seq_len, "examples_cut": cut,
              "train_s": round(train_s, 2), "eval_s": round(loop["eval_s"], 2), "epochs_trained": loop["epoch"],
              **curve.summary(), "tokens_per_s": round(tokens / max(train_s, 1e-9), 1), "backend": backend,
              "method": cfg.get("method", "lora"), "warm_start_from": job.init_adapter,
              "device": str(model.device), "gradient_checkpointing": checkpointing, "gpu_hours": round(train_s / 3600, 5) if model.device.type == "cuda" else 0.0}
    if resumed:
        result["resumed_from_epoch"] = resumed["epoch"]
    if paused:
        result["paused_at"] = loop["epoch"]
    if filtered is not None:
        result["loss_filter"] = filtered
    if hardness is not None:
        result["curriculum"] = {"order": job.curriculum, "easiest": round(min(hardness), 4),
                                "hardest": round(max(hardness), 4)}
    if model.device.type == "cuda":
        result["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    if curve.by_score:
        # The best point's validation score, scored in this process while the model was in memory (no process
        # start, no reload): the evaluate step finds it cached. Not after Unsloth (learning_curve.higher_is_better):
        # the evaluate step then scores in a plain process, as test is.
        result["val_eval"] = curve.best_eval or score_point(model, tokenizer, job, loop["val_loss"][-1])
    return result
