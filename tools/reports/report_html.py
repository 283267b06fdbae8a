"""The run report as one self-contained HTML page: inline CSS, pictures inlined as base64 PNG data URIs,
no script and nothing fetched from the net, so the file can be mailed or opened offline. Every text from
the run (rationales, bad cases, notes, errors) is untrusted and goes through html.escape."""
from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from tools.reports.report_data import fmt, llm_summary, time_spent

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;background:#f1f3f5;color:#212529}
main{max-width:1220px;margin:0 auto;padding:20px 28px 40px}
header{background:#1b2a3a;color:#f8f9fa;padding:22px 28px}
header h1{margin:0 0 4px;font-size:24px;max-width:1220px;margin-inline:auto}
header p{margin:0 auto;max-width:1220px;color:#ced4da}
.chips{max-width:1220px;margin:12px auto 0;display:flex;flex-wrap:wrap;gap:8px}
.chip{background:#2f4358;border-radius:14px;padding:3px 12px;font-size:13px}
.chip b{color:#ffd8a8;font-weight:600}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:18px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{font-size:18px;margin:0 0 12px;color:#1b2a3a}
.numbers{display:flex;gap:16px;flex-wrap:wrap}
.num{flex:1;min-width:170px;border:1px solid #dee2e6;border-radius:8px;padding:12px 16px}
.num .v{font-size:38px;font-weight:700;line-height:1.1}
.num .l{color:#495057;font-size:13px}
.num.best .v{color:#1864ab}.num.good .v{color:#2b8a3e}.num.bad .v{color:#c92a2a}
.note{color:#495057;margin:10px 0 0}
.alert{background:#fff5f5;border:1px solid #ffc9c9;color:#862e2e;border-radius:6px;padding:10px 14px}
.figs{display:grid;grid-template-columns:1fr 1fr;gap:14px}
figure{margin:0}figure.wide{grid-column:1/-1}
figure img{width:100%;height:auto;border:1px solid #e9ecef;border-radius:6px}
figure.wide img{width:auto;max-width:100%;display:block;margin:0 auto}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:0 18px}.cols section{margin:0 0 18px}
figcaption{font-size:12.5px;color:#495057;margin-top:4px}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{border-bottom:1px solid #e9ecef;padding:5px 7px;text-align:left;vertical-align:top}
th{background:#f8f9fa;position:sticky;top:0}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.winner td{background:#fff4e6;font-weight:600}tr.failed td{color:#862e2e}
code{background:#f1f3f5;padding:1px 5px;border-radius:4px;font-size:12.5px;word-break:break-word}
.small{font-size:12px;color:#868e96}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}dt{color:#495057}dd{margin:0}
ul{margin:0;padding-left:20px}li{margin:5px 0}
details{display:inline}details[open]{display:block}summary{cursor:pointer;color:#1c7ed6;display:inline}
"""


def data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode("ascii")


def _e(x) -> str:
    return escape(str(x), quote=True)


def _table(headers: list[str], rows: list[list[str]], classes: list[str] | None = None, numeric=()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f'<td class="n">{c}</td>' if j in numeric else f"<td>{c}</td>"
                                           for j, c in enumerate(row)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _header(v: dict) -> str:
    chips = [("metric", f"{v['metric']} ({v['direction']} is better)"), ("base model", v["base_model"]),
             ("status", v["status"]), ("stopped because", v["stop_reason"]), ("rounds run", f"{v['round']} + baseline"),
             ("data", ", ".join(f"{k} {n}" for k, n in v["data_sizes"].items()) or "n/a"),
             *[("data licence", line) for line in v.get("licences", [])]]
    return (f"<header><h1>TREX run report · {_e(v['task'])}</h1><p>{_e(v['goal'])}</p><div class=\"chips\">"
            + "".join(f'<span class="chip">{_e(k)}: <b>{_e(x)}</b></span>' for k, x in chips) + "</div></header>")


def _numbers(v: dict) -> str:
    final, hib = v["final"], v["higher_is_better"]
    if final.get("error"):
        return f'<section id="result"><h2>Result</h2><div class="alert">No result: {_e(final["error"])}</div></section>'
    if not final:
        return (f'<section id="result"><h2>Result</h2><div class="alert">No test score yet: the run is '
                f'{_e(v["status"])}. Best node on validation so far: {_e(v["best_node"] or "none")}.</div></section>')
    test, base = final.get("test_score"), final.get("base_test")
    gain = None if test is None or base is None else (test - base if hib else base - test)
    cards = [("best", fmt(test), f"test {v['metric']}, best node {final.get('best_node')}"),
             ("", fmt(base), f"test {v['metric']}, base model")]
    if gain is not None:
        cards.append(("good" if gain > 0 else "bad" if gain < 0 else "", f"{gain:+.4f}",
                      f"gain over the base model ({v['direction']} is better)"))
    html = "".join(f'<div class="num {c}"><div class="v">{_e(x)}</div><div class="l">{_e(lab)}</div></div>'
                   for c, x, lab in cards)
    return (f'<section id="result"><h2>Result on the hidden test split</h2><div class="numbers">{html}</div>'
            f'<p class="note">Validation: best {_e(fmt(final.get("val_score")))} vs base {_e(fmt(final.get("base_val")))}. '
            f"The test split was scored once, at the end, for the node chosen on validation.</p></section>")


FIGURES = (("tree", "Search tree: one box per round (node · round, validation score); colour = reward; orange = the path "
                    "from the root to the best node ★. Full size: report/search_tree.png.", True),
           ("progress", "Best validation score so far by round, against the base model.", False),
           ("loss", "Training and validation loss of the best trial.", False))


def _figures(images: dict) -> str:
    parts = []
    for name, caption, wide in FIGURES:
        png = images.get(name)
        if png and Path(png).is_file():
            parts.append(f'<figure class="{"wide" if wide else ""}"><img alt="{_e(name)}" src="{data_uri(png)}">'
                         f"<figcaption>{_e(caption)}</figcaption></figure>")
        else:
            parts.append(f'<figure class="{"wide" if wide else ""}"><div class="alert">{_e(name)} picture: '
                         f'{_e(images.get(name + "_missing") or "not drawn")}</div></figure>')
    return f'<section id="pictures"><h2>Pictures</h2><div class="figs">{"".join(parts)}</div></section>'


def _best(v: dict) -> str:
    final = v["final"]
    if not final.get("config"):
        return ""
    html = f"<p>Best config (node {_e(final.get('best_node'))}, trial {_e(final.get('best_trial'))}): <code>{_e(v['best_config'])}</code></p>"
    if final.get("adapter"):
        html += f"<p>Best adapter: <code>{_e(final['adapter'])}</code></p>"
    if v["bad_cases"]:
        html += "<p>Validation examples the best trial still gets wrong:</p>" + _table(
            ["input", "prediction", "reference"],
            [[_e(b.get("input", "")), _e(b.get("prediction", "")), _e(b.get("reference", ""))] for b in v["bad_cases"]])
    return f'<section id="best"><h2>Best model</h2>{html}</section>'


def _trials(v: dict) -> str:
    rows, classes = [], []
    for r in v["trials"]:
        status = _e(r["status"]) + (f"<br><span class=\"small\">{_e(r['failure'])}</span>" if r["failure"] else "")
        hyper = _e(r["hyper"]) + (f'<br><span class="small">{_e(r["why"])}</span>' if r["why"] else "")
        rows.append([_e(r["node"]), _e(r["round"]), _e(r["trial"]) + (" ★" if r["best"] else ""), hyper,
                     _e(r["recipe"]), "yes" if r["warm_start"] else "no", status, _e(fmt(r["score"])) + (f'<br><span class="small">{_e(r["curve"])}</span>' if r.get("curve") else ""),
                     _e(fmt(r["wall_s"], 1)), _e(fmt(r["tokens"])), "yes" if r["cached"] else "no"])
        winner = r["node"] == v["best_node"] and r["trial"] == v["best_trial"]
        classes.append("winner" if winner else "failed" if r["status"] == "failed" else "")
    table = _table(["node", "round", "trial", "hyper-parameters", "recipe", "warm start", "status", "val score",
                    "wall s", "tokens", "cached"], rows, classes, numeric=(1, 7, 8, 9))
    labels = "".join(f"<li>{_e(line)}</li>" for line in v.get("source_labels") or [])
    labels = f"<h3>Added sources, by label</h3><ul>{labels}</ul>" if labels else ""
    return (f'<section id="trials"><h2>All trials ({len(rows)})</h2>{table}<p class="small">★ the best trial of its '
            "node; highlighted: the best trial of the run; wall s = training + validation scoring; cached = reused "
            f"from an earlier identical trial.</p>{labels}</section>")


def _nodes(v: dict) -> str:
    rows = [[("&nbsp;" * 4 * indent) + _e(n["id"]) + (" ★" if best else ""), _e(n.get("round", 0)),
             _e("failed" if n.get("failed") else fmt(n.get("score"))), _e(f"{n.get('reward', 0.0):+.3f}"),
             _e(n.get("visits", 0)), _e(n.get("diagnosis", "")),
             (f'<span class="small">[{_e(n["planner"])}]</span> ' if n.get("planner") else "") + _e(n.get("rationale", ""))]
            for indent, n, best in v["outline"]]
    return (f'<section id="nodes"><h2>Rounds: plans and diagnoses</h2>'
            f'{_table(["node", "round", "val", "reward", "visits", "diagnosis", "plan"], rows, numeric=(1, 2, 3, 4))}</section>')


SHORT = 280  # characters of a note or insight shown before it folds


def _items(items: list[dict], empty: str) -> str:
    if not items:
        return f'<p class="note">{_e(empty)}</p>'
    lis = []
    for it in items:
        src = it["source"]
        link = (f' <a href="{_e(src)}">{_e(src)}</a>' if src.startswith(("http://", "https://"))
                else f' <span class="small">({_e(src)})</span>' if src else "")
        meta = ", ".join(f"{k} {v}" for k, v in it["meta"].items())
        title = f"<b>{_e(it['title'])}</b>: " if it["title"] else ""
        text = it["text"]
        if len(text) > SHORT:  # long notes fold: the first lines show, the rest opens on a click (no script)
            cut = text.rfind(" ", 0, SHORT) if text.rfind(" ", 0, SHORT) > SHORT // 2 else SHORT
            text_html = f"{_e(text[:cut])} …<details><summary>more</summary>{_e(text[cut:])}</details>"
        else:
            text_html = _e(text)
        lis.append(f"<li>{title}{text_html}{link}" + (f' <span class="small">[{_e(meta)}]</span>' if meta else "") + "</li>")
    return f"<ul>{''.join(lis)}</ul>"


def _brief(view: dict) -> str:
    """The research brief's takeaways with links to the notes they cite; every text escaped."""
    brief = view.get("brief") if isinstance(view.get("brief"), dict) else {}
    takes = [t for t in brief.get("takeaways") or [] if isinstance(t, dict) and t.get("text")]
    if not takes:
        return ""

    def src(s) -> str:
        s = str(s)
        return f'<a href="{_e(s)}">{_e(s)}</a>' if s.startswith(("http://", "https://")) else f'<span class="small">{_e(s)}</span>'

    lis = "".join(f"<li>{_e(t['text'])}" + (f" ({', '.join(src(s) for s in t.get('sources') or [])})"
                                             if t.get("sources") else "") + "</li>" for t in takes)
    ds = (f'<p>Suggested datasets: {_e(", ".join(str(d) for d in brief["suggested_datasets"]))}</p>'
          if brief.get("suggested_datasets") else "")
    return f'<h3>Brief <span class="small">({_e(brief.get("source", "?"))})</span></h3><ul>{lis}</ul>{ds}<h3>Notes</h3>'


def _dl(pairs: list[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(x)}</dd>" for k, x in pairs) + "</dl>"


def _llm(llm: dict) -> str:
    verdict, rows = llm_summary(llm)
    return f'<p class="note">{_e(verdict)}</p>' + (_dl(rows) if rows else "")


def _accounting(acc: dict) -> str:
    def g(key, digits=1):
        return fmt(float(acc[key]), digits) if acc.get(key) is not None else "n/a"

    return _dl([("time", time_spent(acc)), ("training time", f"{g('train_s')} s"),
                ("tokens trained", fmt(acc.get("tokens_trained"))), ("GPU-hours", g("gpu_hours", 4)),
                ("peak memory", f"{g('peak_memory_mb', 0)} MiB (GPU {g('peak_gpu_memory_mb', 0)} MiB)"),
                ("trials", f"{fmt(acc.get('trials_trained'))} trained, {fmt(acc.get('trials_reused'))} reused from the "
                           f"cache, {fmt(acc.get('trials_failed'))} failed")])


def render_html(view: dict, images: dict, problems: list[str] = ()) -> str:
    """The whole page. images maps "tree"/"progress"/"loss" to PNG paths (or "<name>_missing" to a reason)."""
    extra = (f'<section><h2>Report problems</h2><div class="alert">{"<br>".join(_e(p) for p in problems)}</div>'
             f"</section>" if problems else "")
    body = "".join([
        _numbers(view), _figures(images), _best(view), _trials(view), _nodes(view),
        f'<section id="insights"><h2>Insights distilled</h2>{_items(view["insights"], "No insights were distilled in this run (yet).")}</section>',
        f'<section id="research"><h2>Research notes</h2>{_brief(view)}{_items(view["notes"], "No research notes were recorded for this run.")}</section>',
        f'<div class="cols"><section id="llm"><h2>LLM use</h2>{_llm(view["llm"])}</section>',
        f'<section id="accounting"><h2>Accounting</h2>{_accounting(view["accounting"])}</section></div>', extra])
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>TREX report · {_e(view["task"])}</title>'
            f"<style>{CSS}</style></head><body>{_header(view)}<main>{body}</main></body></html>\n")
