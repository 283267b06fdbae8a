"""GGUF export (tools/export/gguf_export.py) and the export check (tools/export/export_check.py) on tiny models:
the file reads back through transformers' own GGUF loader with the merged model's logits, an architecture it
cannot write is a one-line error, and an export whose file was altered fails with the examples that differ.
(`trex export RUN --gguf` on a real finished run is in tests/test_export.py, which shares that run.)"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from graph.cli.commands import main
from tests.conftest import LABELS, REPO
from tools.export.export_check import ExportCheckFailed
from tools.export.gguf_export import gguf_architecture, load_gguf, write_gguf
from tools.export.manifest import INPUT
from tools.worker.prompting import chat_messages, plain_prompt

INSTRUCTION = "Which request is this?"
TEXT = "I lost my card yesterday, 4521 is the number"


def _tiny(model_cache: Path) -> Path:
    from tools.models.base_models import TINY, resolve_model_dir

    return Path(resolve_model_dir(TINY, model_cache))


def _model(kind: str, model_cache: Path):
    """The tiny Llama (2 layers, 4 query / 2 key-value heads: the q/k permutation matters) or a Qwen-shaped twin."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config, Qwen3Config

    tokenizer = AutoTokenizer.from_pretrained(_tiny(model_cache))
    if kind == "llama":
        return AutoModelForCausalLM.from_pretrained(_tiny(model_cache)).eval(), tokenizer
    shape = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    # Qwen3's loader in transformers reads no head_dim from a GGUF: keep its default (128).
    config = Qwen2Config(**shape) if kind == "qwen2" else Qwen3Config(**shape, head_dim=128)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval(), tokenizer


@pytest.mark.parametrize("kind, quant, tolerance", [("llama", "f16", 5e-3), ("llama", "q8_0", 5e-2),
                                                     ("qwen3", "q8_0", 5e-2), ("qwen2", "f16", 5e-3)])
def test_a_gguf_reads_back_through_transformers_with_the_same_logits(kind, quant, tolerance, model_cache, tmp_path):
    import torch

    model, tokenizer = _model(kind, model_cache)
    path = write_gguf(model, tokenizer, tmp_path / f"m-{quant}.gguf", quant)
    back, back_tokenizer = load_gguf(path)
    prompt = tokenizer.apply_chat_template(chat_messages(INSTRUCTION, TEXT, LABELS), tokenize=False,
                                           add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    # The tokenizer in the file: the same ids, the same chat template and special tokens.
    assert torch.equal(back_tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"], ids)
    assert back_tokenizer.chat_template == tokenizer.chat_template
    assert (back_tokenizer.eos_token, back_tokenizer.bos_token) == (tokenizer.eos_token, tokenizer.bos_token)
    with torch.no_grad():
        want, got = model(ids).logits, back(ids).logits
    assert (want - got).abs().max().item() < tolerance * max(1.0, want.abs().max().item())
    # A random model's top tokens are near ties, which 8-bit weights may flip at a few positions.
    agree = (want.argmax(-1) == got.argmax(-1)).float().mean().item()
    assert agree == 1.0 if quant == "f16" else agree >= 0.8


def test_the_read_back_parses_the_file_once_and_loads_what_transformers_loads_alone(model_cache, tmp_path,
                                                                                     monkeypatch):
    """load_gguf shares one gguf reader per file between the tokenizer, the config and the weights
    (transformers parses the file three times otherwise); the model and tokenizer are the ones plain
    from_pretrained(gguf_file=...) gives, and gguf's own reader is back in place afterwards."""
    import gguf
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = _model("llama", model_cache)
    path = write_gguf(model, tokenizer, tmp_path / "m-q8_0.gguf", "q8_0")
    opened, reader = [], gguf.GGUFReader

    class Counted(reader):
        def __init__(self, *args, **kwargs):
            opened.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(gguf, "GGUFReader", Counted)
    alone_tokenizer = AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name)
    alone = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name, dtype=torch.float32)
    assert len(opened) == 3  # transformers alone: the tokenizer's config, the model's config, its weights
    opened.clear()
    back, back_tokenizer = load_gguf(path)
    assert len(opened) == 1 and gguf.GGUFReader is Counted
    want, got = alone.state_dict(), back.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    assert back_tokenizer.get_vocab() == alone_tokenizer.get_vocab()
    assert back_tokenizer.chat_template == alone_tokenizer.chat_template
    # A reader opened for writing (as a test alters a file) is never shared.
    from tools.export.gguf_export import parsed_once

    with parsed_once():
        assert gguf.GGUFReader(str(path)) is gguf.GGUFReader(str(path))
        assert gguf.GGUFReader(str(path), "r+") is not gguf.GGUFReader(str(path), "r+")
    assert gguf.GGUFReader is Counted


def test_an_unsupported_architecture_is_a_one_line_error(tmp_path, capsys):
    from transformers import GPT2Config

    with pytest.raises(ValueError) as err:
        gguf_architecture(GPT2Config())
    message = str(err.value)
    assert "\n" not in message and "Llama" in message and "Qwen2" in message and "Qwen3" in message
    assert "'gpt2'" in message
    from transformers import LlamaConfig

    llama31 = LlamaConfig(max_position_embeddings=131072, rope_scaling={
        "rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192})
    with pytest.raises(ValueError, match="^GGUF export does not write 'llama3' rope scaling yet: [^\n]+$"):
        gguf_architecture(llama31)  # Llama 3.1+: llama.cpp needs its rope_freqs tensor, not written here
    # Through the CLI: refused before anything is loaded or written.
    model = tmp_path / "run" / "best_adapter"
    model.mkdir(parents=True)
    GPT2Config(n_layer=1, n_embd=8, n_head=2).save_pretrained(model)
    (model / "trex_model.json").write_text(json.dumps({"kind": "full", "base_model": "gpt2"}))
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "out"), "--gguf"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {message}"]
    assert not (tmp_path / "out").exists()


@pytest.fixture
def full_run(tmp_path, model_cache) -> Path:
    """A run directory as the graph leaves one, without training: the tiny model as a full fine-tune in
    best_adapter/ with its trex_model.json, and validation rows in data/val.jsonl."""
    run = tmp_path / "run"
    shutil.copytree(_tiny(model_cache), run / "best_adapter")
    task = {"task_type": "classification", "instruction": INSTRUCTION, "labels": LABELS, "metric": "accuracy",
            "max_new_tokens": 32, "scoring": "choice"}
    manifest = {"format": "trex-model/1", "kind": "full", "task_name": "tiny_intents", "base_model": "trex/tiny-random",
                "base_model_path": None, "base_weights": "", "task": task, "scoring": "choice",
                "prompt": {"template": "chat", "instruction": INSTRUCTION,
                           "chat_messages": chat_messages(INSTRUCTION, INPUT, LABELS),
                           "plain": plain_prompt(INSTRUCTION, INPUT, LABELS)},
                "input_fields": ["text"], "licence_warnings": [], "trial": {}, "tokenizer": True,
                "scores": {"metric": "accuracy", "val": 0.5, "test": 0.5}}
    (run / "best_adapter" / "trex_model.json").write_text(json.dumps(manifest))
    rows = [json.loads(line) for line in (REPO / "tools/data/shipped/data/bank_intents.jsonl").read_text().splitlines()]
    rows = [{"input": r["text"], "output": r["intent"]} for r in rows if r["intent"] in LABELS][:16]
    (run / "data").mkdir()
    (run / "data" / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def test_a_checked_gguf_export_writes_the_check_into_its_readme(full_run, tmp_path, capsys):
    from tools.export.export import export_tuned

    out = export_tuned(full_run, tmp_path / "out", gguf="f16")
    printed = capsys.readouterr().out
    # No stored predictions in this run directory (as in a run of an older TREX): the reference is scored here.
    assert printed.splitlines()[0] == ("reference scored again from the best adapter: the run stored no validation "
                                       "predictions (val_predictions.json: a run of an older TREX)")
    assert "check on 16 validation rows of run" in printed
    assert "gguf f16   16/16 answers as the run (100.0 %, needs 99.5 %), accuracy" in printed
    assert "llama.cpp: not checked" in printed or "llama.cpp:" in printed
    readme = (out / "README.md").read_text()
    assert "## Checked" in readme and "gguf f16   16/16 answers as the run" in readme
    assert "ollama create tiny-intents -f Modelfile" in readme and "llama-cli -m tiny_intents-f16.gguf" in readme
    assert json.loads((out / "trex_model.json").read_text())["gguf"] == {"file": "tiny_intents-f16.gguf",
                                                                           "quant": "f16"}


def _negate_output_norm(path: Path) -> None:
    """Alter a written GGUF in place: the final norm's weights negated, which negates every logit."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path), "r+")
    tensor = next(t for t in reader.tensors if t.name == "output_norm.weight")
    tensor.data[...] = -tensor.data
    reader.data.flush()


def test_the_check_fails_with_the_differing_examples_when_the_written_model_is_altered(full_run, tmp_path,
                                                                                        monkeypatch):
    from tools.export import gguf_export
    from tools.export.export import export_tuned

    def write_then_alter(*args, **kwargs):
        path = write_gguf(*args, **kwargs)
        _negate_output_norm(path)
        return path

    monkeypatch.setattr(gguf_export, "write_gguf", write_then_alter)
    with pytest.raises(ExportCheckFailed) as err:
        export_tuned(full_run, tmp_path / "out", gguf="f16")
    lines = str(err.value).splitlines()
    assert lines[0].startswith("export check failed: gguf f16 answer differently from the run")
    assert "FAILED" in lines[1] and "needs 99.5 %" in lines[1]
    differing = [line for line in lines if line.startswith("  input ")]
    shown = [re.fullmatch(r"  input '.+': run '(\w+)', export '(\w+)'", line) for line in differing]
    assert differing and all(m and m[1] != m[2] for m in shown)
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "FAILED" in readme  # the README of the files left behind says so too


def test_the_modelfile_of_a_plain_prompt_trial_prompts_as_trex_did():
    from tools.export.modelfile import modelfile

    manifest = {"task_name": "t", "base_model": "b", "scoring": "generate", "task": {"max_new_tokens": 8},
                "prompt": {"template": "plain", "chat_messages": chat_messages(INSTRUCTION, INPUT, []),
                           "plain": plain_prompt(INSTRUCTION, INPUT, [])}}
    text = modelfile("t-q8_0.gguf", manifest, "{{ messages }}", "<|im_end|>")
    assert 'TEMPLATE """{{ .System }}\nInput: {{ .Prompt }}\nOutput: """' in text
    assert f'SYSTEM """{INSTRUCTION}"""' in text and "PARAMETER num_predict 8" in text
    assert 'PARAMETER stop "Input:"' in text and 'PARAMETER stop "<|im_end|>"' in text


def test_trex_predict_on_a_gguf_export_says_where_to_run_it(tmp_path, capsys):
    (tmp_path / "trex_model.json").write_text(json.dumps({"kind": "gguf", "gguf": {"file": "t-q8_0.gguf"},
                                                          "input_fields": []}))
    (tmp_path / "in.txt").write_text("hello\n")
    assert main(["predict", str(tmp_path), str(tmp_path / "in.txt")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {tmp_path} holds a GGUF export (t-q8_0.gguf), which TREX does not load: run it with llama.cpp or "
        "Ollama (its README.md), or export with --merge"]


def _store_predictions(run: Path, answers=None, rows=None, setup=None) -> list[str]:
    """best_adapter/val_predictions.json as a run's validation scoring leaves it (its answers to the first rows,
    the rows' digests, how they were computed); answers/rows/setup replace what it holds. Returns the answers."""
    from tools.export import export_check as check
    from tools.export.best_adapter import PREDICTIONS
    from tools.export.manifest import read_manifest
    from tools.export.tuned_model import load_model_and_tokenizer
    from tools.worker.scoring import kept_predictions

    records, _ = check.probe_records(run / "best_adapter")
    manifest = read_manifest(run / "best_adapter")
    model, tokenizer = load_model_and_tokenizer(run / "best_adapter", manifest, "cpu")
    kept = kept_predictions(records, check.predictions(model, tokenizer, manifest, records), model)
    kept.update({k: v for k, v in (("answers", answers), ("rows", rows), ("setup", setup)) if v is not None})
    (run / "best_adapter" / PREDICTIONS).write_text(json.dumps({"split": "val", **kept}))
    return kept["answers"]


def _counted(monkeypatch) -> list[int]:
    """Count the probe scorings (each written model's, plus the reference's when it is scored again)."""
    from tools.export import export_check as check

    calls, scored = [], check.predictions
    monkeypatch.setattr(check, "predictions", lambda *a, **k: calls.append(1) or scored(*a, **k))
    return calls


def test_the_check_scores_only_the_written_model_when_the_run_stored_its_predictions(full_run, tmp_path, capsys,
                                                                                    monkeypatch):
    from tools.export.export import export_tuned

    answers = _store_predictions(full_run)
    capsys.readouterr()
    calls = _counted(monkeypatch)
    out = export_tuned(full_run, tmp_path / "out", gguf="f16")
    printed = capsys.readouterr().out
    assert len(calls) == 1  # the GGUF read back; the run's answers came from its stored scoring
    assert "reference scored again" not in printed
    assert "check on 16 validation rows of run: the run's predictions (stored by its validation scoring)" in printed
    assert "gguf f16   16/16 answers as the run" in printed and not (out / "val_predictions.json").exists()
    # The stored answers are the reference: where they say otherwise, the export disagrees with them.
    flipped = [LABELS[(LABELS.index(a) + 1) % len(LABELS)] for a in answers[:4]] + answers[4:]
    _store_predictions(full_run, answers=flipped)
    calls.clear()
    with pytest.raises(ExportCheckFailed) as err:
        export_tuned(full_run, tmp_path / "again", gguf="f16")
    assert len(calls) == 1 and "gguf f16   12/16 answers as the run" in str(err.value)
    shown = [line for line in str(err.value).splitlines() if line.startswith("  input ")]
    assert [re.search(r"run '(\w+)'", line)[1] for line in shown] == flipped[:4]


@pytest.mark.parametrize("changed, why", [
    ({"rows": ["0" * 16] * 16}, "the run's stored predictions (16) do not answer these 16 rows"),
    ({"answers": ["loan"] * 8}, "the run's stored predictions (8) do not answer these 16 rows"),
    ({"setup": {"device": "cuda", "dtype": "float32", "quantized": False, "autocast": True}},
     "the run scored with cuda/float32/autocast, this check with cpu/float32")])
def test_stored_predictions_of_other_rows_or_another_computation_are_scored_again(changed, why, full_run, tmp_path,
                                                                                capsys, monkeypatch):
    from tools.export.export import export_tuned

    _store_predictions(full_run, **changed)
    capsys.readouterr()
    calls = _counted(monkeypatch)
    out = export_tuned(full_run, tmp_path / "out", gguf="f16")
    assert len(calls) == 2  # the reference, then the GGUF
    assert capsys.readouterr().out.splitlines()[0] == f"reference scored again from the best adapter: {why}"
    assert f"reference scored again from the best adapter: {why}" in (out / "README.md").read_text()
