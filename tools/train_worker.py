"""Entry point of one training or evaluation subprocess: `python -m tools.train_worker JOB.json`.

Runs out of the graph's process so a crash, a NaN or a hang costs one trial, never the run. Writes
result.json next to the job file; the launcher turns a missing result or a non-zero exit into a
failed trial.
"""
from __future__ import annotations

import json
import random
import resource
import sys
import time
from pathlib import Path


def _read_jsonl(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def load_model(job: dict, adapter: str | None = None, trainable: bool = False):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tools.base_models import resolve_model_dir

    model_dir = resolve_model_dir(job["base_model"], job["cache_dir"])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=trainable)
    return model.to(_device(job.get("device", "auto"))), tokenizer


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    out_dir = Path(job["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    _seed_everything(int(job.get("config", {}).get("seed", 0)))
    if job["mode"] == "train":
        from tools.lora_training import train

        result = train(job, out_dir)
    elif job["mode"] == "eval":
        from tools.scoring import evaluate

        result = evaluate(job)
    else:
        raise ValueError(f"unknown job mode {job['mode']!r}")
    result.update(wall_s=round(time.time() - started, 2), peak_memory_mb=round(peak_memory_mb(), 1))
    (out_dir / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
