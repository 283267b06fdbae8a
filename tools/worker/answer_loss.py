"""The training loss: mean cross-entropy on the answer tokens only (the prompt is masked), the output head run
only at answer positions and in chunks when there are many. Runs inside the training worker."""
from __future__ import annotations


def collate(batch: list[tuple[list[int], list[int]]], pad_id: int):
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id)
    labels = torch.full((len(batch), width), -100)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, (x, y) in enumerate(batch):
        ids[i, :len(x)] = torch.tensor(x)
        labels[i, :len(y)] = torch.tensor(y)
        mask[i, :len(x)] = 1
    return ids, labels, mask


# Rows of the output head's logits made at once: 1024 answer tokens x a 49k-word vocabulary x 4 bytes = 200 MB.
# A batch with more answer tokens (long answers x a large batch: LawBench's 32 x 256 made 1.6 GB of logits, several
# times over with softmax and gradient) is scored in chunks of this many rows, each chunk's logits made again in
# the backward pass, so the head's memory stays bounded. A batch within it takes the one-shot path, unchanged.
LOSS_CHUNK_ROWS = 1024


def answer_states(model, ids, mask, labels):
    """The output head and, at the answer positions only, the hidden states and their next-token targets."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != -100
    return base.get_output_embeddings(), hidden[:, :-1][keep], targets[keep], keep


def _chunk_token_losses(head, hidden, targets):
    import torch

    return torch.nn.functional.cross_entropy(head(hidden).float(), targets, reduction="none")


def token_losses(head, hidden, targets, chunk: int = LOSS_CHUNK_ROWS):
    """Each answer token's cross-entropy, the head run on at most `chunk` rows at a time; with gradients on,
    a chunk's logits are not kept for the backward pass but made again there (activation checkpointing)."""
    import torch
    from torch.utils.checkpoint import checkpoint

    if len(targets) <= chunk:
        return _chunk_token_losses(head, hidden, targets)
    parts = []
    for i in range(0, len(targets), chunk):
        h, t = hidden[i:i + chunk], targets[i:i + chunk]
        parts.append(checkpoint(_chunk_token_losses, head, h, t, use_reentrant=False) if torch.is_grad_enabled()
                     else _chunk_token_losses(head, h, t))
    return torch.cat(parts)


def answer_loss(model, ids, mask, labels, chunk: int = LOSS_CHUNK_ROWS):
    """Mean cross-entropy on the answer tokens only. The output head (a large share of a small model's compute,
    49k-word vocabulary) runs only at answer positions instead of at every prompt token, in chunks when there
    are many (LOSS_CHUNK_ROWS)."""
    import torch

    head, hidden, targets, _ = answer_states(model, ids, mask, labels)
    if len(targets) <= chunk:  # the one-shot path: the same numbers as before chunking existed
        return torch.nn.functional.cross_entropy(head(hidden).float(), targets)
    return token_losses(head, hidden, targets, chunk).sum() / len(targets)


def example_losses(model, examples, pad_id: int, batch_size: int = 16) -> list[float]:
    """Each example's mean answer-token loss under the model as it is (no training)."""
    import torch

    model.eval()
    out: list[float] = []
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            ids, labels, mask = (t.to(model.device) for t in collate(examples[i:i + batch_size], pad_id))
            head, hidden, targets, keep = answer_states(model, ids, mask, labels)
            token = token_losses(head, hidden, targets)
            rows = keep.nonzero()[:, 0]
            total = torch.zeros(len(ids), device=token.device).index_add_(0, rows, token)
            count = torch.zeros(len(ids), device=token.device).index_add_(0, rows, torch.ones_like(token))
            out += (total / count.clamp(min=1)).tolist()
    model.train()
    return out


def mean_loss(model, examples, pad_id: int, batch_size: int = 16) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            ids, labels, mask = (t.to(model.device) for t in collate(examples[i:i + batch_size], pad_id))
            total += float(answer_loss(model, ids, mask, labels)) * len(ids)
            count += len(ids)
    model.train()
    return total / max(count, 1)
