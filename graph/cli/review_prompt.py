"""The command line at a plan review (Context.human_review, `trex run --review`): show the proposed trials as a
table, ask approve / edit / reject on the terminal, and resume the graph with the answer.

With --yes, or when stdin is not a terminal (a pipe, CI), every plan is approved automatically, and the CLI
says so. End of input at the prompt leaves the run paused at the review: `trex resume RUN_DIR` asks again.
"""
from __future__ import annotations

import json
import shlex
import sys

PROMPT = "approve [a] | edit, e.g. `t0.lr=1e-4 t1.epochs=3 drop t2` | reject [r NOTE] > "
# Columns shown when any trial sets them (an 80-column pipe fits the usual ones).
COLUMNS = (("trial", "id"), ("lr", "lr"), ("epochs", "epochs"), ("r", "lora_r"), ("alpha", "lora_alpha"),
           ("batch", "batch_size"), ("samples", "max_samples"), ("layers", "layer_fraction"), ("template", "template"),
           ("method", "method"), ("warm", "warm_start"), ("recipe", "recipe"))


def plan_table(plan: dict):
    from rich.table import Table

    table = Table(title=f"plan for {plan['node']} (round {plan.get('round')}, expanding {plan.get('parent')})",
                  caption=plan.get("rationale") or None, caption_justify="left")
    trials = plan.get("trials", [])
    columns = [(label, key) for label, key in COLUMNS if key == "id" or any(t.get(key) not in (None, {}) for t in trials)]
    for label, _ in columns:
        table.add_column(label, no_wrap=True)
    for cfg in trials:
        cells = []
        for _, key in columns:
            v = cfg.get(key)
            cells.append(json.dumps(v) if key == "recipe" and v else "" if v is None or v == {} else
                         ("yes" if v else "no") if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v))
        table.add_row(*cells)
    return table


def _value(text: str):
    try:
        return json.loads(text)  # numbers, true/false, {"dedup": "near"}
    except ValueError:
        return text  # a bare word: chat, plain, lora


def parse_edits(line: str) -> dict:
    """`t0.lr=1e-4 t1.template=plain drop t2,t3 note="keep it small"` -> an "edit" resume value."""
    edits: dict[str, dict] = {}
    drop: list[str] = []
    note = ""
    tokens = shlex.split(line)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "drop":
            if i + 1 >= len(tokens):
                raise ValueError("`drop` needs a trial id, e.g. `drop t1`")
            drop += [t for t in tokens[i + 1].split(",") if t]
            i += 2
            continue
        key, eq, raw = tok.partition("=")
        if key == "note" and eq:
            note = raw
        elif key == "drop" and eq:
            drop += [t for t in raw.split(",") if t]
        elif eq and "." in key:
            trial, _, name = key.partition(".")
            edits.setdefault(trial, {})[name] = _value(raw)
        else:
            raise ValueError(f"cannot read {tok!r}: write TRIAL.FIELD=VALUE (t0.lr=1e-4) or `drop TRIAL`")
        i += 1
    if not edits and not drop:
        raise ValueError("no edits given")
    return {"action": "edit", "edits": edits, "drop": drop, **({"note": note} if note else {})}


def _read(prompt: str) -> str | None:
    print(prompt, end="", flush=True)
    line = sys.stdin.readline()
    return None if line == "" else line.strip()  # "" = end of input (a blank line is "\n")


def ask(plan: dict, yes: bool = False) -> dict | None:
    """Show the plan and return the resume value; None when the input ended (the run stays paused)."""
    from rich.console import Console

    console = Console(file=sys.stdout)  # made at call time: stdout may be redirected
    console.print(plan_table(plan))
    if plan.get("error"):
        console.print(f"[bold red]not applied:[/] {plan['error']}", highlight=False)
    if yes or not sys.stdin.isatty():
        why = "--yes" if yes else "stdin is not a terminal"
        console.print(f"approving the plan for {plan['node']} automatically ({why}); run `trex run --review` in a "
                      "terminal to review it, or answer the interrupt from Studio / the API", highlight=False)
        return {"action": "approve"}
    while True:
        line = _read(PROMPT)
        if line is None:
            return None
        word, _, rest = line.partition(" ")
        if word.lower() in ("", "a", "approve", "y", "yes"):
            return {"action": "approve"}
        if word.lower() in ("r", "reject"):
            note = rest.strip() or _read("why? (a note for the planner) > ")
            return None if note is None else {"action": "reject", "note": note}
        if word.lower() in ("e", "edit"):
            line = rest.strip() or _read("edits > ")
            if line is None:
                return None
        try:
            return parse_edits(line)
        except ValueError as err:
            console.print(f"[red]{err}[/]", highlight=False)


def pending_review(graph, config) -> dict | None:
    """The plan waiting for review on this thread, if any (the interrupt is raised inside the Researcher)."""
    for intr in graph.get_state(config, subgraphs=True).interrupts or ():
        if isinstance(intr.value, dict) and intr.value.get("review") == "plan":
            return intr.value
    return None


def stream_reviewed(graph, graph_input, config, yes: bool = False, **kwargs):
    """graph.stream(...) that answers plan reviews from the terminal and resumes; yields what stream yields."""
    from langgraph.types import Command

    while True:
        yield from graph.stream(graph_input, config, **kwargs)
        plan = pending_review(graph, config)
        if plan is None:
            return
        answer = ask(plan, yes)
        if answer is None:
            print("no answer (end of input): the run is paused at the plan review; `trex resume RUN_DIR` asks "
                  "again", flush=True)
            return
        graph_input = Command(resume=answer)
