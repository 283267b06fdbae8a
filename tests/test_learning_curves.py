"""Every trial is a learning curve (tools/worker/lora_training.py + learning_curve.py + checkpoints.py): scored on
validation after every epoch in the training process, the best epoch's adapter kept, early stopping with a
patience, and a killed trial resumed from its last complete epoch with the result of an uninterrupted one."""
from pathlib import Path

import pytest

from trex.jobs import EarlyStopping, ScoreJob, ScoreSplit, TrainJob

CFG = {"lr": 5e-3, "epochs": 3, "lora_r": 4, "lora_alpha": 8, "batch_size": 4, "max_samples": 8,
       "layer_fraction": 1.0, "template": "plain", "seed": 0}


@pytest.fixture
def job(tiny_task, tmp_path, cache_dir) -> TrainJob:
    from tools.data.datasets import prepare_splits
    from tools.data.spec_loading import parse_spec
    from tools.trials.trial_jobs import task_payload

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    return TrainJob(base_model=spec.base_model, cache_dir=str(cache_dir), device="cpu", backend="peft",
                    task=task_payload(spec, data["labels"]), config=CFG, train_path=data["paths"]["train"],
                    val_path=data["paths"]["val"], score=ScoreSplit(data["paths"]["val"], 6))


def _train(job: TrainJob, out: Path) -> dict:
    from tools.worker.lora_training import train
    from tools.worker.model_loading import seed_everything

    seed_everything(0)  # as the worker process does before every job (tools/worker/train_worker.py)
    return train(job, out)


def _scripted(monkeypatch, scores: list[float]) -> list[dict]:
    """Validation scores in this order, one per scored point; records the weights each point was scored with."""
    from tools.worker import learning_curve

    seen: list[dict] = []

    def score_point(model, tokenizer, job, val_loss):
        seen.append(learning_curve.trainable_state(model))
        return {"status": "ok", "score": scores[len(seen) - 1], "n": 12, "bad_cases": [], "n_wrong": 0}

    monkeypatch.setattr(learning_curve, "score_point", score_point)
    return seen


def _adapter_weights(result: dict) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(result["adapter"]) / "adapter_model.safetensors"))


def _same_weights(saved: dict, state: dict) -> bool:
    """The saved adapter's tensors against trainable_state's (PEFT drops the adapter name when saving)."""
    by_name = {k.replace(".default", ""): v for k, v in state.items()}
    return saved.keys() == by_name.keys() and all((saved[k] == by_name[k]).all() for k in saved)


def test_the_kept_adapter_is_the_best_epochs_and_scoring_it_gives_its_score(job, tmp_path):
    from tools.worker.scoring import evaluate

    result = _train(job, tmp_path / "out")
    curve = result["curve"]
    assert [p["epoch"] for p in curve] == [1, 2, 3] and all(p["val_score"] is not None for p in curve)
    assert curve[-1]["tokens"] == result["tokens"] and curve[0]["tokens"] * 3 == result["tokens"]
    best = max(curve, key=lambda p: p["val_score"])  # the first of equal scores: later ones do not beat it
    assert result["best_epoch"] == best["epoch"] and result["val_eval"]["score"] == best["val_score"]
    again = evaluate(ScoreJob(job.task, job.config, job.score.eval_path, 6, adapter=result["adapter"],
                              base_model=job.base_model, cache_dir=job.cache_dir, device="cpu"))
    assert again["score"] == pytest.approx(best["val_score"])
    assert not (tmp_path / "out" / "checkpoints").exists()  # pruned to the kept adapter


def test_the_best_epoch_not_the_last_is_kept(job, tmp_path, monkeypatch):
    seen = _scripted(monkeypatch, [0.5, 0.8, 0.6])
    result = _train(job, tmp_path / "out")
    assert result["best_epoch"] == 2 and result["val_eval"]["score"] == 0.8 and result["epochs_trained"] == 3
    assert _same_weights(_adapter_weights(result), seen[1]) and not _same_weights(_adapter_weights(result), seen[2])


def test_early_stopping_stops_after_patience_epochs_without_improvement(job, tmp_path, monkeypatch):
    from dataclasses import replace

    five = replace(job, config={**CFG, "epochs": 5}, early_stopping=EarlyStopping(2, 0.0))
    _scripted(monkeypatch, [0.5, 0.6, 0.6, 0.55, 0.9])
    stopped = _train(five, tmp_path / "stopped")
    assert stopped["epochs_trained"] == 4 and stopped["stopped"]["epoch"] == 4 and len(stopped["curve"]) == 4
    assert "did not improve" in stopped["stopped"]["reason"] and "for 2 epochs" in stopped["stopped"]["reason"]
    assert stopped["best_epoch"] == 2 and stopped["tokens"] == stopped["curve"][-1]["tokens"]

    _scripted(monkeypatch, [0.5, 0.6, 0.6, 0.55, 0.9])
    full = _train(replace(five, early_stopping=EarlyStopping(0)), tmp_path / "full")  # off: every epoch
    assert full["epochs_trained"] == 5 and "stopped" not in full and full["best_epoch"] == 5
    assert full["tokens"] == stopped["tokens"] * 5 // 4

    _scripted(monkeypatch, [0.5, 0.6, 0.605, 0.61, 0.9])  # gains under min_delta count as none
    small = _train(replace(five, early_stopping=EarlyStopping(2, 0.01)), tmp_path / "delta")
    assert small["stopped"]["epoch"] == 4 and small["best_epoch"] == 4  # the best point is still kept


class Killed(Exception):
    """Stands in for SIGKILL in the middle of an epoch (the process dies; its checkpoints stay)."""


def _kill_at_step(monkeypatch, n: int) -> None:
    from tools.worker import lora_training

    real, calls = lora_training.answer_loss, []

    def answer_loss(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise Killed(f"killed at step {n}")
        return real(*args, **kwargs)

    monkeypatch.setattr(lora_training, "answer_loss", answer_loss)


def _same_result(a: dict, b: dict) -> None:
    for key in ("loss_curve", "val_loss", "curve", "best_epoch", "tokens", "steps"):
        assert a[key] == b[key], key
    assert a["val_eval"]["score"] == b["val_eval"]["score"]
    wa, wb = _adapter_weights(a), _adapter_weights(b)
    assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)  # bitwise equal on the CPU


def test_a_trial_killed_in_epoch_3_resumes_from_its_epoch_2_checkpoint(job, tmp_path, monkeypatch, capsys):
    whole = _train(job, tmp_path / "whole")
    steps_per_epoch = whole["steps"] // 3
    out = tmp_path / "killed"
    with monkeypatch.context() as m:
        _kill_at_step(m, 2 * steps_per_epoch + 1)  # the first step of epoch 3
        with pytest.raises(Killed):
            _train(job, out)
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["epoch-0002"]  # only the newest is kept
    capsys.readouterr()
    resumed = _train(job, out)
    assert "resuming from the end of epoch 2" in capsys.readouterr().out
    assert resumed["resumed_from_epoch"] == 2
    _same_result(resumed, whole)
    assert not (out / "checkpoints").exists()


def test_a_trial_paused_after_epoch_1_and_continued_ends_as_an_uninterrupted_trial(job, tmp_path, capsys):
    """Successive halving's pause (TrainJob.pause_after): the trial stops after epoch 1 with its checkpoint kept and
    its best point so far saved beside it; the same job without the pause continues from that checkpoint, trains
    only epochs 2-3, and ends bitwise equal to a trial trained in one go."""
    from dataclasses import replace

    whole = _train(job, tmp_path / "whole")
    out = tmp_path / "paused"
    paused = _train(replace(job, pause_after=1), out)
    assert paused["paused_at"] == 1 and paused["epochs_trained"] == 1 and "stopped" not in paused
    assert paused["tokens"] == whole["curve"][0]["tokens"] and paused["curve"] == whole["curve"][:1]
    assert Path(paused["adapter"]) == out / "paused-epoch-0001" / "adapter" and Path(paused["adapter"]).is_dir()
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["epoch-0001"]
    capsys.readouterr()
    continued = _train(job, out)
    assert "resuming from the end of epoch 1" in capsys.readouterr().out
    assert "paused_at" not in continued and continued["resumed_from_epoch"] == 1
    _same_result(continued, whole)
    assert not (out / "checkpoints").exists()


@pytest.mark.parametrize("damage", ["corrupt", "half_written", "other_job"])
def test_a_corrupt_or_half_written_checkpoint_is_ignored_with_a_warning(job, tmp_path, monkeypatch, capsys, damage):
    from dataclasses import replace

    out = tmp_path / "killed"
    with monkeypatch.context() as m:
        _kill_at_step(m, 5)  # in epoch 3 (2 steps an epoch)
        with pytest.raises(Killed):
            _train(job, out)
    ck = out / "checkpoints" / "epoch-0002"
    if damage == "corrupt":
        weights = ck / "weights.safetensors"
        weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
        expect = "weights.safetensors is missing or does not match its checksum"
    elif damage == "half_written":  # killed while writing: the manifest, written last, is not there
        (ck / "manifest.json").unlink()
        ck.rename(out / "checkpoints" / ".tmp-epoch-0002-1")
        expect = "half-written"
    else:
        job = replace(job, config={**CFG, "lr": 1e-3})
        expect = "another job"
    capsys.readouterr()
    result = _train(job, out)
    captured = capsys.readouterr()
    assert expect in captured.err and "resuming" not in captured.out and "resumed_from_epoch" not in result
    _same_result(result, _train(job, tmp_path / "whole"))  # trained from step 0, as if never killed


def test_eval_steps_adds_points_inside_an_epoch_and_a_mid_epoch_best_is_kept(job, tmp_path, monkeypatch):
    from dataclasses import replace

    seen = _scripted(monkeypatch, [0.5, 0.9, 0.6, 0.7])  # step 1 (mid-epoch 1), 2 (end of 1), 3, 4
    result = _train(replace(job, config={**CFG, "epochs": 2}, eval_steps=1), tmp_path / "out")
    assert [(p["epoch"], p["step"]) for p in result["curve"]] == [(1, 1), (1, 2), (2, 3), (2, 4)]
    assert (result["best_epoch"], result["best_step"]) == (1, 2) and _same_weights(_adapter_weights(result), seen[1])


def test_the_trial_key_holds_early_stopping_where_it_changes_the_adapter(tiny_task, tmp_path):
    from tools.data.datasets import prepare_splits
    from tools.data.spec_loading import parse_spec
    from tools.trials.trial_jobs import early_stopping, run_key, train_key
    from trex.context import Context

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    ctx = {s: Context(cache_dir=str(tmp_path), device="cpu", early_stopping=s) for s in ("", "off", "2")}
    one, three = {**CFG, "epochs": 1}, CFG
    # One epoch scored at its end: the adapter is the last step's whatever the patience; the key is as it was.
    assert run_key(spec, data, one, ctx["off"]) == run_key(spec, data, one, ctx["2"]) == train_key(spec, data, one,
                                                                                                    device="cpu")
    assert len({run_key(spec, data, three, c) for c in ctx.values()}) == 3
    assert run_key(spec, data, three, ctx[""]) != train_key(spec, data, three, device="cpu")  # kept: the best epoch
    # Precedence: the context's setting, else the spec's, else patience 1.
    assert early_stopping(spec, ctx[""]) == EarlyStopping(1, 0.0) and early_stopping(spec, ctx["2"]).patience == 2
    patient = parse_spec({**tiny_task, "early_stopping": {"patience": 3, "min_delta": 0.01}})
    assert early_stopping(patient, ctx[""]) == EarlyStopping(3, 0.01) and early_stopping(patient, ctx["off"]).patience == 0
    assert parse_spec({**tiny_task, "early_stopping": "off"}).early_stopping == {"patience": 0, "min_delta": 0.0}


def test_a_bad_early_stopping_setting_is_one_clear_error(tiny_task):
    from tools.data.spec_loading import parse_spec
    from trex.context import Context

    with pytest.raises(ValueError, match="early_stopping"):
        Context(early_stopping="soon")
    with pytest.raises(Exception, match="early_stopping"):
        parse_spec({**tiny_task, "early_stopping": {"patience": -1}})


def test_the_curve_reaches_the_trial_record_and_the_report_table():
    from tools.reports.report_data import curve_text, trial_rows
    from trex.results import TrainResult

    train = {"status": "ok", "adapter": "/a", "key": "k", "tokens": 300, "best_epoch": 2, "best_step": 8,
             "epochs_trained": 3, "curve": [{"epoch": e, "step": 4 * e, "val_score": s, "val_loss": 1.0,
                                             "train_loss": 1.0, "tokens": 100 * e} for e, s in ((1, 0.5), (2, 0.8),
                                                                                                   (3, 0.7))],
             "stopped": {"epoch": 3, "reason": "early stopping: ..."}}
    record = TrainResult.from_job(train).record("t0")
    assert record["train"]["curve"] == train["curve"] and record["train"]["stopped"]["epoch"] == 3
    assert curve_text(record["train"]) == "curve 0.500 0.800 0.700; kept epoch 2, stopped after epoch 3"
    tree = {"n1": {"id": "n1", "round": 1, "trials": [{"id": "t0", "epochs": 3}],
                   "results": {"t0": {**record, "score": 0.8}}}}
    assert trial_rows(tree)[0]["curve"].startswith("curve 0.500 0.800 0.700")
