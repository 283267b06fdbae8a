"""Load test of the API server: `langgraph dev` (loopback, a free port) serving N concurrent runs of a tiny task.

    .venv/bin/python -m benchmarks.load_test [--runs 20] [--rounds 1] [--configs 2] [--cold] [--jobs-per-worker 20]

One warm-up run trains the tiny task's trials (tiny random model, 16 examples) into a trial cache; then N
runs start at once, one thread each, streaming updates and custom events like a client would. By default
they share the warm-up's seed and cache, so each run is the whole agent loop (research, planning, the tree,
checkpoints, insights, the report) with its training and scoring reused from the cache: the server and the
graph are what is measured, not the CPU's training speed. --cold gives every run its own seed, so each trains.

Checked for every run: it ended in success, its final state holds the report (on disk) and the test score,
its tree has the expected nodes, all evaluated, its run directory is its own, and its thread's checkpoint
history is one chain with steps going down and the tree only growing. Prints throughput (runs/min) and
latency (p50/p95 seconds from submission to the end of the stream); exits 1 if any check failed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LABELS = ["balance", "card_lost", "loan"]


def tiny_task(work: Path, rounds: int, configs: int) -> dict:
    rows = [json.loads(x) for x in (REPO / "tools/data/shipped/data/bank_intents.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["intent"] in LABELS][:60]
    (work / "data").mkdir(parents=True, exist_ok=True)
    (work / "data" / "tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"name": "tiny_intents", "goal": "route banking messages", "task_type": "classification",
            "base_model": "trex/tiny-random", "instruction": "Which request is this?",
            "data": [{"path": str(work / "data" / "tiny.jsonl"), "input_field": "text", "output_field": "intent"}],
            "labels": LABELS, "metric": "accuracy", "splits": {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 0},
            "budget": {"rounds": rounds, "configs_per_round": configs, "max_train_samples": 16}}


def build_tiny_model(cache: Path) -> None:
    code = f"from tools.models.base_models import resolve_model_dir, TINY; resolve_model_dir(TINY, {str(cache)!r})"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True)


async def one_run(client, task: dict, context: dict) -> dict:
    """Create a thread, stream a run to its end; what the checks need."""
    t0 = time.monotonic()
    thread = await client.threads.create()
    events, errors, run_id = 0, [], None
    async for part in client.runs.stream(thread["thread_id"], "trex", input={"task": task}, context=context,
                                         stream_mode=["updates", "custom"], stream_subgraphs=True):
        events += 1
        if part.event == "metadata":
            run_id = part.data.get("run_id")
        elif part.event == "error":
            errors.append(str(part.data)[:300])
    latency = time.monotonic() - t0
    tid = thread["thread_id"]
    run = await client.runs.get(tid, run_id) if run_id else {}
    return {"thread_id": tid, "start": t0, "latency": latency, "events": events, "errors": errors,
            "status": run.get("status"), "state": await client.threads.get_state(tid),
            "history": await client.threads.get_history(tid, limit=1000)}


def problems(res: dict, expected_nodes: set[str]) -> list[str]:
    out = [f"stream error: {e}" for e in res["errors"]]
    if res["status"] != "success":
        out.append(f"run status {res['status']}")
    values = res["state"].get("values") or {}
    if res["state"].get("next"):
        out.append(f"not finished: next {res['state']['next']}")
    if not values.get("report_path") or not Path(values["report_path"]).is_file():
        out.append("no report on disk")
    if (values.get("final") or {}).get("test_score") is None:
        out.append(f"no test score: {values.get('final')}")
    tree = values.get("tree") or {}
    if set(tree) != expected_nodes:
        out.append(f"tree nodes {sorted(tree)} != {sorted(expected_nodes)}")
    if any(n.get("status") != "evaluated" for n in tree.values()):
        out.append("a node is not evaluated")
    hist = res["history"]
    steps = [h["metadata"]["step"] for h in hist]
    if steps != sorted(set(steps), reverse=True):
        out.append(f"checkpoint steps not strictly decreasing: {steps[:10]}...")
    for newer, older in zip(hist, hist[1:]):
        if (newer.get("parent_checkpoint") or {}).get("checkpoint_id") != older["checkpoint"]["checkpoint_id"]:
            out.append("checkpoint history is not one chain")
            break
        if not set(older["values"].get("tree", {})) <= set(newer["values"].get("tree", {})):
            out.append("the tree lost a node between checkpoints")
            break
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


async def load(url: str, task: dict, base_ctx: dict, args) -> int:
    from langgraph_sdk import get_client

    client = get_client(url=url, timeout=None)
    expected = {"root", *(f"n{i}" for i in range(1, args.rounds + 1))}
    t = time.monotonic()
    warm = await one_run(client, task, {**base_ctx, "seed": 0})
    print(f"warm-up run: {time.monotonic() - t:.1f} s ({warm['events']} stream events) "
          f"{'ok' if not problems(warm, expected) else problems(warm, expected)}", flush=True)
    if not args.cold:  # the same work alone, for comparison with the latencies under load
        alone = await one_run(client, task, {**base_ctx, "seed": 0})
        print(f"one warm run alone: {alone['latency']:.1f} s", flush=True)
    seeds = [i + 1 if args.cold else 0 for i in range(args.runs)]
    t = time.monotonic()
    results = await asyncio.gather(*(one_run(client, task, {**base_ctx, "seed": s}) for s in seeds))
    wall = time.monotonic() - t
    failed = 0
    run_dirs = [(r["state"].get("values") or {}).get("run_dir") for r in results]
    for i, res in enumerate(results):
        issues = problems(res, expected)
        if run_dirs.count(run_dirs[i]) > 1:
            issues.append(f"run directory shared with another run: {run_dirs[i]}")
        failed += bool(issues)
        for issue in issues:
            print(f"run {i} ({res['thread_id']}): {issue}")
    lat = [r["latency"] for r in results]
    how = "cold: own seeds, trained" if args.cold else "warm: trials from the cache"
    print(f"\n{args.runs} concurrent runs ({how}, "
          f"{args.rounds} round(s) x {args.configs} configs, --n-jobs-per-worker {args.jobs_per_worker}):")
    print(f"  finished and consistent: {args.runs - failed}/{args.runs}")
    print(f"  wall {wall:.1f} s  throughput {args.runs / wall * 60:.1f} runs/min")
    print(f"  latency p50 {statistics.median(lat):.1f} s  p95 {pct(lat, 0.95):.1f} s  max {max(lat):.1f} s")
    print(f"  stream events per run: {statistics.median(r['events'] for r in results):.0f} (median)")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--configs", type=int, default=2)
    parser.add_argument("--cold", action="store_true", help="each run its own seed: every run trains its trials")
    parser.add_argument("--jobs-per-worker", type=int, default=20, help="runs the server executes at once")
    parser.add_argument("--workdir", help="keep the runs, cache and server log here (default: a temp dir)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from tests.langgraph_dev import dev_server

    work = Path(args.workdir or tempfile.mkdtemp(prefix="trex-load-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    build_tiny_model(work / "cache")
    task = tiny_task(work, args.rounds, args.configs)
    ctx = {"cache_dir": str(work / "cache"), "runs_dir": str(work / "runs"), "data_dirs": str(work / "data"),
           "device": "cpu", "trial_timeout_s": 600, "max_eval_examples": 12}
    print(f"work dir {work}", flush=True)
    t = time.monotonic()
    with dev_server(work / "server", jobs_per_worker=args.jobs_per_worker) as url:
        print(f"server {url} up in {time.monotonic() - t:.1f} s", flush=True)
        code = asyncio.run(load(url, task, ctx, args))
    print(f"server stopped; its log: {work / 'server' / 'server.log'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
