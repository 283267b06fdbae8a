"""FT-Bench tasks whose home is a Hugging Face dataset: SST-2, HoC, EconLogicQA.

Each loader calls `datasets.load_dataset` on the Hub id, or on `source`: a local directory with the same
file layout as the Hub repository (what the tests ship under ftbench/samples/).
"""
from __future__ import annotations

from ftbench.loaders.common import LoaderError, finalize, hf_load, task_dir

SST2_ID = "stanfordnlp/sst2"
HOC_ID = "bigbio/hallmarks_of_cancer"
HOC_REVISION = "refs/convert/parquet"  # the repo is a loading script; datasets>=4 reads its parquet export
HOC_CONFIG = "hallmarks_of_cancer_source"
ECON_ID = "yinzhu-quan/econ_logic_qa"

# bigbio/hallmarks_of_cancer's ClassLabel order (hallmarks_of_cancer.py, _CLASS_NAMES): used when the parquet
# export carries bare integers without the feature names.
HOC_CLASSES = ["evading growth suppressors", "tumor promoting inflammation", "enabling replicative immortality",
               "cellular energetics", "resisting cell death", "activating invasion and metastasis",
               "genomic instability and mutation", "none", "inducing angiogenesis",
               "sustaining proliferative signaling", "avoiding immune destruction"]


def _label_names(split, column: str) -> list[str] | None:
    feature = split.features[column]
    feature = getattr(feature, "feature", feature)  # Sequence(ClassLabel) or List(ClassLabel)
    return list(getattr(feature, "names", []) or []) or None


def prepare_sst2(task: str, cache_dir, source=None, **kw) -> dict:
    """Official train for training; the labelled validation split is the hidden test (GLUE test labels are -1)."""
    ds = hf_load(source or SST2_ID, task_dir(cache_dir, task) / "hf")
    names = _label_names(ds["train"], "label") or ["negative", "positive"]

    def rows(split: str) -> list[dict]:
        return [{"id": f"{split}-{r['idx']}", "input": r["sentence"].strip(), "output": names[r["label"]]}
                for r in ds[split] if r["label"] in (0, 1)]
    return finalize(task, rows("train"), rows("validation"), cache_dir,
                    sources={"hf_id": str(source or SST2_ID), "train": "train", "test": "validation"}, **kw)


def prepare_hoc(task: str, cache_dir, source=None, **kw) -> dict:
    """Sentence-level multi-label rows; labels joined as '; ' in sorted order, 'none' for no hallmark."""
    extra = {"data_dir": HOC_CONFIG} if source else {"revision": HOC_REVISION, "data_dir": HOC_CONFIG}
    ds = hf_load(source or HOC_ID, task_dir(cache_dir, task) / "hf", **extra)
    names = _label_names(ds["train"], "label") or HOC_CLASSES

    def label(v) -> str:
        return v if isinstance(v, str) else names[int(v)]

    def rows(split: str) -> list[dict]:
        out = []
        for r in ds[split]:
            labels = sorted({label(v) for v in r["label"]} - {"none"}) or ["none"]
            out.append({"id": r["document_id"], "input": r["text"].strip(), "output": "; ".join(labels)})
        return out
    if "test" not in ds:
        raise LoaderError(f"{HOC_ID}: no test split (has {list(ds)})")
    train = rows("train") + (rows("validation") if "validation" in ds else [])
    return finalize(task, train, rows("test"), cache_dir,
                    sources={"hf_id": str(source or HOC_ID), "revision": None if source else HOC_REVISION,
                             "data_dir": HOC_CONFIG, "train": "train+validation", "test": "test"}, **kw)


def econ_prompt(r: dict) -> str:
    return (f"{r['Question'].strip()}\n\nEvents:\nA: {r['A']}\nB: {r['B']}\nC: {r['C']}\nD: {r['D']}\n\n"
            "Answer with the four labels in order, e.g. \"C, B, A, D\".")


def prepare_econlogicqa(task: str, cache_dir, source=None, **kw) -> dict:
    """Official train+val (390+130) for training, official test (130) hidden."""
    ds = hf_load(source or ECON_ID, task_dir(cache_dir, task) / "hf")

    def rows(split: str) -> list[dict]:
        return [{"id": f"{split}-{i}", "input": econ_prompt(r), "output": str(r["Answer"]).strip()}
                for i, r in enumerate(ds[split])]
    missing = {"train", "test"} - set(ds)
    if missing:
        raise LoaderError(f"{ECON_ID}: missing splits {sorted(missing)} (has {list(ds)})")
    train = rows("train") + (rows("val") if "val" in ds else [])
    return finalize(task, train, rows("test"), cache_dir,
                    sources={"hf_id": str(source or ECON_ID), "train": "train+val", "test": "test"}, **kw)

