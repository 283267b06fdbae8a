"""P1 as expectations (issue 34): random search's exact expectation from a complete table, baselines seeded by
task and seed, and comparisons that refuse policies given different spaces or budgets."""
import itertools
import json
import math
from statistics import fmean

import pytest

from ftbench.baselines import baseline_seed, random_search, tpe_search
from ftbench.expectation import expected_best, expected_best_at_tokens
from ftbench.results import check_comparable, write_results
from ftbench.runner import best_of
from ftbench.space import all_configs
from tests.test_ftbench_runner import (bench_ctx, fake_eval, hand_made_table, no_insight_store,  # noqa: F401
                                       no_training, synthetic_score, task_file)
from tools.data.spec_loading import load_spec
from trex.metrics import get_metric

# validation, test, tokens: ties on validation (0.5 x 3, 0.7 x 2) with different test scores
TABLE = [(0.5, 0.40, 300), (0.7, 0.60, 500), (0.5, 0.55, 100), (0.2, 0.10, 200), (0.7, 0.80, 400),
         (0.9, 0.30, 900), (0.5, 0.35, 250)]


def run_like_the_runner(order: list[int]) -> float:
    """The test value of best_of over trials drawn in this order (the first-drawn wins a tie)."""
    trials = [{"status": "ok", "score": TABLE[i][0], "test": TABLE[i][1]} for i in order]
    return best_of(trials, get_metric("accuracy"))["test"]


def test_exact_random_expectation_equals_brute_force_enumeration():
    vals, tests, _ = zip(*TABLE)
    for n in range(1, len(TABLE) + 1):
        draws = list(itertools.permutations(range(len(TABLE)), n))  # every ordered draw of n distinct configs
        brute = fmean(run_like_the_runner(list(d)) for d in draws)
        assert expected_best(list(vals), list(tests), n) == pytest.approx(brute, abs=1e-12)
    assert expected_best(list(vals), list(tests), len(TABLE)) == pytest.approx(0.30)  # val-oracle
    with pytest.raises(ValueError, match="1 <= n"):
        expected_best(list(vals), list(tests), 0)


def test_exact_equal_compute_expectation_equals_brute_force_enumeration():
    """Drawing until the tokens reach a budget (the trial that crosses it finishes), over every draw order."""
    vals, tests, tokens = (list(x) for x in zip(*TABLE))
    for budget in (50, 100, 350, 700, 1200, 2000, 2650, 5000):
        outcomes = []
        for order in itertools.permutations(range(len(TABLE))):
            drawn, spent = [], 0
            for i in order:
                if spent >= budget:
                    break
                drawn.append(i)
                spent += tokens[i]
            outcomes.append(run_like_the_runner(drawn))
        assert expected_best_at_tokens(vals, tests, tokens, budget) == pytest.approx(fmean(outcomes), abs=1e-12)


def test_exact_expectation_is_close_to_the_mean_of_many_sampled_random_runs(task_file, tmp_path, bench_ctx,
                                                                            monkeypatch):
    """The runner's own random_search over 400 seeds lands within a few standard errors of the exact value."""
    import ftbench.baselines as b

    def landscape(cfg):  # coarse validation scores, so that configurations tie
        return round(synthetic_score(cfg), 1)

    monkeypatch.setattr(b, "run_trial", lambda spec, data, cfg, ctx, run_dir, runner: {
        "config": cfg, "status": "ok", "score": landscape(cfg), "cached": False, "key": "k"})
    spec = load_spec(task_file)
    configs = all_configs("bench", 64, 0)
    exact = expected_best([landscape(c) for c in configs], [synthetic_score(c) for c in configs], 4)
    sampled = []
    for seed in range(400):
        bench_ctx.seed = seed
        best = best_of(random_search(spec, {}, bench_ctx, 4, "bench", 64, tmp_path, None), get_metric("accuracy"))
        sampled.append(synthetic_score(best["config"]))
    se = (fmean((x - fmean(sampled)) ** 2 for x in sampled) / len(sampled)) ** 0.5
    assert abs(fmean(sampled) - exact) < 4 * se + 1e-9


def test_baseline_seeds_differ_across_tasks(task_file, tmp_path, bench_ctx, monkeypatch):
    """The same run seed on two tasks gives independent draws: random search's grid indices and TPE's sampler
    seed are derived from the task and the seed (before, every task drew the same indices: shared luck)."""
    fake_eval(monkeypatch)
    spec = load_spec(task_file)
    other = spec.model_copy(update={"name": spec.name + "_other"})
    assert baseline_seed("tpe", spec.name, 0) != baseline_seed("tpe", other.name, 0)
    assert baseline_seed("tpe", spec.name, 0) != baseline_seed("tpe", spec.name, 1)

    def draws(s, search):
        trials = search(s, {}, bench_ctx, 6, "bench", 64, tmp_path, None)
        return [c["config"] for c in (trials[0] if isinstance(trials, tuple) else trials)]
    for search in (random_search, tpe_search):
        assert draws(spec, search) == draws(spec, search)  # still reproducible
        assert draws(spec, search) != draws(other, search)


def rec(task, policy, seed, budget=6, space="bench", max_tokens=None, tokens=1000):
    return {"task": task, "policy": policy, "seed": seed, "budget": budget, "space": space, "best_val": 0.5,
            "best_test": 0.5, "base_test": 0.1, "base_val": 0.1, "reference": None, "higher_is_better": True,
            "tokens_trained": tokens, "max_tokens": max_tokens, "metric": "accuracy", "trace": [0.5],
            "scored_by": None, "n_trials": budget, "n_trained": 0, "n_cached": 0, "n_replayed": budget,
            "n_missing": 0, "n_failed": 0}


def test_the_replay_runner_refuses_a_comparison_whose_policies_were_given_different_spaces_or_budgets(tmp_path, capsys):
    from ftbench.cli import main as ftbench
    from ftbench.expectations import _check_runs

    same = [rec("t1", p, s) for p in ("uct_global", "random") for s in range(2)]
    check_comparable(same)
    for bad in ([rec("t1", "uct_global", 0), rec("t1", "tpe", 0, budget=4)],
                [rec("t1", "uct_global", 0), rec("t1", "tpe", 0, space="data")]):
        with pytest.raises(ValueError, match="different spaces or budgets on t1: uct_global space 'bench', 6 trials"):
            write_results(bad, tmp_path, {"budget": 6, "seeds": [0], "space": "bench"})
    with pytest.raises(ValueError, match="random trained to 900 tokens, TREX-UCT spent 1000"):  # equal compute
        check_comparable([rec("t1", "uct_global", 0), rec("t1", "random", 0, max_tokens=900)])
    check_comparable([rec("t1", "uct_global", 0), rec("t1", "random", 0, max_tokens=1000)])
    # combining two comparisons that ran one task with other budgets is refused with the reason, not pooled
    for part, budget in (("a", 6), ("b", 4)):
        (tmp_path / part).mkdir()
        (tmp_path / part / "runs.jsonl").write_text(json.dumps(rec("t1", "random" if budget == 4 else "uct_global",
                                                                   0, budget=budget)) + "\n")
    assert ftbench(["combine", "--runs", f"{tmp_path / 'a'},{tmp_path / 'b'}", "--out", str(tmp_path / "c")]) == 2
    assert "different spaces or budgets on t1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="refusing to compare policies given different spaces or budgets"):
        _check_runs(same, "data", 4, ["t1"], "runs/")  # an expectation for another space than the runs'


def test_ftbench_expect_writes_the_exact_expectation_beside_the_sampled_runs(task_file, tmp_path, bench_ctx,
                                                                            monkeypatch):
    """On a complete hand-made table: exact random search from the table, TREX-UCT and the baselines from the
    runs, the ratios with intervals, the seeds-only caveat, and the command."""
    from ftbench import replay_runner
    from ftbench.expectations import expectations, render
    from ftbench.runner import run_comparison

    table = hand_made_table(task_file, tmp_path, bench_ctx)
    no_insight_store(monkeypatch)
    runner = replay_runner.runner_for(table)
    with no_training(tmp_path):
        runs = run_comparison([str(task_file)], ["uct_global", "random", "tpe"], [0, 1], 4, tmp_path / "out",
                              bench_ctx, space="bench", log=lambda *_: None, runner=runner)
        result = expectations([str(task_file)], "bench", 4, bench_ctx, runner, runs, None, tmp_path / "work")
    name = result["tasks"][0]
    rows = [json.loads(line) for line in open(table) if '"train": {}' not in line]  # the trained configs
    vals = [r["scores"]["val"]["score"] for r in rows]
    gains = [r["scores"]["test"]["score"] - 0.05 for r in rows]  # base test 0.05
    assert len(rows) == result["per_task"][name]["configs"] == 18
    assert result["trials"]["random_exact"]["mean"] == pytest.approx(expected_best(vals, gains, 4))
    assert result["per_task"][name]["val_oracle"] == pytest.approx(max(gains))
    uct = result["trials"]["uct_global"]["mean"]
    assert result["trials"]["tpe"]["ratio"] == pytest.approx(uct / result["trials"]["tpe"]["mean"])
    text = render(result, "hand", "ftbench expect ...")
    assert "not the choice of tasks" in text and "ftbench expect ..." in text and math.isfinite(uct)


def test_pooled_tiers_average_every_task_and_refuse_a_task_in_two_tiers():
    """Both tiers together: the means and ratios run over every task of every tier, each with its own exact
    random expectation."""
    from ftbench.expectations import pool

    def tier(task, uct, tpe, exact):
        return {"tasks": [task], "space": "s", "budget": 4,
                "raw": {"trials": {"gains": {"uct_global": {task: uct}, "tpe": {task: tpe}}, "exact": {task: exact}}}}
    pooled = pool([tier("t1", [0.8, 0.8], [0.4, 0.6], 0.4), tier("t2", [0.6], [0.3, 0.3, 0.3], 0.2)])
    assert pooled["trials"]["tpe"]["mean"] == pytest.approx(0.4)
    assert pooled["trials"]["random_exact"]["mean"] == pytest.approx(0.3)
    assert pooled["trials"]["tpe"]["ratio"] == pytest.approx(0.7 / 0.4)
    assert pooled["trials"]["tpe"]["per_task"]["t2"]["ratio"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="two of the pooled tiers"):
        pool([tier("t1", [0.8], [0.4], 0.4), tier("t1", [0.8], [0.4], 0.4)])
