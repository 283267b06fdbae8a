"""What did the warm-start loss filter drop? For each seed of warm_start_probe.py: the 60 training examples the
child saw (the worker's own shuffle and cap), each one's answer loss under the PARENT's adapter (the filter's
ranking), and how many of the dropped third are noise by the generator's construction (a "[ticket-import]" row,
whose queue name means another queue, or a scraped fragment: symbol ratio above 0.15, labelled billing).
Needs the probe's trials in the trial cache (it reuses them; nothing is trained).

    .venv/bin/python benchmarks/data_strategy_probe/loss_filter_precision.py --seeds 0 1 2 3 [--parent own]
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import warm_start_probe as probe  # noqa: E402  (the same task, parent and children)

from tools.data.datasets import prepare_splits  # noqa: E402
from tools.data.recipe_ops import symbol_ratio  # noqa: E402
from tools.data.spec_loading import load_spec  # noqa: E402
from tools.trials import trial_jobs  # noqa: E402
from tools.worker.lora_training import encode_split, example_losses  # noqa: E402
from tools.worker.model_loading import load_model, read_jsonl  # noqa: E402
from tools.worker.sequence_length import fit, model_positions, sequence_length  # noqa: E402
from trex.context import Context  # noqa: E402


def is_noise(record: dict) -> bool:
    return record["input"].startswith("[ticket-import]") or symbol_ratio(record["input"]) > 0.15


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--run-dir", default="/tmp/trex_warm_start_probe")
    ap.add_argument("--parent", choices=sorted(probe.PARENTS), default="raw", help="what the parent trained on")
    args = ap.parse_args()
    spec = load_spec(probe.HERE / "support_queues.yaml")
    data = prepare_splits(spec, Path(args.run_dir) / "data")
    task = trial_jobs.task_payload(spec, data["labels"])
    for seed in args.seeds:
        ctx = Context(seed=seed)
        parent = trial_jobs.run_training(spec, data, {**probe.PARENTS[args.parent][1], "seed": seed, "id": "p"}, ctx)
        child_cfg = {**probe.PARENT, "seed": seed, "epochs": 1, "warm_start": True,
                     "recipe": {"extra_sources": [probe.POOL], "loss_filter": 0.34}}
        train_path, _ = trial_jobs.training_data(spec, data, child_cfg, ctx)
        records = read_jsonl(train_path)
        random.Random(seed).shuffle(records)  # as the worker does (tools/worker/lora_training.train)
        records = records[: child_cfg["max_samples"]]
        job = {"base_model": spec.base_model, "cache_dir": ctx.cache_dir, "device": "cpu"}
        model, tokenizer = load_model(job, adapter=parent["adapter"])
        encoded = encode_split(tokenizer, records, task, "chat")
        encoded, _ = fit(encoded, sequence_length(task, encoded, model_positions(model.config)))
        losses = example_losses(model, encoded, tokenizer.pad_token_id)
        n_drop = int(round(0.34 * len(records)))
        dropped = sorted(range(len(records)), key=lambda i: -losses[i])[:n_drop]
        noise = sum(map(is_noise, records))
        hit = sum(is_noise(records[i]) for i in dropped)
        print(f"seed {seed}: {noise} of {len(records)} examples are noise ({noise / len(records):.0%}); the filter "
              f"dropped {n_drop}, {hit} of them noise (precision {hit / n_drop:.0%}, recall {hit / max(noise, 1):.0%}); "
              f"mean loss of the dropped {sum(losses[i] for i in dropped) / n_drop:.4f} (the worker's report of the "
              "trial says the same when this replays it exactly)",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
