"""The run report as Markdown (report.md): the same content as the HTML page, pictures referenced as PNG
files relative to the report."""
from __future__ import annotations

from tools.reports.report_data import fmt, llm_summary, time_spent


def _cell(text, limit: int = 120) -> str:
    # untrusted text (rationales, bad cases): no table breaks, no raw HTML in a Markdown viewer
    return str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")[:limit]


def _items(items: list[dict], empty: str) -> list[str]:
    if not items:
        return [f"_{empty}_"]
    lines = []
    for it in items:
        meta = ", ".join(f"{k} {v}" for k, v in it["meta"].items())
        title = f"**{_cell(it['title'])}**: " if it["title"] else ""
        lines.append(f"- {title}{_cell(it['text'], 600)}" + (f" ({it['source']})" if it["source"] else "")
                     + (f" [{meta}]" if meta else ""))
    return lines


def _brief(v: dict) -> list[str]:
    """The research brief's takeaways (tools/research/research_brief.py) above the notes they cite."""
    brief = v.get("brief") if isinstance(v.get("brief"), dict) else {}
    takes = [t for t in brief.get("takeaways") or [] if isinstance(t, dict) and t.get("text")]
    if not takes:
        return []
    lines = [f"Brief ({_cell(brief.get('source', '?'), 40)}):", ""]
    for t in takes:
        srcs = "; ".join(_cell(s, 200) for s in t.get("sources") or [])
        lines.append(f"- {_cell(t['text'], 500)}" + (f" ({srcs})" if srcs else ""))
    if brief.get("suggested_datasets"):
        lines += ["", "Suggested datasets: " + ", ".join(_cell(d, 120) for d in brief["suggested_datasets"])]
    return lines + ["", "Notes:", ""]


def _result(v: dict) -> list[str]:
    final = v["final"]
    if final.get("error"):
        return [f"**No result:** {final['error']}", ""]
    if not final:
        return [f"**No test score yet:** the run is {v['status']}; best node on validation so far: "
                f"{v['best_node'] or 'none'}.", ""]
    lines = ["## Result", "", "| split | base model | best (node " + str(final.get("best_node")) + ") |", "|---|---|---|",
             f"| validation | {fmt(final.get('base_val'))} | {fmt(final.get('val_score'))} |",
             f"| test (hidden until now) | {fmt(final.get('base_test'))} | {fmt(final.get('test_score'))} |",
             "", f"Best config: `{v['best_config']}`", ""]
    if final.get("adapter"):
        lines += [f"Best adapter: `{final['adapter']}`", ""]
    if v["bad_cases"]:
        lines += ["Validation examples the best trial still gets wrong:", "", "| input | prediction | reference |",
                  "|---|---|---|"] + [f"| {_cell(b.get('input', ''))} | {_cell(b.get('prediction', ''))} | "
                                      f"{_cell(b.get('reference', ''))} |" for b in v["bad_cases"]] + [""]
    return lines


def _pictures(images: dict) -> list[str]:
    lines = ["## Pictures", ""]
    for name, title in (("tree", "Search tree"), ("progress", "Best validation score so far"),
                        ("loss", "Loss curves of the best trial")):
        rel = images.get(name + "_rel")
        lines += [f"![{title}]({rel})" if rel else f"_{title}: {images.get(name + '_missing') or 'not drawn'}_", ""]
    return lines


def _outline(v: dict) -> list[str]:
    lines = []
    for indent, node, best in v["outline"]:
        score = "all trials failed" if node.get("failed") else f"val {fmt(node.get('score'))}"
        lines.append(f"{'  ' * indent}- **{node['id']}** (round {node.get('round', 0)}): {score}, reward "
                     f"{node.get('reward', 0.0):+.3f}, visits {node.get('visits', 0)}{' ★' if best else ''} — "
                     f"{_cell(node.get('diagnosis', ''), 300)}")
    return lines


def _trials(v: dict) -> list[str]:
    lines = ["| node | round | trial | config | recipe | warm start | status | val | wall s | train s | tokens | tok/s "
             "| peak MiB | cached |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in v["trials"]:
        status = r["status"] + (f" ({_cell(r['failure'], 80)})" if r["failure"] else "")
        curve = f" ({r['curve']})" if r.get("curve") else ""  # the learning curve, where it has several points
        lines.append(f"| {r['node']} | {r['round']} | {r['trial']}{' ★' if r['best'] else ''} | {r['hyper']} | "
                     f"{_cell(r['recipe'])} | {'yes' if r['warm_start'] else 'no'} | {status} | {fmt(r['score'])}{curve} | "
                     f"{fmt(r['wall_s'], 1)} | {fmt(r['train_s'], 1)} | {fmt(r['tokens'])} | {fmt(r['tokens_per_s'], 1)} | "
                     f"{fmt(r['peak_memory_mb'], 0)} | {'yes' if r['cached'] else 'no'} |")
    return lines


def render_markdown(v: dict, images: dict, problems: list[str] = ()) -> str:
    """The Markdown page from report_data.report_view; images holds "<name>_rel" paths or "<name>_missing"."""
    acc = v["accounting"]

    def a(key, default=0.0):
        return acc.get(key) if acc.get(key) is not None else default

    lines = [f"# TREX run report: {v['task']}", "", f"**Goal.** {v['goal']}", "",
             f"- status: {v['status']}",
             f"- base model: `{v['base_model']}`", f"- metric: {v['metric']} ({v['direction']} is better)",
             f"- rounds run: {v['round']} (+ baseline); stopped because: {v['stop_reason']}",
             f"- data: {v['data_sizes']}",
             *[f"- data licence: {line}" for line in v.get("licences", [])],
             f"- trials: {a('trials_trained', 0)} trained, {a('trials_reused', 0)} reused from the cache, "
             f"{a('trials_failed', 0)} failed",
             f"- cost: {time_spent(acc)}, training {a('train_s'):.0f} s, "
             f"{a('tokens_trained', 0):,} tokens trained, {a('gpu_hours'):.4f} GPU-hours, "
             f"peak memory {a('peak_memory_mb'):.0f} MiB (GPU {a('peak_gpu_memory_mb'):.0f} MiB)", "",
             "The same report with the pictures inline: `report.html`.", ""]
    lines += _result(v) + _pictures(images)
    lines += ["## Search tree", ""] + _outline(v) + ["", "## Trials", ""] + _trials(v)
    if v.get("source_labels"):
        lines += ["", "Added sources, by label (rows whose label the task lacks are dropped or mapped):", ""] + [
            f"- {_cell(line, 400)}" for line in v["source_labels"]]
    lines += ["", "## Plans", ""] + [f"- **{nid}**: {_cell(text, 600)}" for nid, text in v["plans"]]
    lines += ["", "## Insights distilled", ""] + _items(v["insights"], "No insights were distilled in this run (yet).")
    lines += ["", "## Research notes", ""] + _brief(v) + _items(v["notes"], "No research notes were recorded for this run.")
    if v.get("sources"):
        lines += ["", "Candidate datasets as training sources:", ""] + [
            f"- {_cell(s.get('id'), 120)} ({_cell(s.get('source'), 60)}): "
            f"{'may be added' if s.get('accepted') else 'refused'}: {_cell(s.get('why'), 300)}" for s in v["sources"]]
    verdict, rows = llm_summary(v["llm"])
    lines += ["", "## LLM use", "", verdict] + ([""] + [f"- {k}: {_cell(x, 300)}" for k, x in rows] if rows else [])
    if problems:
        lines += ["", "## Report problems", ""] + [f"- {_cell(p, 400)}" for p in problems]
    return "\n".join(lines) + "\n"
