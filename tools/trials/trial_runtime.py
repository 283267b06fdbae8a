"""Where a trial will run, as part of its cache key: the backend (peft or unsloth), the device (cpu or cuda) and
the numeric precision they imply. An Unsloth adapter (its own dropout, kernels, bf16) and a PEFT adapter trained
on a CPU are different results; before, one was reused for the other.

The graph's process never imports torch: with device "auto" a short child process asks torch once per process
whether CUDA is there. With Ray, trials run on the cluster's nodes: this is the head's view (say device=cuda
when the nodes have GPUs and the head has none).
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from functools import lru_cache

from tools.worker.backends import BackendUnavailable, choose_backend

CPU_PEFT = {"backend": "peft", "device": "cpu", "dtype": "float32"}  # what keys meant before this existed


@lru_cache(maxsize=1)
def cuda_present() -> bool:
    """torch.cuda.is_available(), asked in a child process (torch stays out of this one); False on any error."""
    try:
        out = subprocess.run([sys.executable, "-c", "import torch; print(int(torch.cuda.is_available()))"],
                             capture_output=True, text=True, timeout=120)
        return out.stdout.strip() == "1"
    except (OSError, subprocess.SubprocessError):
        return False


def trial_runtime(device: str, backend: str, method: str = "lora") -> dict:
    """{"backend", "device", "dtype"} a trial with these settings runs with (the worker decides the same way)."""
    cuda = device == "cuda" or (device == "auto" and cuda_present())
    try:
        chosen = choose_backend(backend, method, has_cuda=cuda, has_unsloth=importlib.util.find_spec("unsloth") is not None)
    except BackendUnavailable:
        chosen = backend  # the trial will fail with the reason; its key only has to differ
    if not cuda:
        return {"backend": chosen, "device": "cpu", "dtype": "float32"}
    # On CUDA the peft loop trains float32 weights under bf16 autocast; Unsloth loads bf16 (4-bit for qlora).
    dtype = "nf4" if method == "qlora" else ("bfloat16" if chosen == "unsloth" else "float32+bf16-autocast")
    return {"backend": chosen, "device": "cuda", "dtype": dtype}


def runtime_payload(device: str, backend: str, method: str = "lora") -> dict:
    """The key's part for the runtime: empty on a CPU with PEFT, so keys made before it existed stay valid."""
    runtime = trial_runtime(device, backend, method)
    return {} if runtime == CPU_PEFT else {"runtime": json.dumps(runtime, sort_keys=True)}
