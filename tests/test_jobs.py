"""The typed jobs that cross the trial/worker process boundary (trex/jobs.py), and the rules with one owner:
LoRA alpha from the rank (trex/trial_config.py), the worker-side recipe steps (trex/recipe.py)."""
import json
from dataclasses import fields

import pytest

from trex.jobs import EarlyStopping, JobError, ScoreJob, ScoreSplit, TrainJob, job_from_dict


def _train_job(**kw) -> TrainJob:
    return TrainJob(base_model="trex/tiny-random", task={"task_type": "classification", "labels": ["a", "b"]},
                    config={"lr": 1e-3, "lora_r": 4}, train_path="/d/train.jsonl", val_path="/d/val.jsonl",
                    score=ScoreSplit("/d/val.jsonl", 8), early_stopping=EarlyStopping(2, 0.01), loss_filter=0.1, **kw)


def test_jobs_round_trip_through_json():
    train = _train_job(curriculum="short_first", init_adapter="/a")
    assert job_from_dict(json.loads(json.dumps(train.to_dict()))) == train
    score = ScoreJob(task={"task_type": "generation"}, config={}, eval_path="/d/test.jsonl", adapter="/a",
                     base_model="m", max_examples=3)
    assert job_from_dict(json.loads(json.dumps(score.to_dict()))) == score


def test_an_unknown_or_missing_key_is_refused_by_name():
    raw = _train_job().to_dict()
    with pytest.raises(JobError, match="train job: unknown key 'lora_alfa'"):
        job_from_dict({**raw, "lora_alfa": 8})
    with pytest.raises(JobError, match="missing key 'train_path'"):
        job_from_dict({k: v for k, v in raw.items() if k != "train_path"})
    with pytest.raises(JobError, match="train job's score: unknown key 'path'"):
        job_from_dict({**raw, "score": {"path": "/d/val.jsonl"}})
    with pytest.raises(JobError, match="unknown job mode 'fit'"):
        job_from_dict({**raw, "mode": "fit"})


def test_the_worker_refuses_a_job_it_cannot_read(tmp_path):
    from tools.worker.train_worker import run

    with pytest.raises(JobError, match="unknown key 'epochz'"):
        run({**_train_job().to_dict(), "epochz": 3}, tmp_path)


def test_alpha_derives_from_rank_in_one_place(monkeypatch):
    import trex.trial_config as tc
    from tools.planning import planner
    from tools.planning.config_bounds import check_config
    from trex.search_space import DEFAULT_SPACE

    assert tc.lora_alpha({"lora_r": 8}) == 16 and tc.lora_alpha({"lora_r": 8, "lora_alpha": 4}) == 4
    monkeypatch.setattr(tc, "ALPHA_PER_RANK", 3)  # the one rule changes: every derived alpha follows
    assert DEFAULT_SPACE.default_config(100, 0)["lora_alpha"] == 3 * DEFAULT_SPACE.default_config(100, 0)["lora_r"]
    assert planner.snap({"lora_r": 16}, 100, 0)["lora_alpha"] == 48
    assert tc.lora_alpha({"lora_r": 4}) == 12
    out = check_config({**DEFAULT_SPACE.default_config(100, 0), "lora_r": 4, "lora_alpha": 0}, max_train=100)
    assert out[0]["lora_alpha"] == 12


def test_worker_side_recipe_steps_have_one_list_and_a_job_field_each():
    from tools.trials.trial_jobs import worker_recipe
    from trex.recipe import WORKER_STEPS, recipe_hash

    assert set(WORKER_STEPS) <= {f.name for f in fields(TrainJob)}

    class Spec:
        recipe = {"loss_filter": 0.2, "curriculum": "none", "dedup": "exact"}

    assert worker_recipe(Spec(), {}) == {"loss_filter": 0.2}
    # Worker-side steps do not change the prepared file's hash (trial keys carry them instead).
    assert recipe_hash({"loss_filter": 0.2, "curriculum": "easy_first"}, "d") == recipe_hash({}, "d")


@pytest.mark.parametrize("value,expected", [
    (None, EarlyStopping(0)), ("off", EarlyStopping(0)), (0, EarlyStopping(0)), (False, EarlyStopping(0)),
    ({"patience": 2}, EarlyStopping(2, 0.0)), ({"patience": 1, "min_delta": 0.01}, EarlyStopping(1, 0.01)),
    (3, EarlyStopping(3))])
def test_early_stopping_settings_parse(value, expected):
    assert EarlyStopping.parse(value) == expected


@pytest.mark.parametrize("value", [{"patience": -1}, {"patience": 1, "delta": 0}, "soon", {"min_delta": -0.1}])
def test_bad_early_stopping_settings_are_refused(value):
    with pytest.raises(ValueError, match="early_stopping"):
        EarlyStopping.parse(value)
