"""The real `langgraph dev` API server (integration): what Studio and langgraph-sdk users see.

The server is a subprocess: it cannot see pytest fixtures, so the tiny model's cache, the runs directory
and the data directory travel in the run's `context` (the Context fields, as Studio's panel sets them).
"""
import dataclasses
import time
from pathlib import Path

from trex.context import Context
from graph.main import graph
from trex.tree import ROOT
from tests.langgraph_dev import REPO, dev_server

RESEARCHER = ("analyze_requirements", "research", "select_node", "plan_round", "review_plan")
EXECUTOR = ("prepare_data", "train", "evaluate")


def test_every_context_field_is_described_for_studio():
    missing = [f.name for f in dataclasses.fields(Context) if not f.metadata.get("description")]
    assert not missing, f"Context fields without metadata['description']: {missing}"
    schema = graph.get_context_jsonschema()["properties"]  # what the server sends to Studio's panel
    assert set(schema) == {f.name for f in dataclasses.fields(Context)}
    assert all(prop.get("description") for prop in schema.values())


def test_studio_offers_the_choices_of_every_enumerated_setting_with_defaults(monkeypatch):
    for name in ("TREX_SELECTION_POLICY", "TREX_BACKEND", "TREX_DEVICE", "TREX_TRIAL_EXECUTOR"):
        monkeypatch.delenv(name, raising=False)
    schema = graph.get_context_jsonschema()["properties"]
    assert schema["selection_policy"]["enum"] == ["uct_global", "uct_descend", "greedy", "sequential"]
    assert schema["backend"]["enum"] == ["auto", "peft", "unsloth"] and schema["device"]["enum"] == ["auto", "cpu", "cuda"]
    assert schema["trial_executor"]["enum"] == ["local", "ray"]
    assert schema["selection_policy"]["default"] == "uct_global" and schema["backend"]["default"] == "auto"
    assert all("default" in prop for prop in schema.values())  # the panel shows what a blank field means
    monkeypatch.setenv("TREX_SELECTION_POLICY", "greedy")  # the server's environment is the default it shows
    assert graph.get_context_jsonschema()["properties"]["selection_policy"]["default"] == "greedy"


def test_langgraph_json_loads_the_env_file_and_importing_reads_none(tmp_path):
    import json
    import subprocess
    import sys

    assert json.loads((REPO / "langgraph.json").read_text())["env"] == ".env"
    (tmp_path / ".env").write_text("TREX_SEED=7\n")
    code = "import os; import graph.main; print(os.environ.get('TREX_SEED'))"
    env = {k: v for k, v in __import__("os").environ.items() if k != "TREX_SEED"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"  # a .env in the working directory is not read at import


def test_the_drawn_graph_shows_both_agents_with_their_steps():
    drawn = graph.get_graph(xray=True)
    names = set(drawn.nodes)
    assert {f"researcher:{n}" for n in RESEARCHER} <= names
    assert {f"executor:{n}" for n in EXECUTOR} <= names
    edges = {(e.source, e.target) for e in drawn.edges}
    assert ("executor:prepare_data", "executor:train") in edges and ("executor:train", "executor:evaluate") in edges
    assert ("executor:evaluate", "backpropagate") in edges and ("score_test", "write_report") in edges
    mermaid = drawn.draw_mermaid()
    assert "subgraph researcher" in mermaid and "subgraph executor" in mermaid


def test_a_run_streams_through_the_real_server(tmp_path, tiny_task, cache_dir):
    from langgraph_sdk import get_sync_client

    started = time.monotonic()
    task = {**tiny_task, "budget": {**tiny_task["budget"], "rounds": 1, "configs_per_round": 1}}
    context = {"cache_dir": str(cache_dir), "runs_dir": str(tmp_path / "runs"), "data_dirs": str(tmp_path),
               "device": "cpu", "trial_timeout_s": 300, "max_eval_examples": 12, "selection_policy": "greedy"}
    with dev_server(tmp_path / "server", env={"TREX_DEVICE": "cpu"}) as url:
        client = get_sync_client(url=url)
        assistant = client.assistants.search(graph_id="trex")[0]
        schemas = client.assistants.get_schemas(assistant["assistant_id"])
        served = schemas["context_schema"]["properties"]
        assert "task" in schemas["input_schema"]["properties"] and "tree" in schemas["output_schema"]["properties"]
        assert "seed" in served and all(p.get("description") for p in served.values())
        drawn = {n["id"] for n in client.assistants.get_graph(assistant["assistant_id"], xray=True)["nodes"]}
        assert {"researcher:plan_round", "executor:train"} <= drawn

        thread = client.threads.create()
        updates, custom = [], []
        for part in client.runs.stream(thread["thread_id"], "trex", input={"task": task}, context=context,
                                       stream_mode=["updates", "custom"], stream_subgraphs=True):
            mode = part.event.split("|")[0]
            assert part.event != "error", part.data
            if mode == "updates":
                updates.append((part.event, part.data))
            elif mode == "custom":
                custom.append(part.data)
        state = client.threads.get_state(thread["thread_id"])
        history = client.threads.get_history(thread["thread_id"], limit=200)
        status = client.threads.get(thread["thread_id"])["status"]
    elapsed = time.monotonic() - started
    print(f"\nserver test: {elapsed:.1f} s, {len(updates)} updates, {len(custom)} custom events")

    # Streamed: the Researcher's and the Executor's steps (subgraph namespaces) and the live progress events.
    steps = {node for _, data in updates for node in data}
    assert {"analyze_requirements", "plan_round", "train", "evaluate", "write_report"} <= steps
    assert any(event.startswith("updates|executor") for event, _ in updates)
    kinds = [e["kind"] for e in custom]
    for kind in ("round_start", "train_start", "train_loss", "train_end", "eval_end", "round_end", "test_end"):
        assert kind in kinds, f"no {kind} event in {sorted(set(kinds))}"
    losses = [e for e in custom if e["kind"] == "train_loss"]
    assert all(e["trial"] == "t0" and e["node"] == "n1" and e["loss"] > 0 for e in losses)
    assert [e["round"] for e in custom if e["kind"] == "round_end"] == [0, 1]

    # The final state as a client reads it: the tree, the test scores, the report on disk.
    values = state["values"]
    assert status == "idle" and not state["next"]
    assert set(values["tree"]) == {ROOT, "n1"} and values["tree"]["n1"]["status"] == "evaluated"
    assert values["final"]["test_score"] is not None
    assert Path(values["report_path"]).is_file() and Path(values["run_dir"]).parent == tmp_path / "runs"
    # The thread's checkpoints form one chain, newest first, steps going down, the tree only growing.
    steps_seen = [h["metadata"]["step"] for h in history]
    assert steps_seen == sorted(steps_seen, reverse=True) and len(set(steps_seen)) == len(steps_seen)
    for newer, older in zip(history, history[1:]):
        assert newer["parent_checkpoint"]["checkpoint_id"] == older["checkpoint"]["checkpoint_id"]
        assert set(older["values"].get("tree", {})) <= set(newer["values"].get("tree", {}))
