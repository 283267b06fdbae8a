"""Peak memory of TREX's training step on long answers: the output head's logits in one piece vs in chunks.

LawBench-shaped work on the packaged SmolLM2-135M-Instruct (49k-word vocabulary): a batch of `--batch` examples
of `--seq` tokens, `--answer` of them answer tokens, LoRA on `--layer-fraction` of the layers. Each setting runs
`--steps` optimiser steps in its own fresh process; the report gives the process's peak resident memory
(VmHWM) less its resident memory before the first step (model loaded, data built), the seconds per step and
the losses, so the two ways can be checked to compute the same thing.

    .venv/bin/python -m benchmarks.train_memory [--batch 32] [--seq 256] [--answer 200] [--steps 2] [--repeats 1]

`--chunk-rows 0` is the one-piece head (every answer token of the batch at once, as before chunking); the
default compares it with tools.worker.lora_training.LOSS_CHUNK_ROWS.
"""
from __future__ import annotations

import argparse
import json
import statistics
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def resident_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def one_setting(args) -> dict:
    """Runs in the child: load, build the batch, train `steps` steps, report memory and losses."""
    import torch

    from tools.worker import lora_training
    from tools.worker.backends import load_trainable
    from tools.worker.model_loading import seed_everything

    from trex.context import Context
    from trex.jobs import TrainJob

    seed_everything(0)
    cfg = {"lr": 1e-4, "lora_r": 8, "lora_alpha": 16, "layer_fraction": args.layer_fraction, "seed": 0}
    job = TrainJob(base_model=MODEL, cache_dir=Context().cache_dir, device="cpu", backend="peft", task={},
                   config=cfg, train_path="", val_path="")
    model, _, _ = load_trainable(job, cfg)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    gen = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (args.batch, args.seq), generator=gen)
    labels = ids.clone()
    labels[:, : args.seq - args.answer] = -100  # the prompt is not learned
    mask = torch.ones_like(ids)
    chunk = args.chunk_rows if args.chunk_rows > 0 else args.batch * args.seq  # 0: every row in one piece
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg["lr"])
    model.train()
    before = resident_mb("VmRSS")
    losses, started = [], time.time()
    for _ in range(args.steps):
        loss = lora_training.answer_loss(model, ids, mask, labels, chunk=chunk)
        loss.backward()
        optim.step()
        optim.zero_grad()
        losses.append(round(float(loss.detach()), 6))
    return {"chunk_rows": args.chunk_rows, "answer_rows": args.batch * (args.answer - 1),
            "peak_mb": round(resident_mb("VmHWM"), 1), "before_mb": round(before, 1),
            "step_peak_mb": round(resident_mb("VmHWM") - before, 1),
            "s_per_step": round((time.time() - started) / args.steps, 2), "losses": losses}


def main() -> None:
    from tools.worker.lora_training import LOSS_CHUNK_ROWS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--answer", type=int, default=200)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--layer-fraction", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--chunk-rows", type=int, default=None, help="run only this setting (0 = one piece)")
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_setting(args)))
        return
    settings = [args.chunk_rows] if args.chunk_rows is not None else [0, LOSS_CHUNK_ROWS]
    rows = []
    for r in range(args.repeats):
        for chunk in settings if r % 2 == 0 else settings[::-1]:  # alternate the order from repeat to repeat
            cmd = [sys.executable, "-m", "benchmarks.train_memory", "--child", "--chunk-rows", str(chunk)] + [
                f"--{k}={getattr(args, k.replace('-', '_'))}" for k in ("batch", "seq", "answer", "steps", "layer-fraction")] + (
                ["--gradient-checkpointing"] if args.gradient_checkpointing else [])
            done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            if done.returncode != 0:
                # A setting that does not fit is a result, not a crash: the kernel's OOM killer sends SIGKILL.
                why = "killed (out of memory)" if done.returncode == -signal.SIGKILL else f"failed: {done.stderr.strip()[-300:]}"
                rows.append({"chunk_rows": chunk, "failed": why})
            else:
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    for chunk in settings:
        mine = [r for r in rows if r["chunk_rows"] == chunk and "failed" not in r]
        if not mine:
            print(f"chunk_rows {chunk or 'all'}: {next(r['failed'] for r in rows if r['chunk_rows'] == chunk)}")
            continue
        print(f"chunk_rows {chunk or 'all'}: step peak {statistics.median(r['step_peak_mb'] for r in mine):.0f} MB "
              f"over {mine[0]['before_mb']:.0f} MB loaded, {statistics.median(r['s_per_step'] for r in mine):.1f} s/step, "
              f"losses {mine[0]['losses']}")


if __name__ == "__main__":
    main()
