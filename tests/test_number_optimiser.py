"""numbers="tpe" (issue 34 item 2): inside a node an Optuna TPE sampler fitted to every trial of the run proposes
the numbers, only inside the space's grid; a pinned number stays; seeded."""
from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from tools.planning.number_optimiser import fill_numbers, numeric_grid, run_history
from tools.planning.planner import default_config, hyper_key, propose
from trex.search_space import DEFAULT_SPACE, SearchSpace
from trex.trial_config import FIELDS, default_alpha, value
from trex.tree import ROOT

MAX_TRAIN = 100


def random_space(rng: random.Random) -> SearchSpace:
    """A restriction of the trial table: 1 to all of each field's grid values (numbers and categories)."""
    grids = {}
    for name, f in FIELDS.items():
        if f.searched and f.grid and rng.random() < 0.8:
            grids[name] = tuple(rng.sample(list(f.grid), rng.randint(1, len(f.grid))))
    grids.setdefault("lr", (1e-4, 1e-3, 3e-3))
    return SearchSpace(grids, warm_start=rng.random() < 0.5, exact=True)


def random_tree(rng: random.Random, space: SearchSpace, n_nodes: int) -> dict:
    """A run so far: nodes of 2 trials each anywhere in the space, scored at random, some failed."""
    tree = {ROOT: {"id": ROOT, "parent": None, "round": 0, "status": "evaluated", "score": 0.1, "visits": 1,
                   "value": 0.0, "best_trial": "base", "trials": [{"id": "base", "epochs": 0}],
                   "results": {"base": {"score": 0.1, "status": "ok"}}, "diagnosis_kind": "baseline"}}
    for i in range(1, n_nodes + 1):
        cfgs = []
        for j in range(2):
            cfg = {**default_config(MAX_TRAIN, 0, space), "id": f"t{j}"}
            for name in space.grids:
                cfg[name] = rng.choice(space.values(name, MAX_TRAIN))
            cfg["lora_alpha"] = default_alpha(cfg["lora_r"])
            cfgs.append(cfg)
        results = {c["id"]: ({"score": rng.random(), "status": "ok"} if rng.random() < 0.8
                             else {"score": 0.0, "status": "failed"}) for c in cfgs}
        tree[f"n{i}"] = {"id": f"n{i}", "parent": ROOT if i == 1 else f"n{i - 1}", "round": i, "status": "evaluated",
                         "score": max(r["score"] for r in results.values()), "visits": 1, "value": 0.0,
                         "best_trial": "t0", "trials": cfgs, "results": results,
                         "diagnosis_kind": rng.choice(["underfitting", "no_gain", "overfitting", "improving"])}
    return tree


def test_proposals_stay_inside_the_declared_space_over_many_seeds_and_spaces():
    for case in range(40):
        rng = random.Random(case)
        space = random_space(rng)
        tree = random_tree(rng, space, rng.randint(0, 4))
        parent = max(tree, key=lambda n: tree[n]["round"])
        rationale, picks = propose(tree, parent, 3, MAX_TRAIN, seed=case, space=space, numbers="tpe")
        tried = {hyper_key(t) for n in tree.values() for t in n["trials"] if not t.get("warm_start")}
        for i, cfg in enumerate(picks):
            sampled = f"t{i}: numbers by TPE" in rationale  # else the planner's own (the default recipe, a warm start)
            for name in numeric_grid(space, MAX_TRAIN) if sampled else ():  # the categories are the planner's
                assert value(cfg, name) in space.values(name, MAX_TRAIN), (case, name, cfg)
            if not cfg.get("warm_start"):
                assert hyper_key(cfg) not in tried, (case, cfg)
                assert cfg["lora_alpha"] == default_alpha(cfg["lora_r"])
        assert len({hyper_key(c) + (c.get("warm_start"),) for c in picks}) == len(picks)


def test_a_pinned_number_stays_pinned_and_the_rest_come_from_the_sampler():
    rng = random.Random(7)
    tree = random_tree(rng, DEFAULT_SPACE, 3)
    base = {**default_config(MAX_TRAIN, 0), "id": "t0", "lr": 5e-5, "epochs": 8}
    grid = numeric_grid(DEFAULT_SPACE, MAX_TRAIN)
    moved = 0
    for seed in range(10):
        out, notes = fill_numbers([dict(base), dict(base), {**base, "warm_start": True}], [{"lr"}, {"*"}, set()],
                                  tree, "n3", DEFAULT_SPACE, MAX_TRAIN, seed)
        assert out[0]["lr"] == 5e-5 and "numbers by TPE" in notes[0]  # pinned lr kept, the others sampled
        assert all(out[0][n] in v for n, v in grid.items())
        assert out[1] == base and out[2] == {**base, "warm_start": True}  # "*" and a warm start: as planned
        moved += out[0]["epochs"] != 8
    assert moved > 0


def test_the_sampler_sees_every_trial_of_the_run():
    rng = random.Random(3)
    tree = random_tree(rng, DEFAULT_SPACE, 4)
    history = run_history(tree)
    assert len(history) == 8 and sum(s is None for _, s in history) == sum(
        r["status"] != "ok" for n in tree.values() for r in n["results"].values())  # failed: worst value
    base = [{**default_config(MAX_TRAIN, 0), "id": "t0"}]
    before = [fill_numbers(base, [set()], tree, "n4", DEFAULT_SPACE, MAX_TRAIN, s)[0][0] for s in range(8)]
    _, notes = fill_numbers(base, [set()], tree, "n4", DEFAULT_SPACE, MAX_TRAIN, 0)
    assert "on 8 trials" in notes[0]
    flipped = {nid: {**n, "results": {t: {**r, "score": 1.0 - r["score"]} for t, r in n["results"].items()}}
               for nid, n in tree.items()}  # same trials, other scores
    after = [fill_numbers(base, [set()], flipped, "n4", DEFAULT_SPACE, MAX_TRAIN, s)[0][0] for s in range(8)]
    assert before != after


def test_same_seed_same_numbers_other_seed_other_numbers():
    rng = random.Random(11)
    tree = random_tree(rng, DEFAULT_SPACE, 3)
    runs = {s: [propose(tree, "n3", 3, MAX_TRAIN, seed=s, numbers="tpe") for _ in range(2)] for s in range(4)}
    for a, b in runs.values():
        assert a == b
    assert len({str(a[1]) for a, _ in runs.values()}) > 1


def test_prior_is_the_default_and_an_unknown_value_is_refused(monkeypatch):
    from trex.context import Context

    tree = random_tree(random.Random(1), DEFAULT_SPACE, 2)
    assert propose(tree, "n2", 2, MAX_TRAIN, seed=0) == propose(tree, "n2", 2, MAX_TRAIN, seed=0, numbers="prior")
    with pytest.raises(ValueError, match="prior or tpe"):
        propose(tree, "n2", 2, MAX_TRAIN, seed=0, numbers="cmaes")
    monkeypatch.setenv("TREX_NUMBERS", "cmaes")
    with pytest.raises(ValueError, match="numbers must be one of prior, tpe"):
        Context()
    monkeypatch.delenv("TREX_NUMBERS")
    assert Context().numbers == "prior"


def test_plan_round_takes_its_numbers_from_the_sampler_when_the_context_says_tpe(tiny_task, tmp_path):
    from nodes.plan_round import plan_round
    from tools.data.spec_loading import parse_spec
    from trex.context import Context
    from trex.state import State

    spec = parse_spec({**tiny_task, "budget": {"rounds": 3, "configs_per_round": 2, "max_train_samples": 100}})
    tree = random_tree(random.Random(5), DEFAULT_SPACE, 2)
    state = State(task=spec.model_dump(), tree=tree, selected="n2", round=2, data={"sizes": {"train": 100}})
    nodes = {}
    for numbers in ("prior", "tpe"):
        ctx = Context(chat_model="", cache_dir=str(tmp_path), seed=3, numbers=numbers)
        nodes[numbers] = plan_round(state, SimpleNamespace(context=ctx))["tree"]["n3"]
    assert "numbers by TPE on 4 trials" in nodes["tpe"]["rationale"]
    assert "TPE" not in nodes["prior"]["rationale"]


def test_the_llm_planner_pins_the_numbers_it_gives_and_the_sampler_fills_the_rest(tiny_task, tmp_path):
    from nodes.plan_round import plan_round
    from tests.fake_chat import fake_model
    from tools.data.spec_loading import parse_spec
    from tools.llm.chat_models import chat_source
    from trex.context import Context
    from trex.state import State

    spec = parse_spec({**tiny_task, "budget": {"rounds": 3, "configs_per_round": 2, "max_train_samples": 100}})
    tree = random_tree(random.Random(5), DEFAULT_SPACE, 2)
    plan = {"rationale": "smaller steps", "trials": [{"lr": 5e-5, "rationale": "lower lr"},
                                                     {"lr": 1e-4, "template": "plain", "rationale": "plain text"}]}
    state = State(task=spec.model_dump(), tree=tree, selected="n2", round=2, data={"sizes": {"train": 100}})
    grid = numeric_grid(DEFAULT_SPACE, 100)
    trials = {}
    for numbers in ("prior", "tpe"):
        ctx = Context(chat_model="", cache_dir=str(tmp_path), seed=3, numbers=numbers)
        node = plan_round(state, SimpleNamespace(context=ctx), chat=chat_source(fake_model(RoundPlan=plan)))["tree"]["n3"]
        assert node["planner"] == "llm", node.get("config_notes")
        trials[numbers] = node["trials"]
    anchor = tree["n2"]["trials"][0]
    for mode, (low, plain) in trials.items():
        assert low["lr"] == 5e-5 and plain["lr"] == 1e-4 and plain["template"] == "plain"  # pinned: kept
    assert all(trials["prior"][0][n] == anchor[n] for n in ("epochs", "lora_r", "batch_size"))  # the anchor's
    assert any(t[n] != anchor[n] for t in trials["tpe"] for n in grid if n != "lr")  # the sampler's
    assert all(t[n] in v for t in trials["tpe"] for n, v in grid.items() if n != "lr")
