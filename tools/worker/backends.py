"""Training backends behind one interface: which one runs a trial, and how it builds the trainable model.

- peft: transformers + PEFT on the CPU or a GPU; methods lora, qlora (bitsandbytes, CUDA only) and full.
- unsloth: Unsloth's FastLanguageModel on a CUDA GPU (lora, qlora); imported only when chosen.
"auto" picks unsloth when a CUDA GPU is present and unsloth is installed, peft otherwise.
Everything here runs inside the trial subprocess, never in the graph's process.
"""
from __future__ import annotations

import importlib.util

from trex.jobs import TrainJob
from trex.trial_config import FIELDS, lora_alpha, value

BACKENDS = ("auto", "peft", "unsloth")
METHODS = FIELDS["method"].choices
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj"]


class BackendUnavailable(RuntimeError):
    """The requested backend or method cannot run on this machine; the trial fails with this reason."""


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def choose_backend(requested: str, method: str = "lora", has_cuda: bool | None = None,
                   has_unsloth: bool | None = None) -> str:
    """The backend that will run a trial; raises BackendUnavailable with the reason when none can."""
    if requested not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {requested!r}; known: {', '.join(BACKENDS)}")
    if method not in METHODS:
        raise BackendUnavailable(f"unknown training method {method!r}; known: {', '.join(METHODS)}")
    has_cuda = cuda_available() if has_cuda is None else has_cuda
    has_unsloth = unsloth_installed() if has_unsloth is None else has_unsloth
    if method == "qlora" and not has_cuda:
        raise BackendUnavailable("qlora needs a CUDA GPU (bitsandbytes 4-bit); use method lora on the CPU")
    if requested == "unsloth":
        if not has_cuda:
            raise BackendUnavailable("the unsloth backend needs a CUDA GPU; use backend peft (or auto) on the CPU")
        if not has_unsloth:
            raise BackendUnavailable("the unsloth backend is not installed: pip install 'trex-finetune[gpu]'")
    if requested == "auto":
        requested = "unsloth" if has_cuda and has_unsloth and method != "full" else "peft"
    if requested == "unsloth" and method == "full":
        raise BackendUnavailable("full fine-tuning runs on the peft backend, not unsloth")
    return requested


def adapted_layers(num_layers: int, fraction: float) -> list[int] | None:
    """Indices of the top `fraction` of decoder layers. Autograd then never back-propagates through the
    frozen layers below them, which is what makes LoRA affordable on a CPU."""
    if fraction >= 1.0:
        return None
    k = max(1, round(num_layers * fraction))
    return list(range(num_layers - k, num_layers))


def lora_dropout(cfg: dict) -> float:
    """The trial's LoRA dropout: one meaning for every backend (the trial table's default when unset)."""
    return float(value(cfg, "lora_dropout"))


def _lora_config(cfg: dict, num_layers: int):
    from peft import LoraConfig

    return LoraConfig(r=int(cfg["lora_r"]), lora_alpha=lora_alpha(cfg), lora_dropout=lora_dropout(cfg),
                      target_modules=TARGET_MODULES, task_type="CAUSAL_LM",
                      layers_to_transform=adapted_layers(num_layers, float(cfg.get("layer_fraction", 1.0))))


def _load_peft(job: TrainJob, cfg: dict, method: str):
    from peft import get_peft_model

    from tools.worker.model_loading import load_model

    init = job.init_adapter
    if method == "full":
        model, tok = load_model(job.model_source(), adapter=init)  # a warm start from a full model loads it as the base
        for p in model.parameters():
            p.requires_grad_(True)
        return model, tok
    quant = None
    if method == "qlora":
        import torch
        from transformers import BitsAndBytesConfig

        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                   bnb_4bit_compute_dtype=torch.bfloat16)
    model, tok = load_model(job.model_source(), adapter=init, trainable=True, quantization_config=quant)
    if quant is not None and not init:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    if not init:
        model = get_peft_model(model, _lora_config(cfg, model.config.num_hidden_layers))
    return model, tok


def unsloth_length(job: TrainJob) -> int:
    """Unsloth's max_seq_length: the spec's, else the base model's own position limit. It bounds what Unsloth
    accepts; what an example keeps is decided by the training loop (tools/worker/sequence_length.py), as on PEFT."""
    from transformers import AutoConfig

    from tools.models.base_models import resolve_model_dir
    from tools.worker.sequence_length import model_positions

    if job.task.get("max_seq_length"):
        return int(job.task["max_seq_length"])
    return model_positions(AutoConfig.from_pretrained(resolve_model_dir(job.base_model, job.cache_dir)))


def _load_unsloth(job: TrainJob, cfg: dict, method: str):  # pragma: no cover - needs a CUDA GPU
    from unsloth import FastLanguageModel

    from tools.models.base_models import resolve_model_dir

    source = job.init_adapter or resolve_model_dir(job.base_model, job.cache_dir)
    model, tok = FastLanguageModel.from_pretrained(model_name=source, max_seq_length=unsloth_length(job), dtype=None,
                                                   load_in_4bit=method == "qlora")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not job.init_adapter:
        model = FastLanguageModel.get_peft_model(
            model, r=int(cfg["lora_r"]), lora_alpha=lora_alpha(cfg), lora_dropout=lora_dropout(cfg),
            target_modules=TARGET_MODULES, use_gradient_checkpointing="unsloth",
            random_state=int(cfg.get("seed", 0)),
            layers_to_transform=adapted_layers(model.config.num_hidden_layers, float(cfg.get("layer_fraction", 1.0))))
    return model, tok


def load_trainable(job: TrainJob, cfg: dict) -> tuple:
    """(model with trainable parameters, tokenizer, backend name) for this trial."""
    method = cfg.get("method", "lora")
    backend = choose_backend(job.backend, method)
    loader = _load_unsloth if backend == "unsloth" else _load_peft
    model, tok = loader(job, cfg, method)
    return model, tok, backend
