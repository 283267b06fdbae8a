"""Kept workers (tools/trials/kept_workers.py, tools/worker/kept_worker.py): one process runs job after job and
keeps the base model loaded, without changing a result, and a job that hangs or kills its process costs that
job only."""
import json
import os
import time
from pathlib import Path

import pytest

from tools.trials import kept_workers
from tools.trials.trial_runner import run_job


@pytest.fixture(autouse=True)
def no_workers_left():
    kept_workers.close_all()
    yield
    kept_workers.close_all()


def _sleepy(tmp_path: Path, name: str, env: dict | None = None, **fake) -> tuple[dict, int]:
    job_dir = tmp_path / name
    out = run_job({"config": {"fake": {"sleep": 0.1, **fake}}}, job_dir, 60, module="tests.sleepy_worker",
                  env=env, kept=True)
    return out, int((job_dir / "worker.pid").read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").is_file() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def test_one_kept_worker_runs_job_after_job(tmp_path):
    first, pid1 = _sleepy(tmp_path, "a")
    second, pid2 = _sleepy(tmp_path, "b")
    assert first["status"] == second["status"] == "ok"
    assert pid1 == pid2 != os.getpid()
    assert "fake trial done" in (tmp_path / "b" / "log.txt").read_text()  # each job's output in its own log
    assert "fake trial done" not in (tmp_path / "a" / "log.txt").read_text().split("fake trial done", 1)[1]


def test_a_failed_job_keeps_its_worker_and_a_killed_worker_is_replaced(tmp_path):
    _, pid1 = _sleepy(tmp_path, "a")
    failed, pid2 = _sleepy(tmp_path, "b", fail=True)  # sys.exit(3) in the job: the worker goes on
    assert failed["status"] == "failed" and "exited with code 3" in failed["error"] and pid2 == pid1
    killed = run_job({"behaviour": "oom_killed"}, tmp_path / "c", 60, module="tests.fake_worker", kept=True)
    assert killed["failure"] == "oom"
    again = run_job({"behaviour": "ok"}, tmp_path / "d", 60, module="tests.fake_worker", kept=True)
    assert again == {"status": "ok", "score": 0.5}


def test_a_timed_out_job_kills_its_worker_and_the_next_job_gets_a_new_one(tmp_path):
    _, pid1 = _sleepy(tmp_path, "a")
    out = run_job({"config": {"fake": {"sleep": 30}}}, tmp_path / "b", 1.5, module="tests.sleepy_worker", kept=True)
    assert out["failure"] == "timeout"
    assert not _alive(pid1)
    ok, pid2 = _sleepy(tmp_path, "c")
    assert ok["status"] == "ok" and pid2 != pid1


def test_another_environment_gets_another_worker(tmp_path):
    _, pid1 = _sleepy(tmp_path, "a", env={"TREX_TEST_FLAG": "1"})
    _, pid2 = _sleepy(tmp_path, "b", env={"TREX_TEST_FLAG": "2"})
    _, pid3 = _sleepy(tmp_path, "c", env={"TREX_TEST_FLAG": "1"})
    assert pid1 != pid2 and pid3 == pid1


def test_an_idle_worker_exits_and_the_next_job_still_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("TREX_KEPT_WORKER_IDLE_S", "0.5")
    _, pid1 = _sleepy(tmp_path, "a")
    deadline = time.monotonic() + 20
    while _alive(pid1) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid1)  # it holds no model for a run that ended long ago
    ok, pid2 = _sleepy(tmp_path, "b")
    assert ok["status"] == "ok" and pid2 != pid1


def test_a_kept_base_model_is_loaded_once_and_each_job_gets_its_own_copy(monkeypatch, cache_dir):
    import torch

    from tools.worker import model_loading

    loads = []
    real = model_loading._load_base
    monkeypatch.setattr(model_loading, "_load_base", lambda *a: loads.append(a) or real(*a))
    monkeypatch.setattr(model_loading, "_KEPT", {})
    monkeypatch.setenv("TREX_KEEP_MODEL", "1")
    job = {"base_model": "trex/tiny-random", "cache_dir": str(cache_dir), "device": "cpu"}
    first, tok1 = model_loading.load_model(job)
    with torch.no_grad():
        next(first.parameters()).add_(1.0)  # what training does to its copy
    second, tok2 = model_loading.load_model(job)
    assert len(loads) == 1 and first is not second and tok1 is not tok2
    assert not torch.equal(next(first.parameters()), next(second.parameters()))
    monkeypatch.delenv("TREX_KEEP_MODEL")
    model_loading.load_model(job)
    assert len(loads) == 2  # a fresh worker (no kept model) loads from disk every time


def test_a_kept_worker_trains_exactly_as_a_fresh_one(tmp_path, tiny_task, cache_dir):
    """Same job, fresh process vs the second job of a kept worker (its base model copied, not loaded): the
    same loss curve, validation score and adapter weights."""
    from safetensors.torch import load_file

    from tools.data.datasets import prepare_splits
    from tools.data.spec_loading import parse_spec
    from tools.trials.trial_jobs import task_payload

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    job = {"mode": "train", "base_model": spec.base_model, "cache_dir": str(cache_dir), "device": "cpu",
           "backend": "peft", "task": task_payload(spec, data["labels"]),
           "config": {"lr": 1e-3, "epochs": 1, "lora_r": 4, "lora_alpha": 8, "batch_size": 4, "max_samples": 16,
                      "layer_fraction": 1.0, "template": "chat", "seed": 0},
           "train_path": data["paths"]["train"], "val_path": data["paths"]["val"],
           "score": {"eval_path": data["paths"]["val"], "max_examples": None}}
    fresh = run_job(job, tmp_path / "fresh", 600)
    warm_up = run_job({**job, "config": {**job["config"], "lr": 5e-3}}, tmp_path / "k1", 600, kept=True)
    kept = run_job(job, tmp_path / "k2", 600, kept=True)
    assert fresh["status"] == warm_up["status"] == kept["status"] == "ok"
    assert kept["loss_curve"] == fresh["loss_curve"] and kept["val_loss"] == fresh["val_loss"]
    assert kept["val_eval"]["score"] == fresh["val_eval"]["score"]
    weights = [load_file(str(Path(out["adapter"]) / "adapter_model.safetensors")) for out in (fresh, kept)]
    assert weights[0].keys() == weights[1].keys()
    assert all((weights[0][k] == weights[1][k]).all() for k in weights[0])


def test_runs_use_kept_workers_unless_turned_off(monkeypatch, tmp_path):
    # On by default: a round of the default task took 0.89 x the time in kept workers, with the same results
    # and no slower training (README, "Parallel trials"); TREX_KEEP_WORKERS=0 gives a fresh process per job.
    from tools.trials import trial_pool
    from trex.context import Context

    def two_jobs(name: str) -> list[int]:  # the pids of the workers that ran two jobs of a run, as trials run
        job = trial_pool.with_executor({"config": {"fake": {"sleep": 0.1}}}, Context())
        outs = [trial_pool.run_job(job, tmp_path / name / str(i), 60, "tests.sleepy_worker") for i in (1, 2)]
        assert [out["status"] for out in outs] == ["ok", "ok"]
        return [int((tmp_path / name / str(i) / "worker.pid").read_text()) for i in (1, 2)]

    monkeypatch.delenv("TREX_KEEP_WORKERS", raising=False)
    kept = two_jobs("on")
    assert kept[0] == kept[1] != os.getpid() and _alive(kept[0])  # one worker ran both, and waits for the next
    monkeypatch.setenv("TREX_KEEP_WORKERS", "0")
    fresh = two_jobs("off")
    assert fresh[0] != fresh[1] and kept[0] not in fresh and not any(_alive(p) for p in fresh)  # one process each
    assert json.dumps(Context().keep_workers) == "false"
