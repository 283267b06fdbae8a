"""Data strategies in the search: the offline tasks where data decides, the data moves a spec declares, the
built-in planner's choice of a strategy type before a configuration, and collected sources becoming moves."""
import json

import pytest

from ftbench import generate_data_tasks as gen
from ftbench.space import all_configs, space
from tools.data import recipe_ops
from tools.data.datasets import prepare_splits
from tools.data.recipes import apply_recipe
from tools.data.spec_loading import load_spec
from tools.data.task_catalog import resolve_task
from tools.planning.planner import SOURCE_CLEANUP, propose, recipe_variants
from trex.search_space import DEFAULT_SPACE, SearchSpace, declared_grid
from trex.spec import SpecError
from trex.tree import ROOT

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent
DATA_TASKS = ("support_queues", "clock_24h", "phone_e164")


def test_generator_is_deterministic_and_matches_the_committed_files(tmp_path):
    written = gen.write(tmp_path)
    assert len(written) == 6
    for path in written:
        assert path.read_text(encoding="utf-8") == (REPO / "tools" / "data" / "shipped" / "data" / path.name).read_text(encoding="utf-8")
    assert gen.support_queues(seed=99) != gen.support_queues()


def true_queue(text: str) -> str:
    """The queue whose template wrote a message (openers and closers around it)."""
    import re
    for queue, templates in gen.QUEUES.items():
        for t in templates:
            if re.search(re.sub(r"\\\{\w+\\\}", ".+", re.escape(t)), text):
                return queue
    raise AssertionError(f"no template wrote {text!r}")


def test_the_noisy_pool_is_noisy_in_ways_rules_can_remove():
    own, pool = gen.support_queues()
    legacy = [r for r in pool if r["text"].startswith("[ticket-import]")]
    junk = [r for r in pool if recipe_ops.symbol_ratio(r["text"]) > 0.15]
    clean = [r for r in pool if r not in legacy and r not in junk]
    assert len(legacy) == len(junk) == len(clean) == 100
    assert all(recipe_ops.symbol_ratio(r["text"]) <= 0.15 for r in own + clean + legacy)
    assert all(true_queue(r["text"]) == r["queue"] for r in own + clean)
    assert all(true_queue(r["text"]) != r["queue"] for r in legacy)  # the old system's names mean other queues
    assert {r["queue"] for r in junk} == {"billing"}


def test_the_catalog_sources_share_fields_but_only_the_helpful_one_shares_the_answer_format():
    own, catalog = gen.clock_24h()
    assert all(len(r["time_24h"]) == 5 and r["time_24h"][2] == ":" for r in catalog)
    assert {r["time"][2] for r in own} == {":"}
    own, directory = gen.phone_e164()
    assert all(r["e164"].startswith("+1") and len(r["e164"]) == 12 for r in own)
    assert all(not r["phone"].startswith("+") and r["phone"].count("-") == 2 for r in directory)
    assert not {r["text"] for r in own} & {r["text"] for r in directory}


@pytest.mark.parametrize("task", DATA_TASKS)
def test_each_data_task_offers_three_data_moves_that_change_the_training_data(task, tmp_path):
    spec = load_spec(resolve_task(task))
    narrowed = space("data").narrowed(spec.search_space)
    variants = narrowed.grids["recipe"]
    assert len(variants) == 3 and variants[0] == {}
    data = prepare_splits(spec, tmp_path)
    train = [json.loads(line) for line in open(data["paths"]["train"], encoding="utf-8")]
    holdout = [json.loads(line)["input"] for s in ("val", "test") for line in open(data["paths"][s], encoding="utf-8")]
    made = [apply_recipe(train, v, holdout, base_dir=spec.base_dir) for v in variants]
    assert made[0][0] == train  # our data as it is
    assert len(made[1][0]) == 3 * len(train)  # the source at weight 2 triples the examples
    assert made[2][1]["filter"]["dropped"] > 0  # the third variant's rules remove rows
    # The search may use every example a recipe gives (up to the task's cap), not only the own split's size.
    assert narrowed.max_examples(spec.budget.max_train_samples, len(train)) == spec.budget.max_train_samples
    assert len(all_configs(narrowed, 60, 0)) == 27  # lr x epochs x data move


def test_the_filtered_pool_keeps_only_clean_rows(tmp_path):
    spec = load_spec(resolve_task("support_queues"))
    cleaned = spec.search_space["recipe"][2]
    rows, stats = apply_recipe([], cleaned, [], base_dir=spec.base_dir)
    assert stats["sources"][1]["filtered"] == 200
    _, pool = gen.support_queues()
    clean_pool = {r["text"] for r in pool if not r["text"].startswith("[ticket-import]")
                  and recipe_ops.symbol_ratio(r["text"]) <= 0.15}
    assert {r["input"] for r in rows} <= clean_pool


def test_a_spec_declares_recipe_variants_and_bad_ones_are_refused_by_name():
    assert declared_grid("recipe", [{}, {"dedup": "exact"}, {"dedup": "exact"}]) == ({}, {"dedup": "exact"})
    assert declared_grid("recipe", {"balance": "upsample"}) == ({"balance": "upsample"},)
    with pytest.raises(ValueError, match="empty list"):
        declared_grid("recipe", [])
    with pytest.raises(ValueError, match="variant 2.*dedup"):
        declared_grid("recipe", [{}, {"dedup": "sometimes"}])
    with pytest.raises(SpecError, match="variant 1"):
        load_spec({"name": "t", "goal": "g", "base_model": "m", "data": [{"path": "x.jsonl"}],
                   "search_space": {"recipe": ["filters"]}})
    # `recipe: [{}]` turns data moves off: the planner never leaves the task's own data.
    off = DEFAULT_SPACE.narrowed({"recipe": [{}]})
    tree = root_only()
    for seed in range(3):
        _, cfgs = propose(tree, ROOT, 3, max_train=60, seed=seed, space=off, sources=[POOL])
        assert all(not c.get("recipe") for c in cfgs)


POOL = {"path": "pool.jsonl", "input_field": "text", "output_field": "label", "weight": 1.0}


def root_only():
    return {ROOT: {"id": ROOT, "parent": None, "round": 0, "status": "evaluated", "score": 0.2, "visits": 1,
                   "value": 0.0, "best_trial": "base", "trials": [{"id": "base", "epochs": 0}], "results": {},
                   "diagnosis_kind": "baseline"}}


DATA_SPACE = SearchSpace.restricted({"lr": [3e-4, 1e-3, 3e-3], "epochs": [1, 2, 3], "recipe": [
    {}, {"extra_sources": [POOL]}, {"extra_sources": [POOL], "filters": {"max_symbol_ratio": 0.15}}]})


def test_at_the_root_the_second_slot_is_a_data_move_mixing_in_the_cleaned_source():
    rationale, (default, second) = propose(root_only(), ROOT, 2, max_train=60, seed=0, space=DATA_SPACE)
    assert not default.get("recipe")
    assert second["recipe"] == DATA_SPACE.grids["recipe"][2] and second["lr"] == default["lr"]
    assert "data strategy: add pool.jsonl (cleaned)" in rationale


def child(tree, parent, nid, trials, scores, best, diagnosis="no_gain"):
    tree[nid] = {"id": nid, "parent": parent, "round": len(tree), "status": "evaluated", "score": scores[best],
                 "visits": 1, "value": 0.0, "best_trial": best, "trials": trials,
                 "results": {t["id"]: {"score": s} for t, s in zip(trials, scores.values())},
                 "diagnosis_kind": diagnosis}
    return tree


def test_a_source_that_hurt_is_not_mixed_in_again_and_one_that_helped_is_kept():
    tree = root_only()
    _, first = propose(tree, ROOT, 2, max_train=60, seed=0, space=DATA_SPACE)
    # The default won (0.5); the cleaned source scored 0.2 below it. Next round, from n1, the data moves that mix
    # the pool in rank below every training move.
    child(tree, ROOT, "n1", first, {"t0": 0.5, "t1": 0.5}, "t0")
    _, second = propose(tree, "n1", 2, max_train=60, seed=0, space=DATA_SPACE)
    child(tree, "n1", "n2", second, {"t0": 0.5, "t1": 0.3}, "t0")
    tree["n2"]["trials"][1] = {**tree["n2"]["trials"][1], "recipe": DATA_SPACE.grids["recipe"][1]}
    rationale, third = propose(tree, "n1", 2, max_train=60, seed=0, space=DATA_SPACE)
    assert all(not c.get("recipe") for c in third), rationale
    # Where the source helped, the child's best keeps its recipe and training moves are made around it.
    tree = root_only()
    child(tree, ROOT, "n1", first, {"t0": 0.3, "t1": 0.7}, "t1")
    _, next_round = propose(tree, "n1", 2, max_train=60, seed=0, space=DATA_SPACE)
    assert all(c.get("recipe") == first[1]["recipe"] for c in next_round)


def test_once_the_cleaned_source_helped_the_next_move_is_not_the_raw_source():
    # As in a support_queues run with one trial per round: the default (n1), more epochs (n2, no gain), then
    # the cleaned pool mixed in (n3, +0.4). From n3 the raw pool would drop the cleaning that made the gain;
    # the pool's good effect must not count for it.
    tree = root_only()
    _, (default,) = propose(tree, ROOT, 1, max_train=60, seed=0, space=DATA_SPACE)
    child(tree, ROOT, "n1", [default], {"t0": 0.3}, "t0", diagnosis="underfitting")
    more = {**default, "epochs": 3}
    child(tree, "n1", "n2", [more], {"t0": 0.3}, "t0", diagnosis="no_gain")
    cleaned = {**more, "recipe": DATA_SPACE.grids["recipe"][2]}
    child(tree, "n2", "n3", [cleaned], {"t0": 0.7}, "t0", diagnosis="underfitting")
    for seed in range(5):
        rationale, (pick,) = propose(tree, "n3", 1, max_train=60, seed=seed, space=DATA_SPACE)
        assert pick.get("recipe") == cleaned["recipe"], rationale
    # A source that helped still counts for a recipe that adds it: from n2 (own data, the cleaned move tried),
    # the raw pool leads.
    rationale, (pick,) = propose(tree, "n2", 1, max_train=60, seed=0, space=DATA_SPACE)
    assert pick.get("recipe") == DATA_SPACE.grids["recipe"][1], rationale


def test_vetted_collected_sources_become_data_moves_only_where_the_space_does_not_hold_recipes():
    variants = recipe_variants(DEFAULT_SPACE, [POOL])
    assert {"extra_sources": [POOL]} in variants and {"extra_sources": [POOL], **SOURCE_CLEANUP} in variants
    assert recipe_variants(DATA_SPACE, [POOL]) == list(DATA_SPACE.grids["recipe"])  # an exact (benchmark) space
    assert recipe_variants(DEFAULT_SPACE.narrowed({"recipe": [{}]}), [POOL]) == [{}]  # the spec turned them off
    _, cfgs = propose(root_only(), ROOT, 2, max_train=60, seed=0, sources=[POOL])
    assert cfgs[1]["recipe"] == {"extra_sources": [POOL], **SOURCE_CLEANUP}


def test_without_sources_the_default_spaces_first_round_is_unchanged():
    # The reshaping recipes of the default space (dedup, balance) keep their low prior: lr up, then epochs up.
    _, (default, second, third) = propose(root_only(), ROOT, 3, max_train=100, seed=0)
    assert second["lr"] == 2e-3 and third["epochs"] == 3 and not second.get("recipe")


def test_a_data_move_whose_source_research_refused_comes_after_every_training_move():
    refused = {"pool.jsonl": "its answers are shaped like '999-999-9999', the task's like '+99999999999'"}
    rationale, cfgs = propose(root_only(), ROOT, 4, max_train=60, seed=0, space=DATA_SPACE, refused=refused)
    assert all(not c.get("recipe") for c in cfgs[:3])  # the default, then lr and epochs moves
    _, unrefused = propose(root_only(), ROOT, 4, max_train=60, seed=0, space=DATA_SPACE)
    assert unrefused[1].get("recipe")  # without the refusal the same slot mixes the source in


def test_vetting_refuses_a_source_whose_answers_have_another_shape():
    from tools.research.source_vetting import answer_shape, shape_mismatch, vet

    assert answer_shape("+14155550199") == "+99999999999" and answer_shape("13:30") == "99:99"
    own = [r["e164"] for r in gen.phone_e164()[0]]
    directory = [r["phone"] for r in gen.phone_e164()[1]]
    assert "999-999-9999" in shape_mismatch(own, directory)
    assert shape_mismatch(own, own) is None
    assert shape_mismatch(["a long free text answer number %d" % i + " word" * i for i in range(50)], directory) is None
    candidate = {"path": "/x/dir.jsonl", "license": "mit", "size": 400, "fields": ["text", "phone"],
                 "input_field": "text", "output_field": "phone", "output_sample": directory}
    source, why = vet(candidate, "generation", None, set(), own)
    assert source is None and "another answer format" in why
    source, why = vet({**candidate, "output_sample": own}, "generation", None, set(), own)
    assert source is not None


@pytest.mark.parametrize("task,accepted,refused", [
    ("support_queues", {"support_queues_pool"}, set()),
    ("clock_24h", {"clock_phrases_catalog"}, set()),
    ("phone_e164", set(), {"phone_directory_catalog"}),
    ("date_iso", set(), {"clock_phrases_catalog", "phone_directory_catalog"}),
])
def test_the_research_step_finds_each_data_tasks_catalog_source_and_vets_it(task, accepted, refused):
    from tools.data.datasets import load_records
    from tools.research.dataset_search import candidate_datasets
    from tools.research.source_vetting import vet_all

    spec = load_spec(resolve_task(task))
    datasets, errors = candidate_datasets(spec)
    assert not errors
    verdicts = vet_all(datasets, spec, spec.labels, [r["output"] for r in load_records(spec)[:200]])
    assert {v["id"] for v in verdicts if v["accepted"]} == accepted
    assert refused <= {v["id"] for v in verdicts if not v["accepted"]}
    assert all(v.get("path") for v in verdicts)


def test_plan_round_maps_research_refusals_onto_the_spaces_data_moves(tmp_path):
    from nodes.plan_round import refused_sources
    from trex.state import State

    spec = load_spec(resolve_task("phone_e164"))
    directory = str((REPO / "tools" / "data" / "shipped" / "data" / "phone_directory_catalog.jsonl").resolve())
    state = State(task=spec.model_dump(), run_dir=str(tmp_path),
                  research={"sources": [{"id": "phone_directory_catalog", "accepted": False, "why": "shape",
                                         "path": directory}]})
    narrowed = space("data").narrowed(spec.search_space)
    assert refused_sources(state, narrowed) == {"../data/phone_directory_catalog.jsonl": "shape"}


def _odd_columns_dataset(tmp_path):
    rows = [{"utterance": f"my card {i} is lost", "routing_code": "card_lost", "ticket": i} for i in range(30)]
    path = tmp_path / "odd.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"id": "odd", "source": "hub", "path": str(path), "size": 30, "license": "mit",
            "fields": ["utterance", "routing_code", "ticket"], "labels": ["card_lost"]}


@pytest.mark.parametrize("answers,accepted", [
    ([{"input_field": "utterance", "output_field": "routing_code", "reason": "text and its intent"}], True),
    ([{"input_field": "utterance", "output_field": "intent", "reason": "guess"}], False),  # not a column: refused
])
def test_a_chat_model_maps_columns_vetting_could_not_and_its_mapping_is_checked(tmp_path, answers, accepted):
    from tests.fake_chat import fake_model
    from tools.llm.chat_models import chat_source
    from tools.research.column_mapping import map_unmapped
    from tools.research.source_vetting import vet_all
    from trex.context import Context

    spec = load_spec(resolve_task("bank_intents"))
    cand = _odd_columns_dataset(tmp_path)
    verdicts = vet_all([cand], spec, spec.labels)
    assert not verdicts[0]["accepted"] and verdicts[0]["why"].startswith("no input and output columns")
    again = lambda c: vet_all([c], spec, spec.labels)[0]  # noqa: E731
    offline = Context(cache_dir=str(tmp_path / "c"))
    assert map_unmapped([cand], verdicts, spec, offline, None, again)[0] == verdicts  # no chat model: unchanged
    fake = fake_model(ColumnMap=answers)
    (verdict,), ledger = map_unmapped([cand], verdicts, spec, offline, None, again, chat_source(fake))
    assert verdict["accepted"] is accepted and ledger["calls"] >= 1
    assert "utterance" in fake.calls[0]["prompt"] and "my card 0 is lost" in fake.calls[0]["prompt"]
    if accepted:
        assert verdict["extra_source"]["input_field"] == "utterance" and verdict["mapped_by"] == "chat model"
    else:
        assert "mapping was not usable" in verdict["why"] and "intent" in verdict["why"]


def test_the_llm_planner_is_shown_the_declared_data_moves_and_may_pick_one():
    from tools.llm.schemas import RoundPlan
    from tools.planning.llm_planner import PlanInput, condensed_memory, usable_configs

    spec = load_spec(resolve_task("phone_e164"))
    narrowed = space("data").narrowed(spec.search_space)
    refused = {"../data/phone_directory_catalog.jsonl": "answers in another format"}
    p = PlanInput(tree=root_only(), parent_id=ROOT, k=2, max_train=60, seed=0, task=spec.model_dump(),
                  space=narrowed, refused=refused)
    memory = condensed_memory(p)
    assert memory.count("recipe (data strategy") == 3 and memory.count("research refused") == 2
    plan = RoundPlan.model_validate({"rationale": "try the directory", "trials": [
        {"rationale": "more data", "lr": 1e-3, "epochs": 2, "recipe": narrowed.grids["recipe"][1]}]})
    configs, notes, _ = usable_configs(plan, p)
    assert configs[0]["recipe"] == narrowed.grids["recipe"][1], notes  # a declared move is kept as declared


def test_the_loss_filter_drops_the_examples_the_starting_model_finds_least_likely(tiny_task, tmp_path, context):
    """The model-based filter on tiny data: the declared share is dropped, highest answer losses first, and the
    filtered trial is another trial to the cache (same prepared file, other training data)."""
    import tools.trials.trial_jobs as trial_jobs
    from tools.data.spec_loading import parse_spec

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    cfg = {"id": "t0", "lr": 2e-3, "epochs": 1, "lora_r": 4, "lora_alpha": 8, "batch_size": 4, "max_samples": 16,
           "layer_fraction": 1.0, "template": "plain", "seed": 0}
    plain = trial_jobs.run_training(spec, data, cfg, context)
    filtered = trial_jobs.run_training(spec, data, {**cfg, "recipe": {"loss_filter": 0.25}}, context)
    assert plain["status"] == filtered["status"] == "ok" and filtered["key"] != plain["key"]
    assert plain["train_examples"] == 16 and filtered["train_examples"] == 12
    report = filtered["loss_filter"]
    assert report["dropped"] == 4 and report["mean_loss_dropped"] > report["mean_loss_kept"]


def test_a_curriculum_orders_every_epoch_easy_to_hard_and_is_another_trial(tiny_task, tmp_path, context):
    """Curriculum order on tiny data: short_first and easy_first train the same examples in another order (another
    loss curve, another cache key); without one, the order and the key are what they were."""
    import tools.trials.trial_jobs as trial_jobs
    from tools.data.spec_loading import parse_spec

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    cfg = {"id": "t0", "lr": 2e-3, "epochs": 1, "lora_r": 4, "lora_alpha": 8, "batch_size": 4, "max_samples": 16,
           "layer_fraction": 1.0, "template": "plain", "seed": 0}
    plain = trial_jobs.run_training(spec, data, cfg, context)
    none = trial_jobs.train_key(spec, data, {**cfg, "recipe": {"curriculum": "none"}}, device=context.device,
                                backend=context.backend)
    assert none == plain["key"]
    runs = {c: trial_jobs.run_training(spec, data, {**cfg, "recipe": {"curriculum": c}}, context)
            for c in ("short_first", "easy_first")}
    for order, out in runs.items():
        assert out["status"] == "ok" and out["key"] != plain["key"] and out["train_examples"] == 16
        assert out["curriculum"]["order"] == order and out["curriculum"]["easiest"] <= out["curriculum"]["hardest"]
        assert out["loss_curve"] != plain["loss_curve"]


def test_epoch_order_sorts_by_difficulty_and_draws_the_same_numbers_without_one():
    import random

    from tools.worker.lora_training import epoch_order

    a, b = random.Random(3), random.Random(3)
    shuffled = epoch_order(6, a, None)
    assert sorted(shuffled) == list(range(6)) and shuffled != list(range(6))
    hard = [5.0, 1.0, 3.0, 1.0, 0.5, 9.0]
    ordered = epoch_order(6, b, hard)
    assert [hard[i] for i in ordered] == sorted(hard)
    assert a.random() == b.random()  # the curriculum consumed the same random numbers: later epochs, same seed
    assert ordered.index(1) < ordered.index(3) if shuffled.index(1) < shuffled.index(3) else ordered.index(3) < ordered.index(1)


def test_drop_high_loss_ranks_by_each_examples_own_answer_loss(context):
    import torch

    from tools.worker.lora_training import drop_high_loss, encode_example, example_losses
    from tools.worker.model_loading import load_model

    model, tok = load_model({"base_model": "trex/tiny-random", "cache_dir": context.cache_dir, "device": "cpu"})
    examples = [encode_example(tok, f"question {i}: ", "yes" if i % 2 else "no no no") for i in range(8)]
    batched = example_losses(model, examples, tok.pad_token_id, batch_size=3)
    single = [example_losses(model, [e], tok.pad_token_id)[0] for e in examples]
    assert batched == pytest.approx(single, rel=1e-4)  # padding and batching do not change an example's loss
    kept, report = drop_high_loss(model, examples, tok.pad_token_id, 0.5)
    dropped = [e for e in examples if e not in kept]
    assert len(dropped) == 4 and min(single[examples.index(e)] for e in dropped) >= \
        max(single[examples.index(e)] for e in kept)
    assert torch.is_grad_enabled()


RECIPE_MOVES = {  # each data strategy a planner may choose, and what it must do to the training records
    "extra_source": ({"extra_sources": [{"path": "pool.jsonl", "input_field": "text", "output_field": "label"}]},
                     lambda out, own: len(out) == 2 * len(own) and any(r["input"].startswith("pool") for r in out)),
    "rule_filter": ({"filters": {"regex_exclude": "^noise"}},
                    lambda out, own: len(out) < len(own) and not any(r["input"].startswith("noise") for r in out)),
    "dedup": ({"dedup": "exact"}, lambda out, own: len(out) < len(own) and len({r["input"] for r in out}) == len(out)),
    "balance": ({"balance": "downsample"},
                lambda out, own: len({sum(r["output"] == c for r in out) for c in ("a", "b")}) == 1),
    "cap": ({"max_samples": 5}, lambda out, own: len(out) == 5),
}


@pytest.mark.parametrize("move", RECIPE_MOVES)
def test_every_data_strategy_changes_the_training_data_as_declared(move, tmp_path):
    own = ([{"input": f"clean {i}", "output": "a"} for i in range(8)] + [{"input": f"noise {i}", "output": "b"}
                                                                          for i in range(3)]
           + [{"input": "clean 0", "output": "a"}])
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps({"text": f"pool {i}", "label": "a"}) + "\n"
                                                 for i in range(40)))
    recipe, holds = RECIPE_MOVES[move]
    out, _ = apply_recipe(own, recipe, [], base_dir=str(tmp_path))
    assert holds(out, own) and out != own


TRAINING_MOVES = {  # each training strategy, and what the trained result must show
    "epochs": ({"epochs": 2}, lambda r, base: r["steps"] == 2 * base["steps"]),
    "samples": ({"max_samples": 8}, lambda r, base: r["train_examples"] == 8 < base["train_examples"]),
    "lr": ({"lr": 2e-2}, lambda r, base: r["loss_curve"][-1] != base["loss_curve"][-1]),
    "rank": ({"lora_r": 8, "lora_alpha": 16}, lambda r, base: adapter(r)["r"] == 8 != adapter(base)["r"]),
    "layers": ({"layer_fraction": 0.5}, lambda r, base: 0 < n_layers(r) < n_layers(base)),
    "template": ({"template": "chat"}, lambda r, base: r["tokens"] != base["tokens"]),
    "sequence length": ({}, None),  # the spec's max_seq_length: tests/test_sequence_length.py
    "continue from the parent": ({}, None),  # warm start: tests/test_executor.py
}


def adapter(result):
    return json.load(open(f"{result['adapter']}/adapter_config.json"))


def n_layers(result):
    modules = adapter(result).get("layers_to_transform")
    return len(modules) if modules else 10**6


def test_every_training_strategy_changes_the_training_as_declared(tiny_task, tmp_path, context):
    import tools.trials.trial_jobs as trial_jobs
    from tools.data.spec_loading import parse_spec

    spec = parse_spec(tiny_task)
    data = prepare_splits(spec, tmp_path / "data")
    cfg = {"id": "t0", "lr": 2e-3, "epochs": 1, "lora_r": 4, "lora_alpha": 8, "batch_size": 4, "max_samples": 16,
           "layer_fraction": 1.0, "template": "plain", "seed": 0}
    base = trial_jobs.run_training(spec, data, cfg, context)
    assert base["status"] == "ok"
    for name, (change, holds) in TRAINING_MOVES.items():
        if holds is None:
            continue
        result = trial_jobs.run_training(spec, data, {**cfg, **change}, context)
        assert result["status"] == "ok" and holds(result, base), name
