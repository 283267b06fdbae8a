"""Property test: hundreds of generated bad specs, thrown at the spec loader and at the graph's input path.

Each example mutates a valid spec (wrong types, missing or unknown fields, out-of-range numbers, broken
YAML/JSON text, nonexistent or escaping paths, unknown metrics, empty files, files without the columns,
...) and feeds it to every entry point a user has: parse_spec (a mapping), load_spec (a YAML/JSON file),
and nodes.analyze_requirements.load_task (the graph's {"task": ...}: a mapping or a path). Nothing trains.
Every one must fail with a SpecError whose one-line message names the problem.
"""
from __future__ import annotations

import copy
import json
import time

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.data.task_catalog import shipped_tasks
from trex.spec import Budget, DataSource, SpecError, Splits, TaskSpec
from tools.data.spec_loading import load_spec, parse_spec
from tools.data.spec_loading import load_task
from trex.metrics import METRICS

EXAMPLES = 520

INTS = {"budget.rounds": st.integers(max_value=0) | st.integers(min_value=201),
        "budget.configs_per_round": st.integers(max_value=0) | st.integers(min_value=17),
        "budget.max_train_samples": st.integers(max_value=0),
        "max_new_tokens": st.integers(max_value=0) | st.integers(min_value=2049),
        "splits.seed": st.integers(max_value=-1)}
_NOT_FINITE = st.sampled_from([float("nan"), float("inf"), float("-inf")])
FLOATS = {"budget.wall_time_s": st.floats(max_value=0) | _NOT_FINITE,
          "splits.val_fraction": st.floats(max_value=0) | st.floats(min_value=0.5) | _NOT_FINITE,
          "splits.test_fraction": st.floats(max_value=0) | st.floats(min_value=0.5) | _NOT_FINITE,
          "reference_score": st.floats(max_value=0, exclude_max=True) | st.floats(min_value=1, exclude_min=True)
          | _NOT_FINITE}
STRS = ["name", "goal", "task_type", "base_model", "instruction", "metric", "scoring", "base_dir",
        "data.0.path", "data.0.input_field", "data.0.output_field"]
_ANY = st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.booleans(), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
# (field, values of the wrong type). Strict: "3" is not an int, True is not a number, 3.0 is not an int.
WRONG_TYPES = (
    [(f, st.text(max_size=8) | st.booleans() | st.floats() | st.lists(st.integers(), max_size=2) | st.none())
     for f in INTS]
    + [(f, st.text(max_size=8) | st.booleans() | st.lists(st.integers(), max_size=2) | st.dictionaries(
        st.text(max_size=3), st.integers(), max_size=2)) for f in FLOATS]
    + [(f, st.integers() | st.floats() | st.booleans() | st.lists(st.text(max_size=3), max_size=2)
        | (st.nothing() if f == "base_dir" else st.none())) for f in STRS]  # base_dir: null = the spec's own dir
    + [("higher_is_better", st.text(max_size=5) | st.integers() | st.floats()),
       ("data", st.text(max_size=8) | st.integers() | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
       ("labels", st.text(max_size=8) | st.integers() | st.lists(st.integers() | st.floats() | st.none(), min_size=2,
                                                                  max_size=3).filter(lambda v: any(type(x) is not int for x in v))),
       ("splits", st.text(max_size=8) | st.integers() | st.lists(st.integers(), max_size=2) | st.none()),
       ("budget", st.text(max_size=8) | st.integers() | st.lists(st.integers(), max_size=2) | st.none()),
       ("recipe", st.text(max_size=8) | st.integers() | st.lists(st.integers(), max_size=2))])
KNOWN = {"": list(TaskSpec.model_fields), "budget.": list(Budget.model_fields), "splits.": list(Splits.model_fields),
         "data.0.": list(DataSource.model_fields)}
REQUIRED = ["name", "goal", "task_type", "base_model", "data", "metric", "data.0.path"]
ESCAPES = ["../../../../../../etc/passwd", "/etc/passwd", "/proc/self/environ", "~/.ssh/id_rsa.jsonl",
           "$HOME/.bash_history", "../" * 12 + "root/.netrc"]
NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
# A text without whitespace or a quote, so the message can quote it intact.
TOKEN = st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True)
PROBLEM_WORDS = ("not valid YAML", "not valid JSON", "expected a mapping", "the file is empty", "not UTF-8",
                 "required field is missing", "field '")


def _set(spec: dict, path: str, value) -> dict:
    spec = copy.deepcopy(spec)
    *parents, last = path.split(".")
    node = spec
    for p in parents:
        node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
    node[last] = value
    return spec


def _delete(spec: dict, path: str) -> dict:
    spec = copy.deepcopy(spec)
    *parents, last = path.split(".")
    node = spec
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    del node[last]
    return spec


class Fuzz:
    """Builds one bad input per example: ("mapping", spec, needle) or ("text", (suffix, bytes), needle) or
    ("task", value, needle). needle: a text the error must contain (the field, or the problem)."""

    def __init__(self, base: dict, work):
        self.base, self.work, self.files = base, work, 0

    def _file(self, suffix: str, content: bytes) -> str:
        self.files += 1
        path = self.work / f"f{self.files}{suffix}"
        path.write_bytes(content)
        return str(path)

    def _data(self, content: bytes, suffix: str = ".jsonl", **fields) -> dict:
        src = {"path": self._file(suffix, content), "input_field": "text", "output_field": "intent", **fields}
        return {**self.base, "data": [src]}

    def draw(self, data) -> tuple[str, object, str]:
        kind = data.draw(st.sampled_from(
            ["wrong_type", "missing", "unknown_field", "out_of_range", "truncated_yaml", "broken_yaml",
             "garbage_text", "truncated_json", "nonexistent_path", "escaping_path", "unknown_metric",
             "metric_mismatch", "empty_file", "no_columns", "some_rows_lack", "bad_json_line", "too_few_rows",
             "labels", "base_model", "task_value"]), label="kind")
        return kind, *getattr(self, kind)(data)

    def wrong_type(self, data):
        field, values = data.draw(st.sampled_from(WRONG_TYPES))
        return "mapping", _set(self.base, field, data.draw(values)), f"field '{field}"

    def missing(self, data):
        field = data.draw(st.sampled_from(REQUIRED))
        return "mapping", _delete(self.base, field), f"field '{field}': required field is missing"

    def unknown_field(self, data):
        where = data.draw(st.sampled_from(sorted(KNOWN)))
        key = data.draw(NAME.filter(lambda k: k not in KNOWN[where]))
        return "mapping", _set(self.base, where + key, data.draw(_ANY)), f"field '{where}{key}': unknown field"

    def out_of_range(self, data):
        field, values = data.draw(st.sampled_from(sorted({**INTS, **FLOATS}.items())))
        return "mapping", _set(self.base, field, data.draw(values)), f"field '{field}'"

    def truncated_yaml(self, data):
        text = yaml.safe_dump(self.base, sort_keys=False).rstrip()  # metric is the last key: a cut always hurts
        cut = data.draw(st.integers(0, len(text) - 1))
        return "text", (".yaml", text[:cut].encode()), "PROBLEM"

    def broken_yaml(self, data):
        text = yaml.safe_dump(self.base, sort_keys=False)
        junk = data.draw(st.sampled_from(["{\n", "- just a list item\n", "name: [unclosed\n", "\x00", "'open\n",
                                          "%YAML 9.9\n---\n", "@reserved\n", ": :\n"]))
        return "text", (".yaml", (junk + text).encode()), "PROBLEM"

    def garbage_text(self, data):
        suffix = data.draw(st.sampled_from([".yaml", ".json", ".yml"]))
        raw = data.draw(st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
        return "text", (suffix, raw), "PROBLEM"

    def truncated_json(self, data):
        text = json.dumps(self.base)
        return "text", (".json", text[:data.draw(st.integers(0, len(text) - 1))].encode()), "PROBLEM"

    def nonexistent_path(self, data):
        name = "nope_" + data.draw(TOKEN) + data.draw(st.sampled_from([".jsonl", ".csv", ".json"]))
        path = data.draw(st.sampled_from([name, str(self.work / name), "sub/dir/" + name]))
        return "mapping", _set(self.base, "data.0.path", path), "field 'data.0.path'"

    def escaping_path(self, data):
        return "mapping", _set(self.base, "data.0.path", data.draw(st.sampled_from(ESCAPES))), "field 'data.0.path'"

    def unknown_metric(self, data):
        name = data.draw(NAME.filter(lambda n: n not in METRICS and n != "llm_judge")
                         | TOKEN.map(lambda t: f"nosuch_{t.replace('.', '_')}.mod:fn"))
        return "mapping", {**self.base, "metric": name}, "field 'metric'"

    def metric_mismatch(self, data):
        change, field = data.draw(st.sampled_from(
            [({"task_type": "generation", "labels": None, "metric": "macro_f1"}, "metric"),
             ({"task_type": "generation", "labels": None, "scoring": "choice", "metric": "exact_match"}, "scoring")]
            + [({"metric": m}, "metric") for m in ("rouge1", "rougeL", "bleu", "chrf")]))
        return "mapping", {**self.base, **change}, f"field '{field}'"

    def empty_file(self, data):
        suffix, content = data.draw(st.sampled_from([(".jsonl", b""), (".jsonl", b"\n  \n"), (".csv", b""),
                                                     (".csv", b"text,intent\n"), (".json", b"[]")]))
        return "mapping", self._data(content, suffix), "field 'data.0.path'"

    def no_columns(self, data):
        keys = data.draw(st.lists(NAME.filter(lambda k: k not in ("text", "intent")), min_size=1, max_size=3, unique=True))
        rows = [{k: f"v{i}" for k in keys} for i in range(10)]
        return "mapping", self._data("".join(json.dumps(r) + "\n" for r in rows).encode()), "field 'data.0.input_field'"

    def some_rows_lack(self, data):
        rows = [json.loads(line) for line in open(self.base["data"][0]["path"])]
        column = data.draw(st.sampled_from(["text", "intent"]))
        for i in data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=5)):
            rows[i] = {**rows[i], column: None} if data.draw(st.booleans()) else {
                k: v for k, v in rows[i].items() if k != column}
        field = "input_field" if column == "text" else "output_field"
        return "mapping", self._data("".join(json.dumps(r) + "\n" for r in rows).encode()), f"field 'data.0.{field}'"

    def bad_json_line(self, data):
        lines = open(self.base["data"][0]["path"]).read().splitlines()
        junk = data.draw(st.text(min_size=1, max_size=20).filter(lambda t: "\n" not in t and "\r" not in t and t.strip()))
        lines.insert(data.draw(st.integers(0, len(lines))), junk)
        return "mapping", self._data(("\n".join(lines) + "\n").encode()), "field 'data.0."

    def too_few_rows(self, data):
        rows = [json.loads(line) for line in open(self.base["data"][0]["path"])][:data.draw(st.integers(1, 3))]
        rows = rows * data.draw(st.integers(1, 20))  # duplicates do not count: they are dropped before the split
        return "mapping", self._data("".join(json.dumps(r) + "\n" for r in rows).encode()), "field 'splits'"

    def labels(self, data):
        bad = data.draw(st.sampled_from([["balance"], ["balance", "balance"], ["balance", " "], ["x", "y"],
                                         ["balance", "loan"], []]))
        return "mapping", {**self.base, "labels": bad}, "field 'labels'"

    def base_model(self, data):
        import re

        hub = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
        name = data.draw(st.text(min_size=1, max_size=30).filter(lambda t: t.strip() and not hub.fullmatch(t.strip()))
                         | st.sampled_from(["./no/such/model", "/no/such/model", "tests", "gpt2", "org//x", "a/../b"]))
        return "mapping", {**self.base, "base_model": name}, "field 'base_model'"

    def task_value(self, data):
        value = data.draw(st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
                                    st.lists(st.integers(), max_size=3), st.just(""), st.just({}),
                                    st.text(max_size=40).filter(lambda t: t not in shipped_tasks())))
        return "task", value, "task"


def _check(call, needle: str, stats: dict) -> None:
    stats["cases"] += 1
    try:
        call()
    except SpecError as err:  # DataError is a SpecError; anything else is an unexpected crash
        msg = str(err)
        assert "\n" not in msg, msg
        if needle == "PROBLEM":
            assert any(w in msg for w in PROBLEM_WORDS), msg
        else:
            assert needle in msg, (needle, msg)
        return
    raise AssertionError(f"accepted a bad input ({needle})")


def test_generated_bad_specs_fail_cleanly_and_name_the_problem(tiny_task, tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz")
    base = {k: v for k, v in tiny_task.items() if k != "metric"}
    base["metric"] = tiny_task["metric"]  # last, so a truncated dump always damages a required field
    fuzz, stats = Fuzz(base, work), {"specs": 0, "cases": 0, "kinds": {}}
    started = time.time()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(st.data())
    def run(data):
        kind, form, value, needle = fuzz.draw(data)
        stats["specs"] += 1
        stats["kinds"][kind] = stats["kinds"].get(kind, 0) + 1
        if form == "mapping":  # the graph input as a mapping, the parser, and the same spec as a YAML file
            _check(lambda: parse_spec(value), needle, stats)
            _check(lambda: load_task(value), needle, stats)
            path = work / f"s{stats['specs']}.yaml"
            path.write_text(yaml.safe_dump(value, sort_keys=False))
            _check(lambda: load_spec(path), needle, stats)
        elif form == "text":  # a spec file: through the loader and as the graph input's path
            suffix, raw = value
            path = work / f"s{stats['specs']}{suffix}"
            path.write_bytes(raw)
            _check(lambda: load_spec(path), needle, stats)
            _check(lambda: load_task(str(path)), needle, stats)
        else:  # the graph input's "task" is not a spec at all
            _check(lambda: load_task(value), needle, stats)

    run()
    print(f"\nfuzzed {stats['specs']} bad specs, {stats['cases']} loader/graph-input cases, "
          f"0 unexpected crashes, {time.time() - started:.1f} s; by kind: {stats['kinds']}")
    assert stats["specs"] >= 500 and len(stats["kinds"]) == 20
