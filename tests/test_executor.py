"""The Executor's trial machinery on a tiny real model: cache reuse, warm start, backends, full fine-tuning."""
import json

import pytest

import tools.trials.trial_jobs as trial_jobs
from tools.data.spec_loading import parse_spec
from tools.worker.backends import BackendUnavailable, choose_backend
from tools.data.datasets import prepare_splits

BASE_CFG = {"id": "t0", "lr": 2e-3, "epochs": 1, "lora_r": 4, "lora_alpha": 8, "batch_size": 4, "max_samples": 16,
            "layer_fraction": 1.0, "template": "plain", "seed": 0}


@pytest.fixture
def prepared(tiny_task, tmp_path):
    spec = parse_spec(tiny_task)
    return spec, prepare_splits(spec, tmp_path / "data")


def test_an_identical_trial_comes_from_the_cache_without_a_training_process(prepared, context):
    spec, data = prepared
    first = trial_jobs.run_training(spec, data, BASE_CFG, context)
    assert first["status"] == "ok" and first["cached"] is False

    def no_process(*args, **kwargs):  # the job launcher: a cached trial must never reach it
        raise AssertionError("a training process was started for a cached trial")

    second = trial_jobs.run_training(spec, data, {**BASE_CFG, "id": "t7"}, context,  # the id is not part of it
                                     launch=no_process)
    assert second["cached"] is True and second["adapter"] == first["adapter"]
    # The training job scored validation too: the evaluate step's lookup is a cache hit as well.
    val = trial_jobs.run_scoring(spec, data, BASE_CFG, first["adapter"], first["key"], "val", context,
                                 context_dir(context), context.max_eval_examples, launch=no_process)
    assert val["cached"] is True and 0.0 <= val["score"] <= 1.0
    # Any change to what determines the result is a different trial.
    assert trial_jobs.train_key(spec, data, {**BASE_CFG, "seed": 1}) != first["key"]
    assert trial_jobs.train_key(spec, data, BASE_CFG, init_key="parent") != first["key"]


def test_the_trial_key_names_where_the_trial_runs(prepared, monkeypatch):
    """A PEFT adapter from a CPU and an Unsloth (or CUDA) one are different results; keys made on a CPU with
    PEFT before the runtime was part of the key keep their value (the shipped caches and tables stay valid)."""
    from memory.trial_cache import cache_key
    from tools.trials import trial_runtime
    from trex.trial_config import key_view

    spec, data = prepared
    hyper = {k: v for k, v in key_view({k: v for k, v in BASE_CFG.items() if k != "id"}).items() if k != "recipe"}
    before = cache_key("train", {"base_model": spec.base_model, "task": trial_jobs.task_payload(spec, data["labels"]),
                                 "train": trial_jobs.file_digest(data["paths"]["train"]),
                                 "val": trial_jobs.file_digest(data["paths"]["val"]), "config": hyper, "init": None})
    cpu = trial_jobs.train_key(spec, data, BASE_CFG, device="cpu", backend="auto")
    assert cpu == before == trial_jobs.train_key(spec, data, BASE_CFG, device="cpu", backend="peft")
    monkeypatch.setattr(trial_runtime.importlib.util, "find_spec", lambda name: object())  # unsloth "installed"
    keys = {trial_jobs.train_key(spec, data, BASE_CFG, device="cuda", backend=b) for b in ("peft", "unsloth")}
    qlora = trial_jobs.train_key(spec, data, {**BASE_CFG, "method": "qlora"}, device="cuda", backend="peft")
    assert len(keys | {cpu, qlora}) == 4
    assert trial_runtime.trial_runtime("cuda", "auto") == {"backend": "unsloth", "device": "cuda", "dtype": "bfloat16"}
    monkeypatch.setattr(trial_runtime, "cuda_present", lambda: False)  # device auto on a machine without CUDA
    assert trial_jobs.train_key(spec, data, BASE_CFG, device="auto", backend="auto") == cpu
    gpu_eval = trial_jobs.eval_key(spec, data, BASE_CFG, "k", "val", None, device="cuda")
    assert gpu_eval != trial_jobs.eval_key(spec, data, BASE_CFG, "k", "val", None, device="cpu")


def context_dir(context):
    from pathlib import Path

    return Path(context.runs_dir) / "eval"


def adapter_tensors(path):
    from safetensors.torch import load_file

    return load_file(f"{path}/adapter_model.safetensors")


def test_warm_start_begins_from_the_parent_adapter(prepared, context):
    spec, data = prepared
    parent = trial_jobs.run_training(spec, data, BASE_CFG, context)
    # lr 0: the child cannot move, so whatever it saves is exactly what it started from.
    child_cfg = {**BASE_CFG, "lr": 0.0, "warm_start": True}
    child = trial_jobs.run_training(spec, data, child_cfg, context, init=(parent["adapter"], parent["key"]))
    assert child["status"] == "ok" and child["warm_start_from"] == parent["adapter"]
    assert child["val_loss"][0] == pytest.approx(parent["val_loss"][-1], rel=1e-4)
    want, got = adapter_tensors(parent["adapter"]), adapter_tensors(child["adapter"])
    assert want.keys() == got.keys() and all((want[k] == got[k]).all() for k in want)
    # A cold start with the same config begins elsewhere (LoRA's B matrices start at zero).
    cold = trial_jobs.run_training(spec, data, {**BASE_CFG, "lr": 0.0}, context)
    assert cold["val_loss"][0] != pytest.approx(parent["val_loss"][-1], rel=1e-4)


def test_full_fine_tuning_trains_and_scores_on_the_cpu(prepared, context):
    spec, data = prepared
    out = trial_jobs.run_training(spec, data, {**BASE_CFG, "method": "full", "lr": 1e-4}, context)
    assert out["status"] == "ok" and out["method"] == "full" and out["backend"] == "peft"
    assert out["adapter"].endswith("model") and json.load(open(f"{out['adapter']}/config.json"))
    test = trial_jobs.run_scoring(spec, data, BASE_CFG, out["adapter"], out["key"], "test", context,
                                  context_dir(context), None)
    assert test["status"] == "ok" and test["n"] == data["sizes"]["test"]


def test_qlora_on_the_cpu_is_a_failed_trial_with_the_reason(prepared, context):
    spec, data = prepared
    out = trial_jobs.run_training(spec, data, {**BASE_CFG, "method": "qlora"}, context)
    assert out["status"] == "failed" and out["failure"] == "unavailable" and "CUDA GPU" in out["error"]


def test_unsloth_is_chosen_only_with_a_gpu_and_unsloth():
    assert choose_backend("auto") == "peft"  # this machine: no CUDA GPU
    assert choose_backend("auto", has_cuda=False, has_unsloth=True) == "peft"
    assert choose_backend("auto", has_cuda=True, has_unsloth=False) == "peft"
    assert choose_backend("auto", has_cuda=True, has_unsloth=True) == "unsloth"
    assert choose_backend("auto", "full", has_cuda=True, has_unsloth=True) == "peft"
    with pytest.raises(BackendUnavailable, match="needs a CUDA GPU"):
        choose_backend("unsloth", has_cuda=False, has_unsloth=True)
    with pytest.raises(BackendUnavailable, match="not installed"):
        choose_backend("unsloth", has_cuda=True, has_unsloth=False)


@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs a CUDA GPU")
def test_unsloth_trains_on_a_gpu(prepared, context):  # pragma: no cover - GPU machines only
    pytest.importorskip("unsloth")
    spec, data = prepared
    context.backend, context.device = "unsloth", "cuda"
    out = trial_jobs.run_training(spec, data, BASE_CFG, context)
    assert out["status"] == "ok" and out["backend"] == "unsloth" and out["gpu_hours"] > 0


def test_classification_can_be_scored_by_generation(prepared, context, tiny_task):
    spec = parse_spec({**tiny_task, "scoring": "generate", "max_new_tokens": 4})
    _, data = prepared
    out = trial_jobs.run_scoring(spec, data, BASE_CFG, None, "base", "val", context, context_dir(context), 6)
    assert out["status"] == "ok" and out["n"] == 6
    # A random tiny model generates free text, not label strings: generation scoring shows it.
    assert all(b["prediction"] not in spec.labels for b in out["bad_cases"])


def test_a_trial_trains_on_what_its_data_recipe_makes(prepared, context):
    spec, data = prepared
    cfg = {**BASE_CFG, "recipe": {"balance": "downsample", "per_class_cap": 2}}
    out = trial_jobs.run_training(spec, data, cfg, context)
    assert out["status"] == "ok"
    assert out["recipe_stats"]["train_out"] == 6 and out["train_examples"] == 6  # 3 labels x 2
    assert out["recipe_stats"]["balance"]["classes"] == {"balance": 2, "card_lost": 2, "loan": 2}


def test_recipes_that_yield_the_same_data_are_one_trial(prepared, context):
    spec, data = prepared
    first = trial_jobs.run_training(spec, data, BASE_CFG, context)
    # The split has no duplicates already: exact dedup changes nothing, so nothing new to train.
    same = trial_jobs.run_training(spec, data, {**BASE_CFG, "recipe": {"dedup": "exact"}}, context,
                                   launch=lambda *a, **k: pytest.fail("trained the same data twice"))
    assert same["cached"] is True and same["key"] == first["key"]


def test_a_recipe_that_cannot_run_is_a_failed_trial(prepared, context):
    spec, data = prepared
    bad = trial_jobs.run_training(spec, data, {**BASE_CFG, "recipe": {"filters": {"min_input_chars": 10_000}}},
                                  context)
    assert bad["status"] == "failed" and bad["failure"] == "data" and "no training examples" in bad["error"]
    missing = trial_jobs.run_training(
        spec, data, {**BASE_CFG, "recipe": {"extra_sources": [{"path": "/nonexistent.jsonl", "input_field": "text",
                                                                 "output_field": "intent"}]}}, context)
    assert missing["status"] == "failed" and missing["failure"] == "data"


@pytest.mark.parametrize("backend", ["peft", "unsloth"])
def test_validation_is_never_scored_inside_an_unsloth_process(prepared, context, tmp_path, monkeypatch, backend):
    """Unsloth patches the model classes process-wide; the training job then leaves validation to a plain
    scoring process. The Unsloth seam is faked (a PEFT model reported as "unsloth"): only CUDA is missing here."""
    import tools.worker.backends as backends
    from tools.worker.lora_training import train

    spec, data = prepared
    real = backends.load_trainable
    monkeypatch.setattr(backends, "load_trainable", lambda job, cfg: (*real(job, cfg)[:2], backend))
    job = {"mode": "train", "base_model": spec.base_model, "cache_dir": context.cache_dir, "device": "cpu",
           "task": trial_jobs.task_payload(spec, data["labels"]), "config": {**BASE_CFG, "max_samples": 8},
           "train_path": data["paths"]["train"], "val_path": data["paths"]["val"],
           "score": {"eval_path": data["paths"]["val"], "max_examples": 4}, "backend": "auto"}
    result = train(job, tmp_path / "out")
    assert result["backend"] == backend and result["status"] == "ok"
    assert ("val_eval" in result) == (backend == "peft")
