"""Successive halving inside a round (nodes/train.py, tools/trials/successive_halving.py): every trial trains to a
rung and pauses, the better half by validation so far continues from its checkpoint, the others stop at their rung
with their best point so far and say why; a paused trial has its own cache entry and adapter, and continuing it
charges only the new epochs."""
import json
from dataclasses import replace
from pathlib import Path

from langgraph.runtime import Runtime

from ftbench.replay_runner import ReplayRunner
from memory.trial_cache import TrialCache
from nodes.train import train
from tools.trials import successive_halving as halving
from tools.trials.trial_jobs import pause_key, run_key, run_training
from trex.state import State
from tests.test_curve_replay import curve_table  # noqa: F401
from tests.test_ftbench_runner import bench_ctx, task_file  # noqa: F401


def test_rungs_and_survivors():
    assert halving.rungs(1) == [] and halving.rungs(2) == [1] and halving.rungs(3) == [1, 2]
    assert halving.rungs(5) == [1, 2, 4]
    pool = [0.5, 0.7, 0.6]  # ceil(3 / 2) = 2 go on
    assert halving.promoted(0.7, pool) and halving.promoted(0.6, pool) and not halving.promoted(0.5, pool)
    assert halving.promoted(0.5, [0.5, 0.5])  # a tie with the cut goes on
    assert not halving.promoted(None, [0.1]) and halving.promoted(None, [])
    assert halving.rank_of(0.5, pool) == 3 and halving.rank_of(None, pool) == 4
    assert halving.applies([{"epochs": 3}]) and not halving.applies([{"epochs": 1}, {"epochs": 1}])
    curve = [{"val_score": 0.4, "val_loss": 0.9}, {"val_score": 0.6, "val_loss": 1.2}]
    assert halving.signal({"curve": curve, "selected_by": "accuracy"}, True) == 0.6
    assert halving.signal({"curve": curve, "selected_by": "accuracy"}, False) == -0.4  # lower is better
    assert halving.signal({"curve": curve, "selected_by": "val_loss"}, True) == -0.9  # Unsloth: by loss
    assert halving.signal({}, True) is None
    assert halving.signal({"curve": curve}, True, epoch=1) is None  # points have no epoch: none reached epoch 1
    timed = [{**p, "epoch": e + 1} for e, p in enumerate(curve)]
    assert halving.signal({"curve": timed}, True, epoch=1) == 0.4 and halving.signal({"curve": timed}, True, 2) == 0.6
    assert halving.signal({"curve": timed}, True, epoch=3) is None  # it stopped before epoch 3
    assert halving.signal({"curve": timed, "warm_start_from": "a"}, True, 1) is None  # a warm start's epochs differ


def _round(spec, data, tmp_path, trials: list[dict]) -> State:
    tree = {"root": {"id": "root", "parent": None, "trials": [], "results": {}, "status": "evaluated"},
            "n1": {"id": "n1", "parent": "root", "round": 1, "trials": trials, "results": {}, "status": "planned"}}
    return State(task=spec.model_dump(), run_dir=str(tmp_path / "run"), data=data, tree=tree, current="n1")


def test_a_round_halves_its_trials_and_stops_the_weakest_at_their_rung(curve_table, bench_ctx, tmp_path):  # noqa: F811
    spec, data, configs, table = curve_table
    picked = [0, 1, 2, 5]  # val after epoch 1: 0.5, 0.2, 0.3, 0.6; epoch 2: 0.4, 0.3, 0.7, 0.6
    trials = [{**configs[i], "id": f"t{n}"} for n, i in enumerate(picked)]
    ctx = replace(bench_ctx, early_stopping="off", halving=True)
    node = train(_round(spec, data, tmp_path, trials), Runtime(context=ctx), ReplayRunner(table))["tree"]["n1"]
    res = {t: r["train"] for t, r in node["results"].items()}
    per_epoch = {f"t{n}": 10 * configs[i]["max_samples"] for n, i in enumerate(picked)}
    # epoch 1: t3 (0.6) and t0 (0.5) go on; t1 and t2 stop there and pay one epoch
    for tid, rank in (("t1", 4), ("t2", 3)):
        assert res[tid]["epochs_trained"] == 1 and res[tid]["tokens"] == per_epoch[tid]
        assert res[tid]["stopped"]["by"] == "successive_halving" and res[tid]["stopped"]["epoch"] == 1
        assert f"ranked {rank} of 4 trials of the run at epoch 1" in res[tid]["stopped"]["reason"]
        assert res[tid]["halving"] == [{"epoch": 1, "rank": rank, "of": 4, "went_on": False}]
        assert "paused_at" not in res[tid]
    # epoch 2: t3 (best 0.6) goes on, t0 (best 0.5, at epoch 1) stops with its epoch-1 point kept
    assert res["t0"]["epochs_trained"] == 2 and res["t0"]["tokens"] == 2 * per_epoch["t0"]
    assert res["t0"]["best_epoch"] == 1 and "ranked 2 of 2 trials of the run at epoch 2" in res["t0"]["stopped"]["reason"]
    # the survivor trains its 3 epochs, charged once for the whole trial, and keeps its best (last) point
    assert res["t3"]["epochs_trained"] == 3 and res["t3"]["tokens"] == 3 * per_epoch["t3"]
    assert res["t3"]["best_epoch"] == 3 and "stopped" not in res["t3"]
    assert [h["went_on"] for h in res["t3"]["halving"]] == [True, True]
    from memory.run_log import read_events
    starts = [e for e in read_events(tmp_path / "run") if e["event"] == "train_start"]
    assert [e.get("continues_from_epoch") for e in starts if e["trial"] == "t3"] == [None, 1, 2]
    spent = sum(r["tokens"] for r in res.values())
    assert spent == per_epoch["t1"] + per_epoch["t2"] + 2 * per_epoch["t0"] + 3 * per_epoch["t3"]
    # the kept points are what evaluation scores: t0's epoch 1 (val 0.5), t3's epoch 3 (test 0.85)
    runner = ReplayRunner(table)
    t0, t3 = node["results"]["t0"], node["results"]["t3"]
    assert runner.score(spec, data, trials[0], t0["adapter"], t0["key"], "val", ctx, None, 12).score == 0.5
    assert runner.score(spec, data, trials[3], t3["adapter"], t3["key"], "test", ctx, None, None).score == 0.85


def test_a_later_round_is_compared_with_every_trial_of_the_run_that_reached_the_rung(curve_table, bench_ctx,
                                                                                      tmp_path):  # noqa: F811
    """ASHA's rule across rounds: a trial alone in its round still pauses at epoch 1 when earlier rounds have
    epoch-1 scores; it goes on when it is in their better half and stops when it is not."""
    spec, data, configs, table = curve_table
    ctx = replace(bench_ctx, early_stopping="off", halving=True)
    first = train(_round(spec, data, tmp_path, [{**configs[i], "id": f"t{n}"} for n, i in enumerate([0, 1])]),
                  Runtime(context=ctx), ReplayRunner(table))["tree"]["n1"]  # epoch 1: 0.5 goes on, 0.2 stops
    for later, expect_on in ((5, True), (3, False)):  # epoch-1 val 0.6 (best of 3) and 0.1 (last of 3)
        state = _round(spec, data, tmp_path, [{**configs[later], "id": "t0"}])
        state = replace(state, tree={**state.tree, "n1": first,
                                     "n2": {**state.tree["n1"], "id": "n2", "parent": "n1", "round": 2}},
                        current="n2")
        res = train(state, Runtime(context=ctx), ReplayRunner(table))["tree"]["n2"]["results"]["t0"]["train"]
        assert res["halving"][0]["of"] == 3 and res["halving"][0]["went_on"] is expect_on
        assert res["epochs_trained"] == (3 if expect_on else 1)
        assert ("stopped" in res) is not expect_on


def test_a_round_promotes_no_one_once_the_train_tokens_budget_is_spent(curve_table, bench_ctx, tmp_path):  # noqa: F811
    spec, data, configs, table = curve_table
    trials = [{**configs[i], "id": f"t{n}"} for n, i in enumerate([0, 5])]
    ctx = replace(bench_ctx, early_stopping="off", halving=True, max_train_tokens=10, budget_counts_cache=True)
    node = train(_round(spec, data, tmp_path, trials), Runtime(context=ctx), ReplayRunner(table))["tree"]["n1"]
    for r in node["results"].values():
        assert r["train"]["epochs_trained"] == 1 and "the train_tokens budget is spent" in r["train"]["stopped"]["reason"]


def test_a_warm_start_in_a_halved_round_is_in_no_ones_comparison(curve_table, bench_ctx, tmp_path):  # noqa: F811
    spec, data, configs, table = curve_table
    ctx = replace(bench_ctx, early_stopping="off", halving=True)
    runner = ReplayRunner(table)
    first = train(_round(spec, data, tmp_path, [{**configs[5], "id": "t0"}]), Runtime(context=ctx), runner)["tree"]["n1"]
    first = {**first, "best_trial": "t0", "status": "evaluated"}
    state = _round(spec, data, tmp_path, [{**configs[0], "id": "t0"}, {**configs[5], "id": "t1", "warm_start": True,
                                                                        "epochs": 1}])
    state = replace(state, tree={**state.tree, "n1": first,
                                 "n2": {**state.tree["n1"], "id": "n2", "parent": "n1", "round": 2}}, current="n2")
    res = train(state, Runtime(context=ctx), runner)["tree"]["n2"]["results"]
    # the warm start (not in the curve table: it fails as missing, as any failed trial) is outside the ranking
    assert res["t1"]["status"] == "failed" and "halving" not in res["t1"]["train"]
    assert res["t0"]["train"]["halving"][0]["of"] == 2  # t0 against n1's trial at epoch 1 (0.5 < 0.6): stopped
    assert res["t0"]["train"]["stopped"]["by"] == "successive_halving"


def test_the_report_says_which_trials_the_round_stopped():
    from tools.reports.report_data import curve_text

    halved = {"epoch": 1, "by": "successive_halving", "reason": "successive halving: ranked 2 of 2 ..."}
    assert curve_text({"curve": [{"val_score": 0.46}], "stopped": halved}) == \
        "stopped after epoch 1 by successive halving"
    two = {"curve": [{"val_score": 0.5}, {"val_score": 0.4}], "best_epoch": 1, "epochs_trained": 2,
           "stopped": {**halved, "epoch": 2}}
    assert curve_text(two) == "curve 0.500 0.400; kept epoch 1, stopped after epoch 2 by successive halving"
    assert curve_text({"curve": [{"val_score": 0.46}]}) == ""  # one epoch, run to its end


def test_halving_off_trains_every_trial_to_its_end(curve_table, bench_ctx, tmp_path):  # noqa: F811
    spec, data, configs, table = curve_table
    trials = [{**configs[i], "id": f"t{n}"} for n, i in enumerate([0, 1])]
    ctx = replace(bench_ctx, early_stopping="off", halving=False)
    node = train(_round(spec, data, tmp_path, trials), Runtime(context=ctx), ReplayRunner(table))["tree"]["n1"]
    assert [r["train"]["epochs_trained"] for r in node["results"].values()] == [3, 3]
    assert all("halving" not in r["train"] and "stopped" not in r["train"] for r in node["results"].values())


def test_a_paused_trial_has_its_own_entry_and_continuing_it_trains_in_the_trials_directory(
        curve_table, bench_ctx):  # noqa: F811
    """run_training with pause_after: the job pauses, its best-so-far adapter moves to the pause's own directory
    and cache entry (a second call is a hit), and training it on runs a job in the trial's directory (where its
    checkpoint is) with no pause."""
    spec, data, configs, _ = curve_table
    cfg, ctx = {**configs[0], "id": "t0"}, bench_ctx
    jobs: list[tuple[dict, Path]] = []

    def launch(job: dict, job_dir: Path, timeout_s: float) -> dict:
        jobs.append((job, Path(job_dir)))
        epochs = job["pause_after"] or job["config"]["epochs"]
        adapter = Path(job_dir) / (f"paused-epoch-{epochs:04d}" if job["pause_after"] else "") / "adapter"
        adapter.mkdir(parents=True)
        (adapter / "adapter_model.safetensors").write_text(str(epochs))
        out = {"status": "ok", "adapter": str(adapter), "tokens": 10 * epochs, "epochs_trained": epochs,
               "val_eval": {"status": "ok", "score": 0.5, "n": 6}}
        return {**out, "paused_at": epochs} if job["pause_after"] else out

    paused = run_training(spec, data, cfg, ctx, launch=launch, pause_after=1)
    trial = run_key(spec, data, cfg, ctx, None, data["paths"]["train"])
    assert paused["key"] == pause_key(trial, 1) and paused["paused_at"] == 1 and not paused["cached"]
    assert Path(paused["adapter"]) == Path(ctx.cache_dir) / "adapters" / pause_key(trial, 1) / "adapter"
    assert (Path(paused["adapter"]) / "adapter_model.safetensors").read_text() == "1"
    assert TrialCache(ctx.cache_dir).get(trial) is None  # the whole trial's entry never holds a prefix
    again = run_training(spec, data, cfg, ctx, launch=launch, pause_after=1)
    assert again["cached"] and again["key"] == paused["key"] and len(jobs) == 1
    whole = run_training(spec, data, cfg, ctx, launch=launch)
    assert whole["key"] == trial and whole["epochs_trained"] == 3 and "paused_at" not in whole
    assert jobs[1][0]["pause_after"] == 0 and jobs[1][1] == jobs[0][1] == Path(ctx.cache_dir) / "adapters" / trial
    assert json.loads(TrialCache(ctx.cache_dir).path(trial).read_text())["epochs_trained"] == 3


def test_a_round_killed_between_rungs_redoes_only_the_continuation(curve_table, bench_ctx, tmp_path):  # noqa: F811
    """The train node dies while a promoted trial continues (a crash after rung 1); run again, the round takes both
    pauses from the cache (no worker job) and launches only the continuation, in the trial's own directory."""
    import pytest

    from tools.trials.runner import JobRunner

    spec, data, configs, _ = curve_table
    trials = [{**configs[i], "id": f"t{n}"} for n, i in enumerate([0, 5])]  # lr differ: t1 scores higher
    jobs: list[dict] = []
    crash = {"armed": True}

    def launch(job: dict, job_dir: Path, timeout_s: float) -> dict:
        last = job["pause_after"] or job["config"]["epochs"]
        if not job["pause_after"] and crash["armed"]:
            crash["armed"] = False
            raise RuntimeError("the process died")
        jobs.append({"lr": job["config"]["lr"], "pause_after": job["pause_after"], "dir": Path(job_dir).name})
        adapter = Path(job_dir) / (f"paused-epoch-{last:04d}" if job["pause_after"] else "") / "adapter"
        adapter.mkdir(parents=True, exist_ok=True)
        curve = [{"epoch": e, "step": e, "tokens": 10 * e, "val_loss": 1.0, "train_loss": 1.0,
                  "val_score": round(job["config"]["lr"] * 100 * e, 4)} for e in range(1, last + 1)]
        out = {"status": "ok", "adapter": str(adapter), "tokens": 10 * last, "epochs_trained": last, "curve": curve,
               "selected_by": "accuracy", "best_epoch": last, "val_eval": {"status": "ok", "score": curve[-1]["val_score"]}}
        return {**out, "paused_at": last} if job["pause_after"] else out

    ctx = replace(bench_ctx, early_stopping="off", halving=True)
    with pytest.raises(RuntimeError, match="died"):
        train(_round(spec, data, tmp_path, trials), Runtime(context=ctx), JobRunner(launch=launch))
    assert [j["pause_after"] for j in jobs] == [1, 1]  # both paused; the continuation died
    node = train(_round(spec, data, tmp_path, trials), Runtime(context=ctx), JobRunner(launch=launch))["tree"]["n1"]
    assert [j["pause_after"] for j in jobs] == [1, 1, 0]  # only the continuation ran again
    winner = max(trials, key=lambda t: t["lr"])["id"]
    loser = min(trials, key=lambda t: t["lr"])["id"]
    assert jobs[-1]["lr"] == max(t["lr"] for t in trials)
    assert jobs[-1]["dir"] == next(j["dir"] for j in jobs[:2] if j["lr"] == jobs[-1]["lr"])  # where its checkpoint is
    assert node["results"][winner]["train"]["epochs_trained"] == 3 and not node["results"][winner]["cached"]
    assert node["results"][loser]["train"]["stopped"]["by"] == "successive_halving"
    assert node["results"][loser]["cached"]  # its pause came from the cache
