"""Kept workers against a fresh process per job: the wall time of a run's worker jobs, and the same results.

Runs the jobs of a small run twice, each time in fresh job directories and with no trial cache: score the base
model on validation, train T configurations (each scores validation while its model is loaded, as in a run),
then score the best one on test. Once with a fresh worker process per job (TREX_KEEP_WORKERS=0, the default),
once with a kept worker (TREX_KEEP_WORKERS=1). Reports each job's wall time as the graph's process sees it (start-up, imports,
model load and the work), the totals and their ratio, and checks that both ways give the same scores and
loss curves (a kept worker must not change a result). The order of the two ways alternates across repeats.

    .venv/bin/python -m benchmarks.kept_workers [--task bank_intents] [--trials 3] [--samples 32] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _jobs(task: str, trials: int, samples: int, work: Path, cache_dir: str) -> tuple[list[tuple[str, dict]], dict]:
    from tools.data.datasets import prepare_splits
    from tools.data.spec_loading import load_spec
    from tools.data.task_catalog import resolve_task
    from tools.trials.trial_jobs import task_payload

    spec = load_spec(resolve_task(task))
    data = prepare_splits(spec, work / "data")
    base = {"base_model": spec.base_model, "cache_dir": cache_dir, "device": "cpu", "backend": "peft",
            "task": task_payload(spec, data["labels"])}
    cfg = {"epochs": 1, "lora_r": 8, "lora_alpha": 16, "batch_size": 8, "max_samples": samples,
           "layer_fraction": 0.5, "template": "chat", "seed": 0}
    jobs = [("eval base val", {**base, "mode": "eval", "config": cfg, "adapter": None,
                               "eval_path": data["paths"]["val"], "max_examples": None})]
    for i, lr in enumerate([1e-3, 2e-3, 5e-4, 3e-3, 3e-4][:trials]):
        jobs.append((f"train lr {lr:g}", {**base, "mode": "train", "config": {**cfg, "lr": lr},
                                          "train_path": data["paths"]["train"], "val_path": data["paths"]["val"],
                                          "score": {"eval_path": data["paths"]["val"], "max_examples": None}}))
    return jobs, {**base, "mode": "eval", "config": cfg, "eval_path": data["paths"]["test"], "max_examples": None}


def run_way(kept: bool, task: str, trials: int, samples: int, cache_dir: str) -> dict:
    """Every job of one small run, in fresh job dirs; wall time per job seen from the parent, and results."""
    from tools.trials import kept_workers
    from tools.trials.trial_runner import run_job

    kept_workers.close_all()  # no worker left from the other way: each way starts cold, as a run does
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        jobs, test_job = _jobs(task, trials, samples, work, cache_dir)
        rows, best = [], None
        for i, (name, job) in enumerate(jobs):
            started = time.perf_counter()
            out = run_job(job, work / f"job{i}", 1800, kept=kept)
            rows.append({"job": name, "wall_s": round(time.perf_counter() - started, 2), "status": out.get("status"),
                         "score": (out.get("val_eval") or out).get("score"), "train_s": out.get("train_s"),
                         "loss_curve": out.get("loss_curve")})
            if out.get("adapter") and (best is None or rows[-1]["score"] > best[0]):
                best = (rows[-1]["score"], out["adapter"])
        started = time.perf_counter()
        out = run_job({**test_job, "adapter": best[1]}, work / "test", 1800, kept=kept)
        rows.append({"job": "eval best test", "wall_s": round(time.perf_counter() - started, 2),
                     "status": out.get("status"), "score": out.get("score")})
    kept_workers.close_all()
    return {"kept": kept, "jobs": rows, "total_s": round(sum(r["wall_s"] for r in rows), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="bank_intents")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "trex-bench-cache"))
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/kept_workers.json"))
    args = ap.parse_args()
    runs = []
    for r in range(args.repeats):
        for kept in ((False, True) if r % 2 == 0 else (True, False)):
            runs.append(run_way(kept, args.task, args.trials, args.samples, args.cache_dir))
            print(f"repeat {r} kept={kept}: {runs[-1]['total_s']} s", flush=True)
            print([(j["job"], j["wall_s"], j.get("train_s"), j["score"]) for j in runs[-1]["jobs"]], flush=True)
    fresh = [x for x in runs if not x["kept"]]
    kept = [x for x in runs if x["kept"]]
    same = all(json.dumps([(j["job"], j["score"], j.get("loss_curve")) for j in a["jobs"]]) ==
               json.dumps([(j["job"], j["score"], j.get("loss_curve")) for j in b["jobs"]]) for a in fresh for b in kept)
    summary = {"task": args.task, "trials": args.trials, "samples": args.samples, "repeats": args.repeats,
               "fresh_total_s": [x["total_s"] for x in fresh], "kept_total_s": [x["total_s"] for x in kept],
               "ratio_median": round(statistics.median(x["total_s"] for x in kept)
                                     / statistics.median(x["total_s"] for x in fresh), 3),
               "same_results": same, "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    for way in (fresh[0], kept[0]):
        print(("kept " if way["kept"] else "fresh"), [(j["job"], j["wall_s"], j.get("train_s")) for j in way["jobs"]])


if __name__ == "__main__":
    main()
