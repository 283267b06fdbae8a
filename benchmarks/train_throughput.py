"""Training throughput: TREX's CPU backend vs a plain transformers `Trainer` on the same work.

Same model (SmolLM2-135M-Instruct, packaged), same tokenized examples (the bank_intents prompts with the
prompt masked out), same LoRA adapter, batch size, learning rate, schedule and epochs. Reports tokens/s
of each and their ratio (goal: TREX >= 0.95x the plain Trainer).

    .venv/bin/python -m benchmarks.train_throughput [--samples 64] [--epochs 1] [--layer-fraction 1.0]

TREX's number includes what its loop does beyond the Trainer: a validation loss on <= 32 examples
before training and after each epoch.
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def task_records(n: int) -> tuple[dict, list[dict], list[dict]]:
    from tools.data.spec_loading import load_spec

    spec = load_spec(REPO / "ftbench/tasks/bank_intents.yaml")
    rows = [json.loads(x) for x in spec.data_path(spec.data[0]).read_text().splitlines()]
    records = [{"input": r["text"], "output": r["intent"]} for r in rows]
    task = {"task_type": spec.task_type, "instruction": spec.instruction, "labels": spec.labels,
            "metric": spec.metric, "max_new_tokens": spec.max_new_tokens}
    return task, records[:n], records[n:n + 32]


def run_trex(cfg: dict, task: dict, train: list, val: list, cache_dir: str, work: Path) -> dict:
    from tools.worker.lora_training import train as trex_train
    from tools.worker.model_loading import seed_everything

    for name, recs in (("train", train), ("val", val)):
        (work / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    seed_everything(cfg["seed"])
    job = {"base_model": MODEL, "cache_dir": cache_dir, "device": "cpu", "backend": "peft", "task": task,
           "config": cfg, "train_path": str(work / "train.jsonl"), "val_path": str(work / "val.jsonl")}
    out = trex_train(job, work / "trex")
    return {"tokens": out["tokens"], "seconds": out["train_s"], "final_loss": out["loss_curve"][-1][1]}


def run_plain_trainer(cfg: dict, task: dict, train: list, cache_dir: str, work: Path) -> dict:
    """What a user would write: Trainer + PEFT on the same tokenized examples."""
    import torch
    from peft import get_peft_model
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from tools.worker.backends import _lora_config
    from tools.worker.lora_training import collate, encode_split
    from tools.worker.model_loading import load_model, seed_everything

    seed_everything(cfg["seed"])
    model, tok = load_model({"base_model": MODEL, "cache_dir": cache_dir, "device": "cpu"})
    model = get_peft_model(model, _lora_config(cfg, model.config.num_hidden_layers))
    examples = encode_split(tok, train, task, cfg["template"])
    random.Random(cfg["seed"]).shuffle(examples)
    dataset = [{"ids": ids, "labels": labels} for ids, labels in examples]
    counted = {"tokens": 0}

    def collator(batch):
        ids, labels, mask = collate([(b["ids"], b["labels"]) for b in batch], tok.pad_token_id)
        counted["tokens"] += int(mask.sum())
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    class Timer(TrainerCallback):
        def on_train_begin(self, *a, **k):
            self.start = time.time()

        def on_train_end(self, *a, **k):
            self.seconds = time.time() - self.start

    timer = Timer()
    warmup = max(1, -(-len(dataset) // cfg["batch_size"]) * cfg["epochs"] // 10)  # as TREX's loop does
    args = TrainingArguments(output_dir=str(work / "plain"), per_device_train_batch_size=cfg["batch_size"],
                             num_train_epochs=cfg["epochs"], learning_rate=cfg["lr"], warmup_steps=warmup,
                             lr_scheduler_type="linear", max_grad_norm=1.0, weight_decay=0.01, logging_steps=10,
                             save_strategy="no", report_to=[], use_cpu=True, seed=cfg["seed"],
                             dataloader_num_workers=0, remove_unused_columns=False)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator, callbacks=[timer])
    torch.manual_seed(cfg["seed"])
    result = trainer.train()
    return {"tokens": counted["tokens"], "seconds": timer.seconds, "final_loss": result.training_loss}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--layer-fraction", type=float, default=1.0)
    parser.add_argument("--out", help="also write the JSON report to this file")
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "trex"))
    args = parser.parse_args(argv)
    cfg = {"lr": 1e-3, "epochs": args.epochs, "lora_r": 8, "lora_alpha": 16, "batch_size": args.batch_size,
           "max_samples": args.samples, "layer_fraction": args.layer_fraction, "template": "chat", "seed": 0}
    task, train, val = task_records(args.samples)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plain = run_plain_trainer(cfg, task, train, args.cache_dir, work)
        trex = run_trex(cfg, task, train, val, args.cache_dir, work)
    for r in (plain, trex):
        r["tokens_per_s"] = round(r["tokens"] / r["seconds"], 1)
    report = {"config": cfg, "plain_trainer": plain, "trex": trex,
              "ratio_tokens_per_s": round(trex["tokens_per_s"] / plain["tokens_per_s"], 3)}
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
