"""FT-Bench runner: every policy at an equal trial budget, replay tables, Optuna TPE, normalised gains."""
import contextlib
import csv
import json
import math
import os
import shutil
from pathlib import Path

import pytest
import yaml

from ftbench import replay, replay_runner
from ftbench.baselines import DOCUMENTED_RECIPES, random_search, tpe_search
from ftbench.pruned_search import PRUNED
from ftbench.results import normalised_gain
from ftbench.runner import ALL_POLICIES, run_comparison
from ftbench.space import all_configs, grid, max_train_for, space_size
from tools.data.spec_loading import load_spec
from tools.data.datasets import prepare_splits


@pytest.fixture
def bench_ctx(tmp_path):
    """A run context with an empty cache: enough for replayed runs and for the baselines' own logic."""
    from trex.context import Context

    return Context(runs_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "cache"), trial_timeout_s=300,
                   max_eval_examples=12, device="cpu")


@pytest.fixture
def task_file(tiny_task, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_task))
    return path


def synthetic_score(cfg: dict) -> float:
    """A landscape with one best corner: higher lr, more epochs and more samples are better."""
    return round(0.2 + 0.1 * (math.log10(cfg["lr"]) + 4) + 0.05 * cfg["epochs"] + 0.001 * cfg["max_samples"], 4)


def hand_made_table(task_file, tmp_path, context) -> str:
    """A replay table holding every config of the "bench" space (and the base model), built by hand."""
    spec = load_spec(task_file)
    data = prepare_splits(spec, tmp_path / "hand" / "data")
    tkey = replay.task_key(spec, data)
    max_train = max_train_for("bench", min(spec.budget.max_train_samples, data["sizes"]["train"]))
    rows = [{"key": replay.trial_key(tkey, {"epochs": 0, "template": "chat"}, None), "task": spec.name, "config": {"epochs": 0},
             "scores": {"val": {"score": 0.1, "max_examples": context.max_eval_examples},
                        "test": {"score": 0.05, "max_examples": None}}, "train": {}}]
    for cfg in all_configs("bench", max_train, seed=0):
        s = synthetic_score(cfg)
        rows.append({"key": replay.trial_key(tkey, cfg, None), "task": spec.name, "config": replay.config_key(cfg),
                     "train": {"val_loss": [1.0, 0.5], "loss_curve": [[1, 1.0]], "train_s": 1.0},
                     "scores": {"val": {"score": s, "max_examples": context.max_eval_examples},
                                "test": {"score": s - 0.05, "max_examples": None}}})
    path = tmp_path / "table.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def no_insight_store(monkeypatch):
    """The insight store (Chroma + embeddings) is not under test here and costs seconds per run: runs go on
    without it, as they do when it is down."""
    import nodes.distill_insights
    import nodes.research

    def down(*args, **kwargs):
        raise RuntimeError("no insight store in this test")
    for module in (nodes.research, nodes.distill_insights):
        monkeypatch.setattr(module, "open_context_store", down, raising=False)


def _job_files(root: Path) -> dict[str, int]:
    return {str(Path(d) / "job.json"): (Path(d) / "job.json").stat().st_mtime_ns
            for d, _, files in os.walk(root) if "job.json" in files}


@contextlib.contextmanager
def no_training(root: Path):
    """Replay mode starts no trial process: the body fails if it wrote a worker job anywhere under root (TREX's
    launcher, tools/trials/trial_runner.run_job, writes JOB_DIR/job.json before it starts a worker, on every
    executor and in a kept worker too). Nothing is swapped: the benchmark's own runner runs as it would."""
    before = _job_files(root)
    yield
    started = sorted(path for path, mtime in _job_files(root).items() if before.get(path) != mtime)
    assert not started, f"a trial process was started in replay mode: {started}"


def replay_shipped_data_table(tasks, policies, budget, space, tmp_path, bench_ctx, monkeypatch, **kwargs) -> dict:
    """The comparison replayed from benchmarks/ftbench_offline/data_table.jsonl, which has no holes, as the
    README's commands run it (no training, no insight store): {policy: record} of the first seed."""
    table = Path(__file__).resolve().parent.parent / "benchmarks/ftbench_offline/data_table.jsonl"
    assert replay.open_table(table).holes() == {}
    bench_ctx.max_eval_examples = 200  # as recorded (the default)
    no_insight_store(monkeypatch)
    with no_training(tmp_path):
        records = run_comparison(tasks, policies, [0], budget, tmp_path / "out", bench_ctx, space=space,
                                 log=lambda *_: None, runner=replay_runner.runner_for(str(table)), **kwargs)
    assert all(r["n_missing"] == 0 and r["n_replayed"] == budget for r in records)
    return {r["policy"]: r for r in records}


# The policies that search the space; Optuna's pruners need a curve table (tests/test_curve_replay.py).
SEARCHES = tuple(p for p in ALL_POLICIES if p not in DOCUMENTED_RECIPES and p not in PRUNED)


def test_replay_runs_every_policy_at_equal_budget_and_writes_results(task_file, tmp_path, bench_ctx, monkeypatch):
    runner = replay_runner.runner_for(hand_made_table(task_file, tmp_path, bench_ctx))
    no_insight_store(monkeypatch)
    out = tmp_path / "out"
    with no_training(tmp_path):
        records = run_comparison([str(task_file)], list(SEARCHES), [0, 1], 4, out, bench_ctx, space="bench",
                                 insights="shared", log=lambda *_: None, runner=runner, optuna=True)
    assert sorted(r["policy"] for r in records) == sorted(SEARCHES * 2)
    # Every run, TREX's and the baselines', is one Optuna study in OUT/optuna.db, its trials scored as in the record.
    import optuna

    storage = f"sqlite:///{out / 'optuna.db'}"
    studies = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    assert set(studies) == {Path(r["run_dir"]).name for r in records}
    for r in records:
        study = optuna.load_study(study_name=Path(r["run_dir"]).name, storage=storage)
        assert study.user_attrs["policy"] == r["policy"] and study.user_attrs["best_test"] == r["best_test"]
        assert [t.value for t in study.trials] == r["scores"]
    assert not list((out / "runs").glob("*/optuna.db"))  # the TREX runs wrote theirs here only
    for r in records:
        assert r["n_trials"] == 4 and len(r["trace"]) == 4 and r["n_missing"] == 0 and r["n_replayed"] == 4
        assert r["trace"] == sorted(r["trace"])  # best so far never drops
        assert r["best_test"] == pytest.approx(r["best_val"] - 0.05) and r["base_test"] == 0.05
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {(row["task"], row["policy"]) for row in rows} >= {("tiny_intents", p) for p in SEARCHES}
    assert all(float(row["n_trials"]) == 8 for row in rows if row["task"] == "tiny_intents")  # 2 seeds x 4
    md = (out / "results.md").read_text()
    assert "| tiny_intents | tpe |" in md and "4 trials" in md
    assert "Scored by: tiny_intents: TREX built-in." in md and all(r["scored_by"] == "TREX built-in" for r in records)
    # P1 as an expectation: each policy's mean gain with a bootstrap interval, and TREX-UCT's ratio over it.
    summary = json.loads((out / "summary.json").read_text())["gain_test"]
    for policy, b in summary.items():
        assert b["ci"][0] <= b["mean"] <= b["ci"][1] and b["runs"] == 2
        assert policy == "uct_global" or b["ratio_ci"][0] <= b["ratio"] <= b["ratio_ci"][1]
    assert "TREX-UCT / policy [95 % CI]" in md
    png = out / "curve_tiny_intents.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_per_round_runs_the_same_budget_in_more_smaller_rounds(task_file, tmp_path, bench_ctx, monkeypatch):
    runner = replay_runner.runner_for(hand_made_table(task_file, tmp_path, bench_ctx))
    no_insight_store(monkeypatch)
    with no_training(tmp_path):
        [rec] = run_comparison([str(task_file)], ["uct_global"], [0], 3, tmp_path / "out", bench_ctx, space="bench",
                               log=lambda *_: None, runner=runner, per_round=1)
    tree = json.loads((Path(rec["run_dir"]) / "tree.json").read_text())
    trials_per_round = sorted((n["round"], len(n.get("trials", []))) for n in tree.values() if n["round"] > 0)
    assert trials_per_round == [(1, 1), (2, 1), (3, 1)] and rec["n_trials"] == 3
    assert "TREX: 1 trial(s) per round" in (tmp_path / "out" / "results.md").read_text()


def test_a_config_missing_from_the_table_fails_clearly(task_file, tmp_path, bench_ctx):
    table = tmp_path / "partial.jsonl"
    full = hand_made_table(task_file, tmp_path, bench_ctx)
    table.write_text("".join(line + "\n" for line in open(full).read().splitlines()[:3]))  # base + 2 configs
    with no_training(tmp_path):
        [rec] = run_comparison([str(task_file)], ["random"], [0], 4, tmp_path / "out", bench_ctx, space="bench",
                               log=lambda *_: None, runner=replay_runner.runner_for(str(table)))
    assert rec["n_trials"] == 4 and rec["n_missing"] >= 1 and rec["n_trained"] == 0
    failures = [json.loads(line) for line in open(tmp_path / "out" / "runs.jsonl")]
    assert failures[0]["n_missing"] == rec["n_missing"]


def test_the_runner_refuses_a_replay_table_with_a_missing_test_score(task_file, tmp_path, bench_ctx):
    rows = [json.loads(line) for line in open(hand_made_table(task_file, tmp_path, bench_ctx))]
    del rows[5]["scores"]["test"]  # one trained configuration was never scored on test
    table = tmp_path / "holey.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    refused = pytest.raises(ValueError, match=r"without a test score \(tiny_intents: 1\).*--with-test")
    with no_training(tmp_path), refused:
        run_comparison([str(task_file)], ["random"], [0], 4, tmp_path / "out", bench_ctx, space="bench",
                       log=lambda *_: None, runner=replay_runner.runner_for(str(table)))


def test_record_mode_fills_a_missing_test_score_by_training_again(task_file, tmp_path, context, monkeypatch):
    """A table recorded without test scores for the losers, its adapters gone: record mode trains a loser
    again (same training key) to score it on test, and the table then replays that score."""
    from dataclasses import replace

    no_insight_store(monkeypatch)
    table_path = str(tmp_path / "rec.jsonl")
    [rec] = run_comparison([str(task_file)], ["random"], [0], 2, tmp_path / "a", context, space="bench",
                           log=lambda *_: None, runner=replay_runner.runner_for(table_path, "record"))
    assert replay.ReplayTable(table_path).holes() == {}  # record mode scores every trained trial on test
    winner = {k: v for k, v in rec["best_config"].items() if k != "seed"}
    loser = next(c for c in rec["configs"] if c != winner)
    rows = [json.loads(line) for line in open(table_path)]  # an older table: the loser's test score was never taken
    rows = [r for r in rows if not (r.get("config") == replay.config_key(loser) and "test" in r["scores"])]
    Path(table_path).write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = replay.open_table(table_path, "record")
    assert table.holes() == {"tiny_intents": 1}
    spec = load_spec(task_file)
    data = prepare_splits(spec, tmp_path / "a" / "runs" / "tiny_intents-random-s0" / "data")
    shutil.rmtree(Path(context.cache_dir) / "adapters")  # no adapter of the first run is left
    fresh = replace(context, cache_dir=str(tmp_path / "empty-cache"))
    Path(fresh.cache_dir).mkdir()
    os.symlink(Path(context.cache_dir) / "models", Path(fresh.cache_dir) / "models")
    runner = replay_runner.ReplayRunner(table)
    cfg = {**loser, "id": "t1", "seed": 0}
    trained = runner.train(spec, data, cfg, fresh)
    assert trained.cached and trained.key.startswith(replay.PREFIX)  # replayed: no adapter on disk
    test = runner.score(spec, data, cfg, trained.adapter, trained.key, "test", fresh, tmp_path / "job", None)
    assert test.ok and table.holes() == {}
    with no_training(tmp_path):
        again = replay_runner.ReplayRunner(replay.open_table(table_path, "replay")).score(
            spec, data, cfg, trained.adapter, trained.key, "test", fresh, tmp_path / "job2", None)
    assert again.ok and again.score == test.score


def test_a_documented_recipe_is_one_run_on_all_the_tasks_data(task_file, tmp_path, bench_ctx):
    from tests.fake_runner import FakeRunner

    seen = []

    def train(spec, data, cfg, ctx, init):
        seen.append(cfg)
        return {"status": "ok", "key": f"k{len(seen)}", "adapter": "a", "tokens": 1000}

    def score(spec, data, cfg, adapter, key, split, ctx, job_dir, max_examples):
        return {"status": "ok", "score": 0.5 if adapter else 0.1}
    runner = FakeRunner(train, score)
    records = run_comparison([str(task_file)], list(DOCUMENTED_RECIPES), [0], 6, tmp_path / "out", bench_ctx,
                             space="bench", log=lambda *_: None, runner=runner)
    spec = load_spec(task_file)
    assert [r["n_trials"] for r in records] == [1, 1] and all(r["tokens_trained"] == 1000 for r in records)
    llamafactory, unsloth = seen
    assert (llamafactory["lr"], llamafactory["epochs"], llamafactory["lora_r"]) == (1e-4, 3, 8)
    assert (unsloth["lr"], unsloth["epochs"], unsloth["lora_r"], unsloth["lora_alpha"]) == (2e-4, 1, 16, 16)
    # All the training data the task allows, not the bench space's cap of 64 (the tiny task allows 16).
    assert all(c["max_samples"] == spec.budget.max_train_samples and c["layer_fraction"] == 1.0 for c in seen)


def fake_eval(monkeypatch):
    """Trials scored by the synthetic landscape, without training: the baselines' own logic is under test."""
    import ftbench.baselines as b

    def run_trial(spec, data, cfg, ctx, run_dir, runner):
        return {"config": cfg, "status": "ok", "score": synthetic_score(cfg), "cached": False, "key": "k"}
    monkeypatch.setattr(b, "run_trial", run_trial)


def test_tpe_is_optuna_ask_and_tell_seeded_and_reproducible(task_file, tmp_path, bench_ctx, monkeypatch):
    import optuna

    fake_eval(monkeypatch)
    spec = load_spec(task_file)
    runs = {}
    for seed in (0, 0, 1):
        bench_ctx.seed = seed
        trials, study = tpe_search(spec, {}, bench_ctx, 8, "full", 64, tmp_path, None)
        runs.setdefault(seed, []).append([t["config"] for t in trials])
    assert isinstance(study.sampler, optuna.samplers.TPESampler)
    assert len(study.trials) >= 8 and all(t.state.name == "COMPLETE" for t in study.trials)
    assert [t.value for t in study.trials][-1] == synthetic_score(trials[-1]["config"])  # told the trial's score
    assert runs[0][0] == runs[0][1]  # same seed, same proposals
    assert runs[0][0] != runs[1][0]
    assert len({json.dumps(c, sort_keys=True) for c in runs[0][0]}) == 8  # no config tried twice


def test_random_search_is_seeded_and_never_repeats(task_file, tmp_path, bench_ctx, monkeypatch):
    fake_eval(monkeypatch)
    spec = load_spec(task_file)
    n = space_size("bench", 64)
    a = random_search(spec, {}, bench_ctx, n, "bench", 64, tmp_path, None)
    b = random_search(spec, {}, bench_ctx, n, "bench", 64, tmp_path, None)
    assert [t["config"] for t in a] == [t["config"] for t in b]
    assert len({json.dumps(t["config"], sort_keys=True) for t in a}) == n  # the whole bench space, once each


def test_record_then_replay_gives_identical_results_without_training(task_file, tmp_path, context, monkeypatch):
    table_path = str(tmp_path / "rec.jsonl")
    no_insight_store(monkeypatch)
    kw = {"space": "bench", "insights": "shared", "log": lambda *_: None}
    recorded = run_comparison([str(task_file)], ["uct_global", "tpe"], [0], 2, tmp_path / "a", context, **kw,
                              runner=replay_runner.runner_for(table_path, "record"))
    assert sum(r["n_trained"] for r in recorded) >= 2  # real training happened while recording
    with no_training(tmp_path):
        replayed = run_comparison([str(task_file)], ["uct_global", "tpe"], [0], 2, tmp_path / "b", context, **kw,
                                  runner=replay_runner.runner_for(table_path, "replay"))
    same = ("scores", "trace", "best_val", "best_test", "base_val", "base_test", "best_config")
    for r, p in zip(recorded, replayed):
        assert {k: r[k] for k in same} == {k: p[k] for k in same}
        assert p["n_trained"] == 0 and p["n_replayed"] == 2
    # The trial cache those trainings went through exports into a table with the same entries.
    spec = load_spec(task_file)
    exported = replay.ReplayTable(tmp_path / "exported.jsonl", "record")
    replay_runner.export_cache(spec, prepare_splits(spec, tmp_path / "exp"), context, exported)
    recorded_table = replay.ReplayTable(table_path)
    trained = {k: e for k, e in recorded_table.entries.items() if e["train"]}
    assert trained and set(trained) <= set(exported.entries)
    for k, e in trained.items():
        assert exported.entries[k]["scores"]["val"]["score"] == e["scores"]["val"]["score"]


def test_normalised_gain_on_hand_values():
    assert normalised_gain(0.8, 0.2, reference=0.9) == pytest.approx(0.6 / 0.7)
    assert normalised_gain(0.8, 0.2) == pytest.approx(0.6)  # no reference: plain improvement
    assert normalised_gain(0.1, 0.2) == pytest.approx(-0.1)
    assert normalised_gain(2.0, 3.0, reference=1.0, higher_is_better=False) == pytest.approx(0.5)  # e.g. a loss
    assert normalised_gain(0.5, 0.9, reference=0.8) == pytest.approx(-0.4)  # reference below base: improvement
    assert normalised_gain(None, 0.2) is None


def test_reuse_report_counts_trials_to_reach_the_first_runs_best():
    from ftbench.results import reuse_report, trials_to_reach

    assert trials_to_reach([0.2, 0.5, 0.8], 0.8) == 3 and trials_to_reach([0.2], 0.8) is None
    assert trials_to_reach([3.0, 1.5], 2.0, higher_is_better=False) == 2
    first = [{"task": "t", "policy": "uct_global", "seed": 0, "best_val": 0.8, "higher_is_better": True,
              "trace": [0.2, 0.5, 0.8, 0.8], "configs": [{"lr": 1}, {"lr": 2}, {"lr": 3}, {"lr": 4}]}]
    second = [{"task": "t", "policy": "uct_global", "seed": 1, "trace": [0.5, 0.8, 0.9, 0.9],
               "configs": [{"lr": 9}, {"lr": 3}, {"lr": 5}, {"lr": 6}]}]
    [row], text = reuse_report(first, second)
    assert (row["first_trials"], row["second_trials"], row["second_new_trainings"]) == (3, 2, 1)
    assert row["ratio"] == pytest.approx(2 / 3) and "0.667" in text


def test_a_second_run_with_the_first_runs_store_starts_from_its_best(task_file, tmp_path, bench_ctx, monkeypatch):
    """Goal P2's mechanism, on a replay table and a real insight store (Chroma, local embeddings): the first
    run's best configuration is stored as a lesson; the second run's first round starts from it."""
    from ftbench.results import reuse_report

    runner = replay_runner.runner_for(hand_made_table(task_file, tmp_path, bench_ctx))
    store = str(tmp_path / "store-{task}")
    with no_training(tmp_path):
        first = run_comparison([str(task_file)], ["uct_global"], [0], 4, tmp_path / "first", bench_ctx,
                               space="bench", insights=store, log=lambda *_: None, runner=runner)
        second = run_comparison([str(task_file)], ["uct_global"], [1], 4, tmp_path / "second", bench_ctx,
                                space="bench", insights=store, log=lambda *_: None, runner=runner)
    assert (tmp_path / "store-tiny_intents").is_dir()  # '{task}': one store per task
    [row], _ = reuse_report(first, second)
    assert row["first_trials"] >= 2 and row["second_trials"] == 1 and row["ratio"] <= 0.5
    assert second[0]["configs"][0] == {k: v for k, v in first[0]["best_config"].items() if k != "seed"}


def test_the_shipped_offline_table_still_replays_the_published_results(tmp_path, bench_ctx, monkeypatch):
    """benchmarks/ftbench_offline/offline_table.jsonl was recorded by real training; a change to a generator,
    a split or a trial key would leave it stale and the README's table unreproducible. This replays one
    published row (results.md: bank_intents, uct_global, seed 0) and random search's."""
    from pathlib import Path

    table = Path(__file__).resolve().parent.parent / "benchmarks/ftbench_offline/offline_table.jsonl"
    bench_ctx.max_eval_examples = 200  # as recorded (the default)
    no_insight_store(monkeypatch)
    with no_training(tmp_path):
        records = run_comparison(["bank_intents"], ["uct_global", "random"], [0], 6, tmp_path / "out", bench_ctx,
                                 space="bench", log=lambda *_: None, runner=replay_runner.runner_for(str(table)))
    got = {r["policy"]: r for r in records}
    assert all(r["n_missing"] == 0 and r["n_replayed"] == 6 for r in records)
    assert got["uct_global"]["best_val"] == pytest.approx(0.8333, abs=1e-4)
    assert got["uct_global"]["best_test"] == pytest.approx(0.8203, abs=1e-4)
    assert got["uct_global"]["base_test"] == pytest.approx(0.1797, abs=1e-4)


def test_trex_and_the_baselines_all_search_the_space_the_task_spec_declares(tiny_task, tmp_path, bench_ctx,
                                                                             monkeypatch):
    """A spec's search_space narrows the run's space for TREX's planner and for random search and TPE alike."""
    from tests.fake_runner import FakeRunner

    no_insight_store(monkeypatch)
    path = tmp_path / "pinned.yaml"
    path.write_text(yaml.safe_dump({**tiny_task, "search_space": {"lr": [1e-4, 1e-3], "lora_r": 16,
                                                                  "warm_start": False}}))
    trained = []

    def train(spec, data, cfg, ctx, init):
        trained.append(cfg)
        n = len(trained)
        return {"status": "ok", "key": f"k{n}", "adapter": f"a{n}", "tokens": 100,
                "val_loss": [1.0, 0.8], "loss_curve": [[1, 1.0]], "train_s": 0.1}

    def score(spec, data, cfg, adapter, key, split, ctx, job_dir, max_examples):
        return {"status": "ok", "score": (0.3 + 0.1 * cfg["lr"] * 1000 + 0.01 * cfg.get("epochs", 0)) if adapter else 0.1}
    records = run_comparison([str(path)], ["uct_global", "random", "tpe"], [0], 4, tmp_path / "out", bench_ctx,
                             space="full", log=lambda *_: None, runner=FakeRunner(train, score))
    assert [r["n_trials"] for r in records] == [4, 4, 4]
    configs = [c for r in records for c in r["configs"]]
    assert len(configs) == 12 and len(trained) == 12
    assert all(c["lr"] in (1e-4, 1e-3) and c["lora_r"] == 16 and not c.get("warm_start") for c in configs)
    assert {c["lr"] for c in configs} == {1e-4, 1e-3}  # the restriction leaves room to search


def test_at_equal_compute_the_baselines_train_as_many_tokens_as_trex(task_file, tmp_path, bench_ctx, monkeypatch):
    """--compute tokens: random search and TPE keep training until they have spent TREX-UCT's tokens on the
    same task and seed, and no further than the trial that crosses the line."""
    from tests.fake_runner import FakeRunner

    no_insight_store(monkeypatch)

    def train(spec, data, cfg, ctx, init):  # compute grows with epochs and examples, as in real training
        return {"status": "ok", "key": json.dumps(cfg, sort_keys=True), "adapter": "a",
                "tokens": 10 * cfg["epochs"] * cfg["max_samples"], "val_loss": [1.0], "train_s": 0.1}

    def score(spec, data, cfg, adapter, key, split, ctx, job_dir, max_examples):
        return {"status": "ok", "score": synthetic_score(cfg) if adapter else 0.1}
    records = run_comparison([str(task_file)], ["random", "tpe", "uct_global"], [0, 1], 2, tmp_path / "out",
                             bench_ctx, space="bench", log=lambda *_: None, runner=FakeRunner(train, score),
                             compute="tokens")
    assert [r["policy"] for r in records][:2] == ["uct_global", "uct_global"]  # it runs first: it sets the budget
    trex = {r["seed"]: r["tokens_trained"] for r in records if r["policy"] == "uct_global"}
    for r in records:
        if r["policy"] == "uct_global":
            assert r["n_trials"] == 2 and r["max_tokens"] is None
            continue
        assert r["max_tokens"] == trex[r["seed"]] and r["tokens_trained"] >= r["max_tokens"]
        per_trial = [10 * c["epochs"] * c["max_samples"] for c in r["configs"]]
        assert sum(per_trial[:-1]) < r["max_tokens"]  # it stopped at the first trial that reached the budget
    assert "Equal compute" in (tmp_path / "out" / "results.md").read_text()
    with pytest.raises(ValueError, match="needs policy uct_global"):
        run_comparison([str(task_file)], ["random"], [0], 2, tmp_path / "x", bench_ctx, space="bench",
                       runner=FakeRunner(train, score), compute="tokens")


def test_combine_pools_comparisons_run_with_different_spaces(tmp_path):
    """Two tiers with their own spaces and budgets pool into one table: means and intervals over all tasks."""
    import json

    from ftbench.cli import main as ftbench

    def rec(task, policy, seed, test):
        return {"task": task, "policy": policy, "seed": seed, "best_val": test, "best_test": test, "base_test": 0.1,
                "base_val": 0.1, "reference": None, "higher_is_better": True, "tokens_trained": 1000, "metric": "accuracy",
                "trace": [test], "scored_by": None, "n_trials": 1, "n_trained": 0, "n_cached": 0,
                "n_replayed": 1, "n_missing": 0, "n_failed": 0}

    for part, task in (("a", "t1"), ("b", "t2")):
        (tmp_path / part).mkdir()
        rows = [rec(task, p, s, (0.9 if p == "uct_global" else 0.5) + 0.01 * s) for p in ("uct_global", "random")
                for s in range(3)]
        (tmp_path / part / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert ftbench(["combine", "--runs", f"{tmp_path / 'a'},{tmp_path / 'b'}", "--out", str(tmp_path / "c")]) == 0
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["gain_test"]["random"]["runs"] == 6 and summary["gain_test"]["random"]["ratio"] == pytest.approx(0.81 / 0.41)
    assert "| t1 | uct_global |" in (tmp_path / "c" / "results.md").read_text()
    assert ftbench(["combine", "--runs", str(tmp_path / "missing"), "--out", str(tmp_path / "d")]) == 2


def test_the_shipped_data_tier_table_replays_the_published_results(tmp_path, bench_ctx, monkeypatch):
    """benchmarks/ftbench_offline/data_table.jsonl (the tasks where data decides) replays the README's row for
    support_queues, seed 0: TREX-UCT mixes in the filtered ticket pool in round 1 and ends at val 0.867, test
    0.889; every configuration of the data space has its test score."""
    got = replay_shipped_data_table(["support_queues"], ["uct_global", "random"], 4, "data", tmp_path, bench_ctx,
                                    monkeypatch)
    trex = got["uct_global"]
    assert trex["best_val"] == pytest.approx(0.8667, abs=1e-4) and trex["best_test"] == pytest.approx(0.8889, abs=1e-4)
    assert trex["configs"][1]["recipe"]["filters"]  # round 1's second trial: the cleaned pool


def test_in_the_wide_data_space_the_tree_backtracks_where_a_chain_overshoots(tmp_path, bench_ctx, monkeypatch):
    """data_wide adds lr 1e-2 to the data space (36 configurations per task, all in the shipped table). On
    phone_e164, seed 0, one trial per round: both policies step to lr 1e-2 (val 0.500, past the best lr) and
    then to 1 epoch (0.167); `sequential` keeps descending that branch and ends at val 0.633, while UCT goes
    back to the lr-3e-3 node and takes its other move, 3 epochs, val 0.733 (the README's data_wide rows)."""
    assert grid("data_wide", 60)["lr"] == [3e-4, 1e-3, 3e-3, 1e-2]
    got = replay_shipped_data_table(["phone_e164"], ["uct_global", "sequential"], 6, "data_wide", tmp_path,
                                    bench_ctx, monkeypatch, per_round=1)
    path = {p: [(c["lr"], c["epochs"]) for c in r["configs"]] for p, r in got.items()}
    assert path["uct_global"][:4] == path["sequential"][:4] == [(1e-3, 2), (3e-3, 2), (1e-2, 2), (1e-2, 1)]
    assert (3e-3, 3) in path["uct_global"][4:] and (3e-3, 3) not in path["sequential"]
    assert got["uct_global"]["best_val"] == pytest.approx(0.7333, abs=1e-4)
    assert got["sequential"]["best_val"] == pytest.approx(0.6333, abs=1e-4)
