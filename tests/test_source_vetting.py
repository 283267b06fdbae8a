"""A candidate dataset becomes a training source only when its licence, size, fields and labels pass; each
refusal says why. A planned trial (an LLM's) may add only what passed, as vetted."""
import json

from tools.planning.config_bounds import check_config
from tools.planning.planner import default_config
from tools.research.source_vetting import vet, vet_all

GOOD = {"id": "more", "source": "shipped catalog", "path": "/data/more.jsonl", "size": 480, "license": "apache-2.0",
        "fields": ["question", "answer"], "task_type": "generation"}


def test_a_candidate_passes_with_its_fields_mapped_and_its_licence_carried():
    source, why = vet(GOOD, "generation", None, set())
    assert source == {"path": "/data/more.jsonl", "input_field": "question", "output_field": "answer", "weight": 0.5,
                      "licence": {"name": "apache-2.0"}}
    assert "question -> input" in why
    nc, _ = vet({**GOOD, "license": "cc-by-nc-4.0"}, "generation", None, set())
    assert nc["licence"]["commercial"] is False  # allowed, and the tuned model's user will be told
    hub, _ = vet({**GOOD, "path": None, "id": "org/set", "source": "hugging face hub",
                  "task_type": "text-generation"}, "generation", None, set())
    assert hub["hf_id"] == "org/set" and "path" not in hub


def test_each_refusal_says_why():
    cases = {
        "no licence stated": {**GOOD, "license": ""},
        "not one TREX knows": {**GOOD, "license": "proprietary-eula"},
        "at least 20 rows": {**GOOD, "size": "10K<n<100K"},
        "no input and output columns": {**GOOD, "fields": ["id", "blob"]},
        "made for classification": {**GOOD, "task_type": "classification"},
        "the task's own data": GOOD,
    }
    for reason, cand in cases.items():
        own = {"/data/more.jsonl"} if reason == "the task's own data" else set()
        source, why = vet(cand, "generation", None, own)
        assert source is None and reason in why, (reason, why)
    cls = {**GOOD, "task_type": "classification", "fields": ["text", "intent"], "labels": ["a", "b"]}
    assert vet(cls, "classification", ["a", "z"], set())[0] is not None
    assert "none of its labels" in vet(cls, "classification", ["y", "z"], set())[1]
    assert "labels are not known" in vet({**cls, "labels": []}, "classification", ["a"], set())[1]


def test_the_shipped_catalog_is_vetted_for_a_task(tmp_path):
    from tools.data.spec_loading import load_spec
    from tools.data.task_catalog import resolve_task
    from tools.research.dataset_search import local_catalog

    spec = load_spec(resolve_task("date_iso"))
    verdicts = {v["id"]: v for v in vet_all(local_catalog(spec), spec, spec.labels)}
    assert not verdicts["date_iso"]["accepted"] and verdicts["date_iso"]["why"] == "the task's own data"
    assert not verdicts["bank_intents"]["accepted"]  # a classification set for a generation task
    assert verdicts["unit_convert"]["accepted"] and verdicts["unit_convert"]["extra_source"]["input_field"] == "question"


def test_a_planned_trial_adds_only_vetted_sources_as_vetted():
    vetted = vet(GOOD, "generation", None, set())[0]
    cfg = {**default_config(100, 0), "recipe": {"extra_sources": [
        {"path": "/data/more.jsonl", "weight": 9, "input_field": "wrong"}, {"path": "/etc/passwd"}]}}
    out, reasons = check_config(cfg, max_train=100, sources=[vetted])
    assert out["recipe"]["extra_sources"] == [{**vetted, "weight": 2.0}]  # the vetted fields, the weight bounded
    assert any("/etc/passwd" in r and "vetted" in r for r in reasons)
    out, reasons = check_config(cfg, max_train=100)  # nothing vetted: nothing added
    assert "extra_sources" not in out.get("recipe", {}) and len(reasons) == 2


def test_the_llm_planner_is_shown_the_vetted_sources():
    from tools.planning.llm_planner import PlanInput, condensed_memory

    tree = {"root": {"id": "root", "parent": None, "round": 0, "trials": [], "results": {}, "status": "evaluated",
                     "score": 0.1, "reward": 0.0, "visits": 1, "value": 0.0}}
    vetted = vet(GOOD, "generation", None, set())[0]
    memory = condensed_memory(PlanInput(tree=tree, parent_id="root", k=2, max_train=100, seed=0,
                                        task={"name": "x", "task_type": "generation"}, sources=[vetted]))
    assert "collected source /data/more.jsonl: question -> input, answer -> output" in memory
    assert "extra_sources" in memory
    assert "collected source" not in condensed_memory(PlanInput(tree=tree, parent_id="root", k=2, max_train=100,
                                                                seed=0, task={"name": "x"}))
    json.dumps(vetted)  # stored in the checkpointed state: plain data
