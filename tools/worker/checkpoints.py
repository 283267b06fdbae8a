"""Epoch checkpoints of a trial, so a killed trial resumes from its last complete epoch instead of step 0.

A checkpoint is a directory `checkpoints/epoch-NNNN` in the trial's own directory holding the trainable weights,
the best point's weights (when the best is not this epoch's end), the optimiser, scheduler and random states, the
loop's counters and a manifest of every file's sha256. It is written under a temporary name and renamed into
place, so a kill leaves either the whole checkpoint or none; a checkpoint whose manifest does not match, or that
another job wrote (its fingerprint), is ignored with a warning and never loaded. Only the newest is kept; a
finished trial deletes them all (its kept adapter is what remains).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

DIR = "checkpoints"
FILES = ("weights.safetensors", "train_state.pt", "state.json")
BEST = "best.safetensors"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fingerprint(job) -> str:
    """What makes two jobs the same trial: everything but where and how much memory it runs with, and where it
    pauses (a paused trial continued later is the same training)."""
    body = {k: v for k, v in job.to_dict().items()
            if k not in ("out_dir", "memory_mb", "gradient_checkpointing", "pause_after")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def warn(text: str) -> None:
    print(f"WARNING: {text}", file=sys.stderr, flush=True)


def save(out_dir: Path, epoch: int, weights: dict, best_weights: dict | None, train_state: dict, state: dict) -> Path:
    """Write epoch `epoch`'s checkpoint atomically, then drop older ones; returns its directory."""
    import torch
    from safetensors.torch import save_file

    root = Path(out_dir) / DIR
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-epoch-{epoch:04d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp / FILES[0]))
    if best_weights is not None:
        save_file({k: v.contiguous() for k, v in best_weights.items()}, str(tmp / BEST))
    torch.save(train_state, tmp / FILES[1])
    (tmp / FILES[2]).write_text(json.dumps({**state, "epoch": epoch}), encoding="utf-8")
    names = [*FILES, *((BEST,) if best_weights is not None else ())]
    for name in names:
        _fsync(tmp / name)
    (tmp / "manifest.json").write_text(json.dumps({n: _sha256(tmp / n) for n in names}), encoding="utf-8")
    _fsync(tmp / "manifest.json")
    final = root / f"epoch-{epoch:04d}"
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)  # the checkpoint appears whole, or not at all
    _fsync(root)
    for old in root.glob("epoch-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def _problem(ck: Path, fp: str) -> str | None:
    """Why a checkpoint directory must not be loaded, or None."""
    try:
        manifest = json.loads((ck / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no readable manifest (written only partly)"
    if not isinstance(manifest, dict) or not set(FILES) <= set(manifest):
        return "an incomplete manifest"
    for name, digest in manifest.items():
        path = ck / name
        if not path.is_file() or _sha256(path) != digest:
            return f"{name} is missing or does not match its checksum"
    try:
        state = json.loads((ck / "state.json").read_text(encoding="utf-8"))
    except ValueError:
        return "state.json is not JSON"
    if state.get("fingerprint") != fp:
        return "it belongs to another job (its settings differ)"
    return None


def latest(out_dir: Path, fp: str) -> tuple[Path, dict] | None:
    """The newest sound checkpoint of this job and its state; every unsound one is reported and removed."""
    root = Path(out_dir) / DIR
    if not root.is_dir():
        return None
    for tmp in root.glob(".tmp-*"):  # a save that was killed half-way
        warn(f"ignoring the half-written checkpoint {tmp.name}")
        shutil.rmtree(tmp, ignore_errors=True)
    for ck in sorted(root.glob("epoch-*"), reverse=True):
        why = _problem(ck, fp)
        if why is None:
            return ck, json.loads((ck / "state.json").read_text(encoding="utf-8"))
        warn(f"ignoring checkpoint {ck.name}: {why}; not loaded")
        shutil.rmtree(ck, ignore_errors=True)
    return None


def load(ck: Path) -> tuple[dict, dict | None, dict]:
    """(trainable weights, best weights or None, the optimiser/scheduler/random states) of a sound checkpoint."""
    import torch
    from safetensors.torch import load_file

    best = load_file(str(ck / BEST)) if (ck / BEST).is_file() else None
    return load_file(str(ck / FILES[0])), best, torch.load(ck / FILES[1], weights_only=False)


def clear(out_dir: Path) -> None:
    """A finished trial keeps its adapter only."""
    shutil.rmtree(Path(out_dir) / DIR, ignore_errors=True)


def save_checkpoint(out_dir: Path, fp: str, model, optim, sched, rng, curve, loop: dict) -> Path:
    """The training loop's state at an epoch end (tools/worker/lora_training.py): weights, the best point's
    weights when it is an earlier point, optimiser, scheduler, Python and torch random states, counters, curve."""
    import torch

    from tools.worker.learning_curve import trainable_state

    best_is_now = bool(curve.points) and curve.best is curve.points[-1]
    train_state = {"optim": optim.state_dict(), "sched": sched.state_dict(), "py_rng": rng.getstate(),
                   "torch_rng": torch.get_rng_state(),
                   "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    state = {"fingerprint": fp, "loop": loop, "curve": curve.state(), "best_is_now": best_is_now}
    ck = save(out_dir, loop["epoch"], trainable_state(model), None if best_is_now else curve.best_weights,
              train_state, state)
    print(f"checkpoint saved: {ck.name} (step {loop['step']}, {loop['tokens']} tokens)", flush=True)
    return ck


def resume(out_dir: Path, fp: str, model, optim, sched, rng, curve, loop: dict) -> dict | None:
    """Restore the newest sound checkpoint of this trial into the loop's objects; its state, or None."""
    import torch

    from tools.worker.learning_curve import load_trainable_state

    found = latest(out_dir, fp)
    if found is None:
        return None
    ck, state = found
    weights, best, train_state = load(ck)
    load_trainable_state(model, weights)
    optim.load_state_dict(train_state["optim"])
    sched.load_state_dict(train_state["sched"])
    rng.setstate(train_state["py_rng"])
    torch.set_rng_state(train_state["torch_rng"])
    if train_state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(train_state["cuda_rng"])
    loop.update(state["loop"])
    curve.restore(state["curve"], weights if state["best_is_now"] else best)
    print(f"resuming from the end of epoch {state['epoch']} ({ck.name}): step {loop['step']}, "
          f"{loop['tokens']} tokens already trained", flush=True)
    return state
