"""GTA (General Tool Agents), step-by-step mode: from the dialog so far, predict the next assistant action.

Source: Jize1/GTA on the Hugging Face Hub (dataset.json, toolmeta.json), the release the open-compass/GTA
evaluation reads (GTABenchDataset). 229 queries, no official train split: whole queries are held out
(seeded, 30%), so no step of a test query is ever trained on. Training outputs are ReAct-style actions;
test outputs are the evaluator's records (tool name + arguments, or the gt_answer whitelist/blacklist).
Images are not read: tool observations in the dialog carry the text the next step needs.
"""
from __future__ import annotations

import json
from pathlib import Path

from ftbench.loaders.common import LoaderError, finalize, holdout, read_json, task_dir

HF_ID = "Jize1/GTA"
TEST_FRACTION = 0.3


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict) and isinstance(content.get("content"), str):
        return content["content"]
    if isinstance(content, list):
        return "\n".join(_text(c) for c in content)
    return json.dumps(content, ensure_ascii=False)


def action_text(msg: dict) -> str:
    """ReAct rendering of an assistant turn: a tool call or the final answer."""
    if msg.get("tool_calls"):
        fn = msg["tool_calls"][0]["function"]
        return f"Action: {fn['name']}\nAction Input: {json.dumps(fn.get('arguments', {}), ensure_ascii=False)}"
    return f"Final Answer: {_text(msg.get('content', ''))}"


def _descriptions(toolmeta) -> dict[str, str]:
    items = toolmeta.values() if isinstance(toolmeta, dict) else toolmeta or []
    return {t["name"]: str(t.get("description", "")) for t in items if isinstance(t, dict) and "name" in t}


def step_rows(qid: str, item: dict, tools_doc: dict[str, str]) -> list[tuple[dict, dict]]:
    """(training row, test row) for every assistant turn of one query."""
    names = [t["name"] for t in item.get("tools", [])]
    head = ["Tools: " + "; ".join(f"{n}: {tools_doc[n]}" if tools_doc.get(n) else n for n in names)]
    files = [f"{f['path']} ({f.get('type', 'file')})" for f in item.get("files", [])]
    if files:
        head.append("Files: " + ", ".join(files))
    history, out = [], []
    for msg in item["dialogs"]:
        role = msg["role"]
        if role == "assistant":
            prompt = "\n".join(head + history)
            if msg.get("tool_calls"):
                fn = msg["tool_calls"][0]["function"]
                ref = {"type": "tool", "name": fn["name"], "arguments": fn.get("arguments", {})}
            else:
                ref = {"type": "answer", "gt_answer": item.get("gt_answer")}
            step = len(out)
            row = {"id": f"{qid}-{step}", "query": qid, "input": prompt, "output": action_text(msg)}
            out.append((row, {**row, "output": json.dumps(ref, ensure_ascii=False)}))
            history.append(action_text(msg))
        elif role == "tool":
            history.append(f"Observation: {_text(msg.get('content', ''))}")
        else:
            history.append(f"{role.capitalize()}: {_text(msg.get('content', ''))}")
    return out


def _fetch(cache: Path, source) -> tuple[Path, Path | None]:
    if source:
        src = Path(source)
        meta = src / "toolmeta.json"
        return src / "dataset.json", meta if meta.is_file() else None
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise LoaderError("GTA needs the 'huggingface_hub' package") from None
    try:
        paths = [hf_hub_download(HF_ID, f, repo_type="dataset", cache_dir=str(cache)) for f in
                 ("dataset.json", "toolmeta.json")]
    except Exception as err:  # noqa: BLE001 - network or gating
        raise LoaderError(f"cannot download {HF_ID}: {err}") from None
    return Path(paths[0]), Path(paths[1])


def prepare_gta(task: str, cache_dir, source=None, seed: int = 0, **kw) -> dict:
    data_path, meta_path = _fetch(task_dir(cache_dir, task) / "hf", source)
    if not data_path.is_file():
        raise LoaderError(f"{data_path}: GTA dataset.json not found")
    data = read_json(data_path)
    tools_doc = _descriptions(read_json(meta_path)) if meta_path else {}
    pairs = [p for qid, item in sorted(data.items(), key=lambda kv: int(kv[0])) for p in step_rows(qid, item, tools_doc)]
    train_ids, test_ids = (set(r["id"] for r in part) for part in
                           holdout([p[0] for p in pairs], TEST_FRACTION, seed, group=lambda r: r["query"]))
    train = [tr for tr, _ in pairs if tr["id"] in train_ids]
    # A final answer without gt_answer is not scored by GTA's evaluator: it is no test row either.
    test = [te for _, te in pairs if te["id"] in test_ids and json.loads(te["output"]).get("gt_answer", 1) is not None]
    return finalize(task, train, test, cache_dir, seed=seed, sources={
        "hf_id": str(source or HF_ID), "files": ["dataset.json", "toolmeta.json"],
        "split": f"seeded holdout of whole queries, test_fraction {TEST_FRACTION}"}, **kw)
