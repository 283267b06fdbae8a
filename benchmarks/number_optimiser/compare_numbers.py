"""Compare two `ftbench run` outputs of the same policy, tasks and seeds that differ only in TREX_NUMBERS
(prior vs tpe; docs/number-optimiser.md): mean test gain of each, the ratio B / A, per task and over the tier,
with a 95 % percentile bootstrap interval that resamples the seeds within each task, paired (the same seeds
for both). Usage: python benchmarks/number_optimiser/compare_numbers.py A_DIR B_DIR [more A,B pairs ...]"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from statistics import fmean

from ftbench.results import with_gains

N_BOOT = 2000


def gains(directory: str) -> dict[str, dict[int, float]]:
    """task -> seed -> test gain of the run's best-on-validation trial."""
    out: dict[str, dict[int, float]] = {}
    for line in (Path(directory) / "runs.jsonl").read_text(encoding="utf-8").splitlines():
        rec = with_gains([json.loads(line)])[0]
        out.setdefault(rec["task"], {})[rec["seed"]] = rec["gain_test"] or 0.0
    return out


def compare(pairs: list[tuple[str, str]], seed: int = 0) -> dict:
    """Tier = every task of every pair, each task weighted alike."""
    a_all, b_all = {}, {}
    for a_dir, b_dir in pairs:
        a, b = gains(a_dir), gains(b_dir)
        if set(a) != set(b) or any(set(a[t]) != set(b[t]) for t in a):
            raise SystemExit(f"{a_dir} and {b_dir} differ in tasks or seeds: not a paired comparison")
        a_all.update(a)
        b_all.update(b)
    tasks = list(a_all)
    seeds = {t: sorted(a_all[t]) for t in tasks}
    rng = random.Random(seed)
    boots = []
    for _ in range(N_BOOT):
        draw = {t: [rng.choice(seeds[t]) for _ in seeds[t]] for t in tasks}
        ma = fmean(fmean(a_all[t][s] for s in draw[t]) for t in tasks)
        mb = fmean(fmean(b_all[t][s] for s in draw[t]) for t in tasks)
        boots.append((ma, mb, mb / ma if ma else float("nan")))

    def ci(i: int) -> list[float]:
        xs = sorted(x[i] for x in boots)
        return [round(xs[int(0.025 * N_BOOT)], 3), round(xs[int(0.975 * N_BOOT) - 1], 3)]

    per_task = {t: {"a": round(fmean(a_all[t].values()), 3), "b": round(fmean(b_all[t].values()), 3),
                    "seeds": len(seeds[t])} for t in tasks}
    ma = fmean(fmean(a_all[t].values()) for t in tasks)
    mb = fmean(fmean(b_all[t].values()) for t in tasks)
    return {"a": round(ma, 3), "a_ci": ci(0), "b": round(mb, 3), "b_ci": ci(1), "ratio": round(mb / ma, 3),
            "ratio_ci": ci(2), "per_task": per_task}


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) < 2 or len(args) % 2:
        raise SystemExit(__doc__)
    print(json.dumps(compare(list(zip(args[::2], args[1::2]))), indent=1))
