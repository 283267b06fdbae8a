"""budget.train_tokens (docs/budgets.md): the run stops when its training tokens are spent, the planner fits each
round to what is left (tools/planning/token_fit.py) with one estimator (tools/run/token_cost.py), a round that
overshoots trains to the end and shows it, and a bad cap is a clear spec error."""
import json
from dataclasses import replace
from pathlib import Path

import pytest

from graph.cli.progress import spend_line
from graph.main import build_graph
from tools.data.spec_loading import parse_spec
from tools.planning.token_fit import fit_round
from tools.run.token_cost import file_per_example, measured_per_example, per_example, trial_tokens
from tests.fake_runner import FakeRunner
from tests.test_budgets import assert_stopped_cleanly, config, with_budget

MAX_TRAIN = 16  # tiny_task's max_train_samples


def fake_runner(tokens_of) -> FakeRunner:
    """Trains nothing: a trial reports tokens_of(cfg) training tokens; the base scores 0.5, any trial 0.6."""
    def train(spec, data, cfg, ctx, init=None):
        return {"status": "ok", "adapter": None, "cached": False, "key": f"k{cfg['id']}:{json.dumps(cfg, sort_keys=True, default=str)}",
                "train_s": 0.1, "tokens": tokens_of(cfg)}

    def score(spec, data, cfg, adapter, key, split, ctx, job_dir, max_examples):
        return {"status": "ok", "score": 0.5 if key == "base" else 0.6}

    return FakeRunner(train=train, score=score)


def ten_per_example(cfg: dict) -> int:
    return min(cfg.get("max_samples") or MAX_TRAIN, MAX_TRAIN) * cfg["epochs"] * 10


def trained(state: dict) -> list[str]:
    return [n for n, node in state["tree"].items() if n != "root" and node["status"] != "skipped"]


# --- the estimator ---------------------------------------------------------------------------------------------

def test_estimator_counts_examples_times_epochs_times_measured_tokens(tmp_path):
    tree = {"root": {"trials": [{"id": "t0", "epochs": 0}], "results": {"t0": {"status": "ok", "train": {}}}},
            "n1": {"trials": [{"id": "t0", "epochs": 2, "max_samples": 8}, {"id": "t1", "epochs": 1, "template": "plain"}],
                   "results": {"t0": {"status": "ok", "train": {"tokens": 480}},  # 8 examples x 2 epochs x 30
                               "t1": {"status": "ok", "train": {"tokens": 320}}}}}  # 16 x 1 x 20, another template
    assert measured_per_example(tree, MAX_TRAIN) == pytest.approx(800 / 32)
    assert per_example(tree, {"epochs": 3}, MAX_TRAIN, None) == (30.0, "measured on trials with the same data")
    assert trial_tokens({"epochs": 3}, MAX_TRAIN, 30.0) == 16 * 3 * 30
    assert trial_tokens({"epochs": 3, "max_samples": 100}, MAX_TRAIN, 30.0) == 16 * 3 * 30  # capped by the task
    # early stopping trained 1 of 2 epochs: the measurement divides by the epochs trained
    tree["n1"]["results"]["t0"]["train"]["epochs_trained"] = 1
    assert measured_per_example(tree, MAX_TRAIN, ('{}', "chat")) == 60.0
    # before any trial trained: the prepared file's characters / 4, plus the template's tokens
    rows = tmp_path / "train.jsonl"
    rows.write_text(json.dumps({"input": "x" * 36, "output": "y" * 4}) + "\n")
    prior = file_per_example(rows, instruction="")
    assert prior == 40 / 4 + 12
    assert per_example({}, {"epochs": 1}, MAX_TRAIN, prior) == (22.0, "estimated from the prepared training file")


# --- the planner's fit ------------------------------------------------------------------------------------------

def _fit(left: float):
    configs = [{"id": f"t{i}", "epochs": 2, "lr": lr} for i, lr in enumerate((1e-3, 2e-3, 5e-4))]
    return fit_round(configs, left, ten_per_example, MAX_TRAIN, epochs_grid=[1, 2, 3], samples_grid=[8, 16],
                     key=lambda c: (c["lr"], c["epochs"], c.get("max_samples")))


def test_a_round_that_fits_is_left_alone():
    fit = _fit(960)
    assert [c["id"] for c in fit.configs] == ["t0", "t1", "t2"] and fit.fits and not fit.notes
    assert fit.estimates == {"t0": 320, "t1": 320, "t2": 320}


def test_the_planner_shrinks_a_round_that_would_not_fit():
    fit = _fit(500)  # 3 full trials need 960
    assert fit.configs[0] == {"id": "t0", "epochs": 2, "lr": 1e-3}  # the planner's first choice, whole
    assert fit.configs[1] == {"id": "t1", "epochs": 2, "lr": 2e-3, "max_samples": 8}  # halved to fit 180 left
    assert len(fit.configs) == 2 and fit.fits and sum(fit.estimates.values()) == 480 <= 500
    assert "t1 shrunk to fit the train_tokens budget: epochs 2->2, examples 16->8" in fit.notes[0]
    assert fit.notes[1] == "t2 dropped: needs ~320 tokens, 20 left"


def test_no_trial_fits_when_not_even_the_smallest_one_does():
    fit = _fit(50)
    assert not fit.fits and fit.configs == [{"id": "t0", "epochs": 1, "lr": 1e-3, "max_samples": 8}]
    assert fit.estimates == {"t0": 80}
    assert fit.notes[-1].startswith("not even the smallest trial fits: t0 at 1 epoch(s) x 8 examples needs ~80")


def test_a_pinned_epochs_stays_pinned_while_the_round_is_fitted():
    from tools.planning.token_fit import fit_to_budget
    from trex.search_space import DEFAULT_SPACE

    space = DEFAULT_SPACE.narrowed({"epochs": 3})
    configs = [{"id": "t0", "epochs": 3, "lr": 1e-3}, {"id": "t1", "epochs": 3, "lr": 2e-3}]
    fit, record = fit_to_budget({}, configs, limit=300, trained=0, max_train=MAX_TRAIN, space=space, prior=10.0,
                                key=lambda c: (c["lr"], c.get("max_samples")), tried=set())
    assert fit.configs == [{"id": "t0", "epochs": 3, "lr": 1e-3, "max_samples": 8}]  # 3 x 8 x 10 = 240: fewer examples
    assert record["left"] == 300 and record["estimates"] == {"t0": 240} and record["fits"]
    assert record["source"] == "estimated from the prepared training file"


def test_with_successive_halving_a_trial_is_planned_at_the_cost_of_its_first_rung():
    """committed_epochs=1 (halving on): a 3-epoch trial commits to one epoch's tokens, the rest it earns."""
    from tools.planning.token_fit import fit_to_budget
    from trex.search_space import DEFAULT_SPACE

    space = DEFAULT_SPACE.narrowed({"epochs": 3})
    configs = [{"id": "t0", "epochs": 3, "lr": 1e-3}, {"id": "t1", "epochs": 3, "lr": 2e-3}]
    halving = fit_to_budget({}, configs, limit=330, trained=0, max_train=MAX_TRAIN, space=space, prior=10.0,
                            key=lambda c: (c["lr"], c.get("max_samples")), tried=set(), committed_epochs=1)[0]
    assert halving.configs == configs and not halving.notes  # 1 epoch x 16 examples x 10 tokens = 160 each
    assert halving.estimates == {"t0": 160, "t1": 160}
    whole = fit_to_budget({}, configs, limit=330, trained=0, max_train=MAX_TRAIN, space=space, prior=10.0,
                          key=lambda c: (c["lr"], c.get("max_samples")), tried=set())[0]
    assert len(whole.configs) == 1 and whole.estimates["t0"] <= 330  # 3 epochs each: one shrunk trial fits


def test_the_llm_planner_is_told_the_tokens_left_and_a_trials_price():
    from tools.planning.llm_planner import PlanInput, condensed_memory
    from tools.planning.token_fit import budget_line

    tree = {"root": {"id": "root", "parent": None, "round": 0, "status": "evaluated", "score": 0.5, "reward": 0.0,
                     "trials": [{"id": "t0", "epochs": 0}], "results": {}, "visits": 1, "value": 0.0}}
    line = budget_line(5000, 1200, tree, MAX_TRAIN, prior=22.0)
    assert line.startswith("training tokens: 3,800 of 5,000 left; a trial costs about 22 tokens per example per "
                           "epoch (estimated from the prepared training file)")
    memory = condensed_memory(PlanInput(tree=tree, parent_id="root", k=2, max_train=MAX_TRAIN, seed=0,
                                        task={"name": "t", "goal": "g"}, tokens=line))
    assert line in memory
    assert "training tokens" not in condensed_memory(PlanInput(tree=tree, parent_id="root", k=2, max_train=MAX_TRAIN,
                                                               seed=0, task={"name": "t", "goal": "g"}))


# --- the run -----------------------------------------------------------------------------------------------------

def test_a_run_stops_when_its_train_tokens_are_spent_and_shows_the_overshoot(tiny_task, context):
    # Every trial reports 1000 tokens, far above the planner's estimate: round 1 fits on paper, trains to the end
    # (a trial is never killed for the budget), and the run stops after it showing what went over.
    task, seen, state = with_budget(tiny_task, rounds=5, configs_per_round=2, train_tokens=1500), [], {}
    for mode, chunk in build_graph(runner=fake_runner(lambda cfg: 1000)).stream(
            {"task": task}, config(), context=context, stream_mode=["updates", "values"]):
        if mode == "updates" and "backpropagate" in chunk:
            seen.append(chunk["backpropagate"]["accounting"]["budget"]["train_tokens"])
        state = chunk if mode == "values" else state
    assert trained(state) == ["n1"] and state["accounting"]["tokens_trained"] == 2000
    assert_stopped_cleanly(state, "budget: train_tokens 1500 reached (2000 trained, 500 over)")
    assert seen == [{"cap": 1500, "spent": 0}, {"cap": 1500, "spent": 2000}]  # for the progress line
    assert spend_line({"running_s": 1, "wall_s": 1}, {"train_tokens": seen[-1]}).endswith("budget train_tokens 2000/1500")
    assert spend_line({}, {"train_tokens": {"cap": 2_000_000, "spent": 123_456}}).endswith("train_tokens 123,456/2,000,000")
    assert state["tree"]["n1"]["token_budget"]["left"] == 1500


def test_the_run_fits_rounds_to_what_is_left_and_stops_before_a_round_that_cannot_start(tiny_task, context):
    # A trial reports 10 tokens an example-epoch; the smallest trial the space allows is 1 epoch x 8 examples = 80.
    # Halving off: a trial is priced at all its epochs (with halving, at its first: the test above fit_to_budget's).
    state = build_graph(runner=fake_runner(ten_per_example)).invoke(
        {"task": with_budget(tiny_task, rounds=10, configs_per_round=2, train_tokens=450)}, config(),
        context=replace(context, halving=False))
    tree = state["tree"]
    # round 1 is priced from the prepared file (no trial trained yet) and shrunk to one small trial
    assert tree["n1"]["token_budget"]["source"] == "estimated from the prepared training file"
    assert [(t["epochs"], t["max_samples"]) for t in tree["n1"]["trials"]] == [(1, 8)]
    assert tree["n1"]["token_budget"]["notes"][0].startswith("t0 shrunk to fit the train_tokens budget: epochs 2->1")
    assert "train_tokens budget (450 left): t0 shrunk" in tree["n1"]["rationale"]  # the report's Plans section
    assert "t0 shrunk to fit" in Path(state["report_path"]).read_text()
    # later rounds are priced from what the trials used, exactly here, so nothing overshoots
    assert tree["n2"]["token_budget"]["source"] == "measured on trials with the same data"
    assert state["accounting"]["tokens_trained"] == 400
    last = tree[f"n{len(tree) - 1}"]
    assert last["status"] == "skipped" and last["token_budget"]["fits"] is False
    assert_stopped_cleanly(state, "budget: train_tokens 450 reached (400 trained; the smallest trial planned needs ~80 "
                                  "of the 50 left)")


@pytest.mark.parametrize("bad, why", [(0, "greater than 0"), (-5, "greater than 0"), (1.5, "valid integer"),
                                      ("1e6", "valid integer")])
def test_a_bad_train_tokens_is_a_clear_error(tiny_task, bad, why):
    with pytest.raises(ValueError, match=rf"field 'budget.train_tokens': .*{why}"):
        parse_spec(with_budget(tiny_task, train_tokens=bad))


def test_the_environment_replaces_the_specs_train_tokens(tiny_task, monkeypatch):
    from tools.run.budget import caps
    from trex.context import Context

    spec = parse_spec(with_budget(tiny_task, train_tokens=10_000))
    monkeypatch.delenv("TREX_MAX_TRAIN_TOKENS", raising=False)
    assert caps(spec, Context())["train_tokens"] == 10_000
    monkeypatch.setenv("TREX_MAX_TRAIN_TOKENS", "2500")
    assert caps(spec, Context())["train_tokens"] == 2500
    with pytest.raises(ValueError, match="max_train_tokens must be > 0"):
        Context(max_train_tokens=0)
    monkeypatch.setenv("TREX_MAX_TRAIN_TOKENS", "1.5e6")
    with pytest.raises(ValueError, match="TREX_MAX_TRAIN_TOKENS='1.5e6' is not a valid int"):
        Context()
