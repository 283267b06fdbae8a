"""Training throughput: TREX's loop vs a plain transformers `Trainer` and TRL's `SFTTrainer` on the same work.

Same model (SmolLM2-135M-Instruct, packaged), same examples (the bank_intents prompts, prompt masked out: TRL
gets them as prompt-completion pairs with completion_only_loss), same LoRA adapter, batch size, learning rate,
schedule and epochs. Each run is its own process; the order of the trainers rotates from repeat to repeat;
the report gives each trainer's median tokens/s and TREX's ratio to the better of the other two (goal >= 0.95).

    .venv/bin/python -m benchmarks.train_throughput [--samples 128] [--repeats 3] [--layer-fraction 0.5]

TREX's time covers everything its loop does beyond the others: a validation loss on <= 32 examples before
training and after each epoch. TRL needs `pip install trl` (the `bench` extra).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def task_records(n: int) -> tuple[dict, list[dict], list[dict]]:
    from tools.data.spec_loading import load_spec

    spec = load_spec(REPO / "tools/data/shipped/tasks/bank_intents.yaml")
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


def run_trl(cfg: dict, task: dict, train: list, cache_dir: str, work: Path) -> dict:
    """TRL's SFTTrainer on prompt-completion pairs (the prompts TREX renders), loss on the completion only."""
    import torch
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from tools.worker.backends import _lora_config
    from tools.worker.model_loading import load_model, seed_everything
    from tools.worker.prompting import render_prompt

    seed_everything(cfg["seed"])
    model, tok = load_model({"base_model": MODEL, "cache_dir": cache_dir, "device": "cpu"})
    model = get_peft_model(model, _lora_config(cfg, model.config.num_hidden_layers))
    rows = [{"prompt": render_prompt(tok, cfg["template"], task["instruction"], r["input"], task["labels"]),
             "completion": r["output"]} for r in train]
    random.Random(cfg["seed"]).shuffle(rows)

    class Timer(TrainerCallback):
        def on_train_begin(self, *a, **k):
            self.start = time.time()

        def on_train_end(self, *a, **k):
            self.seconds = time.time() - self.start

    timer = Timer()
    warmup = max(1, -(-len(rows) // cfg["batch_size"]) * cfg["epochs"] // 10)
    args = SFTConfig(output_dir=str(work / "trl"), per_device_train_batch_size=cfg["batch_size"],
                     num_train_epochs=cfg["epochs"], learning_rate=cfg["lr"], warmup_steps=warmup,
                     lr_scheduler_type="linear", max_grad_norm=1.0, weight_decay=0.01, logging_steps=10,
                     save_strategy="no", report_to=[], use_cpu=True, seed=cfg["seed"], dataloader_num_workers=0,
                     max_length=SEQ_LEN, completion_only_loss=True, packing=False, shuffle_dataset=False,
                     # TRL's defaults are bf16 autocast and gradient checkpointing: off, as in the other two runs
                     # (on 2 CPU cores its defaults were about 50x slower in a first try)
                     bf16=False, gradient_checkpointing=False)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                         callbacks=[timer])
    tokens = sum(len(x) for x in trainer.train_dataset["input_ids"]) * cfg["epochs"]
    torch.manual_seed(cfg["seed"])
    result = trainer.train()
    return {"tokens": tokens, "seconds": timer.seconds, "final_loss": result.training_loss}


RUNNERS = ("trex", "plain_trainer", "trl_sft")
SEQ_LEN = 1024  # TRL cuts at max_length; TREX cuts nothing by default: longer than any example here


def run_one(name: str, cfg: dict, cache_dir: str) -> dict:
    """One trainer's run in this process (called in a fresh process per run by main)."""
    task, train, val = task_records(cfg["max_samples"])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if name == "trex":
            out = run_trex(cfg, task, train, val, cache_dir, work)
        elif name == "plain_trainer":
            out = run_plain_trainer(cfg, task, train, cache_dir, work)
        else:
            out = run_trl(cfg, task, train, cache_dir, work)
    return {**out, "tokens_per_s": round(out["tokens"] / out["seconds"], 1)}


def _in_fresh_process(name: str, cfg: dict, cache_dir: str) -> dict:
    code = ("import json, sys; from benchmarks.train_throughput import run_one; "
            "print('RESULT ' + json.dumps(run_one(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3])))")
    out = subprocess.run([sys.executable, "-c", code, name, json.dumps(cfg), cache_dir], cwd=REPO,
                         capture_output=True, text=True)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if out.returncode or line is None:
        return {"error": (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no result"]}
    return json.loads(line[len("RESULT "):])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--layer-fraction", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trainers", default=",".join(RUNNERS))
    parser.add_argument("--out", help="also write the JSON report to this file")
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "trex"))
    args = parser.parse_args(argv)
    cfg = {"lr": 1e-3, "epochs": args.epochs, "lora_r": 8, "lora_alpha": 16, "batch_size": args.batch_size,
           "max_samples": args.samples, "layer_fraction": args.layer_fraction, "template": "chat", "seed": 0}
    names = [n for n in args.trainers.split(",") if n]
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(args.repeats):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate: no trainer always goes first
        for name in order:
            out = _in_fresh_process(name, cfg, args.cache_dir)
            runs[name].append({**out, "position": order.index(name)})
            print(f"repeat {r + 1}: {name}: {out.get('tokens_per_s', out.get('error'))}", flush=True)
    medians = {n: statistics.median([x["tokens_per_s"] for x in rs if "tokens_per_s" in x])
               for n, rs in runs.items() if any("tokens_per_s" in x for x in rs)}
    others = [v for n, v in medians.items() if n != "trex"]
    report = {"config": cfg, "repeats": args.repeats, "runs": runs, "median_tokens_per_s": medians,
              "ratio_trex_to_best_other": round(medians["trex"] / max(others), 3) if "trex" in medians and others else None}
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
