"""Curve tables (issue 35, item 4-5): a recorded curve is replayed as the prefix a trial trains (early stopping, a
pruner's stop), charging that prefix's tokens, keeping the best point, with each point's own val and test score;
Optuna's pruners (Optuna's implementations) see exactly the curve's per-epoch validation scores."""
import json
from dataclasses import replace
from pathlib import Path

import pytest

from ftbench import replay
from ftbench.curve_replay import walk
from ftbench.curve_sweep import BASE_CFG, curve_entry
from ftbench.pruned_search import pruned_search
from ftbench.replay_runner import ReplayRunner
from ftbench.space import all_configs, max_train_for
from tools.data.datasets import prepare_splits
from tools.data.spec_loading import load_spec
from tools.worker.learning_curve import Curve
from trex.jobs import EarlyStopping
from tests.test_ftbench_runner import bench_ctx, task_file  # noqa: F401

SPACE = "bench_curves"


def point(epoch: int, val: float, test: float, tokens_per_epoch: int = 100) -> dict:
    return {"epoch": epoch, "step": 4 * epoch, "tokens": tokens_per_epoch * epoch, "val_loss": 1.0 / epoch,
            "train_loss": 1.0, "evals": {"val": {"score": val, "n": 10, "n_wrong": 0, "bad_cases": [], "max_examples": 12},
                                         "test": {"score": test, "n": 10, "n_wrong": 0, "bad_cases": [],
                                                  "max_examples": None}}}


# Per config of bench_curves (lr x samples): val/test after epochs 1..3. Config 0 peaks at epoch 1 and falls.
CURVES = [[(0.5, 0.45), (0.4, 0.40), (0.3, 0.35)], [(0.2, 0.2), (0.3, 0.3), (0.6, 0.55)],
          [(0.3, 0.3), (0.7, 0.65), (0.7, 0.9)], [(0.1, 0.1), (0.2, 0.2), (0.25, 0.2)],
          [(0.4, 0.4), (0.5, 0.45), (0.8, 0.75)], [(0.6, 0.6), (0.6, 0.5), (0.9, 0.85)]]


@pytest.fixture
def curve_table(task_file, tmp_path, bench_ctx):  # noqa: F811
    spec = load_spec(task_file)
    data = prepare_splits(spec, tmp_path / "hand" / "data")
    tkey = replay.task_key(spec, data)
    rows = [{"key": replay.trial_key(tkey, BASE_CFG, None), "task": spec.name, "config": {"epochs": 0},
             "scores": {"val": {"score": 0.1, "max_examples": 12}, "test": {"score": 0.05, "max_examples": None}},
             "train": {}}]
    max_train = max_train_for(SPACE, min(spec.budget.max_train_samples, data["sizes"]["train"]))
    configs = all_configs(SPACE, max_train, seed=0)
    assert len(configs) == len(CURVES)
    for cfg, curve in zip(configs, CURVES):
        pts = [point(e + 1, v, t, 10 * cfg["max_samples"]) for e, (v, t) in enumerate(curve)]
        result = {"status": "ok", "key": f"real-{len(rows)}", "tokens": pts[-1]["tokens"], "steps": 12, "train_s": 30.0,
                  "loss_curve": [[s, 1.0] for s in range(1, 13)], "val_loss": [2.0, 1.0, 0.5, 0.3],
                  "curve": [{k: v for k, v in p.items()} for p in pts]}
        rows.append(curve_entry(spec, data, {**cfg, "id": "c"}, result))
    path = tmp_path / "curves.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return spec, data, configs, replay.ReplayTable(path)


def test_a_replayed_curve_stops_where_early_stopping_stops_and_charges_only_that_prefix(curve_table, bench_ctx):  # noqa: F811
    spec, data, configs, table = curve_table
    runner = ReplayRunner(table)
    first = runner.train(spec, data, configs[0], bench_ctx)  # patience 1 (the default): epoch 2 does not improve
    assert first.ok and first.stats["tokens"] == 2 * 10 * configs[0]["max_samples"]  # two epochs' tokens, not three
    assert first.stats["best_epoch"] == 1 and first.stats["stopped"]["epoch"] == 2
    assert "validation accuracy did not improve" in first.stats["stopped"]["reason"]
    assert first.stats["loss_curve"] == [[s, 1.0] for s in range(1, 9)] and first.stats["train_s"] == pytest.approx(20.0)
    val = runner.score(spec, data, configs[0], first.adapter, first.key, "val", bench_ctx, None, 12)
    test = runner.score(spec, data, configs[0], first.adapter, first.key, "test", bench_ctx, None, None)
    assert (val.score, test.score) == (0.5, 0.45)  # the kept point's scores (epoch 1), not the last epoch's
    whole = runner.train(spec, data, configs[0], replace(bench_ctx, early_stopping="off"))
    assert whole.stats["tokens"] == 3 * 10 * configs[0]["max_samples"] and whole.stats["best_epoch"] == 1
    cut = runner.train(spec, data, configs[5], replace(bench_ctx, early_stopping="off"), stop_epoch=2)  # a pruner stopped it after epoch 2
    assert cut.stats["epochs_trained"] == 2 and cut.stats["tokens"] == 2 * 10 * configs[5]["max_samples"]
    assert "stopped by the search at epoch 2" in cut.stats["stopped"]["reason"]
    assert runner.score(spec, data, configs[5], cut.adapter, cut.key, "test", bench_ctx, None, None).score == 0.6


def test_replay_walks_the_workers_own_curve_rules():
    """The replay's choice of stop and kept point is the worker's Curve on the same scores (ties keep the first)."""
    stopping = EarlyStopping(patience=1, min_delta=0.05)
    pts = [point(e + 1, v, 0.0) for e, v in enumerate([0.30, 0.33, 0.50, 0.52, 0.90])]
    walked = walk(pts, stopping, True)
    worker = Curve(stopping, True)
    for p in pts:
        worker.add({**{k: p[k] for k in ("epoch", "step")}, "val_score": p["evals"]["val"]["score"]}, None, None)
        if worker.end_epoch(p["epoch"]):
            break
    assert [p["epoch"] for p in walked["trained"]] == [1, 2] == [p["epoch"] for p in worker.points]
    assert walked["kept"]["epoch"] == worker.best["epoch"] == 2  # 0.33 beats 0.30, but not by min_delta


@pytest.mark.parametrize("policy", ["tpe_hyperband", "tpe_median", "random_hyperband", "random_median"])
def test_optunas_pruners_see_the_curves_per_epoch_scores_and_pruned_trials_pay_their_prefix(
        curve_table, bench_ctx, tmp_path, policy):  # noqa: F811
    import optuna

    spec, data, configs, table = curve_table
    bench_ctx = replace(bench_ctx, early_stopping="off")
    max_train = configs[0]["max_samples"]
    trials, study = pruned_search(policy, spec, data, bench_ctx, 6, SPACE, max_train, tmp_path, ReplayRunner(table))
    assert isinstance(study.pruner, optuna.pruners.HyperbandPruner if "hyperband" in policy
                      else optuna.pruners.MedianPruner)
    by_config = {(c["lr"], c["max_samples"]): CURVES[i] for i, c in enumerate(configs)}
    for rec, ot in zip(trials, [t for t in study.trials if t.intermediate_values]):
        curve = by_config[(rec["config"]["lr"], rec["config"]["max_samples"])]
        seen = ot.intermediate_values
        assert seen == {e + 1: curve[e][0] for e in range(len(seen))}  # exactly the recorded val scores, by epoch
        epochs = rec["pruned_at"] or 3
        assert (ot.state.name == "PRUNED") == (rec["pruned_at"] is not None)
        assert rec["tokens"] == epochs * 10 * rec["config"]["max_samples"]
        assert rec["score"] == max(v for v, _ in curve[:epochs])  # the best epoch of what it trained


def test_pruned_baselines_refuse_a_runner_without_curves(task_file, bench_ctx, tmp_path):  # noqa: F811
    spec = load_spec(task_file)
    with pytest.raises(ValueError, match="needs a curve table"):
        pruned_search("tpe_hyperband", spec, {}, bench_ctx, 4, SPACE, 16, tmp_path, object())


def test_a_curve_entry_needs_every_point_scored_on_both_splits(task_file, tmp_path):  # noqa: F811
    spec = load_spec(task_file)
    data = prepare_splits(spec, tmp_path / "data")
    with pytest.raises(ValueError, match="no scored curve"):
        curve_entry(spec, data, {"lr": 1e-3, "epochs": 3, "id": "c0"},
                    {"key": "k", "curve": [{"epoch": 1, "step": 1, "tokens": 5, "val_loss": 1, "train_loss": 1}]})


def test_the_worker_scores_the_record_split_at_every_point(tiny_task, tmp_path, cache_dir):
    """Recording a curve table: each point also carries the test split's full score, scored in-process."""
    from tools.data.spec_loading import parse_spec
    from tools.trials.trial_jobs import task_payload
    from tools.worker.lora_training import train
    from tools.worker.model_loading import seed_everything
    from trex.jobs import ScoreSplit, TrainJob

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    job = TrainJob(base_model=spec.base_model, cache_dir=str(cache_dir), device="cpu", backend="peft",
                   task=task_payload(spec, data["labels"]), train_path=data["paths"]["train"],
                   config={"lr": 5e-3, "epochs": 2, "lora_r": 4, "lora_alpha": 8, "batch_size": 4, "max_samples": 8,
                           "layer_fraction": 1.0, "template": "plain", "seed": 0},
                   val_path=data["paths"]["val"], score=ScoreSplit(data["paths"]["val"], 6),
                   record_split=ScoreSplit(data["paths"]["test"], None))
    seed_everything(0)
    result = train(job, tmp_path / "out")
    n_test = sum(1 for line in Path(data["paths"]["test"]).read_text().splitlines() if line.strip())
    assert [p["epoch"] for p in result["curve"]] == [1, 2]
    for p in result["curve"]:
        assert p["evals"]["val"]["score"] == p["val_score"] and p["evals"]["val"]["n"] == 6
        assert p["evals"]["test"]["n"] == n_test and p["evals"]["test"]["max_examples"] is None


def test_a_pruner_does_stop_some_trials_of_the_hand_made_curves(curve_table, bench_ctx, tmp_path):  # noqa: F811
    """The per-policy test above is not vacuous: on these curves the median pruner stops trials early."""
    spec, data, configs, table = curve_table
    ctx = replace(bench_ctx, early_stopping="off")
    pruned = [t["pruned_at"] for seed in range(4)
              for t in pruned_search("tpe_median", spec, data, replace(ctx, seed=seed), 6, SPACE,
                                     configs[0]["max_samples"], tmp_path, ReplayRunner(table))[0]]
    assert any(p is not None for p in pruned)


def test_a_fixed_token_budget_is_a_share_of_the_whole_spaces_tokens_for_every_policy(curve_table, bench_ctx,  # noqa: F811
                                                                                     task_file, tmp_path):  # noqa: F811
    """--compute budget: every policy gets the same tokens, token_share of training the whole space once (the curve
    table's last points); TREX through budget.train_tokens (never past it), the searches until they cross it."""
    from ftbench.runner import run_comparison
    from ftbench.token_budget import BudgetError, space_tokens

    spec, data, configs, table = curve_table
    runner = ReplayRunner(table)
    whole = sum(3 * 10 * c["max_samples"] for c in configs)
    assert space_tokens(spec, data, SPACE, runner) == whole
    records = run_comparison([str(task_file)], ["uct_global", "tpe", "tpe_hyperband"], [0], 4, tmp_path / "out",
                             bench_ctx, SPACE, runner=runner, compute="budget", token_share=0.4, log=lambda *_: None)
    cap = round(0.4 * whole)
    for rec in records:
        assert rec["max_tokens"] == cap and rec["n_missing"] == 0 and rec["n_failed"] == 0, rec["policy"]
        spent = rec["trial_tokens"]
        assert cap > sum(spent[:-1]) and sum(spent) > 0, rec["policy"]  # no trial starts once the budget is spent
        if rec["policy"] != "uct_global":  # TREX stops where its next round's estimate no longer fits
            assert sum(spent) >= cap  # the trial that crosses the line finishes
    with pytest.raises(BudgetError, match="curve table"):
        space_tokens(spec, data, SPACE, object())


def test_budget_counts_cache_charges_replayed_trials_to_the_train_tokens_budget():
    """A replayed (cached) trial costs nothing by default; with budget_counts_cache it counts, as if trained now."""
    from tools.run.accounting import run_accounting
    from tools.run.budget import charged_tokens
    from trex.context import Context

    tree = {"n1": {"results": {"t0": {"train": {"tokens": 100}, "cached": True},
                               "t1": {"train": {"tokens": 50}, "cached": False}}}}
    acc = run_accounting(tree, 0.0, 0.0)
    assert charged_tokens(acc, Context()) == 50
    assert charged_tokens(acc, Context(budget_counts_cache=True)) == 150
