"""LoRA fine-tuning with transformers + PEFT: a plain, seeded training loop that masks the prompt.

Runs inside the training subprocess (tools.worker.train_worker); heavy imports happen here, never in the graph.
"""
from __future__ import annotations

import math
import random
import time
from pathlib import Path

from tools.run.progress_events import ProgressLog
from tools.worker.chat_encoding import encode_conversation
from tools.worker.prompting import render_prompt
from tools.worker.sequence_length import fit, model_positions, sequence_length
from trex.jobs import ScoreJob, TrainJob, as_train_job


class DivergedError(RuntimeError):
    """Training produced a NaN or infinite loss."""


def encode_example(tokenizer, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """Token ids and labels, whole (tools/worker/sequence_length.py cuts them); the prompt's labels are -100
    so only the answer is learned."""
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return p_ids + a_ids, [-100] * len(p_ids) + a_ids


def collate(batch: list[tuple[list[int], list[int]]], pad_id: int):
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id)
    labels = torch.full((len(batch), width), -100)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, (x, y) in enumerate(batch):
        ids[i, :len(x)] = torch.tensor(x)
        labels[i, :len(y)] = torch.tensor(y)
        mask[i, :len(x)] = 1
    return ids, labels, mask


def encode_record(tokenizer, record: dict, task: dict, template: str) -> tuple[list[int], list[int]]:
    """A chat record (with "messages") learns its assistant turns; any other learns its output."""
    labels = task.get("labels") or []
    if record.get("messages"):
        return encode_conversation(tokenizer, template, record["messages"], task["instruction"], labels)
    return encode_example(tokenizer, render_prompt(tokenizer, template, task["instruction"], record["input"], labels),
                          record["output"])


def encode_split(tokenizer, records: list[dict], task: dict, template: str) -> list[tuple[list[int], list[int]]]:
    return [encode_record(tokenizer, r, task, template) for r in records]


# Rows of the output head's logits made at once: 1024 answer tokens x a 49k-word vocabulary x 4 bytes = 200 MB.
# A batch with more answer tokens (long answers x a large batch: LawBench's 32 x 256 made 1.6 GB of logits, several
# times over with softmax and gradient) is scored in chunks of this many rows, each chunk's logits made again in
# the backward pass, so the head's memory stays bounded. A batch within it takes the one-shot path, unchanged.
LOSS_CHUNK_ROWS = 1024


def answer_states(model, ids, mask, labels):
    """The output head and, at the answer positions only, the hidden states and their next-token targets."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != -100
    return base.get_output_embeddings(), hidden[:, :-1][keep], targets[keep], keep


def _chunk_token_losses(head, hidden, targets):
    import torch

    return torch.nn.functional.cross_entropy(head(hidden).float(), targets, reduction="none")


def token_losses(head, hidden, targets, chunk: int = LOSS_CHUNK_ROWS):
    """Each answer token's cross-entropy, the head run on at most `chunk` rows at a time; with gradients on,
    a chunk's logits are not kept for the backward pass but made again there (activation checkpointing)."""
    import torch
    from torch.utils.checkpoint import checkpoint

    if len(targets) <= chunk:
        return _chunk_token_losses(head, hidden, targets)
    parts = []
    for i in range(0, len(targets), chunk):
        h, t = hidden[i:i + chunk], targets[i:i + chunk]
        parts.append(checkpoint(_chunk_token_losses, head, h, t, use_reentrant=False) if torch.is_grad_enabled()
                     else _chunk_token_losses(head, h, t))
    return torch.cat(parts)


def answer_loss(model, ids, mask, labels, chunk: int = LOSS_CHUNK_ROWS):
    """Mean cross-entropy on the answer tokens only. The output head (a large share of a small model's compute,
    49k-word vocabulary) runs only at answer positions instead of at every prompt token, in chunks when there
    are many (LOSS_CHUNK_ROWS)."""
    import torch

    head, hidden, targets, _ = answer_states(model, ids, mask, labels)
    if len(targets) <= chunk:  # the one-shot path: the same numbers as before chunking existed
        return torch.nn.functional.cross_entropy(head(hidden).float(), targets)
    return token_losses(head, hidden, targets, chunk).sum() / len(targets)


def example_losses(model, examples, pad_id: int, batch_size: int = 16) -> list[float]:
    """Each example's mean answer-token loss under the model as it is (no training)."""
    import torch

    model.eval()
    out: list[float] = []
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            ids, labels, mask = (t.to(model.device) for t in collate(examples[i:i + batch_size], pad_id))
            head, hidden, targets, keep = answer_states(model, ids, mask, labels)
            token = token_losses(head, hidden, targets)
            rows = keep.nonzero()[:, 0]
            total = torch.zeros(len(ids), device=token.device).index_add_(0, rows, token)
            count = torch.zeros(len(ids), device=token.device).index_add_(0, rows, torch.ones_like(token))
            out += (total / count.clamp(min=1)).tolist()
    model.train()
    return out


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


def mean_loss(model, examples, pad_id: int, batch_size: int = 16) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            ids, labels, mask = (t.to(model.device) for t in collate(examples[i:i + batch_size], pad_id))
            total += float(answer_loss(model, ids, mask, labels)) * len(ids)
            count += len(ids)
    model.train()
    return total / max(count, 1)


def train(job: TrainJob | dict, out_dir: Path) -> dict:
    import torch

    from tools.worker.backends import load_trainable
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
    started = time.time()  # train_s covers all the loop's work, the validation losses included
    curve, val_curve, tokens, step = [], [mean_loss(model, val_set, pad)], 0, 0
    progress = ProgressLog(out_dir)  # live loss for the parent (tools/run/progress_events.py)
    progress.write("job_phase", phase="training", steps=steps_total, val_loss=round(val_curve[0], 5))
    model.train()
    for epoch in range(epochs):
        order = epoch_order(len(train_set), rng, hardness)  # a curriculum runs every epoch easy to hard
        for i in range(0, len(order), bs):
            ids, labels, mask = (t.to(model.device) for t in collate([train_set[j] for j in order[i:i + bs]], pad))
            with autocast(model):
                loss = answer_loss(model, ids, mask, labels)
            if not torch.isfinite(loss):
                raise DivergedError(f"loss became {float(loss.detach())} at step {step} (lr {cfg['lr']})")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad()
            tokens += int(mask.sum())
            step += 1
            curve.append([step, round(float(loss.detach()), 5)])
            progress.write("train_loss", step=step, steps=steps_total, epoch=epoch + 1, loss=curve[-1][1])
            if step % 10 == 0 or step == steps_total:
                print(f"step {step}/{steps_total} loss {float(loss.detach()):.4f} "
                      f"({(time.time() - started) / step:.2f} s/step)", flush=True)
        val_curve.append(mean_loss(model, val_set, pad))
        progress.write("val_loss", epoch=epoch + 1, val_loss=round(val_curve[-1], 5))
        if not math.isfinite(val_curve[-1]):
            raise DivergedError(f"validation loss became {val_curve[-1]} after epoch {epoch + 1}")
    train_s = time.time() - started
    full = cfg.get("method", "lora") == "full"
    # A full fine-tune saves the whole model (plus tokenizer) where an adapter would go; loaders tell them
    # apart by config.json vs adapter_config.json.
    adapter = out_dir / ("model" if full else "adapter")
    model.save_pretrained(adapter)
    if full:
        tokenizer.save_pretrained(adapter)
    result = {"status": "ok", "adapter": str(adapter), "loss_curve": curve, "val_loss": [round(v, 5) for v in val_curve],
              "steps": step, "tokens": tokens, "train_examples": len(train_set),
              "max_seq_length": seq_len, "examples_cut": cut, "train_s": round(train_s, 2),
              "tokens_per_s": round(tokens / max(train_s, 1e-9), 1), "backend": backend,
              "method": cfg.get("method", "lora"), "warm_start_from": job.init_adapter,
              "device": str(model.device), "gradient_checkpointing": checkpointing, "gpu_hours": round(train_s / 3600, 5) if model.device.type == "cuda" else 0.0}
    if filtered is not None:
        result["loss_filter"] = filtered
    if hardness is not None:
        result["curriculum"] = {"order": job.curriculum, "easiest": round(min(hardness), 4),
                                "hardest": round(max(hardness), 4)}
    if model.device.type == "cuda":
        result["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    if job.score and backend != "unsloth":
        # Score the validation split while the model is in memory: saves a process start and a model load. Not
        # after Unsloth: its class-level patches (tuple caches, a fast path that asserts one new token) break
        # scoring several label tokens at once, so the evaluate step scores in a plain process, as test is.
        from tools.worker.scoring import score_model

        scorer = model if full else model.merge_and_unload()
        result["val_eval"] = score_model(scorer, tokenizer, ScoreJob(task, cfg, job.score.eval_path,
                                                                     job.score.max_examples))
    return result
