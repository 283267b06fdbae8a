"""The benchmark's results: normalised gains, the per task x policy table (Markdown and CSV), and one
plot per task of the best validation score so far against trials spent, one line per policy."""
from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

TREX_UCT = "uct_global"  # TREX's default policy: the one the goals compare


def normalised_gain(score: float | None, base: float | None, reference: float | None = None,
                    higher_is_better: bool = True) -> float | None:
    """(score - base) / (reference - base) where the task has a reference score beyond the base model's,
    else the plain improvement over the base model; both signed so that better is positive."""
    if score is None or base is None:
        return None
    gain = score - base if higher_is_better else base - score
    if reference is not None:
        gap = reference - base if higher_is_better else base - reference
        if gap > 1e-9:
            return gain / gap
    return gain


def check_comparable(records: list[dict]) -> None:
    """Refuse to compare policies that were given different search spaces or budgets on the same task: a
    ratio between them would measure the budget, not the policy. At equal compute (max_tokens set) a baseline's
    token budget must be TREX-UCT's on the same task and seed; at a fixed token budget (TREX-UCT's max_tokens set
    too) every policy's must be that one."""
    spent = {(r["task"], r["seed"]): r.get("tokens_trained") for r in records if r["policy"] == TREX_UCT}
    for task in dict.fromkeys(r["task"] for r in records):
        given = {r["policy"]: (r.get("space"), r.get("budget")) for r in records if r["task"] == task}
        if len(set(given.values())) > 1:
            raise ValueError(f"cannot compare policies given different spaces or budgets on {task}: "
                             + "; ".join(f"{p} space {s!r}, {b} trials" for p, (s, b) in given.items()))
    fixed = {(r["task"], r["seed"]): r.get("max_tokens") for r in records if r["policy"] == TREX_UCT}
    for r in records:
        cap, uct = r.get("max_tokens"), spent.get((r["task"], r["seed"]))
        if fixed.get((r["task"], r["seed"])) is not None:  # a fixed token budget: every policy was given it
            if cap != fixed[(r["task"], r["seed"])]:
                raise ValueError(f"cannot compare policies given different token budgets on {r['task']}, seed "
                                 f"{r['seed']}: {r['policy']} {cap}, TREX-UCT {fixed[(r['task'], r['seed'])]}")
            continue
        if cap is not None and uct is not None and cap != uct:
            raise ValueError(f"cannot compare policies given different budgets on {r['task']}, seed {r['seed']}: "
                             f"{r['policy']} trained to {cap} tokens, TREX-UCT spent {uct}")


def _mean_sd(values: list[float | None]) -> tuple[float | None, float | None, int]:
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None, 0
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0), len(vals)


def with_gains(records: list[dict]) -> list[dict]:
    return [{**r, "gain_test": normalised_gain(r["best_test"], r["base_test"], r["reference"], r["higher_is_better"]),
             "gain_val": normalised_gain(r["best_val"], r["base_val"], r["reference"], r["higher_is_better"])}
            for r in records]


def aggregate(records: list[dict]) -> list[dict]:
    """One row per task x policy (in first-seen order), plus one "ALL" row per policy over every task and seed."""
    recs = with_gains(records)
    keys = list(dict.fromkeys((r["task"], r["policy"]) for r in recs))
    policies = list(dict.fromkeys(r["policy"] for r in recs))
    rows = []
    for task, policy in keys + [("ALL", p) for p in policies]:
        group = [r for r in recs if r["policy"] == policy and task in ("ALL", r["task"])]
        row = {"task": task, "policy": policy, "runs": len(group)}
        for name in ("best_val", "best_test", "gain_test", "gain_val"):
            row[name], row[name + "_sd"], _ = _mean_sd([r[name] for r in group])
        row["base_test"], _, _ = _mean_sd([r["base_test"] for r in group])
        row["tokens_trained"], _, _ = _mean_sd([r.get("tokens_trained") for r in group])
        row["scored_by"] = None if task == "ALL" else next((r["scored_by"] for r in group if r.get("scored_by")), None)
        row["paper_trex"] = None if task == "ALL" else next((r["paper_trex"] for r in group
                                                             if r.get("paper_trex") is not None), None)
        for name in ("n_trials", "n_trained", "n_cached", "n_replayed", "n_missing", "n_failed"):
            row[name] = sum(r[name] for r in group)
        rows.append(row)
    return rows


def _gains_by_task(records: list[dict], policy: str, gain: str) -> dict[str, list[float]]:
    recs = with_gains(records)
    out: dict[str, list[float]] = {}
    for r in recs:
        if r["policy"] == policy and r[gain] is not None:
            out.setdefault(r["task"], []).append(r[gain])
    return out


def _resample_mean(by_task: dict[str, list[float]], rng) -> float:
    """The mean over tasks and seeds of one bootstrap resample, seeds drawn again within each task (the tasks
    are fixed; what varies between repeats of the benchmark is the seeds)."""
    vals = [v for xs in by_task.values() for v in rng.choices(xs, k=len(xs))]
    return statistics.fmean(vals)


def bootstrap_ratios(records: list[dict], gain: str = "gain_test", n: int = 2000,
                     seed: int = 0) -> dict[str, dict]:
    """TREX-UCT's mean gain over each policy's, with a 95 % percentile bootstrap interval (seeds resampled
    within each task, each policy independently), and each policy's mean gain with its own interval."""
    import random

    rng = random.Random(seed)
    policies = list(dict.fromkeys(r["policy"] for r in records))
    gains = {p: _gains_by_task(records, p, gain) for p in policies}
    draws = {p: [_resample_mean(g, rng) for _ in range(n)] for p, g in gains.items() if g}

    def interval(xs: list[float]) -> tuple[float, float]:
        xs = sorted(xs)
        return xs[int(0.025 * (len(xs) - 1))], xs[int(0.975 * (len(xs) - 1))]

    out = {}
    for p, d in draws.items():
        mean = statistics.fmean(v for xs in gains[p].values() for v in xs)
        row = {"mean": mean, "ci": interval(d), "runs": sum(len(xs) for xs in gains[p].values())}
        uct = draws.get(TREX_UCT)
        if p != TREX_UCT and uct and mean:
            row["ratio"] = statistics.fmean(v for xs in gains[TREX_UCT].values() for v in xs) / mean
            row["ratio_ci"] = interval([a / b for a, b in zip(uct, d) if b])
        out[p] = row
    return out


def _f(x, sd=None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.3f}" if sd is None else f"{x:.3f} ± {sd:.3f}"


def write_csv(rows: list[dict], path: Path) -> None:
    fields = ["task", "policy", "runs", "best_val", "best_val_sd", "best_test", "best_test_sd", "base_test",
              "gain_test", "gain_test_sd", "gain_val", "gain_val_sd", "tokens_trained", "n_trials", "n_trained", "n_cached",
              "n_replayed", "n_missing", "n_failed", "scored_by", "paper_trex"]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for row in rows:
            w.writerow({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items() if k in fields})


def render_markdown(rows: list[dict], meta: dict, plots: list[str]) -> str:
    lines = ["# FT-Bench policy comparison", "",
             (f"Equal trial budget: **{meta['budget']} trials** per run; " if meta.get("compute", "trials") == "trials"
              else f"Equal compute: TREX's policies ran **{meta['budget']} trials**; random search and TPE trained "
                   "until they had spent TREX-UCT's training tokens on the same task and seed (the trial that "
                   "crossed the line finished); ")
             + f"seeds {', '.join(map(str, meta['seeds']))}; "
             f"search space `{meta['space']}`; "
             + (f"TREX: {meta['trex_trials_per_round']} trial(s) per round; " if isinstance(meta.get("trex_trials_per_round"), int)
                else "")
             + (f"replay table `{meta['replay_table']}` (mode {meta['replay_mode']})." if meta.get("replay_table")
                else "real training (trial cache shared across runs)."), "",
             "Best val: the best validation score among the run's trials. Test: the hidden test score of that trial. "
             "Gain: normalised gain on test, (test - base) / (reference - base) where the task has a reference "
             "score, else test - base; mean ± sd over seeds.", "",
             "| task | policy | best val | test of best | base test | gain (test) | gain (val) | k tokens trained per run | trials: trained / cached / replayed / missing |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['policy']} | {_f(r['best_val'], r['best_val_sd'])} | "
                     f"{_f(r['best_test'], r['best_test_sd'])} | {_f(r['base_test'])} | "
                     f"{_f(r['gain_test'], r['gain_test_sd'])} | {_f(r['gain_val'], r['gain_val_sd'])} | "
                     f"{(r['tokens_trained'] or 0) / 1000:.0f} | {r['n_trained']} / {r['n_cached']} / {r['n_replayed']} / {r['n_missing']} |")
    for gain in ("gain_test", "gain_val"):
        boot = meta.get("bootstrap", {}).get(gain)
        if not boot:
            continue
        lines += ["", f"Mean {gain.replace('_', ' on ')} per policy over all tasks and seeds, with a 95 % bootstrap "
                      "interval (seeds resampled within each task, 2000 resamples), and TREX-UCT's mean over it:", "",
                  "| policy | runs | mean gain [95 % CI] | TREX-UCT / policy [95 % CI] |", "|---|---|---|---|"]
        for p, b in boot.items():
            ratio = (f"{b['ratio']:.3f} [{b['ratio_ci'][0]:.3f}, {b['ratio_ci'][1]:.3f}]" if "ratio" in b else "")
            lines.append(f"| {p} | {b['runs']} | {b['mean']:.3f} [{b['ci'][0]:.3f}, {b['ci'][1]:.3f}] | {ratio} |")
    paper = {r["task"]: r["paper_trex"] for r in rows if r.get("paper_trex") is not None}
    if paper:
        lines += ["", "TREX's scores as the paper reports them (a column apart: gains above are normalised against "
                      "each task's reference_score): " + "; ".join(f"{t}: {v:.3f}" for t, v in paper.items()) + "."]
    scorers = sorted({(r["task"], r.get("scored_by")) for r in rows if r.get("scored_by")})
    if scorers:
        lines += ["", "Scored by: " + "; ".join(f"{task}: {how}" for task, how in scorers) + "."]
    lines += [""] + [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def plot_curves(records: list[dict], out_dir: Path) -> list[str]:
    """One PNG per task: mean best-so-far validation score vs trials, a band of ± 1 sd over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for task in dict.fromkeys(r["task"] for r in records):
        fig, ax = plt.subplots(figsize=(6, 4))
        for policy in dict.fromkeys(r["policy"] for r in records if r["task"] == task):
            traces = [r["trace"] for r in records if r["task"] == task and r["policy"] == policy and r["trace"]]
            if not traces:
                continue
            n = min(len(t) for t in traces)
            mean = [statistics.fmean(t[i] for t in traces) for i in range(n)]
            sd = [statistics.pstdev([t[i] for t in traces]) for i in range(n)]
            xs = list(range(1, n + 1))
            ax.plot(xs, mean, marker="o", ms=3, label=policy)
            ax.fill_between(xs, [m - s for m, s in zip(mean, sd)], [m + s for m, s in zip(mean, sd)], alpha=0.15)
        base = [r["base_val"] for r in records if r["task"] == task and r["base_val"] is not None]
        if base:
            ax.axhline(base[0], color="grey", ls=":", label="base model")
        metric = next(r["metric"] for r in records if r["task"] == task)
        ax.set(title=f"{task}: best validation score so far", xlabel="trials", ylabel=f"{metric} (validation)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / f"curve_{task}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path.name)
    return paths


def write_results(records: list[dict], out_dir: Path, meta: dict) -> dict:
    check_comparable(records)
    rows = aggregate(records)
    meta = {**meta, "bootstrap": {g: bootstrap_ratios(records, g) for g in ("gain_test", "gain_val")}}
    (out_dir / "summary.json").write_text(json.dumps(meta["bootstrap"], indent=2), encoding="utf-8")
    write_csv(rows, out_dir / "results.csv")
    plots = plot_curves(records, out_dir)
    (out_dir / "results.md").write_text(render_markdown(rows, meta, plots), encoding="utf-8")
    return {"rows": rows, "plots": plots}


def trials_to_reach(trace: list[float], target: float, higher_is_better: bool = True) -> int | None:
    """1-based number of trials after which the best-so-far score reached target; None if never."""
    for i, v in enumerate(trace, 1):
        if v is not None and (v >= target - 1e-9 if higher_is_better else v <= target + 1e-9):
            return i
    return None


def reuse_report(first: list[dict], second: list[dict]) -> tuple[list[dict], str]:
    """Goal P2: how many trials (and new trainings) a second run needed to reach the first run's best
    validation score, per (task, policy, seed) present in both."""
    rows = []
    index = {(r["task"], r["policy"]): r for r in second}
    for a in first:
        b = index.get((a["task"], a["policy"]))
        if b is None or a["best_val"] is None:
            continue
        t1 = trials_to_reach(a["trace"], a["best_val"], a["higher_is_better"])
        t2 = trials_to_reach(b["trace"], a["best_val"], a["higher_is_better"])
        # New trainings had the cache held only the first run's trials: configs the first run never tried.
        known = {json.dumps(c, sort_keys=True) for c in a.get("configs", [])}
        fresh = sum(json.dumps(c, sort_keys=True) not in known for c in b.get("configs", [])[:t2]) if t2 else None
        rows.append({"task": a["task"], "policy": a["policy"], "first_seed": a["seed"], "second_seed": b["seed"],
                     "target": a["best_val"], "first_trials": t1, "second_trials": t2, "second_new_trainings": fresh,
                     "ratio": (t2 / t1) if t1 and t2 else None})
    lines = ["# Second run vs first: trials to reach the first run's best validation score", "",
             "| task | policy | seeds | first run's best | trials (first) | trials (second) | ratio | second run's trials not in the first (would train) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['policy']} | {r['first_seed']} -> {r['second_seed']} | {_f(r['target'])} | "
                     f"{r['first_trials']} | {r['second_trials'] or 'not reached'} | {_f(r['ratio'])} | "
                     f"{'n/a' if r['second_new_trainings'] is None else r['second_new_trainings']} |")
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    reached = sum(r["second_trials"] is not None for r in rows)
    lines += ["", f"Reached in {reached} of {len(rows)}; mean ratio {_f(statistics.fmean(ratios) if ratios else None)} "
              "(goal P2: <= 0.50)."]
    return rows, "\n".join(lines) + "\n"
