"""Rule-based diagnosis of a round, from loss curves, scores and failures."""
from tools.planning.diagnosis import diagnose


def ok(val_loss, score=0.5):
    return {"status": "ok", "score": score, "train": {"val_loss": val_loss}}


def failed(kind):
    return {"status": "failed", "failure": kind, "error": f"{kind} happened"}


def test_rising_validation_loss_is_overfitting():
    best = ok([1.0, 0.6, 0.7])
    assert diagnose([best], best, 0.3)[0] == "overfitting"


def test_still_falling_validation_loss_is_underfitting():
    best = ok([1.0, 0.5])
    kind, text = diagnose([best, failed("timeout")], best, 0.3)
    assert kind == "underfitting" and "1 of 2 trials failed" in text


def test_no_gain_and_improving():
    best = ok([1.0, 0.8, 0.79])
    assert diagnose([best], best, 0.0)[0] == "no_gain"
    assert diagnose([best], best, 0.2)[0] == "improving"


def test_a_round_whose_trials_all_failed_is_named_by_the_commonest_failure():
    assert diagnose([failed("diverged"), failed("diverged"), failed("oom")], None, 0.0)[0] == "diverged"
    assert diagnose([failed("timeout")], None, 0.0)[0] == "too_slow"
    kind, text = diagnose([failed("oom"), failed("oom")], None, 0.0)
    assert kind == "out_of_memory" and "oom happened" in text
    assert diagnose([failed("crash")], None, 0.0)[0] == "failed"


def test_the_base_round_is_the_baseline():
    base = {"status": "ok", "score": 0.2, "train": {}}
    assert diagnose([base], base, 0.0)[0] == "baseline"
