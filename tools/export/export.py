"""`trex export RUN_DIR --out DIR [--merge]`: the tuned model as a directory to ship.

Without --merge: the adapter, its tokenizer (with chat template), trex_model.json and a README.md; its
adapter_config names the hub base model where there is one, so PEFT and vLLM find the base anywhere.
With --merge: the base model with the adapter merged in, saved as a plain Hugging Face model (safetensors),
which `AutoModelForCausalLM.from_pretrained(DIR)` loads without TREX.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from tools.export.best_adapter import best_adapter_dir, has_tokenizer
from tools.export.export_readme import export_readme
from tools.export.manifest import read_manifest, write_manifest
from tools.models.base_models import TINY


def _fresh_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not empty: choose a new --out directory")
    out.mkdir(parents=True, exist_ok=True)


def _portable_base(adapter_dir: Path, manifest: dict) -> None:
    """Point adapter_config.json at the hub id instead of TREX's private cache copy (kept for the tiny test
    model, which has no hub id, and for a local base directory named in the spec)."""
    path = adapter_dir / "adapter_config.json"
    base = manifest["base_model"]
    if not path.is_file() or base == TINY or Path(base).expanduser().is_dir():
        return
    config = json.loads(path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def export_tuned(run_dir: str | Path, out: str | Path, merge: bool = False, device: str = "cpu") -> Path:
    """Write the run's tuned model to `out` (new or empty); returns its path."""
    source, out = best_adapter_dir(run_dir), Path(out)
    manifest = read_manifest(source)
    _fresh_dir(out)
    if merge or manifest["kind"] != "lora":
        from tools.export.tuned_model import load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(source, manifest, device)
        model.save_pretrained(out)  # safetensors: transformers' default format
        tokenizer.save_pretrained(out)
        manifest = {**manifest, "kind": "merged" if manifest["kind"] == "lora" else manifest["kind"], "tokenizer": True}
    else:
        shutil.copytree(source, out, dirs_exist_ok=True)
        _portable_base(out, manifest)
        if not has_tokenizer(out):  # the base was not local when the run ended: save its tokenizer now
            from transformers import AutoTokenizer

            from tools.export.tuned_model import base_for

            AutoTokenizer.from_pretrained(base_for(source, manifest)).save_pretrained(out)
            manifest = {**manifest, "tokenizer": True}
    write_manifest(out, manifest)
    (out / "README.md").write_text(export_readme(manifest, out), encoding="utf-8")
    return out
