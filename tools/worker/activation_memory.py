"""Whether a trial recomputes its decoder layers' activations in the backward pass (gradient checkpointing).

Long examples in large batches keep more activations for the backward pass than the machine holds: LawBench's
batch of 32 x 256 tokens on SmolLM2-135M peaked at 19.3 GB with every layer trained, against 7.8 GB with
checkpointing, at 1.18 x the time per step, the same losses (benchmarks/train_memory.py). "auto" turns it on
only when the estimate below is over half the memory this trial can use, so short-example tasks keep their speed.
Recomputation replays each layer's dropout with the saved random state, so the result does not depend on it:
it is an execution setting, not part of a trial's key.
"""
from __future__ import annotations

from pathlib import Path

SETTINGS = ("auto", "on", "off")
# Bytes a trained layer keeps per token and hidden unit, measured on SmolLM2-135M in float32 (batch 32 x 256,
# 30 layers, hidden 576: 19.3 GB at peak, about 34 float32 numbers per token x layer x hidden unit). Its
# attention scores grow with the sequence, so longer sequences need more; "auto" keeps a factor 2 in hand.
BYTES_PER_TOKEN_LAYER_UNIT = 136
AUTO_SHARE = 0.5  # "auto" checkpoints when the estimate is over this share of the memory available


def estimate_mb(tokens_per_batch: int, trained_layers: int, hidden_size: int, dtype_bytes: int = 4) -> float:
    """Activation memory one training step keeps for the backward pass, in MiB."""
    per_unit = BYTES_PER_TOKEN_LAYER_UNIT * dtype_bytes / 4
    return tokens_per_batch * trained_layers * hidden_size * per_unit / 2**20


def _kib_field(path: str, name: str) -> float | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_mb(device: str, cap_mb: int = 0) -> float | None:
    """Memory this trial can still use, in MiB: free GPU memory, else the kernel's MemAvailable; with a trial
    cap (trial_memory_mb, an address-space limit) no more than the cap less this process's address space now.
    None when it cannot be read."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.mem_get_info()[0] / 2**20
    free = _kib_field("/proc/meminfo", "MemAvailable")
    if cap_mb > 0:
        used = _kib_field("/proc/self/status", "VmSize") or 0.0
        free = min(x for x in (free, max(0.0, cap_mb - used)) if x is not None)
    return free


def decide(setting: str, estimate: float, available: float | None) -> bool:
    """On or off for this trial. Raises ValueError for an unknown setting."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown gradient_checkpointing {setting!r}; choose one of {', '.join(SETTINGS)}")
    if setting != "auto":
        return setting == "on"
    return available is not None and estimate > AUTO_SHARE * available


def trained_layers(num_layers: int, cfg: dict) -> int:
    """Decoder layers the backward pass runs through: all for a full fine-tune, else the adapted top fraction
    (tools/worker/backends.adapted_layers); the frozen ones below keep no activations."""
    if cfg.get("method", "lora") == "full":
        return num_layers
    fraction = float(cfg.get("layer_fraction", 1.0))
    return num_layers if fraction >= 1.0 else max(1, round(num_layers * fraction))


def apply(model, on: bool) -> None:
    """Turn checkpointing on or off on this model (a kept worker's model copy starts without it). Non-reentrant
    checkpointing needs no input that requires grad, so LoRA on the top layers only works unchanged."""
    if on:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    elif getattr(model, "is_gradient_checkpointing", False):
        model.gradient_checkpointing_disable()
