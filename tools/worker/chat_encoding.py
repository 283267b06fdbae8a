"""A conversation (a record's "messages") as training tokens that learn the assistant turns only, and as the
scoring prompt that ends where its last assistant turn begins. Runs inside the worker subprocess.

The conversation is rendered one turn at a time: the text up to an assistant turn's cue (render of
messages[:k] with the generation prompt), then the text the assistant turn adds (render of messages[:k+1]
minus that). Each piece is tokenized alone, so a piece's tokens are exactly its labels, whatever the chat
template looks like; no `{% generation %}` markers are needed (the packaged SmolLM2 template has none).

What is learned, per assistant turn: its content and the template's end-of-turn marker (`<|im_end|>` for
ChatML, which is also SmolLM2's EOS). Whitespace the template writes after that marker is not learned. When
the learned text does not end with the tokenizer's EOS, EOS is appended to it, as the single-turn path does
(tools/worker/lora_training.encode_example), so generation and choice scoring (label + EOS) stop where
training taught. Without a chat template, or with template "plain", turns render as
"System: ...\\nUser: ...\\nAssistant: <content><EOS>\\n" with the same masking.
"""
from __future__ import annotations

from tools.worker.prompting import task_preamble

ROLE_NAMES = {"system": "System", "user": "User", "assistant": "Assistant"}


def with_instruction(messages: list[dict], instruction: str, labels: list[str]) -> list[dict]:
    """The task's instruction (and label list) as the system turn, only when the conversation has none."""
    preamble = task_preamble(instruction, labels)
    if not preamble or any(m["role"] == "system" for m in messages):
        return list(messages)
    return [{"role": "system", "content": preamble}, *messages]


def _uses_template(tokenizer, template: str) -> bool:
    return template == "chat" and bool(getattr(tokenizer, "chat_template", None))


def _plain_pieces(tokenizer, messages: list[dict]) -> list[tuple[str, bool]]:
    pieces = []
    for m in messages:
        if m["role"] == "assistant":
            pieces += [("Assistant: ", False), (m["content"] + tokenizer.eos_token, True), ("\n", False)]
        else:
            pieces.append((f"{ROLE_NAMES[m['role']]}: {m['content']}\n", False))
    return pieces


def _template_pieces(tokenizer, messages: list[dict]) -> list[tuple[str, bool]]:
    render = lambda turns, cue: tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=cue)  # noqa: E731
    pieces, done = [], ""
    for k, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        head, full = render(messages[:k], True), render(messages[:k + 1], False)
        if not (head.startswith(done) and full.startswith(head)):
            raise ValueError("the base model's chat template does not render a conversation turn by turn "
                             "(an earlier turn changes when a later one is added); use template 'plain'")
        turn = full[len(head):]
        learned = turn.rstrip()
        if not learned.endswith(tokenizer.eos_token):
            learned += tokenizer.eos_token
        pieces += [(head[len(done):], False), (learned, True), (turn[len(turn.rstrip()):], False)]
        done = full
    return pieces


def conversation_pieces(tokenizer, template: str, messages: list[dict]) -> list[tuple[str, bool]]:
    """The conversation as (text, learned) pieces in order; empty pieces dropped."""
    pieces = (_template_pieces if _uses_template(tokenizer, template) else _plain_pieces)(tokenizer, messages)
    return [(text, learn) for text, learn in pieces if text]


def encode_conversation(tokenizer, template: str, messages: list[dict], instruction: str,
                        labels: list[str]) -> tuple[list[int], list[int]]:
    """Token ids and labels, whole: -100 everywhere but the assistant turns' tokens."""
    ids, targets = [], []
    for text, learn in conversation_pieces(tokenizer, template, with_instruction(messages, instruction, labels)):
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        targets += piece if learn else [-100] * len(piece)
    return ids, targets


def conversation_prompt(tokenizer, template: str, messages: list[dict], instruction: str, labels: list[str]) -> str:
    """The text a model continues to answer the last assistant turn: everything training put before it."""
    pieces = conversation_pieces(tokenizer, template, with_instruction(messages, instruction, labels))
    last = max(i for i, (_, learn) in enumerate(pieces) if learn)
    return "".join(text for text, _ in pieces[:last])
