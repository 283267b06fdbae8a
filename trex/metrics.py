"""Evaluation metrics that know their direction, so callers compare by "better", never by "bigger".

A spec's ``metric`` is one of three kinds of name:

* a built-in: ``accuracy``, ``exact_match``, ``macro_f1`` (classification or generation as listed),
  ``rouge1``, ``rougeL``, ``bleu``, ``chrf`` (generation only; all in 0..1, higher is better);
* a custom function, ``"package.module:function"``: imported lazily, called as
  ``function(preds: list[str], refs: list[str]) -> float``. Higher is better unless the name ends
  in ``"@lower"`` (``"mypkg.metrics:perplexity@lower"``); ``"@higher"`` is accepted too;
* a Hugging Face ``evaluate`` metric, ``"hf:<metric_id>"`` (same ``@lower`` suffix). This needs
  ``pip install evaluate`` *and* the internet: ``evaluate.load`` fetches the metric's script from
  the Hub at run time, so it fails offline. Its result dict must hold a number under the metric's
  own name, or exactly one number.

Custom and hub metrics have no known floor, so their ``worst`` (the score a failed trial gets) is a
large finite sentinel, -1e9 (higher is better) or +1e9 (lower is better), not +-inf: scores are
stored in JSON state and reports, and JSON has no infinity (``json.dumps`` writes ``Infinity``,
which strict parsers reject).

``Metric.example_score(pred, ref)`` scores one example on the same scale and direction, cheaply
enough to rank every validation example and pick the worst ones (bad cases).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

CUSTOM_WORST_HIGHER = -1e9  # finite stand-in for -inf: see the module docstring
CUSTOM_WORST_LOWER = 1e9

GENERATION = ("generation",)


def _normalise(text: str) -> str:
    return " ".join(str(text).strip().lower().split())


def accuracy(preds: Sequence[str], refs: Sequence[str]) -> float:
    if not refs:
        return 0.0
    return sum(_normalise(p) == _normalise(r) for p, r in zip(preds, refs)) / len(refs)


def exact_match(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Strict: equal after stripping surrounding whitespace only (case and inner spacing count)."""
    if not refs:
        return 0.0
    return sum(str(p).strip() == str(r).strip() for p, r in zip(preds, refs)) / len(refs)


def macro_f1(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Unweighted mean of per-class F1 over the classes present in the references or predictions."""
    p_norm = [_normalise(p) for p in preds]
    r_norm = [_normalise(r) for r in refs]
    classes = sorted(set(r_norm) | set(p_norm))
    if not classes:
        return 0.0
    f1s = []
    for c in classes:
        tp = sum(p == c and r == c for p, r in zip(p_norm, r_norm))
        fp = sum(p == c and r != c for p, r in zip(p_norm, r_norm))
        fn = sum(p != c and r == c for p, r in zip(p_norm, r_norm))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s)


@lru_cache(maxsize=None)
def _rouge_scorer(kind: str):
    # Lazy: rouge-score pulls in nltk/absl. The default tokenizer and Porter stemmer need no nltk data.
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([kind], use_stemmer=True)


def _rouge_example(kind: str, pred: str, ref: str) -> float:
    return _rouge_scorer(kind).score(str(ref), str(pred))[kind].fmeasure  # score(target, prediction)


def _rouge(kind: str) -> Callable[[Sequence[str], Sequence[str]], float]:
    def compute(preds: Sequence[str], refs: Sequence[str]) -> float:
        """Mean per-example ROUGE F-measure."""
        if not refs:
            return 0.0
        return sum(_rouge_example(kind, p, r) for p, r in zip(preds, refs)) / len(refs)
    compute.__name__ = kind
    return compute


def bleu(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu defaults), scaled from 0..100 to 0..1."""
    if not refs:
        return 0.0
    import sacrebleu

    return sacrebleu.corpus_bleu([str(p) for p in preds], [[str(r) for r in refs]]).score / 100


def _bleu_example(pred: str, ref: str) -> float:
    import sacrebleu

    return sacrebleu.sentence_bleu(str(pred), [str(ref)]).score / 100


def chrf(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus chrF (sacrebleu defaults), scaled to 0..1."""
    if not refs:
        return 0.0
    import sacrebleu

    return sacrebleu.corpus_chrf([str(p) for p in preds], [[str(r) for r in refs]]).score / 100


def _chrf_example(pred: str, ref: str) -> float:
    import sacrebleu

    return sacrebleu.sentence_chrf(str(pred), [str(ref)]).score / 100


def _label_match(pred: str, ref: str) -> float:
    return float(_normalise(pred) == _normalise(ref))


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    worst: float  # the value a failed trial gets: data, not an exception
    compute: Callable[[Sequence[str], Sequence[str]], float]
    task_types: tuple[str, ...] = ("classification", "generation")
    per_example: Callable[[str, str], float] | None = None  # None: compute on a one-example list

    def better(self, a: float, b: float) -> bool:
        """True when score a is strictly better than score b."""
        return a > b if self.higher_is_better else a < b

    def gain(self, score: float, base: float) -> float:
        """Improvement of score over base, positive when score is better."""
        return score - base if self.higher_is_better else base - score

    def example_score(self, pred: str, ref: str) -> float:
        """One example's score, same direction as the metric (for ranking bad cases)."""
        if self.per_example is not None:
            return float(self.per_example(pred, ref))
        return float(self.compute([pred], [ref]))


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", True, 0.0, accuracy, per_example=_label_match),
    "exact_match": Metric("exact_match", True, 0.0, exact_match,
                          per_example=lambda p, r: float(str(p).strip() == str(r).strip())),
    # Per example, macro F1 degenerates to "is the label right".
    "macro_f1": Metric("macro_f1", True, 0.0, macro_f1, ("classification",), per_example=_label_match),
    "rouge1": Metric("rouge1", True, 0.0, _rouge("rouge1"), GENERATION,
                     per_example=lambda p, r: _rouge_example("rouge1", p, r)),
    "rougeL": Metric("rougeL", True, 0.0, _rouge("rougeL"), GENERATION,
                     per_example=lambda p, r: _rouge_example("rougeL", p, r)),
    "bleu": Metric("bleu", True, 0.0, bleu, GENERATION, per_example=_bleu_example),
    "chrf": Metric("chrf", True, 0.0, chrf, GENERATION, per_example=_chrf_example),
}


LLM_JUDGE = "llm_judge"


def _judged_by_a_chat_model(preds: Sequence[str], refs: Sequence[str]) -> float:
    raise ValueError(f"metric {LLM_JUDGE!r} is computed by the run's chat model in the scoring worker "
                     "(tools.worker.scoring.scoring_metric), not from this description")


# The llm_judge as the search sees it: its direction and range. The scoring worker binds a chat model to it
# (tools/llm/llm_judge.py), so this floor needs no LLM.
JUDGE = Metric(LLM_JUDGE, True, 0.0, _judged_by_a_chat_model)


def _split_direction(name: str) -> tuple[str, bool]:
    """'x@lower' -> ('x', False); 'x' or 'x@higher' -> ('x', True)."""
    base, sep, direction = name.rpartition("@")
    if not sep:
        return name, True
    if direction not in ("lower", "higher"):
        raise ValueError(f"metric {name!r}: direction suffix must be '@lower' or '@higher', not '@{direction}'")
    return base, direction == "higher"


def _custom(name: str) -> Metric:
    target, higher = _split_direction(name)
    module_name, _, func_name = target.partition(":")
    if not module_name or not func_name:
        raise ValueError(f"custom metric {name!r}: expected 'package.module:function'")
    try:
        fn = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"custom metric {name!r}: cannot import {func_name!r} from {module_name!r}: {err}") from None
    if not callable(fn):
        raise ValueError(f"custom metric {name!r}: {target!r} is not callable")

    def compute(preds: Sequence[str], refs: Sequence[str]) -> float:
        return float(fn(list(preds), list(refs)))
    return Metric(name, higher, CUSTOM_WORST_HIGHER if higher else CUSTOM_WORST_LOWER, compute)


def _hub(name: str) -> Metric:
    target, higher = _split_direction(name)
    metric_id = target.removeprefix("hf:")
    if not metric_id:
        raise ValueError(f"hub metric {name!r}: expected 'hf:<metric_id>'")
    try:
        import evaluate
    except ImportError:
        raise ValueError(f"hub metric {name!r} needs the 'evaluate' package (pip install evaluate) "
                         "and the internet: evaluate.load fetches the metric from the Hugging Face Hub") from None
    try:
        module = evaluate.load(metric_id)  # network: fetches the metric script
    except Exception as err:  # noqa: BLE001 - any failure here means "cannot use this metric"
        raise ValueError(f"hub metric {name!r}: evaluate.load({metric_id!r}) failed "
                         f"(it needs the internet to reach the Hugging Face Hub): {err}") from None
    key = metric_id.rstrip("/").rsplit("/", 1)[-1]

    def compute(preds: Sequence[str], refs: Sequence[str]) -> float:
        out = module.compute(predictions=list(preds), references=list(refs))
        if isinstance(out, dict):
            numbers = {k: v for k, v in out.items() if isinstance(v, (int, float))}
            if key in numbers:
                return float(numbers[key])
            if len(numbers) == 1:
                return float(next(iter(numbers.values())))
            raise ValueError(f"hub metric {name!r}: cannot tell which result is the score: {sorted(out)}")
        return float(out)
    return Metric(name, higher, CUSTOM_WORST_HIGHER if higher else CUSTOM_WORST_LOWER, compute)


@lru_cache(maxsize=None)  # custom imports and hub loads happen once per process
def resolve_metric(name: str) -> Metric:
    """The Metric for a built-in, 'package.module:function[@lower]' or 'hf:<metric_id>[@lower]' name."""
    if name in METRICS:
        return METRICS[name]
    if name == LLM_JUDGE:
        return JUDGE
    if name.startswith("hf:"):
        return _hub(name)
    if ":" in name:
        return _custom(name)
    raise ValueError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS))} "
                     "(or 'package.module:function[@lower]', 'hf:<metric_id>', or 'llm_judge' with a chat model)")


def get_metric(name: str) -> Metric:
    return resolve_metric(name)
