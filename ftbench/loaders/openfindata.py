"""OpenFinData (East Money + Shanghai AI Lab): the nine files OpenCompass scores, from the official release zip.

The release has no train/test split, so a seeded holdout per file hides 30% as the test split.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from ftbench.loaders.common import LoaderError, download, finalize, holdout, task_dir

ZIP_URL = "https://github.com/open-compass/OpenFinData/releases/download/release/openfindata_release.zip"
# OpenCompass configs/datasets/OpenFinData/OpenFinData_gen_46dedb.py: option count per file, and the one
# keyword-scored file (entity_recognition, OpenFinDataKWEvaluator).
CHOICES = {"emotion_identification": "ABC", "entity_disambiguation": "ABC", "financial_facts": "ABC",
           "data_inspection": "ABCD", "financial_terminology": "ABCD", "metric_calculation": "ABCD",
           "value_extraction": "ABCD", "intent_understanding": "ABCDE", "entity_recognition": ""}
TEST_FRACTION = 0.3


def _files_from(source: Path) -> dict[str, list]:
    """{file stem: records} from the release zip or from its unzipped folder."""
    found = {}
    if source.is_file() and source.suffix == ".zip":
        with zipfile.ZipFile(source) as z:
            for name in z.namelist():
                stem = Path(name).stem
                if stem in CHOICES and name.endswith(".json"):
                    found[stem] = json.load(io.TextIOWrapper(z.open(name), encoding="utf-8"))
        return found
    for stem in CHOICES:
        for p in (source / f"{stem}.json", source / "openfindata_release" / f"{stem}.json"):
            if p.is_file():
                found[stem] = json.loads(p.read_text(encoding="utf-8"))
                break
    return found


def prompt(stem: str, r: dict) -> str:
    # OpenCompass's zero-shot template: question, lettered options, then "答案:".
    options = "".join(f"\n{k}. {r[k]}" for k in CHOICES[stem])
    return f"{r['question']}{options}\n答案:"


def prepare_openfindata(task: str, cache_dir, source=None, seed: int = 0, **kw) -> dict:
    src = Path(source) if source else download(ZIP_URL, task_dir(cache_dir, task) / "raw" / "openfindata_release.zip")
    files = _files_from(src)
    if not files:
        raise LoaderError(f"{src}: none of the OpenFinData files {sorted(CHOICES)} found")
    if source is None and set(files) != set(CHOICES):
        raise LoaderError(f"{src}: missing {sorted(set(CHOICES) - set(files))}")
    rows = [{"id": f"{stem}-{i}", "subset": stem, "input": prompt(stem, r), "output": str(r["answer"]).strip()}
            for stem, records in sorted(files.items()) for i, r in enumerate(records)]
    train, test = holdout(rows, TEST_FRACTION, seed, stratify=lambda r: r["subset"])
    return finalize(task, train, test, cache_dir, seed=seed, sources={
        "url": ZIP_URL, "files": sorted(files), "split": f"seeded per-file holdout, test_fraction {TEST_FRACTION}"},
        **kw)
