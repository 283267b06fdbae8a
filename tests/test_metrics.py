"""Offline metrics: values checked against arithmetic done by hand, direction, worst, resolution, errors."""
from __future__ import annotations

import json
import sys
import types

import pytest

from trex.spec import SpecError
from tools.data.spec_loading import parse_spec
from trex.metrics import METRICS, get_metric, resolve_metric

LOWER = "tests.custom_metric_example:length_error@lower"
HIGHER = "tests.custom_metric_example:starts_right"


# --- built-ins --------------------------------------------------------------------------------

def test_exact_match_is_strict_where_accuracy_normalises():
    preds, refs = ["Yes", " no ", "a  b"], ["yes", "no", "a b"]
    # exact_match: only " no " == "no" after strip -> 1/3; accuracy also ignores case and inner spaces -> 3/3
    assert get_metric("exact_match").compute(preds, refs) == pytest.approx(1 / 3)
    assert get_metric("accuracy").compute(preds, refs) == pytest.approx(1.0)
    assert [get_metric("exact_match").example_score(p, r) for p, r in zip(preds, refs)] == [0.0, 1.0, 0.0]
    assert [get_metric("accuracy").example_score(p, r) for p, r in zip(preds, refs)] == [1.0, 1.0, 1.0]


def test_macro_f1_and_its_per_example_score():
    preds, refs = ["a", "a", "b"], ["a", "b", "b"]
    # class a: tp 1, fp 1, fn 0 -> F1 2/3; class b: tp 1, fp 0, fn 1 -> F1 2/3; mean 2/3
    m = get_metric("macro_f1")
    assert m.compute(preds, refs) == pytest.approx(2 / 3)
    assert [m.example_score(p, r) for p, r in zip(preds, refs)] == [1.0, 0.0, 1.0]
    assert m.task_types == ("classification",)


def test_rouge1_by_hand():
    m = get_metric("rouge1")
    # "the cat sat" vs "the cat ran": 2 shared unigrams; P 2/3, R 2/3, F 2/3
    assert m.example_score("the cat sat", "the cat ran") == pytest.approx(2 / 3)
    # stemming: cats->cat, running->run, so every unigram matches -> F 1
    assert m.example_score("cats running", "cat run") == pytest.approx(1.0)
    # corpus value is the mean over examples: (2/3 + 0) / 2 = 1/3
    assert m.compute(["the cat sat", "dog"], ["the cat ran", "bird"]) == pytest.approx(1 / 3)


def test_rougeL_uses_longest_common_subsequence():  # noqa: N802 - the metric is named rougeL
    pred, ref = "the cat sat on the mat", "on the mat the cat sat"
    # same bag of words -> ROUGE-1 F 1; but the LCS is only 3 tokens ("the cat sat"): P 3/6, R 3/6, F 1/2
    assert get_metric("rouge1").example_score(pred, ref) == pytest.approx(1.0)
    assert get_metric("rougeL").example_score(pred, ref) == pytest.approx(0.5)
    assert get_metric("rougeL").compute([pred], [ref]) == pytest.approx(0.5)


def test_bleu_by_hand():
    pred, ref = "the cat sat on the mat", "the cat sat on a mat"
    # clipped n-gram precisions: 1-gram 5/6 ("the" clipped to 1), 2-gram 3/5, 3-gram 2/4, 4-gram 1/3;
    # equal lengths -> brevity penalty 1; BLEU = (5/6 * 3/5 * 2/4 * 1/3) ** (1/4) = (1/12) ** 0.25
    expected = (1 / 12) ** 0.25
    m = get_metric("bleu")
    assert m.compute([pred], [ref]) == pytest.approx(expected, abs=1e-6)
    assert m.example_score(pred, ref) == pytest.approx(expected, abs=1e-6)
    assert m.compute([ref], [ref]) == pytest.approx(1.0)
    assert m.compute([], []) == 0.0


def test_chrf_bounds():
    m = get_metric("chrf")
    assert m.compute(["hello world"], ["hello world"]) == pytest.approx(1.0)
    assert m.example_score("aaaa", "bbbb") == pytest.approx(0.0)  # no shared character n-grams
    assert 0.0 < m.example_score("hello word", "hello world") < 1.0


@pytest.mark.parametrize("name", ["rouge1", "rougeL", "bleu", "chrf"])
def test_generation_metrics_are_generation_only_and_bounded(name):
    m = METRICS[name]
    assert m.task_types == ("generation",) and m.higher_is_better and m.worst == 0.0
    assert m.better(0.5, 0.4) and m.gain(0.5, 0.4) == pytest.approx(0.1)


def test_builtin_direction_and_worst():
    for m in METRICS.values():
        assert m.higher_is_better and m.worst == 0.0
        assert m.better(1.0, 0.0) and not m.better(0.5, 0.5)
    assert get_metric("accuracy") is METRICS["accuracy"]


# --- custom metrics ---------------------------------------------------------------------------

def test_custom_lower_is_better_metric():
    m = resolve_metric(LOWER)
    assert m.name == LOWER and not m.higher_is_better
    # word counts 3 vs 1 and 2 vs 2: (|3-1| + 0) / 2 = 1
    assert m.compute(["a b c", "x y"], ["a", "x z"]) == pytest.approx(1.0)
    assert m.example_score("a b c", "a") == pytest.approx(2.0)
    assert m.better(2.0, 5.0) and not m.better(5.0, 2.0)
    assert m.gain(2.0, 5.0) == pytest.approx(3.0)  # went from 5 to 2: a gain of 3
    assert m.worst == 1e9 and not m.better(m.worst, 100.0)
    assert json.loads(json.dumps({"score": m.worst}, allow_nan=False))["score"] == 1e9  # JSON-safe, unlike inf


def test_custom_higher_is_better_metric_by_default():
    m = resolve_metric(HIGHER)
    assert m.higher_is_better and m.worst == -1e9
    assert m.compute(["apple", "pear"], ["avocado", "fig"]) == pytest.approx(0.5)  # a==a, p!=f -> 1/2
    assert resolve_metric(HIGHER + "@higher").higher_is_better
    assert set(m.task_types) == {"classification", "generation"}


def test_custom_metric_is_resolved_once():
    assert resolve_metric(LOWER) is resolve_metric(LOWER) is get_metric(LOWER)


# --- errors -----------------------------------------------------------------------------------

def test_unknown_builtin_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown metric 'bleurt'; known: accuracy, bleu, chrf, exact_match"):
        get_metric("bleurt")


@pytest.mark.parametrize("name, message", [
    ("no_such_pkg.mod:fn", r"custom metric 'no_such_pkg.mod:fn': cannot import 'fn' from 'no_such_pkg.mod'"),
    ("tests.custom_metric_example:nope", r"custom metric .*: cannot import 'nope'"),
    ("tests.custom_metric_example:NOT_A_FUNCTION", r"is not callable"),
    ("tests.custom_metric_example:length_error@sideways", r"must be '@lower' or '@higher'"),
    (":fn", r"expected 'package.module:function'"),
])
def test_bad_custom_metric_names(name, message):
    with pytest.raises(ValueError, match=message):
        resolve_metric(name)


def test_hub_metric_without_evaluate_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "evaluate", None)  # makes `import evaluate` raise ImportError
    with pytest.raises(ValueError, match=r"pip install evaluate.*internet"):
        resolve_metric("hf:accuracy")


def test_hub_metric_offline_says_it_needs_the_internet(monkeypatch):
    def load(metric_id):
        raise ConnectionError("Couldn't reach the Hub")
    monkeypatch.setitem(sys.modules, "evaluate", types.SimpleNamespace(load=load))
    with pytest.raises(ValueError, match=r"hf:offline_metric.*needs the internet.*Couldn't reach"):
        resolve_metric("hf:offline_metric")


def test_hub_metric_picks_its_own_score(monkeypatch):
    class Fake:  # stands in for what evaluate.load returns; no network
        def compute(self, predictions, references):
            hits = sum(p == r for p, r in zip(predictions, references))
            return {"fake_acc": hits / len(references), "n": len(references)}
    monkeypatch.setitem(sys.modules, "evaluate", types.SimpleNamespace(load=lambda metric_id: Fake()))
    m = resolve_metric("hf:someone/fake_acc@lower")
    try:
        assert not m.higher_is_better and m.worst == 1e9
        assert m.compute(["a", "b"], ["a", "c"]) == pytest.approx(0.5)  # the "fake_acc" key, not "n"
        assert m.example_score("a", "a") == pytest.approx(1.0)
    finally:
        resolve_metric.cache_clear()  # the fake must not outlive this test


# --- the spec accepts what the resolver accepts -----------------------------------------------

def test_spec_accepts_a_custom_metric(tiny_task):
    spec = parse_spec({**tiny_task, "metric": LOWER, "higher_is_better": False})
    assert spec.metric == LOWER
    with pytest.raises(SpecError, match="higher_is_better contradicts"):
        parse_spec({**tiny_task, "metric": LOWER, "higher_is_better": True})


def test_spec_rejects_an_unimportable_custom_metric(tiny_task):
    with pytest.raises(SpecError, match=r"field 'metric': custom metric 'nope.nope:f': cannot import"):
        parse_spec({**tiny_task, "metric": "nope.nope:f"})


def test_spec_checks_generation_metrics_against_task_type(tiny_task):
    with pytest.raises(SpecError, match="does not fit task_type"):
        parse_spec({**tiny_task, "metric": "rouge1"})
    assert parse_spec({**tiny_task, "task_type": "generation", "labels": None, "metric": "bleu"}).metric == "bleu"
