"""Declarative data recipes: plain JSON-able data stored on a search-tree node, applied to the TRAIN split only.

Validation and test stay fixed so trials are comparable; a recipe never carries or runs code. The prepared
training file is cached under <cache_dir>/datasets/<hash>.jsonl, keyed by the recipe and its input data.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from trex.recipe import RECIPE_VERSION, ExtraSource, JudgeFilter, Recipe, Synthesis, parse_recipe, recipe_hash
from tools.data import recipe_ops as ops  # called as ops.<name> so tests can swap an operator
from tools.data.data_shapes import OTHER_SHAPES, ShapeError, convert, resolve_shape
from tools.data.datasets import DataError, _read_rows, file_digest
from tools.data.hub_datasets import HubDataError, load_hub_rows
from tools.data.source_labels import LabelMapper, clean_source_labels


def read_table(path: Path) -> list[dict]:
    """Rows of a .jsonl/.json/.csv file (the task loader's reader) or of a .parquet file (pyarrow, lazily)."""
    if path.suffix.lower() == ".parquet":
        if not path.is_file():
            raise DataError(f"data file not found: {path}")
        import pyarrow.parquet as pq
        return pq.read_table(path).to_pylist()
    return _read_rows(path)


def _load_hf(hf_id: str, config: str | None, split: str) -> list[dict]:
    """Only called when a recipe names an hf_id: most runs never touch the network or `datasets`."""
    try:
        return load_hub_rows(hf_id, config, split)
    except HubDataError as err:
        raise DataError(f"recipe source: {err}") from None


def load_source(source: ExtraSource, base_dir: str = "") -> list[dict]:
    """An extra source's rows mapped to flat records, whatever their shape (tools/data/data_shapes.py)."""
    if source.hf_id:
        rows = _load_hf(source.hf_id, source.hf_config, source.split)
    else:
        p = Path(source.path)
        rows = read_table(p if p.is_absolute() else Path(base_dir or ".") / p)
    try:
        shape = resolve_shape(rows, source.format, source.input_field, source.output_field, source.name, source.name)
        if shape != "input_output":
            return convert(rows, shape, source.name)
    except ShapeError as err:
        raise DataError(str(err)) from None
    guessed = source.format == "auto" and (source.input_field, source.output_field) == ("input", "output")
    for field in (source.input_field, source.output_field):
        if rows and field not in rows[0]:
            raise DataError(f"{source.name}: missing column {field!r} (has: {', '.join(map(str, rows[0]))})"
                            + (f"; {OTHER_SHAPES}" if guessed else ""))
    text = lambda v: "" if v is None else str(v)  # noqa: E731  (None would otherwise become "None")
    return [{"input": text(r[source.input_field]), "output": text(r[source.output_field])} for r in rows]


def _records(rows: list, where: str) -> list[dict]:
    """Fresh {"input", "output"} dicts (plus a chat's "messages"): operators track records by identity, and
    other keys are not kept."""
    out = []
    for r in rows:
        if not isinstance(r, dict) or not isinstance(r.get("input"), str) or not isinstance(r.get("output"), str):
            raise DataError(f"{where}: expected {{'input': str, 'output': str}} records, got {str(r)[:80]}")
        out.append({"input": r["input"], "output": r["output"]}
                   | ({"messages": r["messages"]} if isinstance(r.get("messages"), list) else {}))
    return out


def apply_recipe(train: list[dict], recipe: Recipe | dict | None, holdout_inputs: list[str],
                 load_source: Callable[[ExtraSource, str], list[dict]] = load_source,
                 synthesize: Callable[[list[dict], Synthesis], list[dict]] | None = None,
                 base_dir: str = "",
                 judge: Callable[[list[dict], JudgeFilter], list[float | None]] | None = None,
                 labels: list[str] | None = None, label_mapper: LabelMapper | None = None) -> tuple[list[dict], dict]:
    """The recipe's training records and JSON-able per-step counts.

    Order: synthesize (into the task's own source) -> an added source's foreign labels mapped or dropped (a
    classification task's labels given; tools/data/source_labels.py) -> per source filter + leak drop -> dedup across all
    sources (the task's own examples win) -> LLM judge filter -> weighted mix + max_samples -> class balance
    -> max_samples again.
    """
    recipe = parse_recipe(recipe)
    own = _records(train, "train split")
    stats: dict[str, Any] = {"version": RECIPE_VERSION, "train_in": len(own)}

    synth = {"status": "none"}
    if recipe.synthesis is not None and synthesize is None:
        # Never fake it: the record says it did not happen, and why.
        synth = {"status": "skipped", "reason": "no chat model configured", "requested": recipe.synthesis.n}
    elif recipe.synthesis is not None:
        made = _records(synthesize(list(own), recipe.synthesis), "synthesized examples")[:recipe.synthesis.n]
        own += made  # synthesized text still passes the filters, leak and dedup checks below
        synth = {"status": "applied", "requested": recipe.synthesis.n, "added": len(made)}
        _add_usage(stats, getattr(synthesize, "report", None) or {})  # tools.data.recipe_synthesis: its calls
    stats["synthesis"] = synth

    sources = [("train", 1.0, own)]
    label_stats: dict[str, dict] = {}
    for s in recipe.extra_sources:
        recs = _records(load_source(s, base_dir), s.name)
        if labels:  # a classification task: rows with a label it lacks never reach the mix
            loaded = len(recs)
            recs, label_stats[s.name] = clean_source_labels(recs, labels, s.name, s.label_map, label_mapper)
            label_stats[s.name]["loaded"] = loaded
        sources.append((s.name, s.weight, recs))
    if label_stats:
        _add_usage(stats, getattr(label_mapper, "report", None) or {})
    near = recipe.near_threshold if recipe.dedup == "near" else None
    per_source, cleaned, filter_totals = [], [], {}
    for name, weight, recs in sources:
        kept, f_rep = ops.filter_records(recs, **recipe.filters.model_dump())
        kept, l_rep = ops.drop_leaks(kept, holdout_inputs, near)
        for k, v in f_rep.items():
            filter_totals[k] = filter_totals.get(k, 0) + v
        per_source.append({"name": name, "weight": weight, "loaded": len(recs), "filtered": f_rep["dropped"],
                           "leaked": l_rep["dropped"], **({"labels": label_stats[name]} if name in label_stats else {})})
        cleaned.append(kept)
    stats["filter"] = filter_totals
    stats["leaks"] = {"dropped": sum(s["leaked"] for s in per_source), "near": near is not None}

    # Dedup over the concatenation, in source order, then split back by identity.
    flat = [r for recs in cleaned for r in recs]
    if recipe.dedup == "exact":
        flat, _ = ops.dedup_exact(flat)
    elif recipe.dedup == "near":
        flat, _ = ops.dedup_near(flat, recipe.near_threshold)
    alive = {id(r) for r in flat}
    for i, recs in enumerate(cleaned):
        cleaned[i] = [r for r in recs if id(r) in alive]
        per_source[i]["duplicates"] = len(recs) - len(cleaned[i])
    stats["dedup"] = {"mode": recipe.dedup, "dropped": sum(s["duplicates"] for s in per_source)}
    if recipe.judge_filter is not None:
        stats["judge_filter"] = _judge_step(cleaned, per_source, recipe.judge_filter, judge)
        _add_usage(stats, getattr(judge, "report", None) or {})

    mixed, m_rep = ops.mix_sources([(recs, w) for recs, (_, w, _) in zip(cleaned, sources)],
                                   recipe.max_samples, recipe.seed)
    for s, n in zip(per_source, m_rep["taken"]):
        s["taken"] = n
    stats["sources"] = per_source
    stats["mix"] = {"taken": len(mixed), "repeated": m_rep["repeated"], "dropped": m_rep["dropped"]}

    out, b_rep = ops.balance_classes(mixed, recipe.balance, recipe.per_class_cap, recipe.seed)
    stats["balance"] = {"mode": recipe.balance, **b_rep}
    out, c_rep = ops.sample_cap(out, recipe.max_samples, recipe.seed)  # upsampling may pass the cap again
    stats["cap"] = {"max_samples": recipe.max_samples, **c_rep}
    stats["train_out"] = len(out)
    return [dict(r) for r in out], stats


SHOWN_DROPPED, SHOWN_CHARS = 5, 120  # dropped rows a judge filter's stats show


def _add_usage(stats: dict, report: dict) -> None:
    """Add a step's chat-model calls to the recipe's "llm_usage": the run's LLM ledger counts them
    (nodes/train.py), unless the file is reused from the cache."""
    if report.get("calls"):
        usage = stats.setdefault("llm_usage", {"calls": 0, "input_tokens": 0, "output_tokens": 0})
        for k in usage:
            usage[k] += int(report.get(k, 0))


def _judge_step(cleaned: list[list[dict]], per_source: list[dict], jf: JudgeFilter, judge) -> dict:
    """Drop (in place) the examples the judge scores below jf.min_score; cleaned[0] is the task's own."""
    if judge is None:  # never fake it: the record says it did not happen, and why
        return {"status": "skipped", "reason": "no chat model configured"}
    judged = range(1 if jf.scope == "sources" else 0, len(cleaned))
    flat = [r for i in judged for r in cleaned[i]]
    scores = {id(r): s for r, s in zip(flat, judge(flat, jf) if flat else [])}
    shown = []  # a few dropped rows, lowest score first: what the judge took out, for the report and the node
    for i in judged:
        out = [r for r in cleaned[i] if scores[id(r)] is not None and scores[id(r)] < jf.min_score]
        per_source[i]["judged_out"] = len(out)
        shown += [(scores[id(r)], per_source[i]["name"], r) for r in out]
        gone = {id(r) for r in out}
        cleaned[i] = [r for r in cleaned[i] if id(r) not in gone]
    unscored = sum(s is None for s in scores.values())
    shown.sort(key=lambda x: x[0])
    return {"status": "applied", "scope": jf.scope, "min_score": jf.min_score, "judged": len(flat) - unscored,
            "unscored": unscored, "dropped": sum(per_source[i]["judged_out"] for i in judged),
            "dropped_examples": [{"source": name, "score": score, "input": r["input"][:SHOWN_CHARS],
                                  "output": r["output"][:SHOWN_CHARS]} for score, name, r in shown[:SHOWN_DROPPED]]}


def _write_atomic(path: Path, text: str) -> None:
    """Write to a temp file beside path, then os.replace: readers never see a half-written cache file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_train_file(train_path: str | Path, recipe: Recipe | dict | None, holdout_paths: list[str | Path],
                       cache_dir: str | Path, *, base_dir: str = "",
                       synthesize: Callable[[list[dict], Synthesis], list[dict]] | None = None,
                       judge: Callable[[list[dict], JudgeFilter], list[float | None]] | None = None,
                       labels: list[str] | None = None, label_mapper: LabelMapper | None = None) -> tuple[str, dict]:
    """Write (or reuse) <cache_dir>/datasets/<hash>.jsonl for this recipe; return its path and the stats.

    The hash covers the recipe, the train and holdout files (leak removal depends on them), local extra
    sources, and whether synthesis can run, so a skipped-synthesis file is not reused once a model exists;
    with a judge filter, which model judges (another judge keeps other rows); with added sources on a
    classification task, its labels and the chat model that maps foreign ones.
    A cache hit runs no operator and returns the stored stats with "cached": True (so their "llm_usage", the
    chat-model calls that made the file, is not spent again).
    """
    recipe = parse_recipe(recipe)
    parts = [file_digest(train_path)] + [file_digest(p) for p in holdout_paths]
    for s in recipe.extra_sources:
        if s.path:
            p = Path(s.path)
            parts.append(file_digest(p if p.is_absolute() else Path(base_dir or ".") / p))
    parts.append("synth" if recipe.synthesis is not None and synthesize is not None else "nosynth")
    if recipe.judge_filter is not None:  # only then: the keys of other recipes stay as they were
        parts.append(f"judge:{getattr(judge, 'model_spec', '') or 'unnamed'}" if judge is not None else "nojudge")
    if labels and recipe.extra_sources:  # only then: other recipes' keys stay as they were
        parts.append("labels:" + "|".join(sorted(labels)))
        parts.append(f"labelmap:{getattr(label_mapper, 'model_spec', '') or 'unnamed'}" if label_mapper else "nolabelmap")
    key = recipe_hash(recipe, ":".join(parts))
    out_dir = Path(cache_dir) / "datasets"
    path, stats_path = out_dir / f"{key}.jsonl", out_dir / f"{key}.stats.json"
    if path.is_file() and stats_path.is_file():
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
        return str(path), {**stats, "cached": True}

    train = _records(read_table(Path(train_path)), str(train_path))
    holdout = [r["input"] for p in holdout_paths for r in _records(read_table(Path(p)), str(p))]
    records, stats = apply_recipe(train, recipe, holdout, synthesize=synthesize, base_dir=base_dir, judge=judge,
                                  labels=labels, label_mapper=label_mapper)
    stats["hash"] = key
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    _write_atomic(stats_path, json.dumps(stats, ensure_ascii=False, sort_keys=True, indent=1))  # written last
    return str(path), {**stats, "cached": False}
