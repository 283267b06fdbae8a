"""phone_e164 (data_wide): is UCT's pick (lr 3e-3, 3 epochs, own data) worse on test than the chain's (lr 3e-3,
2 epochs)? Trains both with seeds 0-2 as a run's trial does (tools/trials/trial_jobs.py) and scores each on
validation (30), the task's test (45) and 300 fresh messages from the task's generator (another seed, none
seen in the task's files).

    .venv/bin/python -m benchmarks.tree_vs_chain.phone_e164_probe OUT_DIR    # about 4 min per row on 2 cores
"""
from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

FRESH = 300


def fresh_messages(n: int, seed: int = 1023) -> list[dict]:
    """n new messages in the task's own style, none of them in its data or its directory file."""
    from ftbench.generate_data_tasks import _phone_rows, phone_e164

    own, directory = phone_e164()
    seen = {r["text"] for r in own} | {r["text"] for r in directory}
    return [{"input": t, "output": f"+1{a}{b}{c}"} for t, a, b, c in _phone_rows(n, random.Random(seed), seen)]


def main(out: Path) -> None:
    from ftbench.space import make_config
    from tools.data.datasets import prepare_splits, write_jsonl
    from tools.data.spec_loading import load_spec
    from tools.data.task_catalog import resolve_task
    from tools.trials.trial_jobs import run_scoring, run_training
    from trex.context import Context

    out.mkdir(parents=True, exist_ok=True)
    spec, ctx, work = load_spec(resolve_task("phone_e164")), Context(), Path(tempfile.mkdtemp())
    data = prepare_splits(spec, work / "data")
    data["paths"]["fresh"] = str(work / "data" / "fresh.jsonl")
    write_jsonl(Path(data["paths"]["fresh"]), fresh_messages(FRESH))
    rows = []
    for seed in (0, 1, 2):
        for epochs in (2, 3):
            cfg = make_config({"lr": 3e-3, "epochs": epochs, "lora_r": 8, "batch_size": 8, "layer_fraction": 0.5,
                               "template": "chat", "max_samples": 60}, 60, seed)
            started = time.time()
            trained = run_training(spec, data, cfg, ctx)
            row = {"seed": seed, "epochs": epochs, "train_s": trained.get("train_s")}
            for name, split in (("val", "val"), ("test", "test"), (f"fresh{FRESH}", "fresh")):
                row[name] = run_scoring(spec, data, cfg, trained["adapter"], trained["key"], split, ctx,
                                        work / f"s{seed}e{epochs}{split}", ctx.max_eval_examples if split == "val" else None)["score"]
            rows.append({**row, "wall_s": round(time.time() - started, 1)})
            print(json.dumps(rows[-1]), flush=True)
            (out / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
