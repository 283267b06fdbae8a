"""The Researcher's research step: offline from the shipped corpus and the local catalog; online code against
real local HTTP servers that answer in the real formats of the arXiv API, Tavily and the Hugging Face Hub."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from langgraph.runtime import Runtime

from trex.context import Context
from tools.data.spec_loading import parse_spec
from trex.state import State
from nodes.analyze_requirements import requirement_from_spec
from nodes.research import research
from tools.research.dataset_search import candidate_datasets
from tools.research.literature import arxiv_notes, research_notes

ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom">
  <id>https://arxiv.org/api/Ks2w6qwoBq4Q7vqv7PTnYBu7Zp8</id>
  <title>arXiv Query: search_query=all:LoRA&amp;id_list=&amp;start=0&amp;max_results=3</title>
  <updated>2025-01-10T00:00:00Z</updated>
  <link href="https://arxiv.org/api/query?search_query=all:LoRA&amp;start=0&amp;max_results=3"
        type="application/atom+xml"/>
  <opensearch:itemsPerPage>3</opensearch:itemsPerPage>
  <opensearch:totalResults>2</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
  <entry>
    <id>http://arxiv.org/abs/2106.09685v2</id>
    <title>LoRA: Low-Rank Adaptation of Large
      Language Models</title>
    <updated>2021-10-16T21:55:43Z</updated>
    <link href="https://arxiv.org/abs/2106.09685v2" rel="alternate" type="text/html"/>
    <link href="https://arxiv.org/pdf/2106.09685v2" rel="related" type="application/pdf" title="pdf"/>
    <summary>  We propose Low-Rank Adaptation, or LoRA, which freezes the pre-trained model weights and injects
      trainable rank decomposition matrices into each layer of the Transformer architecture.</summary>
    <category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
    <published>2021-06-17T17:37:18Z</published>
    <arxiv:primary_category term="cs.CL"/>
    <author><name>Edward J. Hu</name></author>
    <author><name>Yelong Shen</name></author>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2305.14314v1</id>
    <title>QLoRA: Efficient Finetuning of Quantized LLMs</title>
    <updated>2023-05-23T17:50:33Z</updated>
    <link href="https://arxiv.org/abs/2305.14314v1" rel="alternate" type="text/html"/>
    <summary>We present QLoRA, an efficient finetuning approach that reduces memory usage enough to finetune a
      65B parameter model on a single 48GB GPU.</summary>
    <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
    <published>2023-05-23T17:50:33Z</published>
    <arxiv:primary_category term="cs.LG"/>
    <author><name>Tim Dettmers</name></author>
  </entry>
</feed>
"""
TAVILY = {"query": "q", "follow_up_questions": None, "answer": None, "images": [], "response_time": 0.42,
          "results": [{"url": "https://example.org/lora-guide", "title": "A practical guide to LoRA",
                       "content": "Start with a learning rate of 2e-4 and rank 16 for 7B models.", "score": 0.91,
                       "raw_content": None}]}
HUB = [{"_id": "621ffdd236468d709f181d5e", "id": "PolyAI/banking77", "author": "PolyAI", "downloads": 4123,
        "likes": 61, "private": False, "gated": False, "description": "Online banking queries with 77 intents.",
        "tags": ["task_categories:text-classification", "task_ids:intent-classification", "language:en",
                 "license:cc-by-4.0", "size_categories:10K<n<100K", "region:us"],
        "cardData": {"language": ["en"], "license": ["cc-by-4.0"], "task_categories": ["text-classification"],
                     "dataset_info": {"features": [{"name": "text", "dtype": "string"},
                                                   {"name": "label", "dtype": {"class_label": {"names": {
                                                       "0": "activate_my_card"}}}}],
                                      "splits": [{"name": "train", "num_bytes": 715028, "num_examples": 10003},
                                                 {"name": "test", "num_bytes": 204010, "num_examples": 3080}]}},
        "createdAt": "2022-03-02T23:29:22.000Z", "lastModified": "2024-01-04T12:00:00.000Z"}]


@pytest.fixture
def server():
    """A real HTTP server on a free local port: GET /api/query -> Atom, POST /search -> Tavily JSON,
    GET /api/datasets -> the Hub's JSON. Records every request."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code: int, body: str, ctype: str):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urlparse(self.path)
            seen.append({"method": "GET", "path": url.path, "query": parse_qs(url.query)})
            if url.path == "/api/query":
                self._reply(200, ATOM, "application/atom+xml; charset=utf-8")
            elif url.path == "/api/datasets":
                self._reply(200, json.dumps(HUB), "application/json")
            else:
                self._reply(404, "{}", "application/json")

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"method": "POST", "path": self.path, "body": body, "auth": self.headers.get("Authorization")})
            self._reply(200, json.dumps(TAVILY), "application/json")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def spec(tiny_task):
    return parse_spec(tiny_task)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("insights"))  # one store for the module: the corpus is embedded once


@pytest.fixture
def context(tmp_path, store_dir):
    """Research needs no model: a fresh cache and the module's insight store."""
    return Context(cache_dir=str(tmp_path / "cache"), runs_dir=str(tmp_path / "runs"), insight_store=store_dir)


def test_offline_research_fills_notes_with_sources_and_the_local_catalog(spec, context, tmp_path):
    state = State(task=spec.model_dump(), run_dir=str(tmp_path / "run"), requirement=requirement_from_spec(spec))
    found = research(state, Runtime(context=context))["research"]
    assert found["source"] == "offline corpus" and found["errors"] == [] and found["online"] is False
    titles = [n["title"] for n in found["notes"]]
    assert "LoRA hyper-parameters by model size" in titles
    assert "Class imbalance in classification fine-tuning" in titles  # a classification task
    assert all(n["source"].startswith("trex corpus: memory/corpus/") and len(n["text"]) > 200 for n in found["notes"])
    own, *shipped = found["datasets"]
    assert own["source"] == "task data" and own["size"] == 60 and own["fields"] == ["text", "intent"]
    bank = next(d for d in shipped if d["id"] == "bank_intents")
    assert bank["size"] == 640 and bank["task_type"] == "classification" and "TREX" in bank["license"]
    assert json.loads(json.dumps(found)) == found  # plain data: it goes into the checkpointed state


def test_arxiv_search_parses_the_real_atom_format(server):
    url, seen = server
    notes = arxiv_notes('abs:"parameter-efficient fine-tuning" AND abs:classification', k=3,
                        base_url=f"{url}/api/query")
    assert [n["title"] for n in notes] == ["LoRA: Low-Rank Adaptation of Large Language Models",
                                           "QLoRA: Efficient Finetuning of Quantized LLMs"]
    assert notes[0]["source"] == "http://arxiv.org/abs/2106.09685v2" and notes[0]["published"] == "2021-06-17"
    assert notes[0]["text"].startswith("We propose Low-Rank Adaptation") and "Edward J. Hu" in notes[0]["authors"]
    query = seen[0]["query"]
    assert query["search_query"] == ['abs:"parameter-efficient fine-tuning" AND abs:classification']
    assert query["max_results"] == ["3"]


def test_online_research_uses_tavily_and_arxiv(server, spec, monkeypatch):
    url, seen = server
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-test-key")
    found = research_notes(requirement_from_spec(spec), spec.goal, online=True, arxiv_url=f"{url}/api/query",
                           tavily_url=url)
    assert found["source"] == "tavily+arxiv" and found["errors"] == []
    assert found["notes"][0] == {"title": "A practical guide to LoRA", "source": "https://example.org/lora-guide",
                                 "text": "Start with a learning rate of 2e-4 and rank 16 for 7B models."}
    assert {n["source"] for n in found["notes"][1:]} == {"http://arxiv.org/abs/2106.09685v2",
                                                         "http://arxiv.org/abs/2305.14314v1"}
    post = next(r for r in seen if r["method"] == "POST")
    assert post["path"] == "/search" and post["auth"] == "Bearer tvly-test-key"
    assert "classification" in post["body"]["query"] and post["body"]["max_results"] == 3


def test_online_failure_is_recorded_and_the_corpus_answers(spec, context, monkeypatch):
    from memory.insight_store import open_context_store

    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    found = research_notes(requirement_from_spec(spec), online=True, store=open_context_store(context),
                           arxiv_url="http://127.0.0.1:9/api/query")  # port 9 (discard): nothing listens
    assert found["source"] == "offline corpus" and found["notes"]
    assert len(found["errors"]) == 1 and found["errors"][0].startswith("arxiv: ")


def test_hub_dataset_search_against_a_local_hub(server, spec, monkeypatch):
    import huggingface_hub.constants

    url, seen = server
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # the suite may run with it set
    datasets, errors = candidate_datasets(spec, online=True, endpoint=url)
    assert errors == []
    hub = datasets[0]
    assert hub["id"] == "PolyAI/banking77" and hub["source"] == "hugging face hub"
    assert hub["license"] == "cc-by-4.0" and hub["size"] == 13083 and hub["fields"] == ["text", "label"]
    assert hub["url"] == f"{url}/datasets/PolyAI/banking77"
    assert datasets[1]["source"] == "task data"  # the local catalog still follows
    query = seen[0]["query"]
    assert set(query["filter"]) == {"task_categories:text-classification", "language:en"}
    assert query["search"] == ["intents"] and query["sort"] == ["downloads"]


def test_hub_failure_is_recorded_and_the_local_catalog_remains(spec):
    datasets, errors = candidate_datasets(spec, online=True, endpoint="http://127.0.0.1:9")
    assert len(errors) == 1 and errors[0].startswith("hugging face hub: ")
    assert datasets and datasets[0]["source"] == "task data"
