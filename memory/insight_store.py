"""The Chroma store behind the Researcher's knowledge: lessons distilled from rounds (shared by every run
and task that uses the same store) and the shipped literature corpus of fine-tuning notes.

A directory opens a PersistentClient, an http(s) URL an HttpClient (a `chroma run` server). chromadb and
the embedding model load on first use, never at import.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
_lock = threading.Lock()
_stores: dict[tuple[str, str], "InsightStore"] = {}
log = logging.getLogger(__name__)


def store_location(insight_store: str, cache_dir: str) -> str:
    """The configured store, or <cache_dir>/insights so that runs and tasks share their lessons."""
    return insight_store or str(Path(cache_dir).expanduser() / "insights")


def _client(location: str):
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)  # no network calls of its own
    if location.startswith(("http://", "https://")):
        url = urlparse(location)
        ssl = url.scheme == "https"
        return chromadb.HttpClient(host=url.hostname or "localhost", port=url.port or (443 if ssl else 8000),
                                   ssl=ssl, settings=settings)
    Path(location).expanduser().mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(Path(location).expanduser()), settings=settings)


def _clean_metadata(meta: dict) -> dict:
    # Chroma metadata values are str, int, float or bool: drop None, stringify anything else.
    out = {}
    for key, val in meta.items():
        if val is None:
            continue
        out[key] = val if isinstance(val, (str, int, float, bool)) else str(val)
    return out


def insight_id(insight: dict) -> str:
    meta = insight.get("metadata", {})
    raw = "|".join(str(x) for x in (meta.get("run_id", ""), meta.get("node_id", ""), insight["text"]))
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def corpus_notes(folder: Path = CORPUS_DIR) -> list[dict]:
    """The shipped notes: a '# Title' line, a 'tags: a, b' line, then the text. Keyed by content hash."""
    notes = []
    for path in sorted(folder.glob("*.md")):
        raw = path.read_text(encoding="utf-8")
        lines = raw.strip().splitlines()
        title = lines[0].lstrip("# ").strip() if lines else path.stem
        tags = next((ln.split(":", 1)[1].strip() for ln in lines[1:3] if ln.lower().startswith("tags:")), "")
        body = "\n".join(ln for ln in lines[1:] if not ln.lower().startswith("tags:")).strip()
        notes.append({"id": hashlib.sha256(raw.encode()).hexdigest()[:20], "title": title, "tags": tags,
                      "text": body, "source": f"trex corpus: memory/corpus/{path.name}"})
    return notes


def _rows(res: dict) -> list[dict]:
    ids = (res.get("ids") or [[]])[0]
    docs = (res.get("documents") or [[]])[0]
    metas = (res.get("metadatas") or [[]])[0]
    dists = (res.get("distances") or [[]])[0]
    return [{"id": i, "text": d, "metadata": dict(m or {}), "distance": float(x)}
            for i, d, m, x in zip(ids, docs, metas, dists)]


class InsightStore:
    def __init__(self, location: str, embedding: str = "local"):
        from memory.embeddings import embedding_function, embedding_tag

        self.location = location
        self.embedding = embedding
        self.client = _client(location)
        ef = embedding_function(embedding)
        tag = embedding_tag(embedding)  # different models' vectors never share a collection
        space = {"hnsw": {"space": "cosine"}}
        self.insights = self.client.get_or_create_collection(f"insights_{tag}", embedding_function=ef,
                                                             configuration=space)
        self.corpus = self.client.get_or_create_collection(f"corpus_{tag}", embedding_function=ef,
                                                           configuration=space)
        self._corpus_ready = False

    # --- insights -----------------------------------------------------------------------------
    def add_insights(self, insights: list[dict]) -> list[str]:
        """Upsert lessons ({text, metadata, id?}); the same lesson written twice is one entry."""
        if not insights:
            return []
        ids = [i.get("id") or insight_id(i) for i in insights]
        metas = [_clean_metadata({"created": time.time(), **i.get("metadata", {})}) for i in insights]
        self.insights.upsert(ids=ids, documents=[i["text"] for i in insights], metadatas=metas)
        return ids

    def query_insights(self, text: str, k: int = 5, exclude_task: str | None = None,
                       where: dict | None = None) -> list[dict]:
        """Nearest lessons to `text`: [{id, text, metadata, distance}], nearest first."""
        n = self.insights.count()
        if n == 0 or k <= 0:
            return []
        if exclude_task:
            cond = {"task": {"$ne": exclude_task}}
            where = {"$and": [where, cond]} if where else cond
        res = self.insights.query(query_texts=[text], n_results=min(k, n), where=where)
        return _rows(res)

    def best_configs(self, base_model: str, limit: int = 500) -> list[dict]:
        """Every stored "best configuration so far" lesson for this base model: [{id, text, metadata}]."""
        res = self.insights.get(where={"$and": [{"kind": "best_config"}, {"base_model": base_model}]},
                                include=["documents", "metadatas"], limit=limit)
        return [{"id": i, "text": d, "metadata": m or {}}
                for i, d, m in zip(res["ids"], res["documents"], res["metadatas"])]

    def count_insights(self) -> int:
        return self.insights.count()

    # --- literature corpus ----------------------------------------------------------------------
    def index_corpus(self, folder: Path = CORPUS_DIR) -> int:
        """Embed the notes not yet in the store (idempotent); drop notes whose file changed. Returns added."""
        notes = corpus_notes(folder)
        have = set(self.corpus.get(include=[])["ids"])
        want = {n["id"] for n in notes}
        new = [n for n in notes if n["id"] not in have]
        stale = sorted(have - want)
        if stale and folder == CORPUS_DIR:
            self.corpus.delete(ids=stale)
        if new:
            self.corpus.upsert(ids=[n["id"] for n in new],
                               documents=[f"{n['title']}\ntags: {n['tags']}\n{n['text']}" for n in new],
                               metadatas=[{"title": n["title"], "tags": n["tags"], "source": n["source"]} for n in new])
        self._corpus_ready = True
        return len(new)

    def query_corpus(self, text: str, k: int = 4) -> list[dict]:
        """Nearest notes: [{id, title, text, tags, source, distance}], nearest first."""
        if not self._corpus_ready:
            self.index_corpus()
        n = self.corpus.count()
        if n == 0:
            return []
        rows = _rows(self.corpus.query(query_texts=[text], n_results=min(k, n)))
        return [{"id": r["id"], "title": r["metadata"].get("title", ""), "tags": r["metadata"].get("tags", ""),
                 "text": r["text"].split("\n", 2)[-1], "source": r["metadata"].get("source", ""),
                 "distance": r["distance"]} for r in rows]


def open_store(location: str, embedding: str = "local") -> InsightStore:
    """One InsightStore per (location, embedding) per process; a directory or an http(s) URL."""
    key = (location, embedding)
    with _lock:
        if key not in _stores:
            _stores[key] = InsightStore(location, embedding)
        return _stores[key]


def open_context_store(context) -> InsightStore:
    """The store a run's Context names (insight_store, embeddings, cache_dir)."""
    return open_store(store_location(context.insight_store, context.cache_dir), context.embeddings)


def relevant_insights(store: InsightStore, requirement: dict, node_summary: str = "", k: int = 5) -> list[dict]:
    """Lessons for planning a child of a node, from this run and earlier runs of any task: the query names the
    task type, metric and base model, plus what the node tried. Never raises: a store failure gives []."""
    cons = requirement.get("constraints", {})
    query = " ".join(str(x) for x in (requirement.get("task_type", ""), requirement.get("metric", ""),
                                      cons.get("base_model", ""), node_summary) if x)
    try:
        return store.query_insights(query or "fine-tuning", k)
    except Exception as err:  # noqa: BLE001 - the planner goes on without insights
        log.warning("insight retrieval failed: %s", err)
        return []


def prior_configs(store: InsightStore, task: dict, k: int = 3) -> list[dict]:
    """Configurations that won earlier runs, for the planner's first round: the best ones of this task first
    (highest gain over the base model), then those of other tasks of the same type on the same base model.
    [{config, task, gain, text}]; never raises (a store failure gives [])."""
    try:
        rows = store.best_configs(task.get("base_model", ""))
    except Exception as err:  # noqa: BLE001 - planning goes on without priors
        log.warning("prior configs unavailable: %s", err)
        return []
    seen, ranked = set(), []
    for row in rows:
        meta = row["metadata"]
        same_task = meta.get("task") == task.get("name")
        if not same_task and meta.get("task_type") != task.get("task_type"):
            continue
        try:
            cfg = json.loads(meta.get("config") or "{}")
        except ValueError:
            continue
        key = json.dumps(cfg, sort_keys=True)
        if not cfg or key in seen:
            continue
        seen.add(key)
        ranked.append(((0 if same_task else 1), -float(meta.get("gain", 0.0)),
                       {"config": cfg, "task": meta.get("task"), "gain": meta.get("gain"), "text": row["text"]}))
    ranked.sort(key=lambda r: r[:2])
    return [r[2] for r in ranked[:k]]
