"""Data as users have it: input/output columns, prompt/completion pairs, Alpaca, chat messages, ShareGPT
conversations and Hugging Face Hub datasets are told apart, converted to flat records, and trained on with
only the answers (every assistant turn of a chat) learned."""
from __future__ import annotations

import json

import pytest

from tools.data.datasets import DataError, check_data, prepare_splits
from tools.data.spec_loading import parse_spec
from tools.models.base_models import TINY
from tools.trials.trial_jobs import task_payload

N = 12  # rows per file: enough distinct examples for train / val / test


def _write(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _spec(tmp_path, rows, task_type="generation", **source):
    if rows is not None:
        source = {"path": _write(tmp_path / "data.jsonl", rows), **source}
    task = {"name": "shapes", "goal": "answer", "task_type": task_type, "base_model": TINY,
            "instruction": "Answer briefly.", "data": [source], "max_new_tokens": 4,
            "metric": "exact_match" if task_type == "generation" else "accuracy",
            "splits": {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 0}}
    return parse_spec(task)


def chat(i: int) -> list[dict]:
    return [{"role": "system", "content": "You are terse."}, {"role": "user", "content": f"hello {i}"},
            {"role": "assistant", "content": f"hi {i}"}, {"role": "user", "content": f"what is {i} + 1?"},
            {"role": "assistant", "content": str(i + 1)}]


SHAPES = {
    "input_output": ([{"input": f"q{i}", "output": f"a{i}"} for i in range(N)],
                     "input/output columns", {"input": "q0", "output": "a0"}),
    "prompt_completion": ([{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(N)],
                          "prompt/completion pairs", {"input": "q0", "output": "a0"}),
    "alpaca": ([{"instruction": f"Do {i}", "input": "with this" if i == 0 else "", "output": f"done {i}"}
                for i in range(N)], "Alpaca instructions", {"input": "Do 0\n\nwith this", "output": "done 0"}),
    "messages": ([{"messages": chat(i) + [{"role": "user", "content": "thanks"}]} for i in range(N)],
                 "chat messages", {"input": "System: You are terse.\nUser: hello 0\nAssistant: hi 0\nUser: what is 0 + 1?",
                                   "output": "1", "messages": chat(0)}),
    "sharegpt": ([{"conversations": [{"from": {"system": "system", "user": "human", "assistant": "gpt"}[t["role"]],
                                      "value": t["content"]} for t in chat(i)]} for i in range(N)],
                 "ShareGPT conversations", {"input": "System: You are terse.\nUser: hello 0\nAssistant: hi 0\n"
                                                     "User: what is 0 + 1?", "output": "1", "messages": chat(0)}),
}


def _all(spec) -> list[dict]:
    train, val, test, _ = check_data(spec)
    return train + val + test


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_is_detected_reported_and_converted(tmp_path, shape):
    rows, name, first = SHAPES[shape]
    notes = []
    check_data(_spec(tmp_path, rows), notes)
    assert notes == [f"data.0: detected {name} ({N} rows)"]
    assert first in _all(_spec(tmp_path, rows))
    data = prepare_splits(_spec(tmp_path, rows, format=shape), tmp_path / "out")
    assert data["shapes"] == [f"data.0: {name} ({N} rows)"]  # given, not detected
    assert sum(data["sizes"].values()) == N


def test_conversational_prompt_completion_becomes_a_chat(tmp_path):
    rows = [{"prompt": [{"role": "user", "content": f"q{i}"}], "completion": [{"role": "assistant", "content": f"a{i}"}]}
            for i in range(N)]
    assert {"input": "q0", "output": "a0", "messages": [{"role": "user", "content": "q0"},
                                                         {"role": "assistant", "content": "a0"}]} in _all(_spec(tmp_path, rows))


def test_named_columns_mean_input_output_even_beside_messages(tmp_path):
    rows = [{"text": f"q{i}", "label": f"a{i}", "messages": chat(i)} for i in range(N)]
    records = _all(_spec(tmp_path, rows, input_field="text", output_field="label"))
    assert {"input": "q0", "output": "a0"} in records


def test_an_ambiguous_file_is_one_line_naming_the_fields(tmp_path):
    rows = [{"messages": chat(i), "input": f"q{i}", "output": f"a{i}"} for i in range(N)]
    with pytest.raises(DataError) as err:
        _spec(tmp_path, rows)
    msg = str(err.value)
    assert "\n" not in msg and "field 'data.0.format': ambiguous data" in msg
    assert "fields found: input, messages, output" in msg and "chat messages and input/output columns" in msg


def test_an_unknown_shape_is_one_line_naming_the_fields(tmp_path):
    rows = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(N)]
    with pytest.raises(DataError) as err:
        _spec(tmp_path, rows)
    msg = str(err.value)
    assert "\n" not in msg and "field 'data.0.input_field': missing column 'input'" in msg  # as before
    assert "(has: answer, question)" in msg and "no other known data shape either" in msg


@pytest.mark.parametrize("row, needle", [
    ({"messages": [{"role": "user", "content": "hi"}]}, "row 1: the conversation has no assistant turn"),
    ({"messages": [{"role": "bot", "content": "hi"}]}, "row 1: unknown role 'bot'"),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, "row 1: the conversation must start with a user turn"),
    ({"conversations": [{"from": "human", "text": "hi"}]}, "row 1: each turn needs 'from' and 'value'"),
    ({"messages": "hi"}, "row 1: 'messages' must be a non-empty list of turns"),
])
def test_a_bad_conversation_names_its_row(tmp_path, row, needle):
    rows = [row] + [SHAPES["sharegpt" if "conversations" in row else "messages"][0][i] for i in range(N)]
    with pytest.raises(DataError, match="field 'data.0.path': .*" + needle.replace("(", r"\(").replace("+", r"\+")):
        _spec(tmp_path, rows)


def test_classification_chat_needs_a_label_in_the_last_assistant_turn(tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"x{i}"}, {"role": "assistant", "content": "" if i == 3 else "yes"}]}
            for i in range(N)]
    with pytest.raises(DataError, match="1 rows of .* have an empty answer.*first: row 4"):
        _spec(tmp_path, rows, task_type="classification")


# ---- the worker: what is learned -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tokenizer(model_cache):
    from transformers import AutoTokenizer

    from tools.models.base_models import resolve_model_dir

    return AutoTokenizer.from_pretrained(resolve_model_dir(TINY, model_cache))


def learned_spans(tokenizer, ids, labels) -> list[str]:
    """The decoded runs of labelled tokens; checks that a labelled token's label is its own id."""
    spans, run = [], []
    for i, lab in zip(ids, labels):
        if lab != -100:
            assert lab == i
            run.append(i)
        elif run:
            spans.append(tokenizer.decode(run))
            run = []
    return spans + ([tokenizer.decode(run)] if run else [])


@pytest.mark.parametrize("template", ["chat", "plain"])
def test_a_multi_turn_chat_learns_exactly_its_assistant_turns(tokenizer, template):
    from tools.worker.chat_encoding import conversation_prompt, encode_conversation

    messages = chat(7)
    ids, labels = encode_conversation(tokenizer, template, messages, "Ignored: the chat has a system turn.", [])
    eos = tokenizer.eos_token  # SmolLM2's end-of-turn marker <|im_end|> is its EOS: learned, so generation stops
    assert learned_spans(tokenizer, ids, labels) == [f"hi 7{eos}", f"8{eos}"]
    text = tokenizer.decode(ids)
    assert "You are terse." in text and "Ignored" not in text
    # Scoring's prompt is exactly what training put before the last assistant turn.
    prompt = conversation_prompt(tokenizer, template, messages, "Ignored", [])
    last = max(i for i in range(1, len(labels)) if labels[i] != -100 and labels[i - 1] == -100)
    assert tokenizer.decode(ids[:last]) == prompt
    if template == "chat":
        assert prompt.endswith("<|im_start|>assistant\n")


def test_the_instruction_becomes_the_system_turn_only_when_there_is_none(tokenizer):
    from tools.worker.chat_encoding import encode_conversation

    ids, labels = encode_conversation(tokenizer, "chat", chat(1)[1:3], "Answer briefly.", ["hi 1", "no"])
    assert tokenizer.decode(ids).startswith("<|im_start|>system\nAnswer briefly. Answer with one of: hi 1, no.<|im_end|>")
    assert learned_spans(tokenizer, ids, labels) == [f"hi 1{tokenizer.eos_token}"]


@pytest.mark.parametrize("shape", ["prompt_completion", "alpaca"])
def test_prompt_completion_and_alpaca_learn_only_the_answer(tmp_path, tokenizer, shape):
    from tools.worker.lora_training import encode_record

    record = next(r for r in _all(_spec(tmp_path, SHAPES[shape][0])) if r == SHAPES[shape][2])
    task = {"instruction": "Answer briefly.", "labels": []}
    for template in ("chat", "plain"):
        ids, labels = encode_record(tokenizer, record, task, template)
        assert learned_spans(tokenizer, ids, labels) == [record["output"] + tokenizer.eos_token]
        assert record["input"].split("\n")[0] in tokenizer.decode(ids)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_trains_and_scores_on_tiny_data(tmp_path, cache_dir, shape):
    from tools.worker.lora_training import train

    spec = _spec(tmp_path, SHAPES[shape][0])
    data = prepare_splits(spec, tmp_path / "data")
    job = {"base_model": spec.base_model, "cache_dir": str(cache_dir), "device": "cpu",
           "task": task_payload(spec, data["labels"]),
           "config": {"lr": 1e-3, "epochs": 1, "lora_r": 4, "lora_alpha": 8, "batch_size": 4, "max_samples": 8,
                      "layer_fraction": 1.0, "template": "chat", "seed": 0},
           "train_path": data["paths"]["train"], "val_path": data["paths"]["val"],
           "score": {"eval_path": data["paths"]["val"], "max_examples": 2}}
    out = train(job, tmp_path / "out")
    assert out["status"] == "ok" and out["steps"] == 2 and out["train_examples"] == 8
    assert all(v == v for v in out["val_loss"]) and out["val_eval"]["n"] == 2


# ---- Hugging Face Hub datasets -----------------------------------------------------------------------------------

def test_a_hub_dataset_is_read_through_datasets_and_detected(tmp_path, monkeypatch):
    """A local directory stands in for the Hub: datasets.load_dataset reads it the same way, offline."""
    monkeypatch.setenv("TREX_CACHE_DIR", str(tmp_path / "trex-cache"))
    hub = tmp_path / "hub-copy"
    hub.mkdir()
    _write(hub / "train.jsonl", [{"messages": chat(i)} for i in range(N)])
    spec = _spec(tmp_path, None, hf_id=str(hub), split="train")
    notes = []
    train, val, test, _ = check_data(spec, notes)
    assert notes == [f"data.0: detected chat messages ({N} rows)"]
    assert {"input": "System: You are terse.\nUser: hello 0\nAssistant: hi 0\nUser: what is 0 + 1?", "output": "1",
            "messages": chat(0)} in train + val + test
    assert (tmp_path / "trex-cache" / "hf-datasets").is_dir()  # datasets caches under the TREX cache dir


def test_a_hub_dataset_that_cannot_be_had_names_its_id(tmp_path, monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'org/chats' on the Hub (LocalEntryNotFoundError)\nmore detail")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError) as err:
        _spec(tmp_path, None, hf_id="org/chats", hf_config="en", split="test")
    msg = str(err.value)
    assert "\n" not in msg and "field 'data.0.hf_id': Hugging Face dataset 'org/chats' (config 'en') split 'test' " \
                               "cannot be loaded (ConnectionError: Couldn't reach" in msg


@pytest.mark.parametrize("source, problem", [({}, "field 'data.0.path': required field is missing"),
                                             ({"path": "x.jsonl", "hf_id": "o/d"}, "give exactly one of 'path' or 'hf_id'")])
def test_a_source_names_a_file_or_a_hub_dataset(tmp_path, source, problem):
    with pytest.raises(ValueError, match=problem):
        _spec(tmp_path, None, **source)


def test_a_recipe_source_of_any_shape_keeps_its_conversation(tmp_path, monkeypatch):
    from tools.data import recipes
    from trex.recipe import parse_recipe

    monkeypatch.setattr(recipes, "_load_hf", lambda hf_id, config, split: [{"conversations": [
        {"from": "human", "value": "hub question"}, {"from": "gpt", "value": "hub answer"}]}])
    _write(tmp_path / "alpaca.jsonl", [{"instruction": "Say yes", "input": "", "output": "yes"}])
    recipe = parse_recipe({"extra_sources": [{"hf_id": "org/chats"}, {"path": "alpaca.jsonl", "format": "alpaca"}]})
    out, stats = recipes.apply_recipe([{"input": "own", "output": "B"}], recipe, [], base_dir=str(tmp_path))
    assert {"input": "hub question", "output": "hub answer", "messages": [
        {"role": "user", "content": "hub question"}, {"role": "assistant", "content": "hub answer"}]} in out
    assert {"input": "Say yes", "output": "yes"} in out and stats["sources"][1]["loaded"] == 1
