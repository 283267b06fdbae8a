"""What every worker job starts with: its seed, its device, the base model (+ adapter) and its data files."""
from __future__ import annotations

import copy
import json
import os
import random
from pathlib import Path

# In a kept worker (tools/worker/kept_worker.py) the last base model loaded stays in memory: each job gets its
# own deep copy (a LoRA adapter is injected into the model it is given), and loading it again costs nothing.
_KEPT: dict[tuple, tuple] = {}
KEEP_MODEL_ENV = "TREX_KEEP_MODEL"  # set by the kept worker: keep the base model between jobs


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
    from tools.models.base_models import resolve_model_dir

    model_dir = resolve_model_dir(job["base_model"], job["cache_dir"])
    if adapter and (Path(adapter) / "config.json").is_file():
        model_dir, adapter = adapter, None
    device = _device(job.get("device", "auto"))
    if load_kwargs.get("quantization_config") is not None:
        load_kwargs["device_map"] = {"": device}  # bitsandbytes places weights itself
    load_kwargs = {k: v for k, v in load_kwargs.items() if v is not None}
    model, tokenizer = _base(model_dir, load_kwargs)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=trainable)
    return (model if "device_map" in load_kwargs else model.to(device)), tokenizer


def _load_base(model_dir: str, load_kwargs: dict):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return AutoModelForCausalLM.from_pretrained(model_dir, **load_kwargs), tokenizer


def _base(model_dir: str, load_kwargs: dict):
    """The base model and tokenizer: loaded, or (in a kept worker, unquantized) copied from the kept one."""
    if os.environ.get(KEEP_MODEL_ENV) != "1" or load_kwargs:
        return _load_base(model_dir, load_kwargs)
    # A model directory built again (tools/models/base_models.py renames a new one into place) is a new model.
    key = (model_dir, *((os.stat(model_dir).st_ino, os.stat(model_dir).st_mtime_ns) if os.path.isdir(model_dir) else ()))
    if key not in _KEPT:
        _KEPT.clear()  # one base model at a time: a run trains one
        _KEPT[key] = _load_base(model_dir, {})
    model, tokenizer = _KEPT[key]
    return copy.deepcopy(model), copy.deepcopy(tokenizer)
