"""`python -m ftbench.cli` (the `ftbench` command): compare TREX's policies with the baselines on FT-Bench.

  run     every task x policy x seed at an equal trial budget -> results.md, results.csv, curve_<task>.png
  sweep   train every configuration of a search space once (records a complete replay table)
  curves  train every configuration of a curve space once to its last epoch, scored after each (a curve table)
  export  add the trial cache's results for some tasks to a replay table
  expect  a tier's P1 numbers as expectations: random search exact from the table, TPE and TREX over a run's seeds
  reuse   how many trials a second comparison needed to reach the first one's best (goal P2)
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from ftbench.runner import ALL_POLICIES


def _list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _context(args):
    from trex.context import Context

    ctx = Context()
    overrides = {"device": args.device, "cache_dir": args.cache_dir, "trial_timeout_s": args.trial_timeout,
                 "max_eval_examples": args.max_eval}
    ctx = replace(ctx, **{k: v for k, v in overrides.items() if v is not None})
    return replace(ctx, runs_dir=ctx.runs_dir)  # re-validates the overrides


def _runner(args):
    """The trial runner: a replay table's (--replay / --record) or TREX's own."""
    from ftbench.replay_runner import runner_for

    if getattr(args, "replay", None) and getattr(args, "record", None):
        raise ValueError("give --replay TABLE (pure replay) or --record TABLE (replay what is there, train and add "
                         "the rest), not both")
    table = getattr(args, "replay", None) or getattr(args, "record", None)
    return runner_for(table or "", "record" if getattr(args, "record", None) else "replay")


def cmd_run(args) -> int:
    from ftbench.results import bootstrap_ratios
    from ftbench.runner import run_comparison

    ctx = _context(args)
    records = run_comparison(_list(args.tasks), _list(args.policy), [int(s) for s in _list(args.seeds)], args.budget,
                             args.out, ctx, args.space, args.insights, runner=_runner(args), compute=args.compute,
                             optuna=not args.no_optuna, per_round=args.per_round, token_share=args.token_share)
    ratios = {p: b for p, b in bootstrap_ratios(records).items() if "ratio" in b}
    if ratios:
        print("TREX-UCT mean normalised gain (test) / other policy's [95 % bootstrap interval]: "
              + ", ".join(f"{p} {b['ratio']:.2f} [{b['ratio_ci'][0]:.2f}, {b['ratio_ci'][1]:.2f}]"
                          for p, b in ratios.items()))
    print(f"results: {args.out}/results.md")
    return 0


def cmd_sweep(args) -> int:
    from ftbench.runner import sweep

    ctx = _context(args)
    n = sweep(_list(args.tasks), args.space, ctx, args.out, with_test=args.with_test, runner=_runner(args))
    print(f"{n} configurations trained or reused; table {getattr(args, 'record', None) or '(none)'}")
    return 0


def cmd_curves(args) -> int:
    from ftbench.curve_sweep import record_curves

    n = record_curves(_list(args.tasks), args.space, _context(args), args.out, args.record)
    print(f"{n} curves recorded; table {args.record}")
    return 0


def cmd_export(args) -> int:
    from pathlib import Path

    from ftbench.task_files import resolve_task
    from ftbench.replay import ReplayTable
    from ftbench.replay_runner import export_cache
    from tools.data.spec_loading import load_spec
    from tools.data.datasets import prepare_splits

    ctx = _context(args)
    table = ReplayTable(args.table, "record")
    for task in _list(args.tasks):
        spec = load_spec(resolve_task(task))
        data = prepare_splits(spec, Path(args.out) / "export" / spec.name / "data")
        print(f"{spec.name}: {export_cache(spec, data, ctx, table)} entries added to {args.table}")
    return 0


def cmd_reuse(args) -> int:
    import json
    from pathlib import Path

    from ftbench.results import reuse_report

    def load(d):
        return [json.loads(line) for line in (Path(d) / "runs.jsonl").read_text(encoding="utf-8").splitlines() if line]
    _, text = reuse_report(load(args.first), load(args.second))
    (Path(args.second) / "reuse.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


def cmd_expect(args) -> int:
    """Exact random search from the complete replay table beside a comparison's runs (`ftbench run` over many
    seeds), and TREX-UCT's ratios: expectations.md in --out."""
    import tempfile
    from pathlib import Path

    from ftbench.expectations import expectations, load_runs, write

    out = Path(args.out)
    command = "ftbench " + " ".join(sys.argv[1:]) if args.command_line is None else args.command_line
    if args.pool:  # tiers already computed: pool their expectations.json files
        import json

        from ftbench.expectations import pool, render_pooled

        pooled = pool([json.loads(Path(p).read_text(encoding="utf-8")) for p in _list(args.pool)])
        out.mkdir(parents=True, exist_ok=True)
        (out / "expectations.json").write_text(json.dumps({**pooled, "command": command}, indent=1), encoding="utf-8")
        (out / "expectations.md").write_text(render_pooled(pooled, command), encoding="utf-8")
        print(f"written: {out / 'expectations.md'}")
        return 0
    if not (args.replay and args.runs and args.tasks and args.budget):
        raise ValueError("ftbench expect needs --tasks, --budget, --replay TABLE (complete) and --runs, or --pool")
    # Several comparisons pool: e.g. the baselines' trial-budget runs and TREX-UCT's from the equal-compute run
    # (TREX-UCT runs its trial budget there too); equal-compute baseline runs (max_tokens set) are left out.
    runs = [r for d in _list(args.runs) for r in load_runs(d) if r.get("max_tokens") is None]
    ec = load_runs(args.equal_compute) if args.equal_compute else None
    with tempfile.TemporaryDirectory() as work:  # the tasks' prepared splits: scratch, not results
        result = expectations(_list(args.tasks), args.space, args.budget, _context(args), _runner(args), runs, ec,
                              Path(work), where=args.runs)
    path = write(result, out, args.title or f"space {args.space}, {args.budget} trials", command)
    t = result["trials"]
    print(f"mean test gain: random exact {t['random_exact']['mean']:.3f}, "
          + ", ".join(f"{p} {b['mean']:.3f}" for p, b in t.items() if p != "random_exact"))
    print("TREX-UCT / policy: " + ", ".join(f"{p} {b['ratio']:.3f} [{b['ratio_ci'][0]:.3f}, {b['ratio_ci'][1]:.3f}]"
                                            for p, b in t.items() if "ratio" in b))
    print(f"written: {path}")
    return 0


def cmd_combine(args) -> int:
    """Pool the runs of several comparisons (e.g. the bench and data tiers, each with its own space and budget)
    into one results table: the means and bootstrap intervals then run over every task of every part."""
    import json
    from pathlib import Path

    from ftbench.results import write_results

    records, parts = [], []
    for d in _list(args.runs):
        runs = Path(d) / "runs.jsonl"
        if not runs.is_file():
            print(f"ftbench combine: {runs} does not exist (the output directory of an `ftbench run`)")
            return 2
        records += [json.loads(line) for line in runs.read_text(encoding="utf-8").splitlines() if line.strip()]
        parts.append(d)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = sorted({r["seed"] for r in records})
    write_results(records, out, {"budget": "per part", "seeds": seeds, "space": "per part: " + ", ".join(parts)})
    print(f"combined {len(records)} runs from {len(parts)} comparisons into {out}/results.md")
    return 0


def cmd_tasks(args) -> int:
    """FT-Bench's tasks and TREX's own, listed as `trex tasks` lists TREX's (licence limits, data to fetch)."""
    from ftbench.task_files import TASK_DIRS
    from graph.cli.commands import cmd_tasks as list_tasks

    return list_tasks(args, TASK_DIRS)


def _shared(tasks_required: bool) -> argparse.ArgumentParser:
    """The options every subcommand that runs tasks shares (--tasks optional where another input can replace it)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--tasks", required=tasks_required, help="comma-separated shipped task names or spec files")
    common.add_argument("--out", default="ftbench-results", help="output directory")
    common.add_argument("--cache-dir", help="trial cache (default $TREX_CACHE_DIR or ~/.cache/trex)")
    common.add_argument("--device", help="auto, cpu or cuda")
    common.add_argument("--trial-timeout", type=float, help="seconds before a trial process is killed")
    common.add_argument("--max-eval", type=int, help="validation examples scored per trial")
    common.add_argument("--space", default="full", help="search space shared by all policies: full (the planner's "
                                                        "grid) or bench (the restricted grid of the replay table)")
    return common


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ftbench", description="FT-Bench: TREX's policies against random search "
                                                                 "and Optuna TPE at an equal trial budget.")
    sub = parser.add_subparsers(dest="command", required=True)
    common, loose = _shared(True), _shared(False)
    run = sub.add_parser("run", parents=[common], help="compare policies at an equal trial budget")
    run.add_argument("--policy", default=",".join(ALL_POLICIES), help=f"comma-separated: {', '.join(ALL_POLICIES)}")
    run.add_argument("--seeds", default="0,1,2")
    run.add_argument("--compute", choices=("trials", "tokens", "budget"), default="trials",
                     help="equal trial budget (trials), equal compute (tokens): random search and TPE train "
                          "until they have spent TREX-UCT's training tokens on the same task and seed, or a fixed "
                          "token budget for every policy (budget: --token-share of the whole space's tokens, from "
                          "a curve table; TREX gets it as budget.train_tokens)")
    run.add_argument("--token-share", type=float, default=0.15,
                     help="--compute budget: the share of the tokens of training the whole space (default 0.15)")
    run.add_argument("--budget", type=int, default=6, help="trials per run (TREX: rounds x configs per round)")
    run.add_argument("--per-round", type=int, default=None,
                     help="TREX's trials per round (default: each task's configs_per_round); 1 gives the tree a "
                          "choice of node every trial")
    run.add_argument("--replay", metavar="TABLE", help="replay recorded results; a trial not in the table fails as missing")
    run.add_argument("--record", metavar="TABLE", help="replay what the table holds; train the rest and add it")
    run.add_argument("--insights", default="per-run", help="insight store of TREX runs: per-run (fresh, no run reads "
                     "another's lessons), shared (one for the comparison), or a store directory (e.g. an earlier run's; "
                          "'{task}' in it is replaced by the task's name: one store per task)")
    run.add_argument("--no-optuna", action="store_true", help="do not write the runs' trials to OUT/optuna.db "
                     "(one Optuna study per run, every policy alike: optuna-dashboard sqlite:///OUT/optuna.db)")
    run.set_defaults(func=cmd_run)
    sw = sub.add_parser("sweep", parents=[common], help="train every configuration of a space once")
    sw.add_argument("--record", metavar="TABLE", help="add the results to this replay table")
    sw.add_argument("--with-test", action="store_true", help="also score every configuration on the test split")
    sw.set_defaults(func=cmd_sweep)
    cu = sub.add_parser("curves", parents=[common], help="record a curve table: one training per configuration "
                        "of a curve space, val and test scored after every epoch (resumable: a rerun skips what is there)")
    cu.add_argument("--record", metavar="TABLE", required=True, help="the curve table to append to")
    cu.set_defaults(func=cmd_curves)
    ex = sub.add_parser("export", parents=[common], help="add the trial cache's results to a replay table")
    ex.add_argument("--table", required=True)
    ex.set_defaults(func=cmd_export)
    xp = sub.add_parser("expect", parents=[loose], help="P1 as expectations: exact random search from the table, "
                                                          "TPE and TREX over a comparison's seeds")
    xp.add_argument("--budget", type=int, help="trials per run (the comparison's)")
    xp.add_argument("--replay", metavar="TABLE", help="the complete replay table")
    xp.add_argument("--pool", help="comma-separated expectations.json of several tiers: pool them instead")
    xp.add_argument("--runs", help="output directories of `ftbench run` (comma-separated, pooled) "
                    "with the runs at the trial budget; equal-compute baseline runs among them are left out")
    xp.add_argument("--equal-compute", help="output directory of the `ftbench run --compute tokens`, if any")
    xp.add_argument("--title", help="the tier's name in expectations.md")
    xp.add_argument("--command-line", help="the command to print as the reproduction (default: this one)")
    xp.set_defaults(func=cmd_expect)
    co = sub.add_parser("combine", help="pool several comparisons' runs into one table (means and intervals over all)")
    co.add_argument("--runs", required=True, help="comma-separated output directories of `ftbench run`")
    co.add_argument("--out", required=True, help="output directory")
    co.set_defaults(func=cmd_combine)
    ru = sub.add_parser("reuse", help="trials a second comparison needed to reach the first one's best (goal P2)")
    ru.add_argument("--first", required=True, help="output directory of the first `run`")
    ru.add_argument("--second", required=True, help="output directory of the second `run` (same cache / insights)")
    ru.set_defaults(func=cmd_reuse)
    sub.add_parser("tasks", help="list FT-Bench's tasks and TREX's shipped ones").set_defaults(func=cmd_tasks)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
