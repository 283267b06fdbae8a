"""GPU check: LoRA speed and memory with PEFT and with Unsloth, then one whole TREX trial on CUDA.

One command, about 5-8 minutes on one GPU, nothing downloaded:

    pip install -e '.[gpu]'
    python -m benchmarks.gpu_check --out gpu_check.json

1. `lora`: the same LoRA work (random token batches, loss on every token, AdamW) with TREX's two GPU backends:
   PEFT in bfloat16 (TREX's `peft` path) and Unsloth (TREX's `unsloth` path: its fast kernels and its gradient
   checkpointing), on a Qwen3-1.7B-shaped model with random weights built from benchmarks/configs/qwen3-1.7b.json
   (speed and memory do not depend on the weights). Each backend runs in its own process: Unsloth patches
   model classes process-wide. Prints tokens/s over the timed steps and peak GPU memory.
2. `trial`: TREX's own trial path (tools/trials/trial_jobs.py) on CUDA with the packaged SmolLM2-135M-Instruct:
   a training job (backend auto: Unsloth when installed) that also scores validation, then test scoring by
   label choice (bank_intents) and by generation (date_iso).

`--tiny --device cpu --skip unsloth` runs the same code on a CPU with a tiny model (what the tests do).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "benchmarks" / "configs" / "qwen3-1.7b.json"
TINY_SHAPE = {"vocab_size": 512, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 1024,
              "bos_token_id": 0, "eos_token_id": 1}
BACKENDS = ("peft", "unsloth")


def model_config(tiny: bool) -> dict:
    shape = {k: v for k, v in json.loads(CONFIG.read_text()).items() if not k.startswith("_")}
    return {**shape, **TINY_SHAPE} if tiny else shape


def build_random_model(out: Path, config: dict) -> Path:
    """A model of the config's shape with random weights, and a word-level tokenizer whose vocabulary has
    exactly the model's size (loaders that check the tokenizer against the embeddings find them equal)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

    cfg = AutoConfig.for_model(**{k: v for k, v in config.items() if k not in ("architectures", "torch_dtype")})
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16)
    model.save_pretrained(out)
    vocab = {f"w{i}": i for i in range(cfg.vocab_size)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="w2"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=f"w{cfg.bos_token_id}",
                                   eos_token=f"w{cfg.eos_token_id}", pad_token="w2", unk_token="w2")
    fast.save_pretrained(out)
    return out


def _peft_model(model_dir: str, rank: int, device: str):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tools.worker.backends import TARGET_MODULES

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=dtype).to(device)
    return get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                                            target_modules=TARGET_MODULES, task_type="CAUSAL_LM"))


def _unsloth_model(model_dir: str, rank: int, seq_len: int):  # pragma: no cover - needs a CUDA GPU
    import torch
    from unsloth import FastLanguageModel

    from tools.worker.backends import TARGET_MODULES

    model, _ = FastLanguageModel.from_pretrained(model_name=model_dir, max_seq_length=seq_len, dtype=torch.bfloat16,
                                                 load_in_4bit=False)
    return FastLanguageModel.get_peft_model(model, r=rank, lora_alpha=2 * rank, lora_dropout=0.0,
                                            target_modules=TARGET_MODULES, use_gradient_checkpointing="unsloth",
                                            random_state=0)


def lora_throughput(backend: str, model_dir: str, device: str, batch: int, seq_len: int, steps: int,
                    warmup: int, rank: int = 16) -> dict:
    """Train `warmup + steps` LoRA steps on random tokens; tokens/s over the last `steps`, peak memory."""
    import torch

    if backend == "unsloth":
        import unsloth  # noqa: F401  - before transformers' model classes are used, as Unsloth asks
    model = _unsloth_model(model_dir, rank, seq_len) if backend == "unsloth" else _peft_model(model_dir, rank, device)
    model.train()
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(0)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    cuda = device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    losses, started = [], None
    for step in range(warmup + steps):
        if step == warmup:
            sync()
            started = time.perf_counter()
        ids = torch.randint(3, vocab, (batch, seq_len), generator=gen).to(model.device)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    sync()
    seconds = time.perf_counter() - started
    out = {"backend": backend, "tokens_per_s": round(batch * seq_len * steps / seconds, 1),
           "seconds": round(seconds, 2), "steps": steps, "batch": batch, "seq_len": seq_len, "lora_r": rank,
           "first_loss": round(losses[0], 3), "last_loss": round(losses[-1], 3), "device": str(model.device)}
    if cuda:
        out["peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        out["gpu"] = torch.cuda.get_device_name()
    return out


def _in_process(args: list[str], timeout_s: float) -> dict:
    """Run one stage of this module in a fresh Python process; its last RESULT line, or the error."""
    try:
        done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": f"timed out after {timeout_s:g} s"}
    line = next((x for x in reversed(done.stdout.splitlines()) if x.startswith("RESULT ")), None)
    if done.returncode or line is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"status": "failed", "error": " | ".join(tail) or f"exit code {done.returncode}"}
    return {"status": "ok", **json.loads(line[len("RESULT "):])}


def trial_check(device: str, tiny: bool, work: Path, tasks: tuple[str, ...] = ("bank_intents", "date_iso")) -> dict:
    """One TREX trial per scoring kind through the product's own path: train (validation scored in the job or,
    after Unsloth, in a plain process), then score the hidden test split with the adapter."""
    from tools.data.datasets import prepare_splits
    from tools.data.spec_loading import load_task
    from tools.trials import trial_jobs
    from trex.context import Context

    # A fresh trial cache (nothing comes from an earlier run), sharing the user's built base models.
    models = Path(Context().cache_dir) / "models"
    models.mkdir(parents=True, exist_ok=True)
    (work / "cache").mkdir()
    (work / "cache" / "models").symlink_to(models, target_is_directory=True)
    ctx = Context(runs_dir=str(work / "runs"), cache_dir=str(work / "cache"), device=device, backend="auto",
                  trial_timeout_s=600, max_eval_examples=32)
    cfg = {"id": "gpu", "lr": 1e-3, "epochs": 1, "lora_r": 8, "lora_alpha": 16, "batch_size": 8,
           "max_samples": 32 if tiny else 128, "layer_fraction": 1.0, "template": "chat", "seed": 0}
    out = {}
    for task in tasks:
        spec = load_task(task)
        if tiny:
            spec = spec.model_copy(update={"base_model": "trex/tiny-random"})
        data = prepare_splits(spec, work / task / "data")
        began = time.perf_counter()
        trained = trial_jobs.run_training(spec, data, cfg, ctx)
        row = {"scoring": spec.scoring, "train_status": trained["status"], "backend": trained.get("backend"),
               "device": trained.get("device"), "train_s": trained.get("train_s"),
               "tokens_per_s": trained.get("tokens_per_s"), "peak_gpu_memory_mb": trained.get("peak_gpu_memory_mb"),
               "error": trained.get("error")}
        if trained["status"] == "ok":
            val = trial_jobs.run_scoring(spec, data, cfg, trained["adapter"], trained["key"], "val", ctx,
                                         work / task / "val", ctx.max_eval_examples)
            test = trial_jobs.run_scoring(spec, data, cfg, trained["adapter"], trained["key"], "test", ctx,
                                          work / task / "test", ctx.max_eval_examples)
            row.update(val_status=val["status"], val_score=val.get("score"), test_status=test["status"],
                       test_score=test.get("score"), error=val.get("error") or test.get("error"))
        row["wall_s"] = round(time.perf_counter() - began, 1)
        out[task] = row
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="a tiny model shape and a tiny base model (CPU smoke test)")
    parser.add_argument("--skip", default="", help="comma-separated: peft, unsloth, trial")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--tasks", default="bank_intents,date_iso", help="the trial stage's tasks (choice, generation)")
    parser.add_argument("--out", help="also write the JSON report here")
    parser.add_argument("--stage", help=argparse.SUPPRESS)  # internal: one backend's run in a fresh process
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:  # the child process of one lora stage
        result = lora_throughput(args.stage, args.model_dir, args.device, args.batch, args.seq_len, args.steps,
                                 args.warmup)
        print("RESULT " + json.dumps(result), flush=True)
        return result
    skip = {s for s in args.skip.split(",") if s}
    report: dict = {"device": args.device, "tiny": args.tiny, "lora": {}, "trial": None}
    with tempfile.TemporaryDirectory(prefix="trex-gpu-check-") as tmp:
        work = Path(tmp)
        if not {"peft", "unsloth"} <= skip:
            began = time.perf_counter()
            model_dir = build_random_model(work / "model", model_config(args.tiny))
            report["model_build_s"] = round(time.perf_counter() - began, 1)
            for backend in BACKENDS:
                if backend in skip:
                    continue
                stage = ["--stage", backend, "--model-dir", str(model_dir), "--device", args.device,
                         "--batch", str(args.batch), "--seq-len", str(args.seq_len), "--steps", str(args.steps),
                         "--warmup", str(args.warmup)]
                report["lora"][backend] = _in_process(stage, 900)
                print(f"lora {backend}: {json.dumps(report['lora'][backend])}", flush=True)
            speeds = {b: r["tokens_per_s"] for b, r in report["lora"].items() if r.get("status") == "ok"}
            if len(speeds) == 2:
                report["unsloth_over_peft"] = round(speeds["unsloth"] / speeds["peft"], 3)
        if "trial" not in skip:
            report["trial"] = trial_check(args.device, args.tiny, work, tuple(args.tasks.split(",")))
            print(f"trial: {json.dumps(report['trial'])}", flush=True)
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
