"""A trial that raises, hangs or produces NaN becomes a failed trial: data, never an exception, in a fresh
worker process and in a kept one (tools/trials/kept_workers.py) alike."""
import pytest

from tools.trials.trial_runner import run_job


@pytest.mark.parametrize("kept", [False, True], ids=["fresh", "kept"])
def test_worker_exception_is_a_failed_trial(tmp_path, kept):
    out = run_job({"behaviour": "raise"}, tmp_path / "j", timeout_s=60, module="tests.fake_worker", kept=kept)
    assert out["status"] == "failed" and out["failure"] == "crash" and "boom in the worker" in out["error"]
    assert "Traceback" in out["log_tail"]


@pytest.mark.parametrize("kept", [False, True], ids=["fresh", "kept"])
def test_timeout_is_a_failed_trial(tmp_path, kept):
    out = run_job({"behaviour": "hang"}, tmp_path / "j", timeout_s=1.5, module="tests.fake_worker", kept=kept)
    assert out["status"] == "failed" and out["failure"] == "timeout" and out["error"] == "timed out after 1.5 s"


@pytest.mark.parametrize("kept", [False, True], ids=["fresh", "kept"])
def test_missing_result_is_a_failed_trial(tmp_path, kept):
    out = run_job({"behaviour": "silent"}, tmp_path / "j", timeout_s=60, module="tests.fake_worker", kept=kept)
    assert out["status"] == "failed" and out["error"] == "worker wrote no result"


def test_an_unreadable_result_is_a_failed_trial(tmp_path):
    out = run_job({"behaviour": "garbled"}, tmp_path / "j", timeout_s=60, module="tests.fake_worker")
    assert out["status"] == "failed" and out["failure"] == "no_result" and "unreadable result" in out["error"]


@pytest.mark.parametrize("kept", [False, True], ids=["fresh", "kept"])
def test_ok_result_comes_back(tmp_path, kept):
    assert run_job({"behaviour": "ok"}, tmp_path / "j", 60, module="tests.fake_worker", kept=kept) == {"status": "ok", "score": 0.5}


def test_nan_loss_stops_training(tmp_path, tiny_task, cache_dir):
    """The real training loop refuses to go on once the loss is not finite."""
    from tools.data.spec_loading import parse_spec
    from tools.data.datasets import prepare_splits
    from tools.worker.lora_training import DivergedError, train
    from tools.trials.trial_jobs import task_payload

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    job = {"base_model": spec.base_model, "cache_dir": str(cache_dir), "device": "cpu",
           "task": task_payload(spec, data["labels"]),
           "config": {"lr": 1e30, "epochs": 3, "lora_r": 4, "lora_alpha": 8, "batch_size": 4, "max_samples": 16,
                      "layer_fraction": 1.0, "template": "chat", "seed": 0},
           "train_path": data["paths"]["train"], "val_path": data["paths"]["val"]}
    with pytest.raises(DivergedError, match="loss became"):
        train(job, tmp_path / "out")


@pytest.mark.parametrize("kept", [False, True], ids=["fresh", "kept"])
def test_worker_killed_by_the_oom_killer_is_an_oom_failure(tmp_path, kept):
    out = run_job({"behaviour": "oom_killed"}, tmp_path / "j", 60, module="tests.fake_worker", kept=kept)
    assert out["status"] == "failed" and out["failure"] == "oom" and "SIGKILL" in out["error"]


def test_out_of_memory_inside_the_worker_is_a_typed_failure(tmp_path, monkeypatch):
    """MemoryError (or torch's allocator failing) is a failed trial with a reason, not a crash."""
    import json

    import tools.worker.train_worker as worker

    def hog(job, out_dir):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(worker, "run", hog)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"mode": "train", "out_dir": str(tmp_path / "out")}))
    assert worker.main(str(job)) == 0
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["status"] == "failed" and result["failure"] == "oom" and "can't allocate" in result["error"]


def test_a_bug_in_the_worker_still_crashes_loudly(tmp_path, monkeypatch):
    import json

    import tools.worker.train_worker as worker

    monkeypatch.setattr(worker, "run", lambda job, out: 1 / 0)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"mode": "train", "out_dir": str(tmp_path / "out")}))
    with pytest.raises(ZeroDivisionError):
        worker.main(str(job))
