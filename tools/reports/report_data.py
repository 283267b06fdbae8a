"""What the run report shows, as plain data: one view of the state that the Markdown page, the HTML page
and the pictures all read, so the three never disagree. No formatting beyond short texts; no I/O."""
from __future__ import annotations

from trex.licence import DataLicence
from trex.trial_config import extra_settings
from trex.tree import ROOT, best_node, children


def fmt(x, digits: int = 4) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return f"{x:,}" if isinstance(x, int) and not isinstance(x, bool) else str(x)


def time_spent(acc: dict) -> str:
    """"running time 300 s (what wall_time_s counts), 4680 s since the start (1 resume: 4380 s stopped)"."""
    wall = float(acc.get("wall_s") or 0.0)
    running = float(acc["running_s"]) if acc.get("running_s") is not None else wall
    resumes = int(acc.get("segments") or 1) - 1
    stopped = f" ({resumes} resume{'s' if resumes != 1 else ''}: {wall - running:.0f} s stopped)" if resumes else ""
    return f"running time {running:.0f} s (what wall_time_s counts), {wall:.0f} s since the start{stopped}"


def hyper_summary(cfg: dict) -> str:
    """The hyper-parameters a reader compares trials by, in one short line."""
    if cfg.get("epochs", 0) == 0:
        return "base model (no training)"
    text = (f"lr={cfg.get('lr', 0):g} epochs={cfg.get('epochs')} r={cfg.get('lora_r')} alpha={cfg.get('lora_alpha')} "
            f"bs={cfg.get('batch_size')} samples={cfg.get('max_samples')} layers={cfg.get('layer_fraction', 1.0):g} "
            f"template={cfg.get('template')}")
    text += f" method={cfg['method']}" if cfg.get("method", "lora") != "lora" else ""
    return " ".join([text, *extra_settings(cfg, SHOWN)])


# What hyper_summary and config_text write themselves; any other field of the trial table set away from its
# default is added as name=value.
SHOWN = ("lr", "epochs", "lora_r", "lora_alpha", "batch_size", "max_samples", "layer_fraction", "template", "method",
         "recipe", "warm_start")


def recipe_summary(recipe: dict | None) -> str:
    """A trial's data-recipe changes on top of the task's recipe ("task recipe" when there are none)."""
    if not recipe:
        return "task recipe"
    parts = []
    for key, value in sorted(recipe.items()):
        if key == "extra_sources":
            parts.append(f"+{len(value)} source{'s' if len(value) != 1 else ''}")
        elif isinstance(value, dict):
            parts += [f"{key}.{k}={v}" for k, v in sorted(value.items()) if v is not None]
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts) or "task recipe"


def config_text(cfg: dict) -> str:
    """Hyper-parameters, recipe and warm start together (the best config's line in the report)."""
    text = hyper_summary(cfg)
    if cfg.get("epochs", 0) and cfg.get("recipe"):
        text += f" recipe: {recipe_summary(cfg['recipe'])}"
    return text + (" warm-start" if cfg.get("warm_start") else "")


def higher_is_better(state) -> bool:
    direction = (state.requirement or {}).get("direction")
    if direction:
        return direction == "higher"
    try:
        from trex.metrics import get_metric

        return get_metric(state.task.get("metric", "accuracy")).higher_is_better
    except (ValueError, ImportError):
        return True


def curve_text(train: dict) -> str:
    """A trial's learning curve in a table cell: its validation score after each scored point, the point kept and
    where early stopping or the round's successive halving ended it; "" for a trial scored once that ran its
    course."""
    curve = [p for p in train.get("curve") or [] if p.get("val_score") is not None]
    stopped = train.get("stopped") or {}
    by = " by successive halving" if stopped.get("by") == "successive_halving" else ""
    if len(curve) < 2:
        return f"stopped after epoch {stopped['epoch']}{by}" if by else ""
    kept = f"kept epoch {train.get('best_epoch')}" + (f" step {train['best_step']}" if len(curve) > train.get(
        "epochs_trained", len(curve)) else "")
    stop = f", stopped after epoch {stopped['epoch']}{by}" if stopped else ""
    return f"curve {' '.join(fmt(p['val_score'], 3) for p in curve)}; {kept}{stop}"


def trial_rows(tree: dict) -> list[dict]:
    """One row per trial of every node, in round order: what the trials table lists."""
    rows = []
    for node in sorted(tree.values(), key=lambda n: (n.get("round", 0), n["id"])):
        for cfg in node.get("trials", []):
            res = node.get("results", {}).get(cfg["id"], {})
            train, ev = res.get("train") or {}, res.get("eval") or {}
            walls = [w for w in (train.get("wall_s"), ev.get("wall_s")) if w is not None]
            failure = ""
            if res.get("status") == "failed":
                failure = f"{res.get('failure', '?')}: {res.get('error', '')}"[:160]
            rows.append({
                "node": node["id"], "round": node.get("round", 0), "trial": cfg["id"],
                "hyper": hyper_summary(cfg), "recipe": "-" if not cfg.get("epochs") else recipe_summary(cfg.get("recipe")),
                "warm_start": bool(cfg.get("warm_start")), "status": res.get("status", "pending"), "failure": failure,
                "score": res.get("score") if res.get("status") == "ok" else None,
                "wall_s": round(sum(walls), 1) if walls else None, "train_s": train.get("train_s"),
                "tokens": train.get("tokens"), "tokens_per_s": train.get("tokens_per_s"), "curve": curve_text(train),
                "peak_memory_mb": train.get("peak_memory_mb"), "cached": bool(res.get("cached")),
                "best": node.get("best_trial") == cfg["id"] and not node.get("failed"),
                "why": (node.get("trial_rationales") or {}).get(cfg["id"], ""),  # the LLM planner's reason
            })
    return rows


def source_label_lines(tree: dict) -> list[str]:
    """One line per added source and outcome of its label cleaning (tools/data/source_labels.py): rows kept,
    dropped for a label the task lacks, mapped; or why it was refused. Trials sharing an outcome share a line."""
    seen: dict[str, list[str]] = {}
    for node in sorted(tree.values(), key=lambda n: (n.get("round", 0), n["id"])):
        for tid, res in (node.get("results") or {}).items():
            where = f"{node['id']}/{tid}"
            if res.get("failure") == "data" and " refused: " in str(res.get("error", "")):
                seen.setdefault(str(res["error"])[:300], []).append(where)
            for src in ((res.get("train") or {}).get("recipe_stats") or {}).get("sources") or []:
                lab = src.get("labels")
                if not lab:
                    continue
                dropped = ", ".join(f"{k} {n}" for k, n in (lab.get("foreign_labels") or {}).items())
                line = (f"{src.get('name')}: {lab.get('kept')} of {lab.get('loaded', '?')} rows kept, "
                        f"{lab.get('foreign_dropped', 0)} dropped as foreign" + (f" ({dropped})" if dropped else "")
                        + f", {lab.get('mapped', 0)} mapped"
                        + (f" ({lab['mapped_by_chat_model']} by the chat model)" if lab.get("mapped_by_chat_model") else ""))
                seen.setdefault(line, []).append(where)
    return [f"{line} [trials {', '.join(w[:3])}{' ...' if len(w) > 3 else ''}]" for line, w in seen.items()]


def outline(tree: dict, best: str = "", node_id: str = ROOT, indent: int = 0) -> list[tuple[int, dict, bool]]:
    """Depth-first (indent, node, is_best) triples of the tree, children in round order."""
    if node_id not in tree:
        return []
    lines = [(indent, tree[node_id], node_id == best)]
    for child in children(tree, node_id):
        lines += outline(tree, best, child["id"], indent + 1)
    return lines


def best_so_far(tree: dict, higher_is_better: bool = True) -> list[tuple[int, float]]:
    """(round, best validation score up to that round) over the evaluated nodes that did not fail; a failed
    node's score is the metric's worst sentinel and never counts."""
    points, best = [], None
    for n in sorted(tree.values(), key=lambda n: n.get("round", 0)):
        if n.get("status") != "evaluated" or n.get("failed") or n.get("score") is None:
            continue
        s = n["score"]
        if best is None or (s > best if higher_is_better else s < best):
            best = s
        points.append((n.get("round", 0), best))
    return points


def loss_lineage(tree: dict, node_id: str, trial_id: str, limit: int = 20) -> list[dict]:
    """The training curves of a trial and, when it warm-started, of the trials it grew from (oldest
    first): a warm start trains only its own epochs, so its curve alone starts mid-way."""
    by_adapter = {r["adapter"]: (n["id"], tid, r) for n in tree.values()
                  for tid, r in n.get("results", {}).items() if r.get("adapter")}
    chain, res = [], tree.get(node_id, {}).get("results", {}).get(trial_id)
    label = f"{node_id}/{trial_id}"
    while res and len(chain) < limit:
        train = res.get("train") or {}
        if not train.get("loss_curve") and not train.get("val_loss"):
            break
        chain.append({"label": label, "loss_curve": train.get("loss_curve") or [],
                      "val_loss": train.get("val_loss") or [], "steps": train.get("steps") or 0})
        parent = by_adapter.get(train.get("warm_start_from") or "")
        if parent is None:
            break
        label, res = f"{parent[0]}/{parent[1]}", parent[2]
    return chain[::-1]


def loss_subject(tree: dict, best_id: str | None, higher_is_better: bool = True) -> tuple[str, str] | None:
    """(node, trial) whose loss curves the report draws: the best node's best trial, or, when that one
    did not train (the base model won), the best-scoring trial that did."""
    node = tree.get(best_id or "")
    if node and node.get("best_trial") and loss_lineage(tree, node["id"], node["best_trial"]):
        return node["id"], node["best_trial"]
    sign = 1 if higher_is_better else -1
    trained = [(sign * r.get("score", 0.0), n["id"], tid) for n in tree.values() for tid, r in n.get("results", {}).items()
               if r.get("status") == "ok" and (r.get("train") or {}).get("loss_curve")]
    return max(trained)[1:] if trained else None


META_KEYS = ("node_id", "node", "round", "kind", "delta", "failure")  # what a reader weighs a lesson by


def text_items(value) -> list[dict]:
    """Notes or insights of unknown shape (a string, strings, dicts with text/title/source/metadata) as
    [{"title", "text", "source", "meta"}]; a failed entry ({"error": ...}) says so."""
    if not value:
        return []
    out = []
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, dict):
            out.append({"title": "", "text": str(item), "source": "", "meta": {}})
            continue
        text = item.get("text") or item.get("summary") or item.get("note") or ""
        if not text and item.get("error"):
            text = f"(failed) {item['error']}"
        fields = {**item, **(item.get("metadata") if isinstance(item.get("metadata"), dict) else {})}
        meta = {k: fields[k] for k in META_KEYS if fields.get(k) not in (None, "")}
        if item.get("stored") is False:
            meta["not stored"] = item.get("store_error") or "insight store unavailable"
        out.append({"title": str(item.get("title") or ""), "text": str(text),
                    "source": str(item.get("url") or item.get("source") or ""), "meta": meta})
    return out


def llm_summary(llm: dict) -> tuple[str, list[tuple[str, str]]]:
    """(one-line verdict, [(label, value)]) of the run's chat-model ledger (tools.llm.structured_llm.record_call)."""
    llm = llm or {}
    steps = llm.get("steps") or {}
    by_source: dict[str, int] = {}
    for source in steps.values():
        by_source[source] = by_source.get(source, 0) + 1
    if not llm.get("calls"):
        return (f"No chat model was called: every step ran on the built-in policy"
                f"{f' ({len(steps)} steps)' if steps else ''}.", [])
    rows = [("model", str(llm.get("model", "?"))), ("calls", fmt(llm.get("calls"))),
            ("tokens", f"{fmt(llm.get('input_tokens', 0))} in, {fmt(llm.get('output_tokens', 0))} out"),
            ("cost", f"${float(llm.get('cost_usd') or 0.0):.4f}" + (f" (no price known for {', '.join(llm['unpriced'])})"
                                                                  if llm.get("unpriced") else "")),
            ("steps", ", ".join(f"{n} {src}" for src, n in sorted(by_source.items())) or "n/a")]
    rows += [(f"error in {step}", str(err)[:200]) for step, err in (llm.get("errors") or {}).items()]
    return f"A chat model planned {by_source.get('llm', 0) + by_source.get('llm-retry', 0)} of {len(steps)} steps.", rows


def run_status(state, finished: bool) -> str:
    if finished and (state.final or state.report_path):
        return "finished"
    return f"in progress / interrupted at round {state.round}"


def licence_lines(task: dict) -> list[str]:
    """The task data's licences, each with what it forbids: a tuned model's user must know what it carries."""
    found = []
    for source in [*(task.get("data") or []), *(task.get("test_data") or [])]:
        lic = source.get("licence") if isinstance(source, dict) else None
        lic = lic.model_dump() if hasattr(lic, "model_dump") else lic
        if lic and lic not in found:
            found.append(lic)
    return [DataLicence(**lic).summary() + (f": {lic['terms']}" if lic.get("terms") else "") for lic in found]


def report_view(state, accounting: dict, finished: bool = True) -> dict:
    """Everything the report shows, from the state (a trex.state.State) and the run's accounting."""
    task, tree = state.task if isinstance(state.task, dict) else {"name": str(state.task)}, state.tree
    hib = higher_is_better(state)
    final = dict(state.final or {})
    best = final.get("best_node") or (best_node(tree, hib) or {}).get("id")
    return {
        "task": task.get("name", "?"), "goal": task.get("goal", ""), "base_model": task.get("base_model", "?"),
        "metric": task.get("metric", "?"), "higher_is_better": hib, "direction": "higher" if hib else "lower",
        "status": run_status(state, finished), "stop_reason": state.stop_reason or "n/a", "round": state.round,
        "data_sizes": (state.data or {}).get("sizes", {}), "final": final, "best_node": best,
        "licences": licence_lines(task),
        "best_config": config_text(final["config"]) if final.get("config") else "",
        "bad_cases": tree.get(best or "", {}).get("bad_cases") or [], "outline": outline(tree, best or ""),
        "trials": trial_rows(tree), "plans": [(n["id"], (f"[{n['planner']}] " if n.get("planner") else "") + n.get("rationale", ""))
                                             for n in sorted(tree.values(), key=lambda n: n.get("round", 0))],
        "insights": text_items(state.insights), "notes": text_items((state.research or {}).get("notes")),
        "brief": (state.research or {}).get("brief") or {},  # takeaways of the notes, with their sources
        "sources": (state.research or {}).get("sources") or [],  # candidate datasets, vetted or refused, and why
        "source_labels": source_label_lines(tree),  # an added source's rows kept, dropped, mapped by label
        "llm": dict(state.llm or {}), "accounting": dict(accounting or {}),
        "loss_subject": loss_subject(tree, best, hib),
        "best_trial": tree.get(best or "", {}).get("best_trial"),
    }
