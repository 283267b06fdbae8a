"""trex_model.json: what a tuned model needs besides its weights to be used as TREX scored it.

Pure data (no transformers): the graph's process writes it beside the best adapter (nodes/score_test.py),
`load_tuned` and `trex export` read it. The task part is the worker's own task payload, so a prediction
prompts and decodes exactly as the run's scoring did.
"""
from __future__ import annotations

import json
from pathlib import Path

from tools.models.base_models import PACKAGED_GGUF, TINY, canonical_name
from tools.worker.prompting import chat_messages, plain_prompt
from tools.worker.scoring import choice_scoring

MANIFEST = "trex_model.json"
FORMAT = "trex-model/1"
INPUT = "{input}"  # where the input goes in the prompt shapes below
# What AutoTokenizer.save_pretrained writes (with or without a chat template), in any transformers version.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "chat_template.jinja", "chat_template.json", "vocab.json", "merges.txt", "tokenizer.model")


def weights_note(base_model: str) -> str:
    """Which weights the adapter was trained on, where that differs from the hub's."""
    name = canonical_name(base_model)
    if name == TINY:
        return "a random 2-layer test model built locally by TREX; it exists nowhere else"
    if name in PACKAGED_GGUF:
        package, gguf = PACKAGED_GGUF[name]
        return (f"{gguf} (pip package {package}) de-quantised to float32; the hub's {name} weights differ "
                "slightly, so an adapter on them scores close to, not exactly, what TREX measured")
    return ""


def build_manifest(spec, task: dict, cfg: dict, base_path: str | None, kind: str, scores: dict) -> dict:
    """The manifest of a tuned model. task: the worker's task payload (tools/trials/trial_jobs.task_payload);
    cfg: the best trial's config; kind: lora | full (a whole model) | merged."""
    template = cfg.get("template", "chat")
    labels = task.get("labels") or []
    return {
        "format": FORMAT, "kind": kind, "task_name": spec.name,
        "base_model": canonical_name(spec.base_model), "base_model_path": base_path,
        "base_weights": weights_note(spec.base_model),
        "task": task, "scoring": "choice" if choice_scoring(task) else "generate",
        "prompt": {"template": template, "instruction": task["instruction"],
                   "chat_messages": chat_messages(task["instruction"], INPUT, labels),
                   "plain": plain_prompt(task["instruction"], INPUT, labels),
                   "how": "chat: the tokenizer's chat template over chat_messages with add_generation_prompt=True "
                          "(plain when the tokenizer has none); plain: the plain text; the answer follows directly. "
                          "choice scoring picks the label with the highest log P(label + EOS | prompt); generate "
                          "decodes greedily up to task.max_new_tokens and strips whitespace."},
        "input_fields": list(dict.fromkeys(s.input_field for s in spec.data)),
        "licence_warnings": spec.licence_warnings(),
        "trial": cfg, "scores": scores,
    }


def read_manifest(model_dir: str | Path) -> dict:
    path = Path(model_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} has no {MANIFEST}: not a tuned model saved by TREX")
    return json.loads(path.read_text(encoding="utf-8"))


def write_manifest(model_dir: str | Path, manifest: dict) -> None:
    (Path(model_dir) / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
