"""The live progress display of `trex run`: the round in flight with a progress bar per trial and its live
training loss, each round's result line as it lands, and what the run has spent so far.

It reads what graph.stream yields with stream_mode=["updates", "custom"], subgraphs=True: the custom events
of tools/run/progress_events.py, and node updates (passed on to `on_update`, the CLI's line printer). On a
terminal it is a rich Live display; piped (CI, `| tee log`) it prints plain lines only, no control codes.
"""
from __future__ import annotations

import threading
import time

from rich.console import Console, Group
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from trex.trial_config import extra_settings

# What runs after a node's update arrives (the Researcher's steps emit no events of their own).
NEXT_STEP = {"analyze_requirements": "researching: literature notes and candidate datasets",
             "research": "scoring the base model", "distill_insights": "planning the next round",
             "select_node": "planning the round", "backpropagate": "distilling insights",
             "score_test": "writing the report"}
CONFIG_FIELDS = (("lr", "lr {:g}"), ("epochs", "{} ep"), ("lora_r", "r {}"), ("batch_size", "batch {}"),
                 ("max_samples", "{} samples"), ("layer_fraction", "layers {:g}"), ("method", "{}"),
                 ("template", "{} template"))
DEFAULTS = {"method": "lora", "template": "chat"}


def describe(cfg: dict) -> str:
    parts = [fmt.format(cfg[k]) for k, fmt in CONFIG_FIELDS if cfg.get(k) not in (None, "", DEFAULTS.get(k))]
    if cfg.get("warm_start"):
        parts.append("warm start")
    if cfg.get("recipe"):
        parts.append("recipe " + ",".join(sorted(cfg["recipe"])))
    shown = (*(k for k, _ in CONFIG_FIELDS), "warm_start", "recipe", "lora_alpha")
    return ", ".join(parts + [s.replace("=", " ") for s in extra_settings(cfg, shown)])


def duration(seconds: float | None) -> str:
    if (seconds or 0) < 10:
        return f"{seconds or 0:.1f} s"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def _amount(v: float) -> str:
    """A cap or its spend: 0.25, 1200, 2,000,000 (a token count is never written 2e+06)."""
    return f"{v:,.0f}" if abs(v) >= 1e5 and float(v).is_integer() else f"{v:g}"


def spend_line(spent: dict, budget: dict) -> str:
    """"spent 1 min 12 s running (1 h 14 min since the start) · 0.0000 GPU-h · LLM $0.00 · budget rounds 1/3,
    wall_time_s 72/1200": the running time (what wall_time_s counts) excludes the time between a stop and its resume."""
    if spent.get("running_s") is None:  # an older run's event: the elapsed time only
        parts = [f"spent {duration(spent.get('wall_s'))} wall"]
    else:
        parts = [f"spent {duration(spent['running_s'])} running ({duration(spent.get('wall_s'))} since the start)"]
    parts.append(f"{spent.get('gpu_hours') or 0:.4f} GPU-h")
    if spent.get("llm_usd") is not None:
        parts.append(f"LLM ${spent['llm_usd']:.2f}")
    caps = [f"{cap} {_amount(v['spent'])}/{_amount(v['cap'])}" for cap, v in (budget or {}).items()
            if isinstance(v, dict) and v.get("cap") is not None and v.get("spent") is not None]
    return " · ".join(parts) + (" · budget " + ", ".join(caps) if caps else "")


class _Trial:
    def __init__(self, tid: str, cfg: dict):
        self.id, self.cfg = tid, cfg
        self.status, self.step, self.steps = "waiting", 0, 0
        self.loss = self.val_loss = self.score = None
        self.quarter = 0  # plain output: the last quarter of training reported


class ProgressView:
    """Feed it every item of graph.stream(..., stream_mode=["updates", "custom"], subgraphs=True)."""

    def __init__(self, console: Console | None = None, on_update=None, live: bool | None = None):
        import sys

        self.console = console or Console(file=sys.stdout, highlight=False)  # made now: stdout may be redirected
        self.live = (self.console.is_terminal and not self.console.is_dumb_terminal) if live is None else live
        self.on_update = on_update
        self.started = time.monotonic()
        self.round: dict | None = None  # the round in flight: node, round, parent, trials
        self.spent: dict = {}
        self.spent_at: float | None = None  # when the last round_end's spend arrived (the live line counts on)
        self.budget: dict = {}
        self.activity = "starting"
        self._live = None
        self._spinner = Spinner("dots")  # one object, so it turns between refreshes
        self._lock = threading.Lock()  # the Live refresh thread renders while events arrive

    # --- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> "ProgressView":
        self._start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop()

    def _start(self) -> None:
        if self.live and self._live is None:
            from rich.live import Live

            self._live = Live(console=self.console, get_renderable=self._render, refresh_per_second=4,
                              transient=True)
            self._live.start()

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def print(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)  # soft_wrap: a pipe gets whole lines

    # --- input --------------------------------------------------------------------------------------
    def handle(self, item) -> None:
        """One stream item: (namespace, mode, chunk) with subgraphs=True, or (mode, chunk)."""
        mode, chunk = item[-2], item[-1]
        if mode == "updates" and isinstance(chunk, dict):
            if "__interrupt__" in chunk:  # a plan review asks on the terminal next: give it back
                self._stop()
                return
            self._start()
            for node in chunk:
                self.activity = NEXT_STEP.get(node, self.activity)
            if self.on_update:
                self.on_update(chunk)
        elif mode == "custom" and isinstance(chunk, dict) and chunk.get("kind"):
            self._start()
            with self._lock:
                try:
                    line = self.event(chunk)
                except (KeyError, TypeError, ValueError, AttributeError):  # an event shape this view does not know:
                    line = None  # the display never stops a run
            if line:
                self.print(line)

    def event(self, ev: dict) -> str | None:
        """Apply one progress event; the line to print above the live display (or alone, piped), if any."""
        kind, trial = ev["kind"], self._trial(ev)
        if kind == "round_start":
            self.round = {"node": ev.get("node"), "round": ev.get("round"), "parent": ev.get("parent"),
                          "trials": {t["id"]: _Trial(t["id"], t) for t in ev.get("trials", [])}}
            self.activity = "preparing data"
        elif kind == "data_prepared":
            sizes = ev.get("sizes") or {}
            shapes = [escape(str(line)) for line in ev.get("shapes") or []]  # what each source was read as
            return ("data: " + ", ".join(f"{k} {v}" for k, v in sizes.items()) + " examples"
                    + "".join(f"\n  {line}" for line in shapes))
        elif kind == "train_start" and trial:
            trial.status, self.activity = "starting", f"training {trial.id}"
            return f"  {trial.id} training: {escape(describe(ev.get('config') or trial.cfg))}"
        elif kind == "job_phase":
            if trial:
                trial.status, trial.steps = ev.get("phase", trial.status), ev.get("steps") or trial.steps
            else:
                self.activity = f"{self.activity.split(':')[0]}: {ev.get('phase')}"
        elif kind == "train_loss" and trial:
            trial.status, trial.step, trial.steps, trial.loss = "training", ev["step"], ev["steps"], ev["loss"]
            quarter = 4 * trial.step // max(trial.steps, 1)
            if not self.live and quarter > trial.quarter:
                trial.quarter = quarter
                return f"  {trial.id} step {trial.step}/{trial.steps} loss {trial.loss:.4f}"
        elif kind == "val_loss" and trial:
            trial.val_loss = ev.get("val_loss")
        elif kind == "train_end" and trial:
            trial.status = "trained" if ev.get("status") == "ok" else "failed"
            trial.loss = ev.get("loss", trial.loss)
            if ev.get("status") != "ok":
                return f"  {trial.id} [red]failed[/] ({ev.get('failure')}): {escape(str(ev.get('error', ''))[:120])}"
            how = "reused from the cache" if ev.get("cached") else f"trained in {duration(ev.get('train_s'))}"
            loss = f", final loss {trial.loss:.4f}" if trial.loss is not None else ""
            return f"  {trial.id} {how}{loss}"
        elif kind == "eval_start":
            for tid in ev.get("trials", []):
                if self.round and tid in self.round["trials"]:
                    self.round["trials"][tid].status = "scoring"
            self.activity = "scoring the base model" if ev.get("round") == 0 else "scoring on validation"
        elif kind == "eval_end" and trial:
            trial.status, trial.score = ("done" if ev.get("status") == "ok" else "failed"), ev.get("score")
        elif kind == "round_end":
            self.spent, self.budget, self.round = ev.get("spent") or {}, ev.get("budget") or {}, None
            self.spent_at = time.monotonic()
            return self.result_line(ev)
        elif kind == "test_start":
            self.activity = f"scoring the best node ({ev.get('node')}) and the base model on the hidden test split"
        return None

    def _trial(self, ev: dict) -> _Trial | None:
        if not self.round or "trial" not in ev or ev.get("node", self.round["node"]) != self.round["node"]:
            return None
        return self.round["trials"].get(ev["trial"])

    def result_line(self, ev: dict) -> str:
        """The spend so far; with no update printer (the CLI's prints the round's scores), the result too."""
        if self.on_update:
            return f"  spent so far: {spend_line(self.spent, self.budget).removeprefix('spent ')}"
        head = f"round {ev.get('round')} ({ev.get('node')}) result: "
        if ev.get("failed"):
            head += "[red]every trial failed[/]"
        else:
            head += (f"[bold]val {ev.get('score') or 0:.4f}[/] (best {ev.get('best_trial')}), "
                     f"reward {ev.get('reward') or 0:+.3f}")
        return f"{head}\n  {spend_line(self.spent, self.budget)}"

    # --- live display -------------------------------------------------------------------------------
    def _render(self):
        with self._lock:
            self._spinner.update(text=Text(f" {self.activity}", style="cyan"))
            rows = [self._spinner]
            if self.round:
                trials = list(self.round["trials"].values())
                finished = sum(t.status in ("trained", "scoring", "done", "failed") for t in trials)
                title = (f"round {self.round['round']} · {self.round['node']}"
                         + (f" (child of {self.round['parent']})" if self.round.get("parent") else ""))
                grid = Table.grid(padding=(0, 1))
                grid.add_row(Text(title, style="bold"),
                             ProgressBar(total=len(trials) or 1, completed=finished, width=24),
                             Text(f"{finished}/{len(trials)} trials trained"))
                for t in trials:
                    done = t.steps if t.status in ("trained", "scoring", "done") else t.step
                    bar = ProgressBar(total=t.steps or 1, completed=done, width=24) if t.steps else Text("")
                    info = " ".join(filter(None, [f"{t.step}/{t.steps} steps" if t.steps else "",
                                                  f"loss {t.loss:.4f}" if t.loss is not None else "",
                                                  f"val loss {t.val_loss:.4f}" if t.val_loss is not None else "",
                                                  f"val {t.score:.4f}" if t.score is not None else ""]))
                    grid.add_row(Text(f"  {t.id} {t.status}"), bar, Text(info))
                rows.append(grid)
            since = time.monotonic() - (self.spent_at or self.started)  # both clocks ran on since the last round
            spent = dict(self.spent, wall_s=(self.spent.get("wall_s") or 0) + since if self.spent_at else since)
            if self.spent.get("running_s") is not None:
                spent["running_s"] = self.spent["running_s"] + since
            rows.append(Text(spend_line(spent, self.budget), style="dim"))
            return Group(*rows)
