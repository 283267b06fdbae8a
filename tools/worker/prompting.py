"""Prompt templates: how one example becomes a prompt; the answer follows it directly.

Prompts are kept short on purpose: on a CPU, training cost grows with every prompt token.
"""
from __future__ import annotations

from trex.trial_config import FIELDS

TEMPLATES = FIELDS["template"].choices


def task_preamble(instruction: str, labels: list[str]) -> str:
    parts = [instruction.strip()] if instruction.strip() else []
    if labels:
        parts.append("Answer with one of: " + ", ".join(labels) + ".")
    return " ".join(parts)


def render_prompt(tokenizer, template: str, instruction: str, text: str, labels: list[str]) -> str:
    """chat: the base model's chat template, task preamble as the system turn, input as the user turn.
    plain: preamble, input and an "Output:" cue as bare text."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown prompt template {template!r}; known: {', '.join(TEMPLATES)}")
    preamble = task_preamble(instruction, labels)
    if template == "chat" and getattr(tokenizer, "chat_template", None):
        messages = ([{"role": "system", "content": preamble}] if preamble else []) + [{"role": "user", "content": text}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return f"{preamble}\nInput: {text}\nOutput: " if preamble else f"Input: {text}\nOutput: "
