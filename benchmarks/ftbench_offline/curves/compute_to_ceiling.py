"""Compute to the ceiling (issue 34's goal): per policy, the training tokens a run spends before its best validation
score so far reaches 95 % of the best validation gain any trial of the curve table can give (the val-oracle: the
best point of any curve, as a trial keeps its best point), median over seeds, and the share of runs that never get
there within their trials.

    python -m benchmarks.ftbench_offline.curves.compute_to_ceiling RUNS_DIR [RUNS_DIR...] --table TABLE
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from statistics import median


def val_oracle(table: Path) -> dict[str, float]:
    """Per task, the best validation score of any point of any curve."""
    best: dict[str, float] = {}
    for line in table.read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        for p in e.get("curve") or []:
            best[e["task"]] = max(best.get(e["task"], float("-inf")), p["evals"]["val"]["score"])
    return best


def tokens_to_ceiling(rec: dict, oracle: float, share: float = 0.95) -> int | None:
    """Tokens spent up to and including the trial whose best-so-far validation gain reaches the share."""
    target = rec["base_val"] + share * (oracle - rec["base_val"])
    spent = 0
    for score, tokens in zip(rec["scores"], rec["trial_tokens"]):
        spent += tokens
        if score is not None and score >= target - 1e-12:
            return spent
    return None


def summarise(records: list[dict], oracle: dict[str, float]) -> dict[str, dict]:
    by_policy: dict[str, list] = defaultdict(list)
    for r in records:
        by_policy[r["policy"]].append(tokens_to_ceiling(r, oracle[r["task"]]))
    out = {}
    for policy, spent in by_policy.items():
        reached = [s for s in spent if s is not None]
        out[policy] = {"runs": len(spent), "never": round(1 - len(reached) / len(spent), 3),
                       "median_tokens": median(reached) if reached else None}
    return out


def median_ratio(records: list[dict], oracle: dict[str, float], policy: str, base: str = "uct_global",
                 resamples: int = 2000, seed: int = 0) -> tuple[float, tuple[float, float]] | None:
    """base's median tokens to the ceiling over `policy`'s, with a 95 % bootstrap interval that resamples the
    seeds within each task (both policies' runs of a drawn seed together); None when either never gets there."""
    import random

    runs = {(r["policy"], r["task"], r["seed"]): tokens_to_ceiling(r, oracle[r["task"]]) for r in records}
    seeds: dict[str, list] = defaultdict(list)
    for (pol, task, s) in runs:
        if pol == base and (policy, task, s) in runs:
            seeds[task].append(s)

    def ratio(drawn: dict[str, list]) -> float | None:
        a = [runs[(base, t, s)] for t, ss in drawn.items() for s in ss if runs[(base, t, s)] is not None]
        b = [runs[(policy, t, s)] for t, ss in drawn.items() for s in ss if runs[(policy, t, s)] is not None]
        return median(a) / median(b) if a and b else None

    point = ratio(seeds)
    if point is None:
        return None
    rng = random.Random(seed)
    draws = sorted(r for r in (ratio({t: [rng.choice(ss) for _ in ss] for t, ss in seeds.items()})
                               for _ in range(resamples)) if r is not None)
    return point, (draws[int(0.025 * len(draws))], draws[min(len(draws) - 1, int(0.975 * len(draws)))])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="output directories of `ftbench run` (their runs.jsonl)")
    parser.add_argument("--table", required=True, help="the curve table the runs replayed")
    args = parser.parse_args(argv)
    records = [json.loads(line) for d in args.runs
               for line in (Path(d) / "runs.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    oracle = val_oracle(Path(args.table))
    rows = summarise(records, oracle)
    print("| policy | runs | median tokens to 95 % of the val-oracle gain (k) | runs that never reach it "
          "| TREX-UCT / policy [95 % bootstrap] |")
    print("|---|---|---|---|---|")
    for policy, r in rows.items():
        tok = "-" if r["median_tokens"] is None else f"{r['median_tokens'] / 1000:.1f}"
        ratio = None if policy == "uct_global" else median_ratio(records, oracle, policy)
        shown = "" if ratio is None else f"{ratio[0]:.2f} [{ratio[1][0]:.2f}, {ratio[1][1]:.2f}]"
        print(f"| {policy} | {r['runs']} | {tok} | {r['never']:.0%} | {shown} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
