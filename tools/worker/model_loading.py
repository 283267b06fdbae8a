"""What every worker job starts with: its seed, its device, the base model (+ adapter) and its data files."""
from __future__ import annotations

import json
import random
from pathlib import Path


def read_jsonl(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def seed_everything(seed: int) -> None:
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


def load_model(job: dict, adapter: str | None = None, trainable: bool = False, **load_kwargs):
    """Base model (+ LoRA adapter) on the job's device. An "adapter" directory that holds a whole model
    (config.json: a full fine-tune) is loaded as the model itself."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tools.models.base_models import resolve_model_dir

    model_dir = resolve_model_dir(job["base_model"], job["cache_dir"])
    if adapter and (Path(adapter) / "config.json").is_file():
        model_dir, adapter = adapter, None
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = _device(job.get("device", "auto"))
    if load_kwargs.get("quantization_config") is not None:
        load_kwargs["device_map"] = {"": device}  # bitsandbytes places weights itself
    model = AutoModelForCausalLM.from_pretrained(model_dir, **{k: v for k, v in load_kwargs.items() if v is not None})
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=trainable)
    return (model if "device_map" in load_kwargs else model.to(device)), tokenizer
