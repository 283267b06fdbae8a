"""`ftbench expect`: a tier's P1 numbers as expectations. Random search exactly from the complete replay table
(ftbench/expectation.py), the sampled policies (TPE, TREX's) as means over a comparison's seeds, and TREX-UCT's
ratio to each with a 95 % bootstrap interval over seeds, per task and over the tier; written to expectations.md
and expectations.json."""
from __future__ import annotations

import json
import random
from pathlib import Path
from statistics import fmean

from ftbench.expectation import expected_best, expected_best_at_tokens
from ftbench.results import TREX_UCT, check_comparable, normalised_gain, with_gains

N_BOOT = 2000


def space_table(task: str, space: str, ctx, runner, work_dir: Path) -> dict:
    """Every configuration of the task's space as the baselines see it (through the runner, so replay keys and
    the spec's narrowing are the comparison's own): validation score, test score, training tokens; and the base
    model's scores. A configuration the table lacks or that failed is an error: the expectation needs them all."""
    from ftbench.baselines import run_trial
    from ftbench.runner import BASE_CFG, _test_score, run_trial_base
    from ftbench.space import all_configs, max_train_for
    from ftbench.space import space as search_space
    from tools.data.datasets import prepare_splits
    from tools.data.spec_loading import load_spec
    from ftbench.task_files import resolve_task
    from trex.metrics import get_metric

    spec = load_spec(resolve_task(task))
    run_dir = work_dir / spec.name
    data = prepare_splits(spec, run_dir / "data")
    narrowed = search_space(space).narrowed(spec.search_space)
    max_train = narrowed.max_examples(max_train_for(space, spec.budget.max_train_samples), data["sizes"]["train"])
    base = {**BASE_CFG, "seed": ctx.seed}
    rows = []
    for i, cfg in enumerate(all_configs(narrowed, max_train, ctx.seed)):
        rec = run_trial(spec, data, {**cfg, "id": f"c{i}"}, ctx, run_dir, runner)
        test = _test_score(spec, data, rec["config"], rec, ctx, run_dir, runner) if rec["status"] == "ok" else None
        if test is None:
            raise ValueError(f"{spec.name}: configuration {i} of space {space} has no "
                             f"{'test score' if rec['status'] == 'ok' else 'result'} in the table "
                             f"({rec.get('error') or 'test missing'}); the exact expectation needs every one")
        rows.append({"config": {k: v for k, v in cfg.items() if k not in ("id", "seed")}, "val": rec["score"],
                     "test": test, "tokens": rec["tokens"]})
    metric = get_metric(spec.metric)
    return {"task": spec.name, "higher_is_better": metric.higher_is_better, "reference": spec.reference_score,
            "base_val": run_trial_base(spec, data, base, ctx, run_dir, runner),
            "base_test": _test_score(spec, data, base, None, ctx, run_dir, runner), "configs": rows}


def random_expectations(table: dict, budget: int, token_budgets: list[int] | None = None) -> dict:
    """Exact random search on one task: mean test gain at `budget` trials, at each token budget (mean over
    them: one per seed), and the ceilings (val-oracle: best validation configuration's test, ties averaged)."""
    sign = 1 if table["higher_is_better"] else -1
    vals = [sign * c["val"] for c in table["configs"]]
    gains = [normalised_gain(c["test"], table["base_test"], table["reference"], table["higher_is_better"])
             for c in table["configs"]]
    out = {"configs": len(vals), "random_exact": expected_best(vals, gains, budget),
           "val_oracle": expected_best(vals, gains, len(vals)), "test_oracle": max(gains)}
    if token_budgets:
        tokens = [c["tokens"] for c in table["configs"]]
        cache = {t: expected_best_at_tokens(vals, gains, tokens, t) for t in set(token_budgets)}
        out["random_exact_at_tokens"] = fmean(cache[t] for t in token_budgets)
        out["token_budgets"] = sorted(set(token_budgets))
    return out


def load_runs(directory: str | Path) -> list[dict]:
    path = Path(directory) / "runs.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (the output directory of an `ftbench run`)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _check_runs(records: list[dict], space: str, budget: int, tasks: list[str], where: str) -> None:
    """The runs must be the comparison the expectation is for: the same space and trial budget, every task."""
    check_comparable(records)
    seen: set[tuple] = set()
    for r in records:
        if (r["task"], r["policy"], r["seed"]) in seen:
            raise ValueError(f"runs in {where} hold {r['policy']} on {r['task']} seed {r['seed']} twice")
        seen.add((r["task"], r["policy"], r["seed"]))
    wrong = {(r.get("space", space), r["budget"]) for r in records} - {(space, budget)}
    if wrong:
        raise ValueError(f"runs in {where} were given space/budget {sorted(wrong)}, the expectation space {space!r} "
                         f"with {budget} trials: refusing to compare policies given different spaces or budgets")
    missing = set(tasks) - {r["task"] for r in records}
    if missing:
        raise ValueError(f"runs in {where} have no run of task(s) {', '.join(sorted(missing))}")


def _gains(records: list[dict]) -> dict[str, dict[str, list[float]]]:
    """policy -> task -> test gains over seeds."""
    out: dict[str, dict[str, list[float]]] = {}
    for r in with_gains(records):
        if r["gain_test"] is not None:
            out.setdefault(r["policy"], {}).setdefault(r["task"], []).append(r["gain_test"])
    return out


def _interval(xs: list[float]) -> list[float]:
    xs = sorted(xs)
    return [xs[int(0.025 * (len(xs) - 1))], xs[int(0.975 * (len(xs) - 1))]]


def compare(gains: dict[str, dict[str, list[float]]], exact: dict[str, float], tasks: list[str],
            seed: int = 0) -> dict:
    """Means and TREX-UCT's ratios over the tier and per task, with 95 % percentile bootstrap intervals: seeds
    resampled within each task, each policy independently; exact random search has no seed to resample."""
    rng = random.Random(seed)
    uct = gains.get(TREX_UCT)
    if not uct:
        raise ValueError("the runs have no uct_global run: TREX-UCT is what the ratios compare")
    policies = {**gains, "random_exact": {t: [exact[t]] for t in tasks}}
    boot = {p: {t: [fmean(rng.choices(g[t], k=len(g[t]))) for _ in range(N_BOOT)] for t in tasks}
            for p, g in policies.items()}
    out = {}
    for p, g in policies.items():
        tier = [fmean(boot[p][t][i] for t in tasks) for i in range(N_BOOT)]
        uct_tier = [fmean(boot[TREX_UCT][t][i] for t in tasks) for i in range(N_BOOT)]
        mean = fmean(fmean(g[t]) for t in tasks)
        row = {"mean": mean, "ci": _interval(tier), "seeds": {t: len(g[t]) for t in tasks}, "per_task": {}}
        uct_mean = fmean(fmean(uct[t]) for t in tasks)
        if p != TREX_UCT and mean:
            row["ratio"], row["ratio_ci"] = uct_mean / mean, _interval([a / b for a, b in zip(uct_tier, tier) if b])
        for t in tasks:
            m = fmean(g[t])
            cell = {"mean": m, "ci": _interval(boot[p][t])}
            if p != TREX_UCT and m:
                cell["ratio"] = fmean(uct[t]) / m
                cell["ratio_ci"] = _interval([a / b for a, b in zip(boot[TREX_UCT][t], boot[p][t]) if b])
            row["per_task"][t] = cell
        out[p] = row
    return out


def expectations(tasks: list[str], space: str, budget: int, ctx, runner, runs: list[dict],
                 equal_compute: list[dict] | None, work_dir: Path, where: str = "runs") -> dict:
    """Everything expectations.md shows, for one tier."""
    names, exact, exact_ec, per_task = [], {}, {}, {}
    _check_runs(runs, space, budget, [], where)
    for task in tasks:
        table = space_table(task, space, ctx, runner, work_dir)
        name = table["task"]
        names.append(name)
        spent = [r["tokens_trained"] for r in (equal_compute or []) if r["task"] == name and r["policy"] == TREX_UCT]
        per_task[name] = random_expectations(table, budget, spent or None)
        exact[name] = per_task[name]["random_exact"]
        if spent:
            exact_ec[name] = per_task[name]["random_exact_at_tokens"]
    _check_runs(runs, space, budget, names, where)
    gains = _gains([r for r in runs if r["task"] in names])
    out = {"tasks": names, "space": space, "budget": budget, "per_task": per_task,
           "trials": compare(gains, exact, names), "raw": {"trials": {"gains": gains, "exact": exact}}}
    if equal_compute:
        _check_runs(equal_compute, space, budget, names, f"{where} (equal compute)")
        if set(exact_ec) != set(names):
            raise ValueError("the equal-compute runs need a uct_global run on every task (its tokens are the budget)")
        gains = _gains([r for r in equal_compute if r["task"] in names])
        out["equal_compute"] = compare(gains, exact_ec, names)
        out["raw"]["equal_compute"] = {"gains": gains, "exact": exact_ec}
    return out


def pool(results: list[dict]) -> dict:
    """Several tiers' expectations (expectations.json) as one: means and intervals over every task of every
    tier (each tier keeps its own space and budget; a task in two tiers is refused)."""
    tasks = [t for r in results for t in r["tasks"]]
    if len(set(tasks)) < len(tasks):
        raise ValueError("a task appears in two of the pooled tiers")
    out = {"tasks": tasks, "tiers": [f"{r['space']} at {r['budget']} trials" for r in results]}
    for part in ("trials", "equal_compute"):
        if all(part in r["raw"] for r in results):
            gains: dict = {}
            for r in results:
                for p, by_task in r["raw"][part]["gains"].items():
                    gains.setdefault(p, {}).update(by_task)
            exact = {t: v for r in results for t, v in r["raw"][part]["exact"].items()}
            out[part] = compare({p: g for p, g in gains.items() if set(g) == set(tasks)}, exact, tasks)
    return out


def render_pooled(pooled: dict, command: str) -> str:
    lines = ["# All tiers pooled: P1 as expectations", "", "Tiers: " + "; ".join(pooled["tiers"]) + ". Means over "
             "every task of every tier; intervals resample seeds within each task (not the choice of tasks).", "",
             "```bash", command, "```"]
    for part, title in (("trials", "Equal trial budget"), ("equal_compute", "Equal compute (training tokens)")):
        if part in pooled:
            lines += ["", f"## {title}", ""] + _tables(pooled[part], pooled["tasks"], {})
    return "\n".join(lines) + "\n"


def _ci(x: dict) -> str:
    """mean [interval], or the mean alone where the interval is a point (a policy that ignores the seed)."""
    lo, hi = x["ci"]
    return f"{x['mean']:.3f}" if abs(hi - lo) < 5e-4 else f"{x['mean']:.3f} [{lo:.3f}, {hi:.3f}]"


def _ratio(x: dict) -> str:
    if "ratio" not in x:
        return ""
    lo, hi = x["ratio_ci"]
    return f"{x['ratio']:.2f}" if abs(hi - lo) < 5e-4 else f"{x['ratio']:.2f} [{lo:.2f}, {hi:.2f}]"


def _tables(part: dict, tasks: list[str], extra: dict[str, list[str]]) -> list[str]:
    policies = ["random_exact"] + [p for p in ("random", "tpe", TREX_UCT) if p in part]
    policies += [p for p in part if p not in policies]
    label = {"random_exact": "random search, exact", "random": "random search, sampled", "tpe": "Optuna TPE",
             TREX_UCT: "TREX-UCT"}
    head = [label.get(p, p) + ("" if p == "random_exact" else f" ({min(part[p]['seeds'].values())} seeds)")
            for p in policies]
    lines = ["| task | " + " | ".join(head + list(extra)) + " |", "|---" * (1 + len(head) + len(extra)) + "|"]
    for i, t in enumerate(tasks):
        cells = [_ci(part[p]["per_task"][t]) for p in policies]
        lines.append(f"| {t} | " + " | ".join(cells + [v[i] for v in extra.values()]) + " |")
    lines.append("| **mean over tasks** | " + " | ".join(
        f"**{part[p]['mean']:.3f}**" if p == "random_exact" else _ci(part[p]) for p in policies)
        + " |" * (len(extra) + 1))
    others = [p for p in policies if p != TREX_UCT]
    lines += ["", "TREX-UCT's mean test gain over each policy's [95 % bootstrap interval]:", "",
              "| task | " + " | ".join(f"TREX-UCT / {label.get(p, p)}" for p in others) + " |",
              "|---" * (1 + len(others)) + "|"]
    for t in tasks:
        lines.append(f"| {t} | " + " | ".join(_ratio(part[p]["per_task"][t]) for p in others) + " |")
    lines.append("| **mean over tasks** | " + " | ".join(f"**{_ratio(part[p])}**" for p in others) + " |")
    return lines


def render(result: dict, title: str, command: str) -> str:
    tasks, per = result["tasks"], result["per_task"]
    seeds = sorted({n for p, row in result["trials"].items() if p != "random_exact" for n in row["seeds"].values()})
    lines = [f"# {title}: P1 as expectations", "",
             f"Space `{result['space']}`, **{result['budget']} trials** per run, mean normalised test gain of the best "
             "trial on validation. Random search's expectation is exact: the average over every subset of "
             f"{result['budget']} configurations of the task's complete replay table, ties on validation averaged "
             "(`ftbench/expectation.py`); the sampled random runs are shown beside it as a check. TPE, the sampled "
             "random runs and TREX's policies are means over seeds (each column head says how many: "
             f"{'/'.join(map(str, seeds))}); the baselines are seeded by task and seed, so their draws are "
             "independent across tasks.", "",
             "Intervals: 95 % percentile bootstrap, 2000 resamples of the seeds within each task. They cover the "
             "seeds only, **not the choice of tasks**: another set of tasks could move every number more than the "
             "intervals say. Where a policy's gain does not vary with the seed (TREX's planner is deterministic without an "
             "LLM), its cells and its ratio to exact random search are points.", "",
             "Reproduce (replay, no training):", "", "```bash", command, "```", "",
             f"## Equal trial budget: {result['budget']} trials", ""]
    extra = {"val-oracle": [f"{per[t]['val_oracle']:.3f}" for t in tasks],
             "test-oracle": [f"{per[t]['test_oracle']:.3f}" for t in tasks],
             "configs": [str(per[t]["configs"]) for t in tasks]}
    lines += _tables(result["trials"], tasks, extra)
    lines += ["", f"Ceilings (mean over tasks): val-oracle {fmean(per[t]['val_oracle'] for t in tasks):.3f}, "
              f"test-oracle {fmean(per[t]['test_oracle'] for t in tasks):.3f}. The val-oracle (the best validation "
              "configuration's test gain, ties averaged) is the most a search that picks by validation can expect; one "
              "can beat it on a task only where a tie on validation falls its way."]
    if "equal_compute" in result:
        lines += ["", "## Equal compute: random search and TPE train as many tokens as TREX-UCT", "",
                  "Exact random search draws until its training tokens reach TREX-UCT's on the same task and seed; "
                  "the trial that crosses the line finishes (every draw order enumerated).", ""]
        extra = {"TREX-UCT tokens (k)": [", ".join(dict.fromkeys(f"{b / 1000:.1f}" for b in per[t]["token_budgets"]))
                                         for t in tasks]}
        lines += _tables(result["equal_compute"], tasks, extra)
    return "\n".join(lines) + "\n"


def write(result: dict, out_dir: Path, title: str, command: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "expectations.json").write_text(json.dumps({**result, "command": command}, indent=1), encoding="utf-8")
    path = out_dir / "expectations.md"
    path.write_text(render(result, title, command), encoding="utf-8")
    return path
