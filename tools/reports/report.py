"""Write a run's report into its directory: the pictures (report/*.png), report.md and report.html.

Used by the graph's last node and by `trex report RUN_DIR` (re-rendering from the last checkpoint). A
picture or page that fails is named in the report and in the result; it never stops the others.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from memory.run_log import read_events
from tools.run.accounting import run_accounting
from tools.reports.report_data import report_view

PICTURES = {"tree": "search_tree.png", "progress": "progress.png", "loss": "loss_curves.png"}


def state_from_values(values: dict):
    """A trex.state.State from a checkpoint's values (unknown keys, from a newer or older TREX, ignored)."""
    from trex.state import State

    names = {f.name for f in dataclasses.fields(State)}
    return State(**{k: v for k, v in values.items() if k in names})


def accounting_of(state, run_dir: Path) -> dict:
    """The run's accounting as last recorded; recomputed up to the last logged event when none was."""
    if state.accounting:
        return dict(state.accounting)
    events = read_events(run_dir)
    return run_accounting(state.tree, state.started_at, events[-1]["t"] if events else state.started_at)


def draw_pictures(view: dict, tree: dict, out_dir: Path) -> tuple[dict, list[str]]:
    """Draw each picture into out_dir. Returns ({name: path, name_rel: path from the run dir,
    name_missing: why not}, problems)."""
    from tools.reports import report_plots

    hib, subject = view["higher_is_better"], view["loss_subject"]
    draws = {
        "tree": lambda p: report_plots.plot_tree(tree, view["best_node"], p, hib),
        "progress": lambda p: report_plots.plot_progress(tree, p, hib, view["metric"]),
        "loss": (lambda p: report_plots.plot_loss(tree, subject[0], subject[1], p, "" if subject[0] == view["best_node"]
                                                  else "the best trained trial (the base model scored best)"))
        if subject else None,
    }
    images, problems = {}, []
    for name, draw in draws.items():
        path = out_dir / PICTURES[name]
        if draw is None:
            images[f"{name}_missing"] = "no trial has trained yet, so there is no loss curve"
            path.unlink(missing_ok=True)
            continue
        try:
            draw(path)
            images.update({name: path, f"{name}_rel": f"{out_dir.name}/{PICTURES[name]}"})
        except Exception as err:  # noqa: BLE001 - one bad picture must not cost the report
            problems.append(f"{name} picture could not be drawn: {type(err).__name__}: {err}")
            images[f"{name}_missing"] = "could not be drawn (see Report problems)"
            path.unlink(missing_ok=True)  # no stale picture from an earlier rendering
    return images, problems


def write_report_files(state, run_dir: str | Path, accounting: dict, finished: bool = True) -> dict:
    """Write report/*.png, report.html and report.md into run_dir; returns their paths and any problems."""
    from tools.reports.report_html import render_html
    from tools.reports.report_markdown import render_markdown
    from trex.redact import redact  # trial errors quoted in a report may hold a key: never write one

    run_dir = Path(run_dir)
    view = report_view(state, accounting, finished)
    images, problems = draw_pictures(view, state.tree, run_dir / "report")
    html_path = run_dir / "report.html"
    try:
        html_path.write_text(redact(render_html(view, images, problems)), encoding="utf-8")
    except Exception as err:  # noqa: BLE001 - the Markdown report is still written
        problems.append(f"report.html could not be written: {type(err).__name__}: {err}")
        html_path = None
    md_path = run_dir / "report.md"
    md_path.write_text(redact(render_markdown(view, images, problems)), encoding="utf-8")
    return {"markdown": str(md_path), "html": str(html_path) if html_path else None,
            "pictures": [str(images[n]) for n in PICTURES if n in images], "problems": problems}


def report_from_checkpoint(run_dir: str | Path, values: dict, finished: bool) -> tuple[str, dict]:
    """Re-render a run's report from its last checkpointed values (what `trex report RUN_DIR` does).
    finished: the checkpoint is the graph's end (nothing left to run). Returns (status line, paths)."""
    if not values.get("tree"):
        raise FileNotFoundError(f"{run_dir} has no checkpointed search tree yet: nothing to report")
    state = state_from_values(values)
    out = write_report_files(state, run_dir, accounting_of(state, Path(run_dir)), finished)
    return report_view(state, {}, finished)["status"], out
