"""Command line: `trex run [TASK]`, `trex resume RUN_DIR`, `trex report RUN_DIR`, `trex predict RUN_DIR [FILE]`,
`trex export RUN_DIR --out DIR [--merge]`, `trex compare RUN [RUN...]` (graph/cli/compare.py), `trex tasks`."""
from __future__ import annotations

import argparse
import json
import sys
import uuid
from dataclasses import asdict
from pathlib import Path

from graph.cli.run_graph import open_graph
from tools.data.task_catalog import DEFAULT_TASK, TASKS_DIR, resolve_task


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
            path = delta.get("report_path")
            print(f"report: {path} (and report.html beside it)" if path else
                  "report: FAILED (see events.jsonl); write it again with `trex report RUN_DIR`", flush=True)


def execute(run_dir: Path, graph_input: dict | None, checkpoint_url: str | None = None, yes: bool = False) -> int:
    from trex.context import Context
    from graph.cli.progress import ProgressView
    from graph.cli.review_prompt import stream_reviewed

    import time

    from tools.run.clock import begin_segment

    begin_segment(run_dir, time.time())  # this process's work on the run starts now: the time before is not charged
    meta = json.loads((run_dir / "run.json").read_text())
    graph, conn = open_graph(run_dir, checkpoint_url)
    config = {"configurable": {"thread_id": meta["thread_id"]}, "recursion_limit": 10_000}
    try:
        if graph_input is None and not graph.get_state(config).values:  # stopped before its first checkpoint
            graph_input = meta.get("input")
        # durability="sync": a step's checkpoint is stored before the next step starts (crash-resume).
        # stream_reviewed: graph.stream that prompts at a plan review (--review) and resumes with the answer.
        # "custom": live progress events (tools/run/progress_events.py), drawn by graph/cli/progress.py (plain lines when piped).
        with ProgressView(on_update=_print_update) as view:
            for item in stream_reviewed(graph, graph_input, config, yes, context=Context.from_dict(meta["context"]),
                                        stream_mode=["updates", "custom"], subgraphs=True, durability="sync"):
                view.handle(item)
        state = graph.get_state(config)
    finally:
        conn.close()
    final = state.values.get("final", {})
    return 0 if state.values.get("report_path") and not final.get("error") else 1


def cmd_run(args) -> int:
    from graph import checkpointing
    from trex.context import Context
    from tools.data.spec_loading import load_spec
    from tools.data.safe_paths import new_run_dir

    if args.resume:
        return cmd_resume(argparse.Namespace(run_dir=args.resume, checkpoint_url=args.checkpoint_url))
    spec = load_spec(resolve_task(args.task))
    from tools.models.base_models import base_model_problem
    from trex.spec import SpecError

    problem = base_model_problem(spec.base_model)  # before anything starts, not once per trial later
    if problem:
        raise SpecError(f"field 'base_model': {problem}")
    overrides = {k: v for k, v in (("selection_policy", args.policy), ("seed", args.seed),
                                   ("runs_dir", args.runs_dir), ("human_review", args.review or None)) if v is not None}
    ctx = Context(**overrides)
    run_dir = Path(args.run_dir or new_run_dir(ctx.runs_dir, spec.name))
    if (run_dir / "run.json").exists():
        raise FileExistsError(f"{run_dir} already holds a run: continue it with `trex resume {run_dir}`")
    url = checkpointing.choose_url(args.checkpoint_url)
    checkpointing.check(url)  # a wrong URL or password fails before the run directory is written
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpointing.record(run_dir, url)
    # The spec file itself, not its dump: the graph then reads data relative to the spec's own directory
    # (an allowed root, tools/data/safe_paths.py), as load_spec just did.
    graph_input = {"task": str(resolve_task(args.task).resolve()), "run_dir": str(run_dir)}
    meta = {"thread_id": str(uuid.uuid4()), "context": asdict(ctx), "task": spec.name, "input": graph_input}
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2))
    return execute(run_dir, graph_input, args.checkpoint_url, args.yes)


def cmd_resume(args) -> int:
    run_dir = Path(args.run_dir)
    if not (run_dir / "run.json").is_file():
        raise FileNotFoundError(f"{run_dir} is not a TREX run directory (no run.json)")
    print(f"resuming {run_dir} from its last checkpoint", flush=True)
    return execute(run_dir, None, args.checkpoint_url, getattr(args, "yes", False))


def cmd_report(args) -> int:
    from graph import checkpointing
    from tools.reports.report import report_from_checkpoint

    run_dir = Path(args.run_dir)
    where = checkpointing.location(run_dir) if run_dir.is_dir() else {}
    if not (run_dir / "run.json").is_file() or (where.get("kind") == "sqlite" and not (run_dir / where["path"]).is_file()):
        raise FileNotFoundError(f"{run_dir} is not a TREX run directory (no run.json and checkpoints, "
                                "which `trex run` writes)")
    try:
        thread_id = json.loads((run_dir / "run.json").read_text())["thread_id"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{run_dir}/run.json is unreadable or has no thread_id ({err!r})") from None
    graph, conn = open_graph(run_dir, args.checkpoint_url)
    try:
        snapshot = graph.get_state({"configurable": {"thread_id": thread_id}})
    finally:
        conn.close()
    status, out = report_from_checkpoint(run_dir, snapshot.values, finished=not snapshot.next)
    print(f"run {run_dir}: {status}")
    for label, path in (("markdown", out["markdown"]), ("html", out["html"])):
        print(f"{label}: {path}")
    for path in out["pictures"]:
        print(f"picture: {path}")
    for problem in out["problems"]:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def cmd_predict(args) -> int:
    from tools.export import load_tuned
    from tools.export.best_adapter import best_adapter_dir
    from tools.export.manifest import read_manifest
    from tools.export.prediction_inputs import read_inputs

    manifest = read_manifest(best_adapter_dir(args.run_dir))  # a missing model fails before stdin is read
    inputs = read_inputs(args.file, manifest.get("input_fields"))
    model = load_tuned(args.run_dir, device=args.device)
    for item, pred in zip(inputs, model.predict(inputs)):
        # One line per input: a generation's own line breaks are escaped in the plain form.
        print(json.dumps({"input": item, "prediction": pred}, ensure_ascii=False) if args.jsonl
              else pred.replace("\n", "\\n"), flush=True)
    return 0


def cmd_export(args) -> int:
    from tools.export.export import export_tuned

    out = export_tuned(args.run_dir, args.out, merge=args.merge, device=args.device,
                       gguf=args.quant if args.gguf else None, verify=not args.no_check)
    print(f"exported to {out} (how to use it: {out / 'README.md'})")
    return 0


def licence_limits(spec) -> list[str]:
    """What a task's data licences forbid, in a few words each: what `trex tasks` shows beside a task."""
    limits = []
    for lic in spec.licences():
        if not lic.training:
            limits.append(f"test only: the terms of {lic.name} forbid training")
        if not lic.commercial:
            limits.append(f"non-commercial: {lic.name}")
    return limits


def cmd_tasks(args, dirs=(TASKS_DIR,)) -> int:
    """The tasks in dirs: TREX's own; `ftbench tasks` passes FT-Bench's as well."""
    from tools.data.task_catalog import needs_prepare, shipped_tasks
    from trex.spec import SpecError
    from tools.data.spec_loading import load_spec

    for name in shipped_tasks(dirs):
        # FT-Bench tasks fetch their public data first; listing them must not need it (or the network).
        prepare = needs_prepare(name, dirs)
        try:
            spec = load_spec(resolve_task(name, dirs), check_data=not prepare)
            line = f"{spec.task_type:15s} {spec.metric.split(':')[-1]:20s} {spec.goal[:60]}"
            line += "".join(f"  [{limit}]" for limit in licence_limits(spec))
        except SpecError as err:
            from trex.redact import redact

            line = f"(spec problem: {redact(str(err))[:80]})"
        note = "  [needs: python -m ftbench.loaders " + name + "]" if prepare else ""
        print(f"{name:14s} {line}{note}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="trex", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="TREX fine-tunes a base LLM for a task without a human in the loop: it runs rounds of LoRA "
                    "training trials organised as a search tree, keeps the best on the validation split, scores it "
                    "once on a hidden test split, and writes a report. Runs offline on a CPU by default.",
        epilog="examples:\n"
               "  trex tasks                          list the shipped tasks\n"
               "  trex run bank_intents               run a task; prints its run directory (runs/<task>-<time>/)\n"
               "  trex resume runs/bank_intents-...   continue a stopped run from its last checkpoint\n"
               "  trex report runs/bank_intents-...   (re)write report.md, report.html and the pictures of a run\n"
               "  trex predict RUN_DIR inputs.txt     answer new inputs with the run's tuned model\n"
               "  trex export RUN_DIR --out m --merge the tuned model as a plain Hugging Face model, to ship\n"
               "  trex compare RUN_A RUN_B            finished runs side by side: trex-compare.md, .html and a plot\n"
               "\n`trex COMMAND --help` explains each command.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a fine-tuning search on a task")
    run.add_argument("task", nargs="?", default=DEFAULT_TASK, help=f"shipped task name or spec file (default {DEFAULT_TASK})")
    run.add_argument("--run-dir", help="directory for this run (default: a new one under --runs-dir)")
    run.add_argument("--runs-dir", help="parent of new run directories (default $TREX_RUNS_DIR or ./runs)")
    run.add_argument("--policy", help="node selection: uct_global, uct_descend, greedy, sequential")
    run.add_argument("--seed", type=int, help="seed of the planner and trials")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue this stopped run instead (same as `trex resume`)")
    run.add_argument("--checkpoint-url", metavar="URL", help="keep checkpoints in PostgreSQL (postgresql://user:pw@host:port/db; "
                     "default $TREX_CHECKPOINT_URL; none: SQLite in the run directory)")
    run.add_argument("--review", action="store_true", help="pause after each round's plan to approve, edit "
                     "(t0.lr=1e-4 drop t1) or reject it (default $TREX_HUMAN_REVIEW)")
    run.add_argument("--yes", action="store_true", help="approve every plan review automatically (also when stdin "
                     "is not a terminal)")
    run.set_defaults(func=cmd_run)
    resume = sub.add_parser("resume", help="continue a stopped run from its last checkpoint")
    resume.add_argument("run_dir")
    resume.add_argument("--checkpoint-url", metavar="URL", help="the run's PostgreSQL URL again, for its password "
                        "(default $TREX_CHECKPOINT_URL, PGPASSWORD or ~/.pgpass; the run dir records the rest)")
    resume.add_argument("--yes", action="store_true", help="approve every plan review automatically")
    resume.set_defaults(func=cmd_resume)
    report = sub.add_parser(
        "report", help="(re)write the report of a run, finished or not",
        description="Re-render a run's report from its last checkpoint: RUN_DIR/report.md, RUN_DIR/report.html "
                    "(one self-contained page with the pictures inlined; open it in a browser) and the pictures in "
                    "RUN_DIR/report/ (search tree, best score per round, loss curves of the best trial). Works on a "
                    "finished run and on one that is still running or was interrupted (the report says at which "
                    "round). Trains nothing and changes no checkpoint. Exit code 2 if RUN_DIR is not a run.")
    report.add_argument("run_dir", metavar="RUN_DIR", help="a run directory made by `trex run` (holds run.json)")
    report.add_argument("--checkpoint-url", metavar="URL", help="for a run kept in PostgreSQL: its URL again, for "
                        "the password (as for `trex resume`)")
    report.set_defaults(func=cmd_report)
    predict = sub.add_parser(
        "predict", help="answer new inputs with a run's tuned model",
        description="Run the best adapter of RUN_DIR on new inputs, prompted and decoded as the run's test scoring "
                    "was (a label of the task, or greedy text). FILE: .jsonl (a string, or an object with 'input', "
                    "'messages' or the task's input field per line), .csv (with a header row: that column, else the "
                    "first) or text (one input per line); stdin lines when omitted or '-'. Prints one prediction "
                    "per line. Exit code 2 if RUN_DIR has no tuned model.")
    predict.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, its best_adapter/, or a `trex export` dir")
    predict.add_argument("file", metavar="FILE", nargs="?", help="inputs (default: stdin)")
    predict.add_argument("--jsonl", action="store_true", help='print {"input": ..., "prediction": ...} per line')
    predict.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    predict.set_defaults(func=cmd_predict)
    export = sub.add_parser(
        "export", help="write a run's tuned model to a directory to ship",
        description="Write the best adapter of RUN_DIR to --out with its tokenizer (chat template), trex_model.json "
                    "and a README.md (loading with transformers + PEFT, serving with vLLM). --merge writes the base "
                    "model with the adapter merged in, a plain Hugging Face model (safetensors) that "
                    "AutoModelForCausalLM.from_pretrained loads without TREX; --gguf writes it as GGUF (+ Modelfile). "
                    "Each export must answer the run's validation rows as the run did (docs/export.md).")
    export.add_argument("run_dir", metavar="RUN_DIR", help="a run directory or its best_adapter/")
    export.add_argument("--out", required=True, metavar="DIR", help="a new (or empty) directory")
    export.add_argument("--merge", action="store_true", help="merge the adapter into the base model")
    export.add_argument("--gguf", action="store_true", help="write GGUF + Ollama Modelfile (with --merge: beside it)")
    export.add_argument("--quant", default="q8_0", choices=["f16", "q8_0"], help="GGUF weights (default q8_0)")
    export.add_argument("--no-check", action="store_true", help="skip checking the export against the run")
    export.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="where to merge (default cpu)")
    export.set_defaults(func=cmd_export)
    from graph.cli.compare import add_parser as add_compare  # its own module, as this one is full

    add_compare(sub)
    tasks = sub.add_parser("tasks", help="list the shipped tasks")
    tasks.set_defaults(func=cmd_tasks)
    args = parser.parse_args(argv)
    try:
        from dotenv import load_dotenv

        load_dotenv()
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as err:  # SpecError and DataError are ValueErrors
        from trex.redact import redact

        print(f"error: {redact(str(err))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
