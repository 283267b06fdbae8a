"""Which implementation produced a score: the benchmark's own libraries where they are installed (the `ftbench`
extra: RDKit, jieba, rouge-chinese), else TREX's documented approximations (ftbench/scorers/*.py say where
they differ). FT-Bench's results name it beside every score, so two numbers are only compared like for like."""
from __future__ import annotations

from importlib import metadata


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def chemistry() -> str:
    from ftbench.scorers import chem

    if chem.rdkit() is not None:
        return f"RDKit {_version('rdkit') or '?'} (exact)"
    return "SMILES-graph fallback (approximation: RDKit not installed)"


def chinese_text() -> str:
    from ftbench.scorers import text

    if text._jieba() is None:
        return "ROUGE-L on characters (approximation: jieba not installed)"
    if text._rouge_chinese() is None:
        return f"ROUGE-L port on jieba {_version('jieba') or '?'} words (rouge-chinese not installed)"
    return f"rouge-chinese {_version('rouge-chinese') or '?'} on jieba {_version('jieba') or '?'} words (exact)"


# metric name -> the parts of its scoring that depend on what is installed
DEPENDS = {"ftbench.metrics:tomg_accuracy": (chemistry,), "ftbench.metrics:ome_score": (chemistry,),
           "ftbench.metrics:lawbench_score": (chinese_text,)}


def scored_by(metric: str) -> str:
    """How `metric` is computed on this machine, in a few words."""
    parts = DEPENDS.get(metric)
    if parts is None:
        return "TREX built-in" if ":" not in metric else f"{metric} (no optional dependency)"
    return "; ".join(part() for part in parts)
