"""benchmarks/gpu_check.py runs on a CPU with a tiny model (no GPU here): the random model and its tokenizer
load, a LoRA stage trains in its own process and reports tokens/s, and the trial stage goes through TREX's
own trial path. On a GPU the same code runs the Qwen3-1.7B shape, PEFT against Unsloth."""
import json

from benchmarks import gpu_check


def test_the_shipped_shape_is_qwen3_1_7b():
    shape = gpu_check.model_config(tiny=False)
    assert (shape["model_type"], shape["hidden_size"], shape["num_hidden_layers"], shape["vocab_size"]) == \
        ("qwen3", 2048, 28, 151936)


def test_the_gpu_check_runs_on_a_cpu_with_a_tiny_model(tmp_path, model_cache, monkeypatch):
    monkeypatch.setenv("TREX_CACHE_DIR", str(model_cache))
    out = tmp_path / "report.json"
    report = gpu_check.main(["--tiny", "--device", "cpu", "--skip", "unsloth", "--steps", "2", "--warmup", "1",
                             "--seq-len", "32", "--batch", "2", "--tasks", "bank_intents", "--out", str(out)])
    assert json.loads(out.read_text()) == report
    peft = report["lora"]["peft"]
    assert peft["status"] == "ok" and peft["tokens_per_s"] > 0 and peft["steps"] == 2, peft
    assert "unsloth" not in report["lora"] and "unsloth_over_peft" not in report
    trial = report["trial"]["bank_intents"]
    assert trial["train_status"] == "ok" and trial["backend"] == "peft" and trial["scoring"] == "choice", trial
    assert trial["test_status"] == "ok" and 0.0 <= trial["test_score"] <= 1.0
