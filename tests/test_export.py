"""What a user ships after a run: RUN_DIR/best_adapter/ with its tokenizer and trex_model.json, `load_tuned`,
`trex predict` and `trex export [--merge]`, on one real tiny run (the tiny random model, one trained trial)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graph.cli.commands import main
from tests.conftest import LABELS, REPO
from tools.export import load_tuned
from tools.export.export import _portable_base
from tools.export.prediction_inputs import read_inputs
from trex.metrics import get_metric

NON_COMMERCIAL = {"name": "CC-BY-NC-4.0", "commercial": False, "terms": "no commercial use"}
# One trial strong enough to beat the random base model on validation, so the run keeps an adapter.
STRONG = {"lr": 1e-2, "epochs": 8, "lora_r": 16, "layer_fraction": 1.0, "batch_size": 4}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, model_cache) -> Path:
    """A finished tiny run through the CLI: baseline round plus one trained trial (~1-2 min on 2 busy cores)."""
    root = tmp_path_factory.mktemp("export-run")
    rows = [json.loads(line) for line in (REPO / "tools/data/shipped/data/bank_intents.jsonl").read_text().splitlines()]
    data = root / "tiny.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in [r for r in rows if r["intent"] in LABELS][:60]))
    task = {"name": "tiny_intents", "goal": "route banking messages", "task_type": "classification",
            "base_model": "trex/tiny-random", "instruction": "Which request is this?",
            "data": [{"path": str(data), "input_field": "text", "output_field": "intent", "licence": NON_COMMERCIAL}],
            "labels": LABELS, "metric": "accuracy", "splits": {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 0},
            "budget": {"rounds": 1, "configs_per_round": 1, "max_train_samples": 36}, "search_space": STRONG}
    spec = root / "tiny.json"
    spec.write_text(json.dumps(task))
    cache = root / "cache"
    cache.mkdir()
    os.symlink(model_cache / "models", cache / "models")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in (("TREX_CACHE_DIR", cache), ("TREX_DEVICE", "cpu"), ("TREX_MAX_EVAL_EXAMPLES", 12),
                           ("TREX_TRIAL_TIMEOUT_S", 600)):
            mp.setenv(key, str(value))
        assert main(["run", str(spec), "--run-dir", str(root / "run")]) == 0
    return root / "run"


def test_inputs_from_jsonl_csv_and_text(tmp_path):
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('"plain"\n{"text": "by field"}\n\n{"input": "by input", "text": "x"}\n'
                     '{"messages": [{"role": "user", "content": "hi"}]}\n')
    assert read_inputs(str(jsonl), ["text"]) == ["plain", "by field", "by input", [{"role": "user", "content": "hi"}]]
    table = tmp_path / "in.csv"
    table.write_text("id,text\n1,first\n2,\"second, with comma\"\n")
    assert read_inputs(str(table), ["text"]) == ["first", "second, with comma"]
    text = tmp_path / "in.txt"
    text.write_text("one\n\ntwo\n")
    assert read_inputs(str(text)) == ["one", "two"]
    (tmp_path / "bad.jsonl").write_text('{"other": 1}\n')
    with pytest.raises(ValueError, match="line 1"):
        read_inputs(str(tmp_path / "bad.jsonl"), ["text"])


def test_an_exported_adapter_names_the_hub_base_not_the_cache_copy(tmp_path):
    config = tmp_path / "adapter_config.json"
    config.write_text(json.dumps({"base_model_name_or_path": "/cache/models/x", "r": 8}))
    _portable_base(tmp_path, {"base_model": "HuggingFaceTB/SmolLM2-135M-Instruct"})
    assert json.loads(config.read_text())["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    config.write_text(json.dumps({"base_model_name_or_path": "/cache/models/tiny"}))
    _portable_base(tmp_path, {"base_model": "trex/tiny-random"})  # no hub id: the local path stays
    assert json.loads(config.read_text())["base_model_name_or_path"] == "/cache/models/tiny"


def test_the_best_adapter_ships_with_its_tokenizer_and_manifest(run_dir):
    kept = run_dir / "best_adapter"
    assert (kept / "adapter_config.json").is_file() and (kept / "tokenizer.json").is_file()
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(str(kept)).chat_template  # the chat template came along
    man = json.loads((kept / "trex_model.json").read_text())
    assert man["base_model"] == "trex/tiny-random" and Path(man["base_model_path"]).is_dir()
    assert man["kind"] == "lora" and man["tokenizer"] is True and man["scoring"] == "choice"
    assert man["task"] == {"task_type": "classification", "instruction": "Which request is this?", "labels": LABELS,
                           "metric": "accuracy", "max_new_tokens": 32, "scoring": "choice"}
    assert man["prompt"]["template"] == man["trial"]["template"] == "chat"
    assert man["prompt"]["chat_messages"][0]["content"] == \
        "Which request is this? Answer with one of: balance, card_lost, loan."
    assert man["input_fields"] == ["text"]
    assert man["licence_warnings"] == ["non-commercial data: CC-BY-NC-4.0: no commercial use"]
    assert man["trial"]["lr"] == STRONG["lr"] and man["scores"]["metric"] == "accuracy"


def _test_split(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "data/test.jsonl").read_text().splitlines() if line.strip()]


def test_load_tuned_predicts_what_the_run_scored(run_dir):
    model = load_tuned(run_dir, device="cpu")
    records = _test_split(run_dir)
    preds = model.predict([r["input"] for r in records])
    assert len(preds) == len(records) and set(preds) <= set(LABELS)
    scored = json.loads((run_dir / "trials/n1/t0/eval_test_best/result.json").read_text())
    assert get_metric("accuracy").compute(preds, [r["output"] for r in records]) == scored["score"]
    by_input = dict(zip((r["input"] for r in records), preds))
    assert all(by_input[case["input"]] == case["prediction"] for case in scored["bad_cases"])
    assert model.predict([]) == [] and model.predict([[{"role": "user", "content": "I lost my card"}]])[0] in LABELS


# Plain transformers + torch, no TREX: the prompt from trex_model.json, the label by log P(label + EOS | prompt).
# Started with -I (no cwd, no PYTHONPATH); the venv's editable install of TREX is unhooked, so `tools` is gone.
ISOLATED = r"""
import json, sys
repo = sys.argv[3]
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path_hooks[:] = [h for h in sys.path_hooks if not getattr(h, "__module__", "").startswith("__editable__")]
sys.path[:] = [p for p in sys.path if p and p.rstrip("/") != repo]
sys.path_importer_cache.clear()
try:
    import tools
    sys.exit("the repo is importable")
except ImportError:
    pass
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
d, inputs = sys.argv[1], json.loads(sys.argv[2])
man = json.load(open(d + "/trex_model.json"))
model, tok = AutoModelForCausalLM.from_pretrained(d).eval(), AutoTokenizer.from_pretrained(d)
out = []
for text in inputs:
    turns = [{**m, "content": m["content"].replace("{input}", text)} for m in man["prompt"]["chat_messages"]]
    rendered = tok.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    prompt = tok(rendered, add_special_tokens=False)["input_ids"]
    best = None
    for label in man["task"]["labels"]:
        ans = tok(label, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([prompt + ans])).logits[0].float(), -1)
        score = sum(logp[len(prompt) - 1 + i, t].item() for i, t in enumerate(ans))
        best = best if best and best[0] >= score else (score, label)
    out.append(best[1])
print(json.dumps(out))
"""


def test_a_merged_export_loads_with_plain_transformers_and_predicts_the_same(run_dir, tmp_path, capsys):
    out = tmp_path / "merged"
    assert main(["export", str(run_dir), "--out", str(out), "--merge"]) == 0
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert json.loads((out / "trex_model.json").read_text())["kind"] == "merged"
    assert "AutoModelForCausalLM.from_pretrained" in (out / "README.md").read_text()
    inputs = [r["input"] for r in _test_split(run_dir)][:6]
    expected = load_tuned(out, device="cpu").predict(inputs)
    assert expected == load_tuned(run_dir, device="cpu").predict(inputs)  # merged = adapter on its base
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-I", "-c", ISOLATED, str(out), json.dumps(inputs), str(REPO)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected
    assert main(["export", str(run_dir), "--out", str(out)]) == 2  # never over an existing model
    assert "not empty" in capsys.readouterr().err


def test_an_adapter_export_carries_tokenizer_manifest_and_serving_notes(run_dir, tmp_path):
    out = tmp_path / "adapter"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "trex_model.json"):
        assert (out / name).is_file(), name
    assert not (out / "val_predictions.json").exists()  # the run's answers stay with the run
    readme = (out / "README.md").read_text()
    assert "vllm serve trex/tiny-random --enable-lora --lora-modules tiny_intents=DIR" in readme
    assert "PeftModel.from_pretrained" in readme and "CC-BY-NC-4.0" in readme


def test_trex_predict_on_a_file_and_on_stdin(run_dir, tmp_path, capsys, monkeypatch):
    inputs = ["I lost my card", "what is my balance", "can I get a loan"]
    file = tmp_path / "in.jsonl"
    file.write_text("".join(json.dumps({"text": t}) + "\n" for t in inputs))
    capsys.readouterr()
    assert main(["predict", str(run_dir), str(file), "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and set(lines) <= set(LABELS)
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(inputs) + "\n"))
    assert main(["predict", str(run_dir), "--jsonl", "--device", "cpu"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in rows] == inputs and [r["prediction"] for r in rows] == lines


def test_a_run_without_a_best_adapter_is_a_one_line_error(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    for argv in (["predict", str(run)], ["export", str(run), "--out", str(tmp_path / "o")]):
        done = subprocess.run([sys.executable, "-m", "graph.cli.commands", *argv], cwd=REPO, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines() == [f"error: {run} has no best adapter: the run has not finished, "
                                                    "no trial succeeded, or the base model beat every trial"]


def test_trex_export_gguf_writes_a_checked_gguf_and_an_ollama_modelfile(run_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "gguf"
    capsys.readouterr()
    from tools.export import export_check

    calls, scored = [], export_check.predictions
    monkeypatch.setattr(export_check, "predictions", lambda *a, **k: calls.append(1) or scored(*a, **k))
    stored = json.loads((run_dir / "best_adapter/val_predictions.json").read_text())
    assert len(stored["answers"]) == len(stored["rows"]) == 12 and set(stored["answers"]) <= set(LABELS)
    assert main(["export", str(run_dir), "--out", str(out), "--gguf"]) == 0
    printed = capsys.readouterr().out
    # The run's answers were stored by its validation scoring: only the written GGUF is scored.
    assert len(calls) == 1 and "(stored by its validation scoring)" in printed and "scored again" not in printed
    gguf = out / "tiny_intents-q8_0.gguf"
    assert gguf.is_file() and not (out / "adapter_model.safetensors").exists()
    assert "gguf q8_0" in printed and ": ok" in printed and "FAILED" not in printed
    modelfile = (out / "Modelfile").read_text()
    assert "FROM ./tiny_intents-q8_0.gguf" in modelfile and "<|im_start|>{{ .Role }}" in modelfile
    assert 'SYSTEM """Which request is this? Answer with one of: balance, card_lost, loan."""' in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile and "PARAMETER temperature 0" in modelfile
    readme = (out / "README.md").read_text()
    assert "## Checked" in readme and "gguf q8_0" in readme and "ollama create tiny-intents -f Modelfile" in readme
    manifest = json.loads((out / "trex_model.json").read_text())
    assert manifest["kind"] == "gguf" and manifest["gguf"] == {"file": gguf.name, "quant": "q8_0"}
