"""Sequence length is the spec's max_seq_length or, left out, the longest training example: no fixed cut of
long prompts; the same cut for validation and test scoring; Unsloth is told the same length."""
import json

import pytest

import tools.trials.trial_jobs as trial_jobs
import tools.worker.scoring as scoring
from tools.data.datasets import prepare_splits
from tools.data.spec_loading import parse_spec
from tools.worker.sequence_length import fit, model_positions, prompt_limit, sequence_length

CFG = {"lr": 1e-3, "epochs": 1, "lora_r": 4, "lora_alpha": 8, "batch_size": 4, "max_samples": 24,
       "layer_fraction": 1.0, "template": "plain", "seed": 0}


def test_length_rules():
    examples = [([1] * 5, [-100] * 4 + [1]), ([2] * 9, [-100] * 7 + [2, 2])]
    assert sequence_length({}, examples, 512) == 9  # the longest example: nothing cut
    assert sequence_length({}, examples, 6) == 6  # never beyond the model's positions
    assert sequence_length({"max_seq_length": 4}, examples, 512) == 4
    cut, n = fit(examples, 6)
    assert n == 1 and cut == [examples[0], ([2] * 6, [-100] * 4 + [2, 2])]  # cut from the left: the answer stays
    assert prompt_limit({}, 3) is None and prompt_limit({"max_seq_length": 64}, 16) == 48

    class Config:
        max_position_embeddings = 8192

    assert model_positions(Config()) == 8192 and model_positions(object()) == 2048


def test_a_spec_length_must_leave_room_for_the_prompt(tiny_task):
    parse_spec({**tiny_task, "max_seq_length": 64})
    with pytest.raises(ValueError, match="max_seq_length"):
        parse_spec({**tiny_task, "task_type": "generation", "metric": "exact_match", "max_new_tokens": 64,
                    "max_seq_length": 64})


def test_the_length_enters_the_trial_key_only_when_the_spec_sets_it(tiny_task, tmp_path):
    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    assert "max_seq_length" not in trial_jobs.task_payload(spec, data["labels"])  # shipped keys unchanged
    long = parse_spec({**tiny_task, "max_seq_length": 64})
    assert trial_jobs.train_key(long, data, CFG) != trial_jobs.train_key(spec, data, CFG)


def _long_task(tiny_task, tmp_path, model_cache):
    """The tiny task with three inputs of 300-450 prompt tokens (the old fixed cut was 256)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_cache / "models/tiny-random"))
    word, n = "please check my card balance today ", 1
    while len(tok(word * n, add_special_tokens=False)["input_ids"]) < 320:
        n += 1
    rows = [json.loads(line) for line in open(tiny_task["data"][0]["path"])]
    for r in rows[:40:13]:
        r["text"] = word * n + r["text"]
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {**tiny_task, "data": [{**tiny_task["data"][0], "path": str(path)}],
            "splits": {"val_fraction": 0.1, "test_fraction": 0.1, "seed": 0}}


@pytest.mark.parametrize("spec_length", [None, 64])
def test_training_keeps_whole_examples_unless_the_spec_cuts_them(tiny_task, tmp_path, model_cache, cache_dir,
                                                                 spec_length):
    from tools.worker.lora_training import train

    task = _long_task(tiny_task, tmp_path, model_cache)
    spec = parse_spec({**task, "max_seq_length": spec_length} if spec_length else task)
    data = prepare_splits(spec, tmp_path / "data")
    job = {"mode": "train", "base_model": spec.base_model, "cache_dir": str(cache_dir), "device": "cpu",
           "task": trial_jobs.task_payload(spec, data["labels"]), "config": CFG, "train_path": data["paths"]["train"],
           "val_path": data["paths"]["val"], "backend": "peft"}
    train_rows = sum(1 for _ in open(data["paths"]["train"]))
    result = train(job, tmp_path / "out")
    assert result["status"] == "ok" and result["train_examples"] == min(train_rows, CFG["max_samples"])
    if spec_length is None:
        assert result["max_seq_length"] > 300 and result["examples_cut"] == 0
    else:
        assert result["max_seq_length"] == 64 and result["examples_cut"] > 0


def test_scoring_cuts_prompts_as_training_does(tiny_task, tmp_path, model_cache, monkeypatch):
    """Validation and test both go through answer(): with a spec length the prompt keeps its last tokens, so
    prompt + answer fit; without one nothing is cut."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_cache / "models/tiny-random"))
    prompt = "a long prompt " * 80
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    enc = scoring._encode_prompts(tok, [prompt, "short"], 40)
    assert enc["input_ids"][0].tolist() == ids[-40:]  # the end of the prompt, where the answer starts
    assert len(scoring._encode_prompts(tok, [prompt], None)["input_ids"][0]) == len(ids)

    seen = {}
    monkeypatch.setattr(scoring, "choose_labels", lambda m, t, p, labels, max_prompt_tokens=None:
                        seen.setdefault("choice", max_prompt_tokens) and [] or [])
    monkeypatch.setattr(scoring, "generate", lambda m, t, p, new, max_prompt_tokens=None:
                        seen.setdefault("generate", max_prompt_tokens) and [] or [])
    labels = ["balance", "card_lost"]
    longest = max(len(tok(x, add_special_tokens=False)["input_ids"]) for x in labels) + 1
    choice = {"task_type": "classification", "scoring": "choice", "labels": labels, "max_seq_length": 100}
    scoring.answer(None, tok, choice, [prompt])
    scoring.answer(None, tok, {"task_type": "generation", "max_new_tokens": 30, "max_seq_length": 100}, [prompt])
    assert seen == {"choice": 100 - longest, "generate": 70}
    seen.clear()
    scoring.answer(None, tok, {**choice, "max_seq_length": None}, [prompt])
    assert "choice" in seen and seen["choice"] is None


def test_unsloth_is_told_the_spec_length_or_the_models_own(model_cache):
    from dataclasses import replace

    from tools.worker.backends import unsloth_length
    from trex.jobs import TrainJob

    job = TrainJob(base_model="trex/tiny-random", cache_dir=str(model_cache), task={}, config={}, train_path="",
                   val_path="")
    assert unsloth_length(job) == 512  # the tiny model's max_position_embeddings: no cut of its own
    assert unsloth_length(replace(job, task={"max_seq_length": 1024})) == 1024
