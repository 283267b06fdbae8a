"""How many tokens a training example keeps, and a scoring prompt: one rule for training, validation and test.

The spec's `max_seq_length` when it sets one; otherwise as long as the longest training example (prompt +
answer, measured with the model's tokenizer), within what the model's positions allow. A fixed default
(TREX used 256) cut long prompts silently and, given to Unsloth, truncated every input it saw.
Examples are cut from the left, so the answer (at the end) is what is kept.
"""
from __future__ import annotations

Example = tuple[list[int], list[int]]  # token ids, labels (-100 where nothing is learned)
FALLBACK_POSITIONS = 2048  # a config that names no position limit


def model_positions(config) -> int:
    """The longest sequence the model's position embeddings cover."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return FALLBACK_POSITIONS


def sequence_length(task: dict, examples: list[Example], positions: int) -> int:
    """The spec's max_seq_length, else the longest example's length, never beyond the model's positions."""
    if task.get("max_seq_length"):
        return min(int(task["max_seq_length"]), positions)
    return min(max((len(ids) for ids, _ in examples), default=1), positions)


def fit(examples: list[Example], length: int) -> tuple[list[Example], int]:
    """The examples cut from the left to `length` tokens, and how many were cut."""
    cut = sum(len(ids) > length for ids, _ in examples)
    return [(ids[-length:], labels[-length:]) for ids, labels in examples], cut


def prompt_limit(task: dict, answer_tokens: int) -> int | None:
    """Prompt tokens a scored example keeps (cut from the left) so prompt + answer fit max_seq_length, as in
    training; None (keep the whole prompt) when the spec sets no length."""
    if not task.get("max_seq_length"):
        return None
    return max(1, int(task["max_seq_length"]) - answer_tokens)
