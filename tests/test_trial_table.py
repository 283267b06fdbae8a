"""One trial configuration table: every consumer derives from it, so a field added as one row (lora_dropout)
reaches the planner, the bounds check, human review, the LLM's schema and prompt, the report, progress lines
and the trainer without other edits; a SearchSpace restricts it without patching any module."""
from __future__ import annotations

import pytest

from trex.search_space import DEFAULT_SPACE, SearchSpace
from trex.trial_config import FIELDS, IDENTITY, key_view, value
from trex.tree import ROOT

DROPOUT = FIELDS["lora_dropout"]


def root_only() -> dict:
    return {ROOT: {"id": ROOT, "parent": None, "round": 0, "status": "evaluated", "score": 0.1, "visits": 1,
                   "value": 0.0, "trials": [{"id": "base", "epochs": 0}], "best_trial": "base",
                   "diagnosis_kind": "baseline", "results": {"base": {"status": "ok", "score": 0.1}}}}


def trained(cfg: dict) -> dict:
    tree = root_only()
    tree["n1"] = {"id": "n1", "parent": ROOT, "round": 1, "status": "evaluated", "score": 0.5, "visits": 1,
                  "value": 0.4, "trials": [{**cfg, "id": "t0"}], "best_trial": "t0", "diagnosis_kind": "overfitting",
                  "results": {"t0": {"status": "ok", "score": 0.5}}}
    return tree


def test_the_new_row_is_searched_by_the_planner_when_the_space_includes_it():
    from tools.planning.planner import default_config, propose

    space = SearchSpace({**DEFAULT_SPACE.grids, "lora_dropout": DROPOUT.grid})
    assert "lora_dropout" in space.searched() and "lora_dropout" not in DEFAULT_SPACE.searched()
    base = default_config(100, 0, space)
    assert base["lora_dropout"] == DROPOUT.default
    _, cfgs = propose(trained(base), "n1", 12, max_train=100, seed=0, space=space)
    assert {c.get("lora_dropout") for c in cfgs} - {DROPOUT.default}  # a move along the new dimension
    _, plain = propose(trained(default_config(100, 0)), "n1", 12, max_train=100, seed=0)
    assert all("lora_dropout" not in c for c in plain)  # the default space leaves it at its default


def test_the_bounds_check_and_human_review_use_its_bounds():
    from tools.planning.config_bounds import WARM_START_FIXED, check_config
    from tools.planning.planner import default_config
    from tools.planning.review import ReviewError, apply_edits, plan_payload

    cfg, reasons = check_config({**default_config(100, 0), "lora_dropout": 0.9}, max_train=100)
    assert cfg["lora_dropout"] == DROPOUT.high and "lora_dropout 0.9 clamped to 0.5" in reasons[0]
    cfg, reasons = check_config({**default_config(100, 0), "lora_dropout": -0.1}, max_train=100)
    assert cfg is None and "lora_dropout -0.1 must be >= 0" in reasons[-1]
    assert "lora_dropout" in WARM_START_FIXED  # a warm start keeps the parent adapter's dropout
    trials = [{**default_config(100, 0), "id": "t0"}]
    assert apply_edits(trials, {"t0": {"lora_dropout": "0.1"}}, [], 100)[0]["lora_dropout"] == 0.1
    with pytest.raises(ReviewError, match="t0.lora_dropout: 0.7 is out of range"):
        apply_edits(trials, {"t0": {"lora_dropout": 0.7}}, [], 100)
    editable = plan_payload({"id": "n1", "trials": trials}, 100)["editable"]
    assert editable["lora_dropout"] == "float in [0, 0.5]"
    # one set of bounds: review refuses exactly what the bounds check would have to clamp
    assert editable["lr"].startswith("float in [0, 0.01]") and editable["epochs"] == "int in [1, 20]"


def test_the_llm_schema_and_prompt_offer_it(tiny_task):
    from tools.llm.schemas import TrialProposal
    from tools.planning.llm_planner import PlanInput, compact, merge, planning_messages
    from tools.planning.planner import default_config

    assert "lora_dropout" in TrialProposal.model_fields
    assert "Dropout" in TrialProposal.model_fields["lora_dropout"].description
    prop = TrialProposal(lora_dropout=0.1, rationale="regularise")
    assert merge(default_config(100, 0), prop)["lora_dropout"] == 0.1
    text = "".join(m[1] for m in planning_messages(PlanInput(tree=root_only(), parent_id=ROOT, k=2, max_train=100,
                                                             seed=0, task=tiny_task)))
    assert "0 <= lora_dropout <= 0.5" in text and "lora_dropout (default 0.05)" in text
    assert "lora_dropout=0.1" in compact({**default_config(100, 0), "lora_dropout": 0.1})


def test_the_report_progress_and_lessons_show_it():
    from graph.cli.progress import describe
    from tools.planning.planner import default_config
    from tools.reports.report_data import config_text
    from tools.research.insights import differing

    cfg = {**default_config(128, 0), "lora_dropout": 0.1}
    assert "lora_dropout=0.1" in config_text(cfg)
    assert "lora_dropout 0.1" in describe(cfg)
    assert "lora_dropout" not in config_text(default_config(128, 0))  # at its default it is not noise
    assert differing(default_config(128, 0), cfg) == ["lora_dropout"]


def test_the_trainer_reads_it_and_old_trial_keys_do_not_change():
    from tools.worker.backends import lora_dropout

    assert lora_dropout({}) == DROPOUT.default and lora_dropout({"lora_dropout": 0.1}) == 0.1
    cfg = {"lr": 1e-3, "epochs": 2}
    assert key_view({**cfg, "lora_dropout": DROPOUT.default}) == cfg  # a default later row is not in the key
    assert key_view({**cfg, "lora_dropout": 0.1}) == {**cfg, "lora_dropout": 0.1}
    assert value(cfg, "lora_dropout") == DROPOUT.default and "lora_dropout" in IDENTITY


def test_a_restricted_space_is_passed_in_and_the_llm_planner_keeps_to_it(tiny_task):
    from tools.llm.schemas import RoundPlan
    from tools.planning.llm_planner import PlanInput, usable_configs

    space = SearchSpace.restricted({"lr": [1e-4, 1e-3], "epochs": [1, 2], "lora_r": [8], "batch_size": [8],
                                    "layer_fraction": [0.5], "template": ["chat"], "recipe": [{}],
                                    "max_samples": [1.0]})
    assert space.default_config(64, 0)["lr"] == 1e-3 and not space.warm_start
    plan = RoundPlan(rationale="try", trials=[{"lr": 4e-3, "lora_r": 32, "epochs": 2, "rationale": "bigger"}])
    configs, notes, _ = usable_configs(plan, PlanInput(tree=root_only(), parent_id=ROOT, k=1, max_train=64, seed=0,
                                                       task=tiny_task, space=space))
    assert configs[0]["lr"] == 1e-3 and configs[0]["lora_r"] == 8 and configs[0]["lora_alpha"] == 16
    assert any("moved to" in n for n in notes)
    with pytest.raises(ValueError, match="not a searchable trial field"):
        SearchSpace({"learning_rate": (1e-3,)})
