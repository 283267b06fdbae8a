"""load_tuned(RUN_DIR): the tuned model of a run, answering new inputs exactly as TREX's test scoring did.

    from tools.export import load_tuned
    model = load_tuned("runs/bank_intents-20260101-120000")   # or a best_adapter/ or `trex export` dir
    model.predict(["I lost my card", "what's my balance?"])    # -> ["card_lost", "balance"]

The prompts, the label choice and the generation are the worker's own functions (tools/worker/scoring.py),
so a prediction here is the prediction the run scored. torch, transformers and peft load on first use.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tools.export.best_adapter import best_adapter_dir, has_tokenizer
from tools.export.manifest import read_manifest


@dataclass
class TunedModel:
    model: object  # a transformers causal LM, the adapter merged into it
    tokenizer: object
    manifest: dict  # trex_model.json (tools/export/manifest.py)
    path: Path

    @property
    def labels(self) -> list[str]:
        return self.manifest["task"].get("labels") or []

    def prompt(self, item: str | list[dict]) -> str:
        """The prompt TREX builds for one input: a text, or a chat (a list of {role, content}) to answer next."""
        from tools.worker.scoring import record_prompt

        # A chat ends where its next assistant turn begins: an empty one marks it, as a reference does in scoring.
        record = {"messages": [*item, {"role": "assistant", "content": ""}]} if isinstance(item, list) else {"input": item}
        return record_prompt(self.tokenizer, self.manifest["prompt"]["template"], self.manifest["task"], record)

    def predict(self, inputs: list[str | list[dict]]) -> list[str]:
        """One answer per input: a label of the task (choice scoring) or the greedy, stripped generation."""
        from tools.worker.scoring import answer

        if not inputs:
            return []
        return answer(self.model, self.tokenizer, self.manifest["task"], [self.prompt(x) for x in inputs])


def base_for(model_dir: Path, manifest: dict, cache_dir: str | None = None) -> str:
    """What to load under the adapter: the model itself when it is whole, else the local base it was trained
    on, else the base model by name (TREX's cache builds a packaged one, the hub serves the rest)."""
    if (model_dir / "config.json").is_file():
        return str(model_dir)
    local = manifest.get("base_model_path")
    if local and Path(local).is_dir():
        return local
    from tools.models.base_models import resolve_model_dir
    from trex.context import Context

    return resolve_model_dir(manifest["base_model"], cache_dir or Context().cache_dir)


def load_model_and_tokenizer(model_dir: Path, manifest: dict, device: str = "auto", cache_dir: str | None = None):
    """The tuned model with the adapter merged in (as TREX's scoring runs it) and its own tokenizer."""
    from transformers import AutoTokenizer

    from tools.worker.model_loading import load_model

    model, tokenizer = load_model({"base_model": base_for(model_dir, manifest, cache_dir), "cache_dir": cache_dir or "",
                                   "device": device}, adapter=str(model_dir))
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    if has_tokenizer(model_dir):  # the tokenizer saved with the model (with its chat template), not the base's
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token  # as tools/worker/model_loading.load_model does
    return model.eval(), tokenizer


def load_tuned(run_dir: str | Path, device: str = "auto", cache_dir: str | None = None) -> TunedModel:
    """The tuned model of a run directory (its best_adapter/), of a best_adapter/ itself, or of a directory
    `trex export` wrote (with or without --merge). device: auto (CUDA when present), cpu or cuda.
    FileNotFoundError, with the reason, when there is no tuned model there."""
    model_dir = best_adapter_dir(run_dir)
    manifest = read_manifest(model_dir)
    if manifest.get("kind") == "gguf":  # no transformers weights here: llama.cpp's format only
        raise FileNotFoundError(f"{model_dir} holds a GGUF export ({manifest['gguf']['file']}), which TREX does not "
                                "load: run it with llama.cpp or Ollama (its README.md), or export with --merge")
    model, tokenizer = load_model_and_tokenizer(model_dir, manifest, device, cache_dir)
    return TunedModel(model, tokenizer, manifest, model_dir)
