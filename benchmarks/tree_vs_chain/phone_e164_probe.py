"""phone_e164 (data_wide): is UCT's pick (lr 3e-3, 3 epochs, own data) worse on test than the chain's (lr 3e-3,
2 epochs)? Retrain both with seeds 0-2 and score each on validation (30), the task's test (45) and 300 fresh
messages from the task's generator (another seed, none seen in the task's files).

    .venv/bin/python benchmarks/tree_vs_chain/phone_e164_probe.py OUT_DIR    # about 4 min per row on 2 cores
"""
import json, random, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ftbench.generate_data_tasks import _phone_rows, phone_e164
from tools.data.datasets import prepare_splits, write_jsonl
from tools.data.spec_loading import load_spec
from tools.data.task_catalog import resolve_task
from tools.trials.trial_jobs import task_payload
from tools.trials.trial_runner import run_job

out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
spec = load_spec(resolve_task("phone_e164"))
work = Path(tempfile.mkdtemp())
data = prepare_splits(spec, work / "data")
own, directory = phone_e164()
seen = {r["text"] for r in own} | {r["text"] for r in directory}
fresh = [{"input": t, "output": f"+1{a}{b}{c}"} for t, a, b, c in _phone_rows(300, random.Random(1023), seen)]
big = work / "data" / "fresh_test.jsonl"
write_jsonl(big, fresh)
print("sizes", data["sizes"], "fresh", len(fresh), "train row", open(data["paths"]["train"]).readline().strip(), flush=True)
base = {"base_model": spec.base_model, "cache_dir": str(Path.home() / ".cache/trex"), "device": "cpu", "backend": "peft",
        "task": task_payload(spec, data["labels"])}
rows = []
for seed in (0, 1, 2):
    for epochs in (2, 3):
        cfg = {"lr": 3e-3, "epochs": epochs, "lora_r": 8, "lora_alpha": 16, "batch_size": 8, "max_samples": 60,
               "layer_fraction": 0.5, "template": "chat", "seed": seed}
        t = time.time()
        tr = run_job({**base, "mode": "train", "config": cfg, "train_path": data["paths"]["train"],
                      "val_path": data["paths"]["val"], "score": {"eval_path": data["paths"]["val"], "max_examples": None}},
                     work / f"s{seed}e{epochs}", 1800, kept=True)
        row = {"seed": seed, "epochs": epochs, "val": tr["val_eval"]["score"], "train_s": tr["train_s"]}
        for name, path in (("test", data["paths"]["test"]), ("fresh300", str(big))):
            ev = run_job({**base, "mode": "eval", "config": cfg, "adapter": tr["adapter"], "eval_path": path,
                          "max_examples": None}, work / f"s{seed}e{epochs}{name}", 1800, kept=True)
            row[name] = ev["score"]
        row["wall_s"] = round(time.time() - t, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
        (out / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
