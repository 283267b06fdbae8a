"""The run report with pictures: a real tiny run writes report.html (+ PNGs, report.md), `trex report RUN_DIR`
re-renders it from the checkpoint, and the plots and the page hold up on hand-built trees."""
from __future__ import annotations

import base64
import io
import json
import sqlite3
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest

from graph.cli.commands import main
from graph.cli.run_graph import open_graph
from trex.state import State
from tools.reports import report_plots
from tools.reports.report import write_report_files
from tools.reports.report_data import best_so_far, fmt, report_view

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """What a reader sees: the images, the rows of each section's table, each section's text."""

    def __init__(self, html: str):
        super().__init__()
        self.images, self.rows, self.text, self.tags = [], {}, {}, set()
        self._section, self._in_body = None, False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "section":
            self._section = attrs.get("id")
        elif tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows[self._section] = self.rows.get(self._section, 0) + 1

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        self.text[self._section] = self.text.get(self._section, "") + data


def png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    assert data.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(data)) as im:
        im.verify()
    with Image.open(io.BytesIO(data)) as im:
        return im.size


def decoded_images(page: Page) -> list[bytes]:
    prefix = "data:image/png;base64,"
    assert page.images and all(src.startswith(prefix) for src in page.images)
    return [base64.b64decode(src[len(prefix):]) for src in page.images]


# --- a hand-built tree ------------------------------------------------------------------------------------

def trial(tid, score, status="ok", adapter=None, warm_from=None, epochs=1, **extra):
    cfg = {"id": tid, "lr": 1e-3, "epochs": epochs, "lora_r": 8, "lora_alpha": 16, "batch_size": 4,
           "max_samples": 16, "layer_fraction": 0.5, "template": "chat", "seed": 0, "warm_start": bool(warm_from)}
    train = {} if not epochs else {"loss_curve": [[1, 2.0], [2, 1.5], [3, 1.2], [4, 1.0]], "val_loss": [2.2, 1.1],
                                   "steps": 4, "tokens": 400, "train_s": 3.0, "wall_s": 5.0,
                                   "warm_start_from": warm_from}
    res = {"trial_id": tid, "status": status, "score": score, "adapter": adapter, "train": train,
           "eval": {"wall_s": 1.0}, "cached": False, **extra}
    return cfg, res


def node(nid, parent, rnd, trials, score, reward, failed=False, status="evaluated", **extra):
    return {"id": nid, "parent": parent, "round": rnd, "status": status, "score": score, "reward": reward,
            "failed": failed, "visits": 1, "rationale": f"plan of {nid}", "diagnosis": "",
            "best_trial": None if failed else trials[0][0]["id"],
            "trials": [c for c, _ in trials], "results": {c["id"]: r for c, r in trials}, **extra}


def hand_tree(higher_is_better=True) -> dict:
    """root -> n1 -> n3 (warm start of n1/t0) and n4; root -> n2 (all trials failed); n3 -> n5 (planned)."""
    s = (lambda v: v) if higher_is_better else (lambda v: 1.0 - v)  # lower is better: a loss-like score
    worst = 0.0 if higher_is_better else 1e9
    return {
        "root": node("root", None, 0, [trial("base", s(0.3), epochs=0)], s(0.3), 0.0),
        "n1": node("n1", "root", 1, [trial("t0", s(0.6), adapter="/a/n1t0"), trial("t1", s(0.5))], s(0.6), 0.3),
        "n2": node("n2", "root", 2, [trial("t0", worst, status="failed", failure="diverged", error="loss became nan")],
                   worst, -1e9, failed=True),
        "n3": node("n3", "n1", 3, [trial("t0", s(0.8), warm_from="/a/n1t0")], s(0.8), 0.5),
        "n4": node("n4", "n1", 4, [trial("t0", s(0.7))], s(0.7), 0.4),
        "n5": node("n5", "n3", 5, [({"id": "t0", "epochs": 1}, {})], None, 0.0, status="planned"),
    }


def colour_pixels(png: Path, rgb: tuple[int, int, int]) -> int:
    """Pixels of exactly this colour (solid fills and thick lines; antialiased edges are blends)."""
    from PIL import Image

    import numpy as np

    with Image.open(png) as im:
        return int((np.asarray(im.convert("RGB")) == rgb).all(axis=-1).sum())


# --- plots --------------------------------------------------------------------------------------------------

def test_tree_picture_marks_failed_nodes_and_the_best_path(tmp_path):
    tree = hand_tree()
    layout = report_plots.tree_layout(tree)
    assert set(layout) == set(tree) and len(set(layout.values())) == len(tree)  # every node, no overlaps
    assert layout["n1"][0] == (layout["n3"][0] + layout["n4"][0]) / 2 and layout["n5"][1] == 3
    failed_grey, orange = (0xDE, 0xE2, 0xE6), (0xE8, 0x59, 0x0C)  # a failed node's fill; the best path
    with_failure = report_plots.plot_tree(tree, "n3", tmp_path / "tree.png")
    assert png_size(with_failure.read_bytes())[0] > 500
    assert colour_pixels(with_failure, failed_grey) > 200 and colour_pixels(with_failure, orange) > 200
    no_failure = {k: v for k, v in tree.items() if k != "n2"}
    assert colour_pixels(report_plots.plot_tree(no_failure, "n3", tmp_path / "ok.png"), failed_grey) == 0


def test_single_node_tree_draws_every_picture(tmp_path):
    tree = {"root": hand_tree()["root"]}
    assert report_plots.tree_layout(tree) == {"root": (0.0, 0)}
    for png in (report_plots.plot_tree(tree, "root", tmp_path / "t.png"),
                report_plots.plot_progress(tree, tmp_path / "p.png"),
                report_plots.plot_loss(tree, "root", "base", tmp_path / "l.png")):  # base: no curve, says so
        assert png_size(png.read_bytes())[1] > 200


def test_lower_is_better_metric_tracks_the_minimum_and_ignores_failed_sentinels(tmp_path):
    tree = hand_tree(higher_is_better=False)
    points = best_so_far(tree, higher_is_better=False)
    assert [r for r, _ in points] == [0, 1, 3, 4]  # n2 (round 2, failed: score 1e9) is not there
    assert [b for _, b in points] == pytest.approx([0.7, 0.4, 0.2, 0.2])
    assert png_size(report_plots.plot_progress(tree, tmp_path / "p.png", False, "perplexity").read_bytes())
    state = State(task={"name": "t", "metric": "perplexity@lower"}, tree=tree, requirement={"direction": "lower"})
    view = report_view(state, {}, finished=False)
    assert view["best_node"] == "n3" and view["direction"] == "lower"


def test_loss_picture_follows_the_warm_start_chain(tmp_path):
    from tools.reports.report_data import loss_lineage

    chain = loss_lineage(hand_tree(), "n3", "t0")
    assert [c["label"] for c in chain] == ["n1/t0", "n3/t0"]
    assert png_size(report_plots.plot_loss(hand_tree(), "n3", "t0", tmp_path / "l.png").read_bytes())


# --- the page -------------------------------------------------------------------------------------------------

def test_untrusted_text_is_escaped(tmp_path):
    tree = hand_tree()
    evil = '<script>alert("x")</script><img src=http://evil.example/x.png onerror=alert(1)>'
    tree["n3"]["rationale"] = evil
    tree["n3"]["bad_cases"] = [{"input": evil, "prediction": "</td></tr></table>", "reference": "&amp;"}]
    state = State(task={"name": "t<b>", "goal": evil, "metric": "accuracy", "base_model": "m"}, tree=tree,
                  insights=[{"text": evil}], research={"notes": [evil]}, round=5,
                  final={"best_node": "n3", "best_trial": "t0", "config": tree["n3"]["trials"][0], "test_score": 0.7,
                         "base_test": 0.2, "val_score": 0.8, "base_val": 0.3})
    out = write_report_files(state, tmp_path, {})
    html = Path(out["html"]).read_text()
    page = Page(html)
    assert "script" not in page.tags and "<script" not in html
    assert all(src.startswith("data:image/png;base64,") for src in page.images)  # no evil <img> got through
    assert "&lt;script&gt;" in html and evil in page.text["nodes"] and evil in page.text["best"]


def test_a_failing_picture_does_not_cost_the_report(tmp_path, monkeypatch):
    from nodes.write_report import write_report

    def broken(*args, **kwargs):
        raise RuntimeError("no ink")

    monkeypatch.setattr(report_plots, "plot_tree", broken)
    state = State(task={"name": "t", "metric": "accuracy"}, tree=hand_tree(), run_dir=str(tmp_path), round=4)
    update = write_report(state)
    md = Path(update["report_path"]).read_text()
    assert "tree picture could not be drawn: RuntimeError: no ink" in md and "report/progress.png" in md
    page = Page((tmp_path / "report.html").read_text())
    assert len(page.images) == 2 and "no ink" in "".join(page.text.values())
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "report_written" and events[-1]["problems"]

    monkeypatch.setattr("nodes.write_report.write_report_files", broken)  # even a total failure is recorded
    assert "report_path" not in write_report(state)
    assert json.loads((tmp_path / "events.jsonl").read_text().splitlines()[-1])["event"] == "report_failed"


# --- a real tiny run, through the CLI -------------------------------------------------------------------------

def test_tiny_run_writes_an_html_report_and_trex_report_renders_it_again(tiny_task, cache_dir, tmp_path,
                                                                         monkeypatch, capsys):
    for key, value in (("TREX_CACHE_DIR", cache_dir), ("TREX_DEVICE", "cpu"), ("TREX_MAX_EVAL_EXAMPLES", 12),
                       ("TREX_TRIAL_TIMEOUT_S", 300)):
        monkeypatch.setenv(key, str(value))
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps({**tiny_task, "budget": {**tiny_task["budget"], "rounds": 1, "configs_per_round": 1}}))
    run_dir = tmp_path / "run"
    assert main(["run", str(spec), "--run-dir", str(run_dir)]) == 0
    graph, handle = open_graph(run_dir)
    thread = json.loads((run_dir / "run.json").read_text())["thread_id"]
    state = graph.get_state({"configurable": {"thread_id": thread}}).values
    handle.close()
    tree, final, insights = state["tree"], state["final"], state.get("insights") or []

    def check_page():
        page = Page((run_dir / "report.html").read_text())
        pictures = [png_size(data) for data in decoded_images(page)]
        assert len(pictures) == 3 and all(w > 300 and h > 200 for w, h in pictures)
        assert page.rows["trials"] == sum(len(n["trials"]) for n in tree.values()) == 2  # the baseline + 1 trial
        assert fmt(final["test_score"]) in page.text["result"] and fmt(final["base_test"]) in page.text["result"]
        texts = [i["text"] for i in insights if i.get("text")]
        assert all(t in page.text["insights"] for t in texts) and (texts or "No insights" in page.text["insights"])
        assert not {"script", "link"} & page.tags and "http" not in "".join(page.images)
        md = (run_dir / "report.md").read_text()
        for png in ("search_tree", "progress", "loss_curves"):
            assert f"](report/{png}.png)" in md and (run_dir / "report" / f"{png}.png").is_file()
        return page

    assert "finished" in check_page().text[None]
    for path in [run_dir / "report.html", run_dir / "report.md", *(run_dir / "report").iterdir()]:
        path.unlink()
    capsys.readouterr()
    assert main(["report", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "finished" in out and str(run_dir / "report.html") in out
    check_page()


def test_trex_report_on_an_interrupted_run_and_on_a_non_run(tmp_path, capsys):
    from langgraph.checkpoint.sqlite import SqliteSaver

    from graph.main import build_graph

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    thread = str(uuid.uuid4())
    (run_dir / "run.json").write_text(json.dumps({"thread_id": thread, "context": {}, "task": "t"}))
    conn = sqlite3.connect(run_dir / "checkpoints.sqlite", check_same_thread=False)
    graph = build_graph(SqliteSaver(conn))
    values = {"task": {"name": "t", "metric": "accuracy", "base_model": "m", "goal": "g"}, "run_dir": "/elsewhere",
              "tree": hand_tree(), "round": 4, "current": "n4"}
    graph.update_state({"configurable": {"thread_id": thread}}, values, as_node="backpropagate")  # mid-search
    conn.close()
    assert main(["report", str(run_dir)]) == 0
    assert "interrupted at round 4" in capsys.readouterr().out
    page = Page((run_dir / "report.html").read_text())
    assert "in progress / interrupted at round 4" in page.text[None] and "No test score yet" in page.text["result"]
    assert page.rows["trials"] == 7 and len(decoded_images(page)) == 3

    assert main(["report", str(tmp_path / "nothing_here")]) == 2
    assert "not a TREX run directory" in capsys.readouterr().err
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "run.json").write_text("{}")
    assert main(["report", str(tmp_path / "half")]) == 2
