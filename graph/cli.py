"""Command line: `trex run [TASK]`, `trex resume RUN_DIR`, `trex tasks`."""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import uuid
from dataclasses import asdict
from pathlib import Path

from ftbench.catalog import DEFAULT_TASK, TASKS_DIR, resolve_task

def open_graph(run_dir: Path):
    from langgraph.checkpoint.sqlite import SqliteSaver

    from graph.main import build_graph

    conn = sqlite3.connect(str(run_dir / "checkpoints.sqlite"), check_same_thread=False)
    return build_graph(SqliteSaver(conn)), conn


def _print_update(update: dict) -> None:
    for node, delta in update.items():
        if not isinstance(delta, dict):
            continue
        for n in (delta.get("tree") or {}).values():
            if node == "evaluate":
                print(f"  round {n['round']} ({n['id']}, parent {n.get('parent')}): best val {n.get('score', 0):.4f} "
                      f"reward {n.get('reward', 0):+.3f} — {n.get('diagnosis', '')}", flush=True)
                for tid, r in n.get("results", {}).items():
                    extra = f" ({r['error'][:80]})" if r.get("error") else (" [cached]" if r.get("cached") else "")
                    print(f"    {tid}: {r.get('status')} val {r.get('score', 0):.4f}{extra}", flush=True)
            elif node == "plan_round":
                print(f"round {n['round']}: expanding {n['parent']} with {len(n['trials'])} configs", flush=True)
        if node == "analyze_requirements":
            print(f"run directory: {delta.get('run_dir')}\nround 0: scoring the base model", flush=True)
        if node == "score_test" and delta.get("final"):
            f = delta["final"]
            print(f"test: base {f.get('base_test')} -> best {f.get('test_score')} (node {f.get('best_node')})", flush=True)
        if node == "write_report":
            print(f"report: {delta.get('report_path')}", flush=True)


def execute(run_dir: Path, graph_input: dict | None) -> int:
    from graph.context import Context

    meta = json.loads((run_dir / "run.json").read_text())
    graph, conn = open_graph(run_dir)
    config = {"configurable": {"thread_id": meta["thread_id"]}, "recursion_limit": 10_000}
    try:
        for _, update in graph.stream(graph_input, config, context=Context.from_dict(meta["context"]),
                                      stream_mode="updates", subgraphs=True):
            _print_update(update)
        state = graph.get_state(config)
    finally:
        conn.close()
    final = state.values.get("final", {})
    return 0 if state.values.get("report_path") and not final.get("error") else 1


def cmd_run(args) -> int:
    from graph.context import Context
    from graph.spec import load_spec
    from nodes.analyze_requirements import new_run_dir

    if args.resume:
        return cmd_resume(argparse.Namespace(run_dir=args.resume))
    spec = load_spec(resolve_task(args.task))
    overrides = {k: v for k, v in (("selection_policy", args.policy), ("seed", args.seed),
                                   ("runs_dir", args.runs_dir)) if v is not None}
    ctx = Context(**overrides)
    run_dir = Path(args.run_dir or new_run_dir(ctx.runs_dir, spec.name))
    if (run_dir / "run.json").exists():
        raise FileExistsError(f"{run_dir} already holds a run: continue it with `trex resume {run_dir}`")
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {"thread_id": str(uuid.uuid4()), "context": asdict(ctx), "task": spec.name}
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2))
    return execute(run_dir, {"task": spec.model_dump(), "run_dir": str(run_dir)})


def cmd_resume(args) -> int:
    run_dir = Path(args.run_dir)
    if not (run_dir / "run.json").is_file():
        raise FileNotFoundError(f"{run_dir} is not a TREX run directory (no run.json)")
    print(f"resuming {run_dir} from its last checkpoint", flush=True)
    return execute(run_dir, None)


def cmd_tasks(args) -> int:
    from graph.spec import load_spec

    for path in sorted(TASKS_DIR.glob("*.yaml")):
        spec = load_spec(path)
        print(f"{spec.name:20s} {spec.task_type:15s} {spec.metric:12s} {spec.goal[:70]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trex", description="TREX: automated LLM fine-tuning by tree search.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a fine-tuning search on a task")
    run.add_argument("task", nargs="?", default=DEFAULT_TASK, help=f"shipped task name or spec file (default {DEFAULT_TASK})")
    run.add_argument("--run-dir", help="directory for this run (default: a new one under --runs-dir)")
    run.add_argument("--runs-dir", help="parent of new run directories (default $TREX_RUNS_DIR or ./runs)")
    run.add_argument("--policy", help="node selection: uct_global, uct_descend, greedy, sequential")
    run.add_argument("--seed", type=int, help="seed of the planner and trials")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue this stopped run instead (same as `trex resume`)")
    run.set_defaults(func=cmd_run)
    resume = sub.add_parser("resume", help="continue a stopped run from its last checkpoint")
    resume.add_argument("run_dir")
    resume.set_defaults(func=cmd_resume)
    tasks = sub.add_parser("tasks", help="list the shipped tasks")
    tasks.set_defaults(func=cmd_tasks)
    args = parser.parse_args(argv)
    try:
        from dotenv import load_dotenv

        load_dotenv()
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as err:  # SpecError and DataError are ValueErrors
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
