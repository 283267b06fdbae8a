"""Probe (not a benchmark tier): does the loss filter help where it is meant to, on a WARM start? A parent
trained on support_queues with the raw ticket export (the probe's cold start, lr 3e-3, 2 epochs; with --parent own,
on the task's own examples only) is continued
for one epoch on (a) the raw export again, (b) the raw export under `loss_filter: 0.34` scored by the PARENT's
adapter (a model that has learnt the task ranks wrong labels high), (c) the rule-filtered export. Each child is
trained by the Executor's own runner (a fresh worker per job, cached in the trial cache) and scored on
validation and test. One line per child goes to --out (JSONL), with the recipe's and the loss filter's stats.

    .venv/bin/python benchmarks/data_strategy_probe/warm_start_probe.py --seeds 0 1 2 3 --out warm_start.jsonl
    .venv/bin/python benchmarks/data_strategy_probe/warm_start_probe.py --parent own --children 0 1 --seeds 0 1 \
        --out warm_start.jsonl
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tools.data.datasets import prepare_splits
from tools.data.spec_loading import load_spec
from tools.trials import trial_jobs
from tools.trials.runner import default_runner
from trex.context import Context
from trex.results import TrainResult

HERE = Path(__file__).parent
POOL = {"path": "../../tools/data/shipped/data/support_queues_pool.jsonl", "input_field": "text", "output_field": "queue",
        "weight": 2.0}
PARENT = {"batch_size": 8, "epochs": 2, "layer_fraction": 0.5, "lora_alpha": 16, "lora_r": 8, "lr": 0.003,
          "max_samples": 60, "template": "chat", "recipe": {"extra_sources": [POOL]}}
# --parent own: the parent learns the task's own 25 clean examples only (it has not seen the noisy rows, so it may
# rank their wrong labels higher than a parent that trained on them)
PARENTS = {"raw": ("parent (cold, raw export, 2 epochs)", PARENT),
           "own": ("parent (cold, own examples only, 2 epochs)", {**PARENT, "recipe": {}})}
CHILDREN = {
    "raw export again": {"extra_sources": [POOL]},
    "raw export + loss_filter 0.34 (parent's adapter)": {"extra_sources": [POOL], "loss_filter": 0.34},
    "rule-filtered export": {"extra_sources": [POOL], "filters": {"regex_exclude": "^\\[ticket-import\\]",
                                                                   "max_symbol_ratio": 0.15}},
}


def scored(runner, spec, data, cfg, out, ctx, run_dir: Path) -> dict:
    scores = {}
    for split in ("val", "test"):
        ev = runner.score(spec, data, cfg, out.adapter, out.key, split, ctx, run_dir / f"{cfg['id']}_{split}", 200)
        scores[split] = ev.score if ev.ok else None
    return scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--out", default=str(HERE / "warm_start.jsonl"))
    ap.add_argument("--run-dir", default="/tmp/trex_warm_start_probe")
    ap.add_argument("--parent", choices=sorted(PARENTS), default="raw", help="what the parent trained on")
    ap.add_argument("--children", type=int, nargs="+", help="which children (0-based, as listed); default all")
    args = ap.parse_args()
    spec = load_spec(HERE / "support_queues.yaml")
    run_dir = Path(args.run_dir)
    data = prepare_splits(spec, run_dir / "data")
    runner = default_runner()
    with open(args.out, "a", encoding="utf-8") as sink:
        for seed in args.seeds:
            ctx = Context(seed=seed)
            parent_name, parent_base = PARENTS[args.parent]
            parent_cfg = {**parent_base, "seed": seed, "id": f"parent_{args.parent}_s{seed}"}
            t = time.time()
            raw = trial_jobs.run_training(spec, data, parent_cfg, ctx)
            parent = TrainResult.from_job(raw)
            if not parent.ok:
                raise SystemExit(f"parent failed: {parent.failure}")
            rows = [(parent_name, parent_cfg, raw, time.time() - t)]
            for i, (name, recipe) in enumerate(CHILDREN.items()):
                if args.children and i not in args.children:
                    continue
                cfg = {**PARENT, "seed": seed, "id": f"child{i}_s{seed}", "epochs": 1, "warm_start": True,
                       "recipe": recipe}
                t = time.time()
                raw = trial_jobs.run_training(spec, data, cfg, ctx, (parent.adapter, parent.key))
                rows.append((name, cfg, raw, time.time() - t))
            for name, cfg, raw, wall in rows:
                out = TrainResult.from_job(raw)  # the job's own dict also holds the loss filter's report
                rec = {"task": spec.name, "seed": seed, "parent": args.parent, "variant": name,
                       "status": "ok" if out.ok else "failed",
                       "scores": scored(runner, spec, data, cfg, out, ctx, run_dir) if out.ok else {},
                       "train": out.stats, "loss_filter": raw.get("loss_filter"), "cached": out.cached,
                       "wall_s": round(wall, 1), "config": cfg}
                sink.write(json.dumps(rec, sort_keys=True) + "\n")
                sink.flush()
                print(f"seed {seed} {name}: {rec['status']} val {rec['scores'].get('val')} "
                      f"test {rec['scores'].get('test')} ({'cached' if out.cached else f'{wall:.0f} s'})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
