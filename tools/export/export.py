"""`trex export RUN_DIR --out DIR [--merge]`: the tuned model as a directory to ship.

Without --merge: the adapter, its tokenizer (with chat template), trex_model.json and a README.md; its
adapter_config names the hub base model where there is one, so PEFT and vLLM find the base anywhere.
With --merge: the base model with the adapter merged in, saved as a plain Hugging Face model (safetensors),
which `AutoModelForCausalLM.from_pretrained(DIR)` loads without TREX.
With --gguf: a GGUF file of the merged model (f16 or q8_0) and an Ollama Modelfile (tools/export/gguf_export.py).
Every export is checked unless told not to: what was written, loaded back from disk, answers the run's
validation rows as the run's own model did (tools/export/export_check.py), else the export fails. The run's
answers are the ones its validation scoring stored; only a run without them has its best adapter scored again.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from tools.export import export_check as check
from tools.export.best_adapter import PREDICTIONS, best_adapter_dir, has_tokenizer
from tools.export.export_readme import export_readme
from tools.export.manifest import read_manifest, write_manifest
from tools.models.base_models import TINY


def _fresh_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not empty: choose a new --out directory")
    out.mkdir(parents=True, exist_ok=True)


def _portable_base(adapter_dir: Path, manifest: dict) -> None:
    """Point adapter_config.json at the hub id instead of TREX's private cache copy (kept for the tiny test
    model, which has no hub id, and for a local base directory named in the spec)."""
    path = adapter_dir / "adapter_config.json"
    base = manifest["base_model"]
    if not path.is_file() or base == TINY or Path(base).expanduser().is_dir():
        return
    config = json.loads(path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _write_adapter(source: Path, out: Path, manifest: dict) -> dict:
    shutil.copytree(source, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(PREDICTIONS))  # the run's, not shipped
    _portable_base(out, manifest)
    if not has_tokenizer(out):  # the base was not local when the run ended: save its tokenizer now
        from transformers import AutoTokenizer

        from tools.export.tuned_model import base_for

        AutoTokenizer.from_pretrained(base_for(source, manifest)).save_pretrained(out)
        manifest = {**manifest, "tokenizer": True}
    return manifest


def _write_gguf(model, tokenizer, out: Path, manifest: dict, quant: str) -> dict:
    from tools.export.gguf_export import write_gguf
    from tools.export.modelfile import modelfile

    name = f"{manifest['task_name']}-{quant}.gguf"
    write_gguf(model, tokenizer, out / name, quant, name=f"{manifest['task_name']} ({manifest['base_model']})")
    (out / "Modelfile").write_text(modelfile(name, manifest, getattr(tokenizer, "chat_template", None),
                                             tokenizer.eos_token), encoding="utf-8")
    return {**manifest, "gguf": {"file": name, "quant": quant}}


def _check_written(out: Path, manifest: dict, wrote: list[str], records: list[dict], reference: list[str],
                   device: str, say) -> list[dict]:
    """Load each written model back from disk, score the probe rows, compare with the run's predictions."""
    from tools.export.tuned_model import load_model_and_tokenizer

    results = []
    for name in wrote:
        if name.startswith("gguf"):
            from tools.export.gguf_export import load_gguf

            model, tokenizer = load_gguf(out / manifest["gguf"]["file"])
            reader = "transformers' GGUF loader"
        else:
            model, tokenizer = load_model_and_tokenizer(out, manifest, device)
            reader = "transformers" + (" + PEFT" if name == "adapter" else "")
        preds = check.predictions(model, tokenizer, manifest, records)
        results.append(check.compare(name, reader, preds, reference, records, manifest))
        say("  " + check.result_line(results[-1]))
        del model
    return results


def export_tuned(run_dir: str | Path, out: str | Path, merge: bool = False, device: str = "cpu",
                 gguf: str | None = None, verify: bool = True, probe_rows: int = check.PROBE_ROWS,
                 say=print) -> Path:
    """Write the run's tuned model to `out` (new or empty); returns its path. gguf: None, "f16" or "q8_0"
    (the GGUF alone, with the merged model too when merge). verify: check what was written against the run's
    predictions on its validation rows (ExportCheckFailed, with the differing examples, when it disagrees)."""
    source, out = best_adapter_dir(run_dir), Path(out)
    manifest = read_manifest(source)
    if gguf:
        from tools.export.gguf_export import QUANTS, gguf_architecture

        if gguf not in QUANTS:
            raise ValueError(f"unknown GGUF quantisation {gguf!r}; known: {', '.join(QUANTS)}")
        config = source / "config.json" if (source / "config.json").is_file() else None
        _refuse_unsupported(source, manifest, config, gguf_architecture)
    _fresh_dir(out)
    records, where = check.probe_records(source, probe_rows) if verify else ([], "")
    if verify and not records:
        say(f"check skipped: {where}")
    model = tokenizer = None
    if merge or gguf or manifest["kind"] != "lora" or records:
        from tools.export.tuned_model import load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(source, manifest, device)
    reference, stored, fallback = [], False, ""
    if records:  # the run's stored answers; scored here only where it has none that fit (an older run)
        reference, why = check.stored_reference(source, records, model)
        stored = reference is not None
        if not stored:
            fallback = f"reference scored again from the best adapter: {why}"
            say(fallback)
            reference = check.predictions(model, tokenizer, manifest, records)
    wrote = []
    if merge or (manifest["kind"] != "lora" and not gguf):
        model.save_pretrained(out)  # safetensors: transformers' default format
        tokenizer.save_pretrained(out)
        wrote.append("full" if manifest["kind"] == "full" else "merged")
        manifest = {**manifest, "kind": "merged" if manifest["kind"] == "lora" else manifest["kind"], "tokenizer": True}
    elif not gguf:
        manifest = _write_adapter(source, out, manifest)
        wrote.append("adapter")
    if gguf:
        manifest = _write_gguf(model, tokenizer, out, manifest, gguf)
        manifest = manifest if wrote else {**manifest, "kind": "gguf"}
        wrote.append(f"gguf {gguf}")
    del model
    write_manifest(out, manifest)
    results, lines = [], [f"not checked: {where}" if verify else "not checked (--no-check)"]
    if records:
        lines = [fallback] * bool(fallback) + [check.reference_line(manifest, records, reference, where, stored)]
        say(lines[-1])
        results = _check_written(out, manifest, wrote, records, reference, device, say)
        lines += [check.result_line(r) for r in results]
        if gguf:
            lines.append(check.llama_cpp_note())
            say("  " + lines[-1])
    (out / "README.md").write_text(export_readme(manifest, out, lines), encoding="utf-8")
    error = check.failure(results, out)
    if error:
        raise error
    return out


def _refuse_unsupported(source: Path, manifest: dict, config_file, gguf_architecture) -> None:
    """An architecture the GGUF writer does not know fails before anything is loaded or written."""
    from transformers import AutoConfig

    from tools.export.tuned_model import base_for

    gguf_architecture(AutoConfig.from_pretrained(str(source) if config_file else base_for(source, manifest)))
