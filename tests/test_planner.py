from trex.tree import ROOT
from tools.planning.planner import hyper_key, propose
from trex.trial_config import IDENTITY, value


def root_only():
    return {ROOT: {"id": ROOT, "parent": None, "round": 0, "status": "evaluated", "score": 0.2, "visits": 1,
                   "value": 0.0, "best_trial": "base", "trials": [{"id": "base", "epochs": 0}], "results": {},
                   "diagnosis_kind": "baseline"}}


def test_first_round_starts_from_the_default_and_is_reproducible():
    r1, a = propose(root_only(), ROOT, 3, max_train=100, seed=1)
    r2, b = propose(root_only(), ROOT, 3, max_train=100, seed=1)
    assert a == b and r1 == r2
    assert len({hyper_key(c) for c in a}) == 3
    assert a[0]["lr"] == 1e-3 and a[0]["max_samples"] == 100 and "default" in r1


def test_the_roots_other_first_round_slots_follow_the_baseline_prior_not_chance():
    for seed in range(5):
        _, (default, second, third) = propose(root_only(), ROOT, 3, max_train=100, seed=seed)
        assert second == {**default, "lr": 2e-3, "id": "t1"}  # the learning rate up one grid step
        assert third == {**default, "epochs": 3, "id": "t2"}  # then one more epoch


def with_child(diagnosis: str):
    tree = root_only()
    _, cfgs = propose(tree, ROOT, 1, max_train=100, seed=0)
    tree["n1"] = {"id": "n1", "parent": ROOT, "round": 1, "status": "evaluated", "score": 0.6, "visits": 1,
                  "value": 0.4, "best_trial": "t0", "trials": cfgs, "results": {"t0": {"score": 0.6}},
                  "diagnosis_kind": diagnosis}
    return tree, cfgs[0]


def test_overfitting_diagnosis_moves_epochs_or_lr_down():
    tree, parent_cfg = with_child("overfitting")
    rationale, cfgs = propose(tree, "n1", 2, max_train=100, seed=0)
    assert "overfitting" in rationale
    assert any(c["epochs"] < parent_cfg["epochs"] or c["lr"] < parent_cfg["lr"] for c in cfgs)


def test_diverged_diagnosis_lowers_the_learning_rate_first():
    tree, parent_cfg = with_child("diverged")
    _, cfgs = propose(tree, "n1", 1, max_train=100, seed=0)
    assert cfgs[0]["lr"] < parent_cfg["lr"]


def test_never_repeats_a_config_already_in_the_tree():
    tree, _ = with_child("no_gain")
    seen = {hyper_key(c) for c in tree["n1"]["trials"]}
    for i in range(2, 12):  # keep expanding the same node: the neighbourhood runs out, restarts kick in
        _, cfgs = propose(tree, "n1", 3, max_train=100, seed=0)
        keys = {hyper_key(c) for c in cfgs}
        assert len(keys) == 3 and not keys & seen
        seen |= keys
        tree[f"n{i}"] = {"id": f"n{i}", "parent": "n1", "round": i, "status": "evaluated", "score": 0.5,
                         "visits": 1, "value": 0.0, "best_trial": "t0", "trials": cfgs, "results": {}}


def test_underfitting_proposes_to_continue_training_the_parent():
    tree, parent_cfg = with_child("underfitting")
    _, cfgs = propose(tree, "n1", 2, max_train=100, seed=0)
    warm = [c for c in cfgs if c.get("warm_start")]
    assert warm and warm[0]["epochs"] == 1 and warm[0]["lora_r"] == parent_cfg["lora_r"]
    _, first = propose(root_only(), ROOT, 3, max_train=100, seed=0)
    assert not any(c.get("warm_start") for c in first)  # nothing trained yet to start from


def test_a_warm_start_is_new_under_each_parent():
    tree, _ = with_child("underfitting")
    _, cfgs = propose(tree, "n1", 1, max_train=100, seed=0)
    tree["n2"] = {"id": "n2", "parent": "n1", "round": 2, "status": "evaluated", "score": 0.7, "visits": 1,
                  "value": 0.5, "best_trial": "t0", "trials": cfgs, "results": {"t0": {"score": 0.7}},
                  "diagnosis_kind": "underfitting"}
    _, again = propose(tree, "n2", 1, max_train=100, seed=0)
    assert again[0].get("warm_start")  # the same schedule, but on n2's adapter: not a repeat


def test_a_prior_from_an_earlier_run_is_snapped_to_the_grid_and_anchors_the_first_round():
    prior = {"config": {"lr": 3e-3, "epochs": 3, "lora_r": 16, "lora_alpha": 32, "batch_size": 8, "max_samples": 500,
                        "layer_fraction": 1.0, "template": "plain", "warm_start": False}, "task": "bank_intents",
             "gain": 0.6}
    rationale, cfgs = propose(root_only(), ROOT, 3, max_train=100, seed=1, priors=[prior])
    first = cfgs[0]
    # 3e-3 is off the grid: the nearest value on a log scale; 500 samples are more than this task allows.
    assert (first["lr"], first["epochs"], first["lora_r"], first["lora_alpha"], first["max_samples"],
            first["layer_fraction"], first["template"]) == (2e-3, 3, 16, 32, 100, 1.0, "plain")
    assert cfgs[1]["lr"] == 1e-3 and cfgs[1]["epochs"] == 2  # the default keeps a slot
    assert sum(value(cfgs[2], d) != value(first, d) for d in IDENTITY) == 1  # one move away from the prior
    assert "earlier run on bank_intents" in rationale and "prior from bank_intents (gain +0.600)" in rationale
    # A trained parent is its own anchor: priors only shape a first round.
    tree, parent_cfg = with_child("improving")
    _, later = propose(tree, "n1", 2, max_train=100, seed=1, priors=[prior])
    assert all(c["lr"] != 2e-3 or c["template"] != "plain" for c in later)


def test_a_spec_declared_space_holds_every_trial_the_planner_makes():
    """Pins, lists and ranges from a task spec's search_space: no diagnosis or prior moves a trial out of them."""
    from trex.search_space import DEFAULT_SPACE

    space = DEFAULT_SPACE.narrowed({"lora_r": 16, "lr": {"max": 1e-3}, "template": ["plain"], "warm_start": False})
    tree = root_only()
    parent = ROOT
    for i, diagnosis in enumerate(["underfitting", "no_gain", "overfitting", "underfitting", "diverged"], start=1):
        _, cfgs = propose(tree, parent, 3, max_train=100, seed=0, space=space)
        assert cfgs
        for c in cfgs:
            assert c["lora_r"] == 16 and c["lora_alpha"] == 32 and c["lr"] <= 1e-3
            assert value(c, "template") == "plain" and not c.get("warm_start")
        tree[f"n{i}"] = {"id": f"n{i}", "parent": parent, "round": i, "status": "evaluated", "score": 0.5 + i / 100,
                         "visits": 1, "value": 0.1, "best_trial": "t0", "trials": cfgs,
                         "results": {"t0": {"score": 0.5 + i / 100}}, "diagnosis_kind": diagnosis}
        parent = f"n{i}"
    # An LLM's proposal (or a reviewer's) outside the declared values is moved onto them, saying so.
    held, notes = space.onto({"lr": 1e-3, "lora_r": 64, "lora_alpha": 128, "template": "chat", "warm_start": True}, 100)
    assert held["lora_r"] == 16 and held["lora_alpha"] == 32 and held["template"] == "plain" and not held["warm_start"]
    assert any("lora_r 64 moved to 16" in n for n in notes) and any("warm_start dropped" in n for n in notes)
