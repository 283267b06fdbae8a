"""Time choice scoring (tools/worker/scoring.choose_labels) of the default task's validation split at several batch
sizes, on the base model, alternating sizes over repeats; prints the median seconds per size and checks that every
size gives the same answers. `python -m benchmarks.scoring.choice_batch [--repeats 3] [--sizes 8,16,32]`"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    from tools.data.datasets import prepare_splits
    from tools.data.spec_loading import load_spec
    from tools.data.task_catalog import resolve_task
    from tools.trials.trial_jobs import task_payload
    from tools.worker import scoring
    from tools.worker.model_loading import load_model, read_jsonl
    from trex.context import Context

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="8,16,32")
    args = ap.parse_args()
    spec = load_spec(resolve_task("bank_intents"))
    data = prepare_splits(spec, Path(tempfile.mkdtemp()) / "data")
    task = task_payload(spec, data["labels"])
    model, tok = load_model({"base_model": spec.base_model, "cache_dir": Context().cache_dir, "device": "cpu"})
    records = read_jsonl(data["paths"]["val"])
    prompts = [scoring.record_prompt(tok, "chat", task, r) for r in records]
    sizes = [int(s) for s in args.sizes.split(",")]
    times: dict[int, list[float]] = {s: [] for s in sizes}
    answers = {}
    for _ in range(args.repeats):
        for size in sizes:
            started = time.perf_counter()
            answers[size] = scoring.choose_labels(model, tok, prompts, task["labels"], batch_size=size)
            times[size].append(time.perf_counter() - started)
    base = statistics.median(times[sizes[0]])
    for size in sizes:
        med = statistics.median(times[size])
        print(f"batch {size:3d}: median {med:6.2f} s over {args.repeats} ({', '.join(f'{t:.2f}' for t in times[size])})"
              f" = {med / base:.2f} x batch {sizes[0]}; {len(prompts)} prompts; same answers: "
              f"{answers[size] == answers[sizes[0]]}")


if __name__ == "__main__":
    main()
