"""The answer loss in chunks: the output head on a bounded number of rows, the same loss and gradients."""
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture
def model_and_batch(context):
    from tools.worker.lora_training import collate, encode_example
    from tools.worker.model_loading import load_model

    model, tok = load_model({"base_model": "trex/tiny-random", "cache_dir": context.cache_dir, "device": "cpu"})
    examples = [encode_example(tok, f"question {i}: ", " ".join(["yes"] * (1 + i % 4))) for i in range(6)]
    ids, labels, mask = collate(examples, tok.pad_token_id)
    return model, ids, mask, labels


def head_rows(model, run):
    """How many rows the output head is given on each call while `run()` runs."""
    seen = []
    hook = model.get_output_embeddings().register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape[0]))
    try:
        result = run()
    finally:
        hook.remove()
    return result, seen


def loss_and_grads(model, ids, mask, labels, chunk):
    from tools.worker.lora_training import answer_loss

    def step():
        loss = answer_loss(model, ids, mask, labels, chunk=chunk)
        loss.backward()
        return float(loss.detach())

    model.zero_grad()
    loss, rows = head_rows(model, step)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss, grads, rows


def test_chunked_loss_and_gradients_equal_the_one_piece_head(model_and_batch):
    model, ids, mask, labels = model_and_batch
    answer_rows = int((labels[:, 1:] != -100).sum())
    assert answer_rows > 8
    whole, whole_grads, whole_rows = loss_and_grads(model, ids, mask, labels, chunk=answer_rows)
    part, part_grads, part_rows = loss_and_grads(model, ids, mask, labels, chunk=4)
    assert whole_rows == [answer_rows]
    # forward in chunks of at most 4, then each chunk's logits made again in the backward pass (checkpointing)
    assert max(part_rows) <= 4 and sum(part_rows) == 2 * answer_rows
    assert part == pytest.approx(whole, rel=1e-5)
    assert whole_grads.keys() == part_grads.keys() and whole_grads
    for name, g in whole_grads.items():
        assert torch.allclose(part_grads[name], g, rtol=1e-4, atol=1e-6), name


def test_a_batch_within_the_chunk_takes_the_one_shot_path_with_unchanged_numbers(model_and_batch):
    from tools.worker.lora_training import LOSS_CHUNK_ROWS, answer_loss

    model, ids, mask, labels = model_and_batch
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        plain = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                                  labels[:, 1:].reshape(-1), ignore_index=-100)
        loss, rows = head_rows(model, lambda: answer_loss(model, ids, mask, labels))
    assert rows == [int((labels[:, 1:] != -100).sum())] and rows[0] <= LOSS_CHUNK_ROWS
    assert float(loss) == pytest.approx(float(plain), rel=1e-5)


def test_per_token_losses_without_gradients_are_chunked_and_unchanged(model_and_batch):
    from tools.worker.lora_training import answer_states, token_losses

    model, ids, mask, labels = model_and_batch
    with torch.no_grad():
        head, hidden, targets, _ = answer_states(model, ids, mask, labels)
        whole = token_losses(head, hidden, targets, chunk=len(targets))
        part, rows = head_rows(model, lambda: token_losses(head, hidden, targets, chunk=5))
    assert max(rows) <= 5 and sum(rows) == len(targets)  # no backward pass, so each chunk runs once
    assert torch.allclose(part, whole, rtol=1e-5)


def test_gradient_checkpointing_is_on_only_when_asked_or_when_activations_would_not_fit():
    from tools.worker.activation_memory import decide, estimate_mb, trained_layers

    lawbench = estimate_mb(32 * 256, 30, 576)  # the batch that the kernel killed (benchmarks/train_memory.py)
    assert 15_000 < lawbench < 25_000 and estimate_mb(32 * 256, 30, 576, dtype_bytes=2) == lawbench / 2
    assert decide("auto", lawbench, 24_000) and not decide("auto", estimate_mb(8 * 64, 30, 576), 24_000)
    assert not decide("auto", lawbench, None)  # memory unknown: the faster way
    assert decide("on", 1.0, 24_000) and not decide("off", lawbench, 1_000)
    with pytest.raises(ValueError, match="gradient_checkpointing 'sometimes'"):
        decide("sometimes", 1.0, 1.0)
    assert trained_layers(30, {"layer_fraction": 0.25}) == 8 and trained_layers(30, {}) == 30
    assert trained_layers(30, {"method": "full", "layer_fraction": 0.25}) == 30


def test_an_unknown_gradient_checkpointing_setting_is_refused_by_name(context):
    from dataclasses import replace

    with pytest.raises(ValueError, match="gradient_checkpointing"):
        replace(context, gradient_checkpointing="always")


@pytest.mark.parametrize("setting", ["on", "off"])
def test_a_trial_trains_the_same_with_and_without_gradient_checkpointing(setting, tiny_task, tmp_path, context):
    """Recomputing activations (dropout replayed with its saved random state) changes memory, not the result; the
    trial says which way it ran. The key is the same: it is one trial either way."""
    from dataclasses import replace

    import tools.trials.trial_jobs as trial_jobs
    from tools.data.datasets import prepare_splits
    from tools.data.spec_loading import parse_spec

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    cfg = {"id": "t0", "lr": 2e-3, "epochs": 1, "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.1, "batch_size": 4,
           "max_samples": 12, "layer_fraction": 1.0, "template": "plain", "seed": 0}
    default = trial_jobs.run_training(spec, data, cfg, context)
    other_cache = tmp_path / "other-cache"
    other_cache.mkdir()
    (other_cache / "models").symlink_to(Path(context.cache_dir) / "models")
    forced = trial_jobs.run_training(spec, data, cfg, replace(context, gradient_checkpointing=setting,
                                                              cache_dir=str(other_cache)))
    assert default["status"] == forced["status"] == "ok" and not forced["cached"]
    assert default["gradient_checkpointing"] is False  # tiny batches: auto leaves it off
    assert forced["gradient_checkpointing"] is (setting == "on") and forced["key"] == default["key"]
    assert [loss for _, loss in forced["loss_curve"]] == pytest.approx([loss for _, loss in default["loss_curve"]],
                                                                       rel=1e-4)
    assert forced["val_loss"] == pytest.approx(default["val_loss"], rel=1e-4)
