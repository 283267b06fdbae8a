"""Shared fixtures: a tiny real model (built once per session) and a tiny real task."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from trex.context import Context
from tools.data.spec_loading import parse_spec

REPO = Path(__file__).resolve().parent.parent
LABELS = ["balance", "card_lost", "loan"]


@pytest.fixture(scope="session", autouse=True)
def allow_test_data_dirs(tmp_path_factory):
    """Tests keep their data in pytest's temp dirs, outside the cwd: allow them (TREX_DATA_DIRS, safe_paths)."""
    old = os.environ.get("TREX_DATA_DIRS")
    os.environ["TREX_DATA_DIRS"] = os.pathsep.join(filter(None, [old, str(tmp_path_factory.getbasetemp())]))
    yield
    if old is None:
        os.environ.pop("TREX_DATA_DIRS", None)
    else:
        os.environ["TREX_DATA_DIRS"] = old


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """A cache dir holding the tiny random model, built once in a subprocess (as trials build it)."""
    from tools.trials.trial_runner import run_job  # noqa: F401  (same environment as trials)
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("model-cache")
    code = ("from tools.models.base_models import resolve_model_dir, TINY; import sys; "
            f"print(resolve_model_dir(TINY, {str(root)!r}))")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True)
    return root


@pytest.fixture
def cache_dir(tmp_path, model_cache) -> Path:
    """A fresh trial cache per test that shares the session's built models."""
    d = tmp_path / "cache"
    d.mkdir()
    os.symlink(model_cache / "models", d / "models")
    return d


@pytest.fixture
def tiny_task(tmp_path) -> dict:
    rows = [json.loads(line) for line in (REPO / "tools/data/shipped/data/bank_intents.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["intent"] in LABELS][:60]
    data = tmp_path / "tiny.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {
        "name": "tiny_intents", "goal": "route banking messages", "task_type": "classification",
        "base_model": "trex/tiny-random", "instruction": "Which request is this?",
        "data": [{"path": str(data), "input_field": "text", "output_field": "intent"}],
        "labels": LABELS, "metric": "accuracy",
        "splits": {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 0},
        "budget": {"rounds": 2, "configs_per_round": 2, "max_train_samples": 16},
    }


@pytest.fixture
def context(tmp_path, cache_dir) -> Context:
    return Context(runs_dir=str(tmp_path / "runs"), cache_dir=str(cache_dir), trial_timeout_s=300,
                   max_eval_examples=12, device="cpu")


def spec_of(task: dict):
    return parse_spec(task)


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL database URL: TREX_TEST_POSTGRES_URL (.ci/run sets it), else a throwaway server for
    the session (tests/postgres_server.py), else the test skips and says why."""
    from tests.postgres_server import database_for_tests

    yield from database_for_tests()


# The slow loop, marked here in one place rather than in every test file (docs/development.md). A test is `slow`
# when it needs the tiny model (a subprocess that imports torch: seconds each) or a real server, or when
# `--durations` measured it over ~1 s; `e2e` ones run a whole graph, the CLI or a server. `make test-fast`
# deselects `slow`; `make test` runs everything.
SLOW_FIXTURES = {"model_cache", "postgres_url"}
E2E_MODULES = {"test_graph_run", "test_crash_resume", "test_langgraph_server", "test_postgres", "test_run_anywhere",
               "test_compare_runs"}
SLOW_MODULES = E2E_MODULES | {"test_fuzz_specs", "test_base_models"}
SLOW_TESTS = {
    "test_insights::test_store_survives_reopening_in_a_new_offline_process",
    "test_insights::test_http_client_against_a_real_chroma_server",
    "test_insights::test_openai_embeddings_against_a_local_openai_compatible_server",
    "test_insights::test_prior_configs_rank_this_task_first_then_like_tasks_on_the_same_model",
    "test_llm_distill_research::test_the_chat_model_writes_a_brief_citing_the_notes",
    "test_llm_distill_research::test_llm_lessons_are_stored_with_the_best_config_rule_lesson",
    "test_llm_distill_research::test_offline_distillation_is_the_rule_based_one",
    "test_llm_distill_research::test_a_lesson_without_a_number_is_retried_once_then_the_rules_answer",
    "test_llm_usage_ledger::test_training_job_hands_the_validation_judge_usage_to_the_train_node",
    "test_llm_usage_ledger::test_evaluate_node_folds_fresh_judge_usage_and_ignores_cached_results",
    "test_ftbench_runner::test_replay_runs_every_policy_at_equal_budget_and_writes_results",
    "test_ftbench_runner::test_a_second_run_with_the_first_runs_store_starts_from_its_best",
    "test_ftbench_runner::test_in_the_wide_data_space_the_tree_backtracks_where_a_chain_overshoots",
    "test_ray::test_importing_the_graph_does_not_import_ray",
    "test_cli_and_import::test_importing_the_graph_is_light",
    "test_spec_roundtrip::test_a_dumped_spec_validates_to_the_same_spec",
    "test_progress::test_worker_progress_lines_reach_the_stream_while_it_runs",
    "test_parallel_trials::test_ctrl_c_kills_the_workers_before_trex_goes_on",
    "test_parallel_trials::test_a_round_fans_out_bounded_by_max_parallel_trials_and_keeps_the_plan_order",
    "test_parallel_trials::test_killing_trex_kills_its_training_worker",
    # The embedding model (ONNX) loads in seconds; these index or embed with it.
    "test_insights::test_embeddings_place_related_sentences_closer",
    "test_insights::test_a_text_is_embedded_once_per_process",
    "test_insights::test_corpus_is_indexed_once_and_retrieves_the_relevant_note",
    "test_llm_distill_research::test_offline_research_has_an_extractive_brief",
    # Whole graph runs (fake trials) and multi-run comparisons.
    "test_wall_budget_resume::test_a_run_resumed_after_a_long_pause_is_charged_its_running_time_and_runs_its_next_round",
    "test_wall_budget_resume::test_a_run_whose_running_time_exceeds_the_budget_still_stops_across_a_resume",
    "test_wall_budget_resume::test_a_run_without_resumes_is_charged_from_its_start",
    "test_ftbench_expectations::test_ftbench_expect_writes_the_exact_expectation_beside_the_sampled_runs",
    "test_ftbench_runner::test_per_round_runs_the_same_budget_in_more_smaller_rounds",
    "test_slow_names::test_a_real_collection_with_a_misspelt_name_fails_naming_it",  # two pytest subprocesses
}


def stale_slow_names(items, slow_tests=None, slow_modules=None) -> list[str]:
    """The names in SLOW_TESTS (and SLOW_MODULES) that name no test: a misspelt or deleted name would otherwise
    mark nothing, silently. A module is checked whenever its file is gone; its test names against the tests
    this session collected from it (the module's test functions, so a run of one test still checks its file's
    names); a module this session did not collect is checked by the next run that does (make test and make
    test-fast collect every module)."""
    slow_tests = SLOW_TESTS if slow_tests is None else slow_tests
    slow_modules = SLOW_MODULES if slow_modules is None else slow_modules
    here = Path(__file__).resolve().parent
    collected = {item.module.__name__.rsplit(".", 1)[-1]: item.module for item in items if hasattr(item, "module")}
    stale = [m for m in sorted(slow_modules) if not (here / f"{m}.py").is_file()]
    for name in sorted(slow_tests):
        module, _, func = name.partition("::")
        if not (here / f"{module}.py").is_file():
            stale.append(name)
        elif module in collected and not _defines_test(collected[module], func):
            stale.append(name)
    return stale


def _defines_test(module, func: str) -> bool:
    classes = [c for c in vars(module).values() if isinstance(c, type) and c.__name__.startswith("Test")]
    return func.startswith("test") and any(callable(getattr(owner, func, None)) for owner in [module, *classes])


def check_slow_names(items, slow_tests=None, slow_modules=None) -> None:
    """Stops the collection, naming them, when SLOW_TESTS or SLOW_MODULES holds a name that names no test."""
    stale = stale_slow_names(items, slow_tests, slow_modules)
    if stale:
        raise pytest.UsageError("tests/conftest.py marks tests slow that do not exist (misspelt, renamed or "
                                "deleted): " + ", ".join(stale))


def _mark_slow(item) -> None:
    module = item.module.__name__.rsplit(".", 1)[-1]
    name = f"{module}::{item.name.split('[')[0]}"
    if module in E2E_MODULES:
        item.add_marker(pytest.mark.e2e)
    if module in SLOW_MODULES or name in SLOW_TESTS or SLOW_FIXTURES & set(item.fixturenames):
        item.add_marker(pytest.mark.slow)


def pytest_collection_modifyitems(items):
    """Marks the slow loop (above). Groups for pytest-xdist (`make test` runs two workers with `--dist loadgroup`):
    every test that talks to PostgreSQL runs on one worker (.ci/run gives all of them one shared database, and
    LangGraph's checkpointer creates its tables on first use, which two sessions must not race on), and a module
    whose tests share a module-scoped fixture (a finished run, a Ray cluster) keeps them on one worker, so it is
    built once. A name in SLOW_TESTS that names no test stops the run (check_slow_names)."""
    check_slow_names(items)
    for item in items:
        _mark_slow(item)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "postgres_url" in item.fixturenames or "postgres" in params.values():
            item.add_marker(pytest.mark.xdist_group("postgres"))
            continue
        defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        if any(d.scope == "module" for chain in defs.values() for d in chain):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
