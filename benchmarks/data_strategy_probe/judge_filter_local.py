"""The judge filter with a real local chat model: scores 40 rows of the support_queues ticket export (shuffled,
seed 0) in batches, as a recipe's `judge_filter` would, and prints each score next to whether the row is noise by
the generator's construction. With the packaged SmolLM2-135M-Instruct (the default here) no answer fits the
schema and the step fails with its reason; point --model at a larger model (e.g. "openai:<name>" with
OPENAI_BASE_URL for a local server) to see whether a capable judge separates the noise.

    .venv/bin/python benchmarks/data_strategy_probe/judge_filter_local.py [--model hf:HuggingFaceTB/SmolLM2-135M-Instruct]
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from tools.data.recipe_judging import make_judge
from tools.data.recipe_ops import symbol_ratio
from tools.llm.chat_models import load_chat_model
from trex.recipe import parse_recipe

POOL = Path(__file__).resolve().parents[2] / "tools/data/shipped/data/support_queues_pool.jsonl"
LABELS = ["network", "password", "hardware", "billing", "software"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="hf:HuggingFaceTB/SmolLM2-135M-Instruct")
    ap.add_argument("--rows", type=int, default=40)
    args = ap.parse_args()
    rows = [json.loads(line) for line in POOL.read_text(encoding="utf-8").splitlines()]
    random.Random(0).shuffle(rows)
    records = [{"input": r["text"], "output": r["queue"]} for r in rows[:args.rows]]
    judge = make_judge(load_chat_model(args.model), "route an IT help-desk ticket to its queue", LABELS, args.model)
    started = time.time()
    try:
        scores = judge(records, parse_recipe({"judge_filter": {}}).judge_filter)
    except ValueError as err:
        print(f"failed after {time.time() - started:.0f} s: {err}\nreport: {judge.report}")
        return 1
    print(f"{time.time() - started:.0f} s, report: {judge.report}")
    for rec, score in zip(records, scores):
        noise = rec["input"].startswith("[ticket-import]") or symbol_ratio(rec["input"]) > 0.15
        print(f"{score!s:>5} {'noise' if noise else 'clean'} {rec['output']:>9} {rec['input'][:70]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
