"""`trex compare RUN [RUN...] [--out PATH]`: finished runs side by side (tools/reports/compare_runs.py).

Each RUN's last checkpoint is read as `trex report` reads it; a path that is not a finished run is a one-line
error (exit code 2), and nothing is written."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def finished_run(run_dir: Path, checkpoint_url: str | None = None) -> tuple[dict, dict]:
    """(checkpointed values, run.json's context) of a finished run; FileNotFoundError or ValueError (one line)
    when run_dir is not a run, or not finished."""
    from graph import checkpointing
    from graph.cli.run_graph import open_graph

    where = checkpointing.location(run_dir) if run_dir.is_dir() else {}
    if not (run_dir / "run.json").is_file() or (where.get("kind") == "sqlite" and not (run_dir / where["path"]).is_file()):
        raise FileNotFoundError(f"{run_dir} is not a TREX run directory (no run.json and checkpoints, "
                                "which `trex run` writes)")
    try:
        meta = json.loads((run_dir / "run.json").read_text())
        thread_id = meta["thread_id"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{run_dir}/run.json is unreadable or has no thread_id ({err!r})") from None
    graph, conn = open_graph(run_dir, checkpoint_url)
    try:
        snapshot = graph.get_state({"configurable": {"thread_id": thread_id}})
    finally:
        conn.close()
    values = snapshot.values or {}
    final = values.get("final") or {}
    if snapshot.next or not final or final.get("test_score") is None:
        why = final.get("error") or (f"interrupted at round {values.get('round', 0)}; continue it with "
                                     f"`trex resume {run_dir}`")
        raise ValueError(f"{run_dir} is not a finished run ({why})")
    return values, meta.get("context") or {}


def cmd_compare(args) -> int:
    from tools.reports.compare_runs import run_summary, write_comparison

    runs = []
    for name in args.runs:
        run_dir = Path(name)
        values, context = finished_run(run_dir, args.checkpoint_url)
        runs.append(run_summary(run_dir, values, context))
    out = write_comparison(runs, args.out)
    print(f"compared {len(runs)} run{'s' if len(runs) != 1 else ''}")
    for label in ("markdown", "html", "picture"):
        if out[label]:
            print(f"{label}: {out[label]}")
    for problem in out["problems"]:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def add_parser(sub) -> None:
    compare = sub.add_parser(
        "compare", help="put finished runs side by side on one page",
        description="Compare finished runs (another seed, another spec, a GPU and a CPU): each run's base and best "
                    "scores (validation, test), compute (tokens trained, wall time, GPU-hours, LLM dollars), best "
                    "configuration, the best-so-far validation curves of all runs on one plot, and the keys of the "
                    "spec and the run context whose values differ. Writes OUT.md, OUT.html (self-contained) and "
                    "OUT-curves.png, and prints their paths. Exit code 2 if a RUN is not a finished run.")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="run directories made by `trex run`")
    compare.add_argument("--out", default="trex-compare", metavar="PATH",
                         help="where the pages go: PATH.md, PATH.html, PATH-curves.png (default ./trex-compare)")
    compare.add_argument("--checkpoint-url", metavar="URL", help="for runs kept in PostgreSQL: the URL again, for "
                         "the password (as for `trex report`)")
    compare.set_defaults(func=cmd_compare)
