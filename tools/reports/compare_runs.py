"""`trex compare RUN [RUN...]`: finished runs side by side on one Markdown page and one HTML page.

Each run's base and best scores (validation, test), its compute (tokens trained, wall time, GPU-hours, chat-model
dollars), its best configuration, the best-so-far validation curves of all runs on one plot (a PNG beside the
pages), and the spec and context keys whose values differ between the runs. The CLI (graph/cli/compare.py) reads
each run's last checkpoint and run.json; everything here is plain data in, files out.
"""
from __future__ import annotations

import json
from pathlib import Path

from tools.reports.report_data import best_so_far, config_text, fmt, higher_is_better
from tools.reports.report import accounting_of, state_from_values

COLOURS = ("#1c7ed6", "#e8590c", "#2b8a3e", "#862e9c", "#c92a2a", "#0c8599", "#5c940d", "#d6336c")
SHOWN = 200  # characters of a differing value shown


def run_summary(run_dir: Path, values: dict, context: dict) -> dict:
    """One finished run as the comparison shows it, from its checkpointed values and run.json's context."""
    state = state_from_values(values)
    hib, final, acc = higher_is_better(state), dict(state.final or {}), accounting_of(state, run_dir)
    task = state.task if isinstance(state.task, dict) else {"name": str(state.task)}
    return {"run": str(run_dir), "name": Path(run_dir).name, "task": task.get("name", "?"),
            "metric": task.get("metric", "?"), "higher_is_better": hib,
            "base_val": final.get("base_val"), "best_val": final.get("val_score"),
            "base_test": final.get("base_test"), "best_test": final.get("test_score"),
            "best_node": final.get("best_node"), "config": config_text(final["config"]) if final.get("config") else "",
            "tokens": acc.get("tokens_trained"), "wall_s": acc.get("wall_s"), "gpu_hours": acc.get("gpu_hours"),
            "llm_usd": float((state.llm or {}).get("cost_usd") or 0.0), "rounds": state.round,
            "stop_reason": state.stop_reason or "", "curve": best_so_far(state.tree, hib),
            "spec": flatten(task), "context": flatten(context or {})}


def flatten(value, prefix: str = "") -> dict[str, str]:
    """Dotted keys to JSON texts ({"budget": {"rounds": 3}} -> {"budget.rounds": "3"}); lists stay whole."""
    if isinstance(value, dict) and value:
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)} if prefix else {}


def differences(runs: list[dict], part: str) -> list[tuple[str, list[str]]]:
    """(key, each run's value) for the keys of `part` ("spec" or "context") whose values are not all equal;
    a key a run lacks shows as "(unset)"."""
    keys = sorted({k for r in runs for k in r[part]})
    rows = []
    for k in keys:
        vals = [r[part].get(k, "(unset)") for r in runs]
        if len(set(vals)) > 1:
            rows.append((k, [v if len(v) <= SHOWN else v[:SHOWN] + "..." for v in vals]))
    return rows


def plot_curves(runs: list[dict], path: Path) -> Path:
    """The best-so-far validation score per round of every run, one line each, on one plot."""
    from matplotlib.ticker import MaxNLocator

    from tools.reports.report_plots import _figure, _save

    fig = _figure(7.0, 4.0)
    ax = fig.add_subplot()
    for i, r in enumerate(runs):
        if r["curve"]:
            xs, ys = [x for x, _ in r["curve"]], [y for _, y in r["curve"]]
            ax.step(xs, ys, where="post", lw=2, marker="o", ms=4, color=COLOURS[i % len(COLOURS)], alpha=0.85,
                    ls=("-", "--", ":", "-.")[i % 4],  # runs with equal scores stay apart
                    label=f"{i + 1}. {r['name']} (best {ys[-1]:.4f})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    metrics = sorted({r["metric"] for r in runs})
    ax.set_xlabel("round")
    ax.set_ylabel(f"{' / '.join(metrics)} on validation")
    ax.grid(alpha=0.3)
    if any(r["curve"] for r in runs):
        ax.legend(fontsize=8, loc="best")
    ax.set_title("Best validation score so far, per run", fontsize=10)
    return _save(fig, path)


def _money(x) -> str:
    return f"${x:.4f}"


COLUMNS = (("task", lambda r: r["task"]), ("metric", lambda r: r["metric"]),
           ("base val", lambda r: fmt(r["base_val"])), ("best val", lambda r: fmt(r["best_val"])),
           ("base test", lambda r: fmt(r["base_test"])), ("best test", lambda r: fmt(r["best_test"])),
           ("tokens", lambda r: fmt(r["tokens"])), ("wall s", lambda r: fmt(r["wall_s"], 1)),
           ("GPU-h", lambda r: fmt(r["gpu_hours"], 4)), ("LLM $", lambda r: _money(r["llm_usd"])),
           ("rounds", lambda r: fmt(r["rounds"])))


def _md(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def render_markdown(runs: list[dict], png_name: str | None) -> str:
    lines = [f"# TREX: {len(runs)} runs compared", "", "| # | run | " + " | ".join(c for c, _ in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 2) + "|"]
    lines += [f"| {i + 1} | `{_md(r['run'])}` | " + " | ".join(_md(f(r)) for _, f in COLUMNS) + " |"
              for i, r in enumerate(runs)]
    lines += ["", "## Best configuration", ""]
    lines += [f"{i + 1}. {_md(r['name'])} (node {r['best_node'] or 'n/a'}): `{_md(r['config'] or 'n/a')}`"
              for i, r in enumerate(runs)]
    lines += ["", "## Best validation score so far", "",
              f"![best-so-far curves]({png_name})" if png_name else "_the plot could not be drawn_"]
    for part, title in (("spec", "Differences in the task spec"), ("context", "Differences in the run context")):
        rows = differences(runs, part)
        lines += ["", f"## {title}", ""]
        if not rows:
            lines.append("_none: every run has the same values_")
            continue
        lines += ["| key | " + " | ".join(f"{i + 1}. {_md(r['name'])}" for i, r in enumerate(runs)) + " |",
                  "|---" * (len(runs) + 1) + "|"]
        lines += [f"| `{_md(k)}` | " + " | ".join(_md(v) for v in vals) + " |" for k, vals in rows]
    return "\n".join(lines) + "\n"


def render_html(runs: list[dict], png: Path | None) -> str:
    from tools.reports.report_html import CSS, _e, _table, data_uri

    table = _table(["#", "run", *(c for c, _ in COLUMNS)],
                   [[str(i + 1), f"<code>{_e(r['run'])}</code>", *(_e(f(r)) for _, f in COLUMNS)]
                    for i, r in enumerate(runs)], numeric=tuple(range(4, len(COLUMNS) + 2)))
    configs = "".join(f"<li>{_e(r['name'])} (node {_e(r['best_node'] or 'n/a')}): <code>{_e(r['config'] or 'n/a')}"
                      f"</code></li>" for r in runs)
    figure = (f'<figure class="wide"><img alt="best-so-far curves" src="{data_uri(png)}"></figure>' if png
              else '<p class="note">The plot could not be drawn.</p>')
    parts = [f'<section id="runs"><h2>Runs</h2>{table}</section>',
             f'<section id="configs"><h2>Best configuration</h2><ol>{configs}</ol></section>',
             f'<section id="curves"><h2>Best validation score so far</h2>{figure}</section>']
    for part, title in (("spec", "Differences in the task spec"), ("context", "Differences in the run context")):
        rows = differences(runs, part)
        body = (_table(["key", *(f"{i + 1}. {r['name']}" for i, r in enumerate(runs))],
                       [[f"<code>{_e(k)}</code>", *(_e(v) for v in vals)] for k, vals in rows]) if rows
                else '<p class="note">None: every run has the same values.</p>')
        parts.append(f'<section id="{part}"><h2>{_e(title)}</h2>{body}</section>')
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>TREX: {len(runs)} runs compared'
            f"</title><style>{CSS}</style></head><body><header><h1>TREX: {len(runs)} runs compared</h1></header>"
            f"<main>{''.join(parts)}</main></body></html>\n")


def out_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """(Markdown, HTML, PNG) paths of an --out stem (a .md or .html suffix is dropped)."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix.lower() in (".md", ".html", ".htm") else out
    return stem.with_name(stem.name + ".md"), stem.with_name(stem.name + ".html"), stem.with_name(stem.name + "-curves.png")


def write_comparison(runs: list[dict], out: str | Path) -> dict:
    """Write the pages and the plot; their paths, and a problem when the plot could not be drawn."""
    from trex.redact import redact  # a context or spec value may hold a key: never write one

    md, html, png = out_paths(out)
    md.parent.mkdir(parents=True, exist_ok=True)
    problems = []
    try:
        plot_curves(runs, png)
    except Exception as err:  # noqa: BLE001 - the pages are still written, without the plot
        problems.append(f"the curves could not be drawn: {type(err).__name__}: {err}")
        png.unlink(missing_ok=True)
    drawn = png if png.is_file() else None
    md.write_text(redact(render_markdown(runs, drawn.name if drawn else None)), encoding="utf-8")
    html.write_text(redact(render_html(runs, drawn)), encoding="utf-8")
    return {"markdown": str(md), "html": str(html), "picture": str(drawn) if drawn else None, "problems": problems}
