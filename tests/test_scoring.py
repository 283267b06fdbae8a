"""Classification scoring: the batched, cache-sharing label scorer gives what a plain forward pass gives."""
import pytest

from tools.models.base_models import TINY


@pytest.fixture(scope="module")
def tiny_model(model_cache):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tools.models.base_models import resolve_model_dir

    path = resolve_model_dir(TINY, model_cache)
    tok = AutoTokenizer.from_pretrained(path)
    tok.pad_token = tok.pad_token or tok.eos_token
    return AutoModelForCausalLM.from_pretrained(path).eval(), tok


def brute_force(model, tok, prompt, label):
    """log P(label tokens + eos | prompt) from one unpadded forward pass over prompt + label."""
    import torch

    p = tok(prompt, add_special_tokens=False)["input_ids"]
    a = tok(label, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([p + a])).logits[0].float(), -1)
    return sum(float(logp[len(p) + i - 1, t]) for i, t in enumerate(a))


def test_batched_label_scores_match_a_plain_forward_pass(tiny_model):
    import torch

    from tools.worker.scoring import label_log_likelihoods

    model, tok = tiny_model
    # Prompts of different lengths, so the batch is left-padded; labels of different token lengths.
    prompts = ["Which request is this? I lost my card", "hi", "send $50 to Alice in Paris right now please"]
    labels = ["balance", "card_lost", "address_change"]
    with torch.no_grad():
        got = label_log_likelihoods(model, tok, prompts, labels)
    want = torch.tensor([[brute_force(model, tok, p, lab) for lab in labels] for p in prompts])
    assert got.shape == (3, 3)
    assert torch.allclose(got, want, atol=1e-3)


def test_choose_labels_does_not_depend_on_batch_size(tiny_model):
    from tools.worker.scoring import choose_labels

    model, tok = tiny_model
    prompts = [f"message number {i} " + "word " * (i % 5) for i in range(10)]
    labels = ["balance", "card_lost", "loan", "fraud"]
    assert choose_labels(model, tok, prompts, labels, batch_size=1) == choose_labels(model, tok, prompts, labels,
                                                                                   batch_size=4)


def test_bad_cases_are_the_worst_scored_examples_by_the_metric():
    from trex.metrics import get_metric
    from tools.worker.scoring import bad_cases

    records = [{"input": f"x{i}", "output": ref} for i, ref in enumerate(["the cat sat", "a dog ran", "hello"])]
    preds = ["the cat sat", "a cat", "goodbye"]  # ROUGE-1: 1.0, partial, 0.0
    bad, n_wrong = bad_cases(records, preds, get_metric("rouge1"))
    assert n_wrong == 2 and [b["input"] for b in bad] == ["x2", "x1"]  # worst first; the perfect one is not bad
    bad, n_wrong = bad_cases(records, preds, get_metric("accuracy"))
    assert n_wrong == 2 and {b["input"] for b in bad} == {"x1", "x2"}
