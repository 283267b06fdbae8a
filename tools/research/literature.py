"""Research notes with sources for a requirement: the shipped corpus offline (retrieval from Chroma), Tavily web
search and the arXiv API online. Every failure is returned in `errors`, never raised.

Endpoints are overridable (TREX_ARXIV_URL, TREX_TAVILY_URL or the arguments) so that tests can serve real
responses from a local HTTP server.
"""
from __future__ import annotations

import os

ARXIV_URL = "https://export.arxiv.org/api/query"
TAVILY_URL = "https://api.tavily.com"
NOTE_CHARS = 1200  # notes go into the state and into prompts: keep each one short


def corpus_queries(requirement: dict) -> list[str]:
    """What to look up for this task: hyper-parameters for the base model, the task type's pitfalls, the
    metric, the data budget, and every risk the requirement names."""
    cons = requirement.get("constraints", {})
    model = str(cons.get("base_model", "")).split("/")[-1]
    queries = [f"LoRA learning rate and rank for fine-tuning {model}".strip()]
    if requirement.get("task_type") == "classification":
        queries.append("classification fine-tuning: class imbalance and label noise")
    else:
        queries.append(f"evaluating generated text with {requirement.get('metric', 'ROUGE or BLEU')}")
    samples = cons.get("max_train_samples")
    if isinstance(samples, int) and samples <= 2000:
        queries.append(f"how many epochs for a small dataset of {samples} examples, over-fitting")
    queries += [str(r) for r in requirement.get("risks", [])]
    return queries


def corpus_notes(requirement: dict, store, per_query: int = 2, limit: int = 6) -> list[dict]:
    """Nearest shipped notes for each query, unique, nearest first."""
    found: dict[str, dict] = {}
    for query in corpus_queries(requirement):
        for hit in store.query_corpus(query, per_query):
            if hit["id"] not in found or hit["distance"] < found[hit["id"]]["distance"]:
                found[hit["id"]] = {"title": hit["title"], "text": hit["text"][:NOTE_CHARS], "source": hit["source"],
                                    "tags": hit["tags"], "query": query, "distance": round(hit["distance"], 4)}
    return sorted(found.values(), key=lambda n: n["distance"])[:limit]


def arxiv_notes(query: str, k: int = 3, base_url: str | None = None) -> list[dict]:
    """Abstracts from the arXiv API (an Atom feed), through the `arxiv` package."""
    import arxiv

    client = arxiv.Client(page_size=k, delay_seconds=0.0, num_retries=1)
    client.query_url_format = (base_url or os.environ.get("TREX_ARXIV_URL") or ARXIV_URL) + "?{}"
    search = arxiv.Search(query=query, max_results=k, sort_by=arxiv.SortCriterion.Relevance)
    return [{"title": r.title.strip(), "text": " ".join(r.summary.split())[:NOTE_CHARS], "source": r.entry_id,
             "published": r.published.date().isoformat() if r.published else "",
             "authors": ", ".join(a.name for a in r.authors[:4])} for r in client.results(search)]


def tavily_notes(query: str, k: int = 3, api_key: str | None = None, base_url: str | None = None) -> list[dict]:
    from tavily import TavilyClient

    client = TavilyClient(api_key=api_key or os.environ["TAVILY_API_KEY"],
                          api_base_url=base_url or os.environ.get("TREX_TAVILY_URL") or TAVILY_URL)
    res = client.search(query, max_results=k, search_depth="basic", timeout=30)
    return [{"title": r.get("title", ""), "text": (r.get("content") or "")[:NOTE_CHARS], "source": r.get("url", "")}
            for r in res.get("results", [])]


def online_queries(requirement: dict, goal: str = "") -> tuple[str, str]:
    """(arXiv search_query, web query) for the task."""
    task_type = requirement.get("task_type", "classification")
    model = str(requirement.get("constraints", {}).get("base_model", "")).split("/")[-1]
    arxiv_q = f'abs:"parameter-efficient fine-tuning" AND abs:{task_type}'
    web_q = f"LoRA fine-tuning best practices {model} {task_type}: {goal}".strip()
    return arxiv_q, web_q[:380]


def research_notes(requirement: dict, goal: str = "", *, store=None, online: bool = False, k: int = 3,
                   arxiv_url: str | None = None, tavily_url: str | None = None) -> dict:
    """{"notes": [{title, text, source, ...}], "source": ..., "errors": [...]}. Online uses arXiv, plus Tavily
    when TAVILY_API_KEY is set; when every online search fails or finds nothing, the corpus answers."""
    notes: list[dict] = []
    errors: list[str] = []
    used: list[str] = []
    if online:
        arxiv_q, web_q = online_queries(requirement, goal)
        searches = [("tavily", lambda: tavily_notes(web_q, k, base_url=tavily_url))] if os.environ.get(
            "TAVILY_API_KEY") else []
        searches.append(("arxiv", lambda: arxiv_notes(arxiv_q, k, arxiv_url)))
        for name, search in searches:
            try:
                found = search()
                notes += found
                used.append(name)
            except Exception as err:  # noqa: BLE001 - a search failure is data, the run goes on
                errors.append(f"{name}: {type(err).__name__}: {err}"[:300])
    if not notes:
        if store is None:
            errors.append("offline corpus: no insight store")
            return {"notes": [], "source": "none", "errors": errors}
        try:
            notes = corpus_notes(requirement, store)
            used = ["offline corpus"]
        except Exception as err:  # noqa: BLE001
            errors.append(f"offline corpus: {type(err).__name__}: {err}"[:300])
    return {"notes": notes, "source": "+".join(used) or "none", "errors": errors}
