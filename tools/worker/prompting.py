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
    if template == "chat" and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(chat_messages(instruction, text, labels), tokenize=False,
                                             add_generation_prompt=True)
    return plain_prompt(instruction, text, labels)


def chat_messages(instruction: str, text: str, labels: list[str]) -> list[dict]:
    """The turns a chat template renders: the task preamble as the system turn (if any), the input as the user turn."""
    preamble = task_preamble(instruction, labels)
    return ([{"role": "system", "content": preamble}] if preamble else []) + [{"role": "user", "content": text}]


def plain_prompt(instruction: str, text: str, labels: list[str]) -> str:
    preamble = task_preamble(instruction, labels)
    return f"{preamble}\nInput: {text}\nOutput: " if preamble else f"Input: {text}\nOutput: "
