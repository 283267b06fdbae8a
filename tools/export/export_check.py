"""The check of every export: what `trex export` wrote answers a probe set as the run's own model did.

The probe set is the run's validation rows (RUN_DIR/data/val.jsonl, the first PROBE_ROWS). The run's own
predictions are the answers its validation scoring stored (best_adapter/val_predictions.json: the worker's
scoring result keeps its first rows' answers, tools/worker/scoring.kept_predictions), used when they answer these
very rows and were computed as the check computes (same device, dtype, no quantisation or autocast). Otherwise
(a run of an older TREX, a GPU run checked on the CPU) they are computed again: the best adapter merged into
its base, prompted and decoded by the worker's scoring functions, the computation the run scored with. Each
written model (the adapter, the merged model, the GGUF read back by transformers' GGUF loader) is loaded from
disk and scored the same way; its agreement with the run's predictions and its metric are compared with what
its format allows (a GGUF is rounded to f16 or 8 bits, so a near tie may flip).
"""
from __future__ import annotations

import json
from pathlib import Path

PROBE_ROWS = 64  # no more than the answers a scoring result keeps (tools/worker/scoring.KEPT_PREDICTIONS)
# Least share of probe answers an export must give as the run did: the adapter is the run's own file, a merge
# adds float rounding, a GGUF rounds every weight (f16) or quantises it to 8 bits (q8_0).
NEEDS = {"adapter": 1.0, "full": 1.0, "merged": 0.98, "gguf f16": 0.995, "gguf q8_0": 0.98}
SHOWN = 5  # differing examples listed in an error


class ExportCheckFailed(ValueError):
    """An export answers the probe set differently from the run beyond its format's tolerance."""


def probe_records(model_dir: Path, rows: int = PROBE_ROWS) -> tuple[list[dict], str]:
    """The probe rows and where they came from; no rows (and the reason) when the run's data is not beside
    the model (a best_adapter/ copied elsewhere, an export exported again)."""
    val = Path(model_dir).parent / "data" / "val.jsonl"
    if not val.is_file():
        return [], f"no validation rows at {val} (export from the run directory to check)"
    records = [json.loads(line) for line in val.read_text(encoding="utf-8").splitlines() if line.strip()]
    return records[:rows], f"{min(len(records), rows)} validation rows of {val.parent.parent.name}"


def predictions(model, tokenizer, manifest: dict, records: list[dict]) -> list[str]:
    """The answers of a loaded model to the probe rows, prompted and decoded as the run's scoring did."""
    from tools.worker.scoring import answer, record_prompt

    task, template = manifest["task"], manifest["prompt"]["template"]
    return answer(model, tokenizer, task, [record_prompt(tokenizer, template, task, r) for r in records])


def stored_reference(model_dir: Path, records: list[dict], model) -> tuple[list[str] | None, str]:
    """The run's stored answers to the probe rows; None and why when they cannot stand in for scoring the run's
    model here (none stored, other rows, or computed another way than `model` computes)."""
    from tools.export.best_adapter import PREDICTIONS
    from tools.worker.scoring import row_digest, scoring_setup

    path = Path(model_dir) / PREDICTIONS
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, f"the run stored no validation predictions ({path.name}: a run of an older TREX)"
    answers, rows = stored.get("answers") or [], stored.get("rows") or []
    if len(answers) < len(records) or rows[:len(records)] != [row_digest(r) for r in records]:
        return None, f"the run's stored predictions ({len(answers)}) do not answer these {len(records)} rows"
    here = scoring_setup(model)
    if stored.get("setup") != here:
        return None, f"the run scored with {_setup(stored.get('setup') or {})}, this check with {_setup(here)}"
    return list(answers[:len(records)]), ""


def _setup(setup: dict) -> str:
    return "/".join([setup.get("device", "?"), setup.get("dtype", "?")] + ["4/8-bit"] * bool(setup.get("quantized"))
                    + ["autocast"] * bool(setup.get("autocast")))


def _score(manifest: dict, records: list[dict], preds: list[str]) -> float | None:
    from tools.worker.scoring import scoring_metric
    from trex.metrics import LLM_JUDGE

    if manifest["task"]["metric"] == LLM_JUDGE:
        return None  # a judge would spend chat-model calls on every export: agreement says enough
    return round(scoring_metric(manifest["task"]["metric"]).compute(preds, [r["output"] for r in records]), 4)


def _shown(record: dict) -> str:
    item = record.get("input") if record.get("input") not in (None, "") else record.get("messages")
    return item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)


def compare(name: str, reader: str, preds: list[str], reference: list[str], records: list[dict],
            manifest: dict) -> dict:
    """One export's result: agreement with the run's predictions, its metric, and the examples that differ."""
    same = sum(p == r for p, r in zip(preds, reference))
    differ = [{"input": _shown(rec), "run": ref, "export": p}
              for rec, ref, p in zip(records, reference, preds) if p != ref]
    n = len(records)
    return {"export": name, "reader": reader, "n": n, "agree": same, "agreement": round(same / n, 4) if n else 1.0,
            "needs": NEEDS[name], "metric": manifest["task"]["metric"], "score": _score(manifest, records, preds),
            "differ": differ}


def passed(result: dict) -> bool:
    return result["agreement"] >= result["needs"]


def result_line(result: dict) -> str:
    score = "" if result["score"] is None else f", {result['metric']} {result['score']:.4f}"
    return (f"{result['export']:10s} {result['agree']}/{result['n']} answers as the run "
            f"({100 * result['agreement']:.1f} %, needs {100 * result['needs']:g} %){score}; read by "
            f"{result['reader']}: {'ok' if passed(result) else 'FAILED'}")


def reference_line(manifest: dict, records: list[dict], reference: list[str], source: str,
                   stored: bool = False) -> str:
    score = _score(manifest, records, reference)
    recorded = (manifest.get("scores") or {}).get("val")
    recorded = round(recorded, 4) if isinstance(recorded, float) else recorded
    return (f"check on {source}: the run's predictions{' (stored by its validation scoring)' * stored} score "
            f"{manifest['task']['metric']} "
            + ("(judge not called)" if score is None else f"{score:.4f}")
            + (f" (the run's recorded validation score: {recorded})" if recorded is not None else ""))


def failure(results: list[dict], out: Path) -> ExportCheckFailed | None:
    """The error of the exports that failed, listing their differing examples; None when all passed."""
    failed = [r for r in results if not passed(r)]
    if not failed:
        return None
    lines = [f"export check failed: {', '.join(r['export'] for r in failed)} answer differently from the run "
             f"(files left in {out} for inspection, not fit to ship)"]
    for r in failed:
        lines.append(result_line(r))
        for d in r["differ"][:SHOWN]:
            lines.append(f"  input {d['input'][:120]!r}: run {d['run'][:60]!r}, export {d['export'][:60]!r}")
        if len(r["differ"]) > SHOWN:
            lines.append(f"  ... and {len(r['differ']) - SHOWN} more")
    return ExportCheckFailed("\n".join(lines))


def llama_cpp_note() -> str:
    """Why llama.cpp itself does not read the file back here (llama-cpp-python is not a dependency)."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return ("llama.cpp: not checked (llama-cpp-python is not installed; PyPI ships it as source only, "
                "which builds llama.cpp for minutes)")
    return "llama.cpp: llama-cpp-python is installed, but TREX does not score through it yet"
