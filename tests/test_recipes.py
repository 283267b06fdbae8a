"""Data recipes: the pure operators, the Recipe schema, apply_recipe and the prepared-file cache (no models)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tools.data import recipe_ops as ops
from tools.data import recipes
from tools.data.recipes import apply_recipe, prepare_train_file
from trex.recipe import ExtraSource, Recipe, RecipeError, parse_recipe, recipe_hash


def rec(i, o="x"):
    return {"input": i, "output": o}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


LONG = "the customer says their card was lost somewhere at the train station yesterday"
HINDI = "नमस्ते दुनिया, आप कैसे हैं?"  # matras are combining marks, not isalpha()


# ---- operators ---------------------------------------------------------------------------------------------

def test_filter_records_each_check_and_report():
    data = [rec("ok input", "a"), rec("hi", "a"), rec("x" * 50, "a"), rec("fine text", ""),
            rec("fine text two", "way too long output"), rec("spam: buy now", "a"), rec("#$%^&*()!@", "a"),
            rec("no keyword", "a")]
    before = copy.deepcopy(data)
    kept, report = ops.filter_records(data, min_input_chars=3, max_input_chars=20, max_output_chars=10,
                                      regex_include=r"\w", regex_exclude=r"^spam", max_symbol_ratio=0.5,
                                      drop_empty_output=True)
    assert kept == [rec("ok input", "a"), rec("no keyword", "a")]
    assert report == {"dropped": 6, "input_too_short": 1, "input_too_long": 1, "empty_output": 1,
                      "output_too_long": 1, "regex_exclude": 1, "regex_include": 1}
    assert data == before  # not mutated


def test_filter_min_output_and_no_filters_is_identity():
    data = [rec("a", "yes"), rec("b", "y")]
    assert ops.filter_records(data, min_output_chars=2) == ([rec("a", "yes")], {"dropped": 1, "output_too_short": 1})
    kept, report = ops.filter_records(data)
    assert kept == data and kept is not data and report == {"dropped": 0}


def test_symbol_ratio_keeps_non_latin_scripts():
    assert ops.symbol_ratio(HINDI) == pytest.approx(2 / len(HINDI))  # only ',' and '?'
    assert ops.symbol_ratio("สวัสดีครับ คุณสบายดีไหม") == 0.0
    assert ops.symbol_ratio("") == 0.0
    data = [rec(HINDI), rec("Привет, как дела?"), rec("<<<###>>> $$$ %%% ***")]
    kept, report = ops.filter_records(data, max_symbol_ratio=0.3)
    assert kept == data[:2] and report == {"dropped": 1, "symbol_ratio": 1}


def test_dedup_exact_normalizes_case_and_whitespace():
    data = [rec("Hello  World", "a"), rec("hello world", "b"), rec("other", "c")]
    assert ops.dedup_exact(data) == ([rec("Hello  World", "a"), rec("other", "c")], {"dropped": 1})


def test_dedup_near_drops_one_char_variant_and_keeps_distinct():
    variant = LONG.replace("yesterday", "yestorday")  # one character differs: Jaccard ~0.87
    distinct = "please tell me the current balance of my savings account and the last three payments"
    data = [rec(LONG, "card_lost"), rec(distinct, "balance"), rec(variant, "card_lost"), rec("hi"), rec("hi!")]
    kept, report = ops.dedup_near(data, 0.8)
    assert kept == [rec(LONG, "card_lost"), rec(distinct, "balance"), rec("hi"), rec("hi!")]
    assert report == {"dropped": 1}
    # At a stricter threshold the variant is no longer a duplicate.
    assert ops.dedup_near(data, 0.95)[1] == {"dropped": 0}


def test_near_index_scales_to_thousands_of_distinct_rows():
    data = [rec(f"order number {i} was shipped to warehouse {i * 7919 % 1000} on day {i % 365}") for i in range(3000)]
    kept, report = ops.dedup_near(data + [rec(data[5]["input"] + ".")], 0.9)
    assert report == {"dropped": 1} and len(kept) == 3000


def test_drop_leaks_exact_and_near():
    holdout = ["What is my BALANCE?", LONG]
    data = [rec("what is my  balance?"), rec(LONG.replace("train", "tram")), rec("unrelated question")]
    assert ops.drop_leaks(data, holdout) == (data[1:], {"dropped": 1})
    assert ops.drop_leaks(data, holdout, near_threshold=0.8) == ([rec("unrelated question")], {"dropped": 2})
    assert ops.drop_leaks(data, []) == (data, {"dropped": 0})


def test_balance_downsample_upsample_and_cap():
    data = [rec(f"a{i}", "A") for i in range(4)] + [rec(f"b{i}", "B") for i in range(2)] + [rec("c0", "C")]
    down, rep = ops.balance_classes(data, "downsample", seed=1)
    assert rep == {"dropped": 4, "added": 0, "classes": {"A": 1, "B": 1, "C": 1}}
    assert all(r in data for r in down)
    up, rep = ops.balance_classes(data, "upsample", seed=1)
    assert rep == {"dropped": 0, "added": 5, "classes": {"A": 4, "B": 4, "C": 4}}
    assert up.count(rec("c0", "C")) == 4 and up.count(rec("b0", "B")) == 2
    capped, rep = ops.balance_classes(data, "downsample", per_class_cap=2)
    assert rep["classes"] == {"A": 2, "B": 2, "C": 1} and rep["dropped"] == 2
    up3, rep = ops.balance_classes(data, "upsample", per_class_cap=3)
    assert rep == {"dropped": 1, "added": 3, "classes": {"A": 3, "B": 3, "C": 3}}
    assert ops.balance_classes(data, "upsample", seed=1) == (up, ops.balance_classes(data, "upsample", seed=1)[1])
    assert ops.balance_classes(data, "none")[0] == data
    with pytest.raises(ValueError, match="unknown balance mode"):
        ops.balance_classes(data, "smote")


def test_mix_sources_weights_with_and_without_cap():
    own = [rec(f"own{i}", "o") for i in range(10)]
    extra = [rec(f"ext{i}", "e") for i in range(20)]
    mixed, rep = ops.mix_sources([(own, 1.0), (extra, 0.5)], cap=9, seed=3)
    assert rep == {"taken": [6, 3], "repeated": 0, "dropped": 21}
    assert sum(r["output"] == "o" for r in mixed) == 6 and sum(r["output"] == "e" for r in mixed) == 3
    assert ops.mix_sources([(own, 1.0), (extra, 0.5)], cap=9, seed=3)[0] == mixed  # seeded
    uncapped, rep = ops.mix_sources([(own, 1.0), (extra, 0.5)])
    assert rep["taken"] == [10, 5] and uncapped[:10] == own
    # A weight asking for more than a source holds repeats it: 10 * 2.0 = 20 from 8 records.
    small = extra[:8]
    rep = ops.mix_sources([(own, 1.0), (small, 2.0)])[1]
    assert rep == {"taken": [10, 20], "repeated": 12, "dropped": 0}
    assert ops.mix_sources([(own, 1.0)]) == (own, {"taken": [10], "repeated": 0, "dropped": 0})


def test_sample_cap_is_seeded_and_ordered():
    data = [rec(str(i)) for i in range(10)]
    out, rep = ops.sample_cap(data, 4, seed=7)
    assert len(out) == 4 and rep == {"dropped": 6} and out == sorted(out, key=lambda r: int(r["input"]))
    assert ops.sample_cap(data, 4, seed=7)[0] == out
    assert ops.sample_cap(data, None) == (data, {"dropped": 0})


# ---- the Recipe schema ---------------------------------------------------------------------------------------

def full_recipe() -> Recipe:
    return parse_recipe({
        "extra_sources": [{"path": "extra.parquet", "weight": 0.5}, {"hf_id": "org/set", "split": "validation",
                                                                     "input_field": "text", "output_field": "label"}],
        "filters": {"min_input_chars": 2, "regex_exclude": "^spam", "max_symbol_ratio": 0.4},
        "dedup": "near", "near_threshold": 0.85, "balance": "upsample", "per_class_cap": 100,
        "max_samples": 50_000, "seed": 4, "synthesis": {"n": 10, "instruction": "paraphrase"}})


def test_recipe_json_round_trip_and_defaults():
    r = full_recipe()
    assert Recipe.model_validate(json.loads(json.dumps(r.model_dump()))) == r
    assert parse_recipe({}) == Recipe() == parse_recipe(None)


def test_recipe_survives_langgraph_checkpoint_round_trip():
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    serde = JsonPlusSerializer()
    state = {"node": {"id": "n3", "recipe": full_recipe().model_dump()}}
    back = serde.loads_typed(serde.dumps_typed(state))
    assert back == state and parse_recipe(back["node"]["recipe"]) == full_recipe()


@pytest.mark.parametrize("bad, field", [
    ({"shuffle": True}, "'shuffle'"),
    ({"extra_sources": [{"path": "x.jsonl", "weight": -1}]}, "'extra_sources.0.weight'"),
    ({"filters": {"regex_include": "([a-z"}}, "'filters.regex_include'"),
    ({"dedup": "fuzzy"}, "'dedup'"),
    ({"extra_sources": [{"path": "x.jsonl", "hf_id": "a/b"}]}, "'extra_sources.0'"),
    ({"extra_sources": [{"path": "x.xlsx"}]}, "'extra_sources.0'"),
    ({"filters": {"min_input_chars": 9, "max_input_chars": 3}}, "'filters'"),
])
def test_bad_recipe_names_the_field(bad, field):
    with pytest.raises(ValueError, match=f"recipe field {field}"):
        parse_recipe(bad)
    with pytest.raises(RecipeError):
        apply_recipe([rec("a")], bad, [])


def test_recipe_hash_stable_and_sensitive():
    h = recipe_hash(Recipe(), "d1")
    assert h == recipe_hash({}, "d1") == recipe_hash(Recipe.model_validate({"seed": 0}), "d1") and len(h) == 64
    a = {"dedup": "exact", "filters": {"min_input_chars": 3, "max_input_chars": 9}}
    b = {"filters": {"max_input_chars": 9, "min_input_chars": 3}, "dedup": "exact"}
    assert recipe_hash(a, "d1") == recipe_hash(b, "d1")
    assert len({h, recipe_hash(a, "d1"), recipe_hash({"seed": 1}, "d1"), recipe_hash({}, "d2")}) == 4


# ---- apply_recipe ----------------------------------------------------------------------------------------------

def test_identity_recipe_returns_train_unchanged():
    train = [rec("one", "A"), rec("two", "B"), rec("three", "A")]
    out, stats = apply_recipe(train, Recipe(), ["four"])
    assert out == train and stats["train_in"] == stats["train_out"] == 3
    assert stats["synthesis"] == {"status": "none"}
    json.dumps(stats)  # JSON-able


def test_apply_recipe_mixes_local_sources_and_reports_each_step(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    train = [rec(f"own example {i}", "A" if i < 6 else "B") for i in range(8)]
    pq.write_table(pa.Table.from_pylist([{"text": f"parquet row {i}", "label": "B"} for i in range(6)]
                                        + [{"text": "own example 0", "label": "B"},  # dup of train
                                           {"text": "held out question", "label": "A"}]),  # leak
                   tmp_path / "extra.parquet")
    (tmp_path / "more.csv").write_text("input,output\nspam offer,A\ncsv row,A\n", encoding="utf-8")
    recipe = {"extra_sources": [{"path": "extra.parquet", "input_field": "text", "output_field": "label", "weight": 0.5},
                                {"path": str(tmp_path / "more.csv"), "weight": 0.125}],
              "filters": {"regex_exclude": "^spam"}, "dedup": "exact", "balance": "downsample", "seed": 1}
    out, stats = apply_recipe(train, recipe, ["Held out question"], base_dir=str(tmp_path))
    assert [s["name"] for s in stats["sources"]] == ["train", "extra.parquet", str(tmp_path / "more.csv")]
    assert [(s["loaded"], s["filtered"], s["leaked"], s["duplicates"], s["taken"]) for s in stats["sources"]] == [
        (8, 0, 0, 0, 8), (8, 0, 1, 1, 4), (2, 1, 0, 0, 1)]
    assert stats["filter"] == {"dropped": 1, "regex_exclude": 1}
    assert stats["leaks"] == {"dropped": 1, "near": False} and stats["dedup"] == {"mode": "exact", "dropped": 1}
    assert stats["mix"] == {"taken": 13, "repeated": 0, "dropped": 2}
    # mix: A = 6 own + 1 csv, B = 2 own + 4 parquet -> downsample to 6 each
    assert stats["balance"] == {"mode": "downsample", "dropped": 1, "added": 0, "classes": {"A": 6, "B": 6}}
    assert stats["train_out"] == len(out) == 12
    assert not {"held out question", "spam offer"} & {r["input"] for r in out}


def test_max_samples_applies_after_upsampling():
    train = [rec(f"a{i}", "A") for i in range(6)] + [rec("b0", "B")]
    out, stats = apply_recipe(train, {"balance": "upsample", "max_samples": 8}, [])
    assert stats["balance"]["added"] == 5 and stats["cap"] == {"max_samples": 8, "dropped": 4} and len(out) == 8


def test_parquet_round_trip(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"input": "a", "output": "1"}, {"input": HINDI, "output": "2"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    assert recipes.read_table(tmp_path / "d.parquet") == rows
    src = ExtraSource(path="d.parquet")
    assert recipes.load_source(src, str(tmp_path)) == rows


def test_missing_column_is_a_clear_error(tmp_path):
    write_jsonl(tmp_path / "x.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(ValueError, match="missing column 'input'"):
        recipes.load_source(ExtraSource(path="x.jsonl"), str(tmp_path))


def test_hf_source_is_loaded_lazily_through_the_loader(monkeypatch):
    calls = []

    def fake_hf(hf_id, config, split):
        calls.append((hf_id, config, split))
        return [{"text": "from the hub", "label": "A", "extra": 1}]

    monkeypatch.setattr(recipes, "_load_hf", fake_hf)
    recipe = parse_recipe({"extra_sources": [{"hf_id": "org/set", "split": "validation", "input_field": "text",
                                              "output_field": "label", "weight": 1.0}]})
    assert calls == []  # validating or hashing a recipe never loads anything
    recipe_hash(recipe, "d")
    out, stats = apply_recipe([rec("own", "B")], recipe, [])
    assert calls == [("org/set", None, "validation")]
    assert out == [rec("own", "B"), rec("from the hub", "A")]
    assert stats["sources"][1]["name"] == "hf:org/set:validation"


def test_synthesis_skipped_without_chat_model():
    train = [rec("a", "A"), rec("b", "B")]
    out, stats = apply_recipe(train, {"synthesis": {"n": 5, "instruction": "paraphrase"}}, [])
    assert out == train
    assert stats["synthesis"] == {"status": "skipped", "reason": "no chat model configured", "requested": 5}


def test_synthesis_applied_with_a_callable_and_checked_like_any_data():
    def fake_llm(records, spec):
        assert spec.instruction == "paraphrase"
        made = [rec(r["input"].upper() + " (rephrased)", r["output"]) for r in records]
        return made + [rec("leaked test input", "A")] + [rec("surplus", "A")] * 5

    train = [rec("a", "A"), rec("b", "B")]
    out, stats = apply_recipe(train, {"synthesis": {"n": 3, "instruction": "paraphrase"}}, ["leaked test input"],
                              synthesize=fake_llm)
    assert out == train + [rec("A (rephrased)", "A"), rec("B (rephrased)", "B")]
    assert stats["synthesis"] == {"status": "applied", "requested": 3, "added": 3}
    assert stats["leaks"]["dropped"] == 1
    with pytest.raises(ValueError, match="synthesized examples"):
        apply_recipe(train, {"synthesis": {"n": 1, "instruction": "x"}}, [], synthesize=lambda r, s: ["text"])


# ---- the prepared-file cache -----------------------------------------------------------------------------------

def test_prepare_train_file_writes_then_hits_cache(tmp_path, monkeypatch):
    train = write_jsonl(tmp_path / "train.jsonl", [rec("one", "A"), rec("One", "A"), rec("two", "B")])
    val = write_jsonl(tmp_path / "val.jsonl", [rec("three", "A")])
    test = write_jsonl(tmp_path / "test.jsonl", [rec("four", "B")])
    cache = tmp_path / "cache"
    path, stats = prepare_train_file(train, {"dedup": "exact"}, [val, test], cache)
    assert Path(path) == cache / "datasets" / f"{stats['hash']}.jsonl"
    assert (cache / "datasets" / f"{stats['hash']}.stats.json").is_file()
    assert [json.loads(x) for x in Path(path).read_text().splitlines()] == [rec("one", "A"), rec("two", "B")]
    assert stats["cached"] is False and stats["dedup"]["dropped"] == 1
    assert not list((cache / "datasets").glob("*.tmp"))

    def boom(*a, **k):
        raise AssertionError("a cache hit must not run the operators")

    monkeypatch.setattr(ops, "filter_records", boom)
    path2, stats2 = prepare_train_file(train, {"dedup": "exact"}, [val, test], cache)
    assert path2 == path and stats2 == {**stats, "cached": True}
    # Different data or a different recipe is a miss (and here reaches the patched operator).
    write_jsonl(test, [rec("five", "B")])
    with pytest.raises(AssertionError, match="cache hit"):
        prepare_train_file(train, {"dedup": "exact"}, [val, test], cache)


def test_prepare_train_file_cache_key_tracks_extra_files_and_synthesis(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [rec("one", "A"), rec("two", "B")])
    extra = write_jsonl(tmp_path / "extra.jsonl", [rec("three", "A")])
    recipe = {"extra_sources": [{"path": "extra.jsonl", "weight": 0.5}], "synthesis": {"n": 1, "instruction": "more"}}
    _, s1 = prepare_train_file(train, recipe, [], tmp_path / "c", base_dir=str(tmp_path))
    assert s1["synthesis"]["status"] == "skipped" and s1["train_out"] == 3
    _, s2 = prepare_train_file(train, recipe, [], tmp_path / "c", base_dir=str(tmp_path),
                               synthesize=lambda r, s: [rec("new", "B")])
    assert s2["cached"] is False and s2["synthesis"]["status"] == "applied" and s2["hash"] != s1["hash"]
    write_jsonl(extra, [rec("three", "A"), rec("six", "B")])
    _, s3 = prepare_train_file(train, recipe, [], tmp_path / "c", base_dir=str(tmp_path))
    assert s3["cached"] is False and s3["hash"] != s1["hash"]
