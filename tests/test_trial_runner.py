"""A trial that raises, hangs or produces NaN becomes a failed trial: data, never an exception."""
import pytest

from tools.trial_runner import run_job


def test_worker_exception_is_a_failed_trial(tmp_path):
    out = run_job({"behaviour": "raise"}, tmp_path / "j", timeout_s=60, module="tests.fake_worker")
    assert out["status"] == "failed" and "boom in the worker" in out["error"]
    assert "Traceback" in out["log_tail"]


def test_timeout_is_a_failed_trial(tmp_path):
    out = run_job({"behaviour": "hang"}, tmp_path / "j", timeout_s=1.5, module="tests.fake_worker")
    assert out == {"status": "failed", "error": "timed out after 1.5 s", "log_tail": out["log_tail"]}


def test_missing_result_is_a_failed_trial(tmp_path):
    out = run_job({"behaviour": "silent"}, tmp_path / "j", timeout_s=60, module="tests.fake_worker")
    assert out["status"] == "failed" and out["error"] == "worker wrote no result"


def test_ok_result_comes_back(tmp_path):
    assert run_job({"behaviour": "ok"}, tmp_path / "j", 60, module="tests.fake_worker") == {"status": "ok", "score": 0.5}


def test_nan_loss_stops_training(tmp_path, tiny_task, cache_dir):
    """The real training loop refuses to go on once the loss is not finite."""
    from graph.spec import parse_spec
    from tools.datasets import prepare_splits
    from tools.lora_training import DivergedError, train
    from tools.trial_jobs import task_payload

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    job = {"base_model": spec.base_model, "cache_dir": str(cache_dir), "device": "cpu",
           "task": task_payload(spec, data["labels"]),
           "config": {"lr": 1e30, "epochs": 3, "lora_r": 4, "lora_alpha": 8, "batch_size": 4, "max_samples": 16,
                      "layer_fraction": 1.0, "template": "chat", "seed": 0},
           "train_path": data["paths"]["train"], "val_path": data["paths"]["val"]}
    with pytest.raises(DivergedError, match="loss became"):
        train(job, tmp_path / "out")
