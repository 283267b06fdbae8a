"""Scoring a model (base, or base + adapter) on a split: constrained choice for classification,
batched greedy generation otherwise. Runs inside the worker subprocess."""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from tools.worker.chat_encoding import conversation_prompt
from tools.worker.prompting import render_prompt
from tools.worker.sequence_length import prompt_limit
from trex.jobs import ScoreJob, as_score_job
from trex.metrics import LLM_JUDGE, METRICS, Metric, get_metric


def _encode_prompts(tokenizer, prompts: list[str], max_prompt_tokens: int | None):
    """Left-padded prompts; cut from the left to max_prompt_tokens when given (the end of a prompt is where
    the answer starts, as training cuts its examples)."""
    tokenizer.padding_side = tokenizer.truncation_side = "left"
    cut = {"truncation": True, "max_length": max_prompt_tokens} if max_prompt_tokens else {}
    return tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False, **cut)


def label_log_likelihoods(model, tokenizer, prompts: list[str], labels: list[str],
                          max_prompt_tokens: int | None = None):
    """log P(label + end-of-sequence | prompt) for every prompt and label, as a (prompts x labels) tensor.

    The prompts run once, left-padded in one batch; their KV cache is repeated for the candidates, so the
    cost is one batched prompt pass plus a few label tokens each. Explicit position ids make a padded
    prompt score exactly as it would alone. max_prompt_tokens: keep only a prompt's last tokens."""
    import torch

    dev = model.device
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    cands = [tokenizer(lab, add_special_tokens=False)["input_ids"] + [eos] for lab in labels]
    n_lab, width = len(cands), max(len(c) for c in cands)
    cand_ids = torch.full((n_lab, width), pad, dtype=torch.long)
    for j, c in enumerate(cands):
        cand_ids[j, :len(c)] = torch.tensor(c)
    enc = _encode_prompts(tokenizer, prompts, max_prompt_tokens).to(dev)
    mask = enc["attention_mask"]
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    # logits_to_keep=1: the output head (49k words) only at the last prompt position, not at every token.
    out = model(input_ids=enc["input_ids"], attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
    first = torch.log_softmax(out.logits[:, -1].float(), -1)  # (B, V): left padding puts the last token last
    cache = out.past_key_values
    cache.batch_repeat_interleave(n_lab)  # row b * n_lab + j: prompt b, candidate j
    n = len(prompts)
    ids = cand_ids[:, :width - 1].repeat(n, 1).to(dev)  # a candidate's last token is predicted, never read
    full_mask = torch.cat([mask.repeat_interleave(n_lab, 0), torch.ones_like(ids)], dim=1)
    cand_pos = pos[:, -1:].repeat_interleave(n_lab, 0) + 1 + torch.arange(width - 1, device=dev)
    rest = torch.log_softmax(model(input_ids=ids, attention_mask=full_mask, position_ids=cand_pos,
                                   past_key_values=cache).logits.float(), -1)
    scores = torch.zeros((n, n_lab))
    for j, c in enumerate(cands):
        picked = first[:, c[0]].cpu()
        for t in range(1, len(c)):
            picked = picked + rest[j::n_lab, t - 1, c[t]].cpu()
        scores[:, j] = picked
    return scores


def choose_labels(model, tokenizer, prompts: list[str], labels: list[str], batch_size: int = 8,
                  max_prompt_tokens: int | None = None) -> list[str]:
    """For each prompt, the label whose tokens (then end-of-sequence) the model finds most likely."""
    import torch

    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(prompts), batch_size):
            scores = label_log_likelihoods(model, tokenizer, prompts[i:i + batch_size], labels, max_prompt_tokens)
            preds += [labels[int(k)] for k in scores.argmax(-1)]
    return preds


def generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int = 16,
             max_prompt_tokens: int | None = None) -> list[str]:
    import torch

    outs = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(prompts), batch_size):
            enc = _encode_prompts(tokenizer, prompts[i:i + batch_size], max_prompt_tokens).to(model.device)
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
            outs += [t.strip() for t in tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:],
                                                               skip_special_tokens=True)]
    return outs


def bad_cases(records: list[dict], preds: list[str], metric, keep: int = 5) -> tuple[list[dict], int]:
    """The examples the metric itself scores worst, by its direction, short of a perfect score (1.0 for
    every built-in metric; for a custom one, the best score seen); and how many fall short."""
    per = [metric.example_score(p, r["output"]) for r, p in zip(records, preds)]
    sign = 1 if metric.higher_is_better else -1
    perfect = 1.0 if metric.name in METRICS else max(per, key=lambda x: sign * x, default=0.0)
    wrong = [i for i in sorted(range(len(per)), key=lambda i: sign * per[i]) if metric.better(perfect, per[i])]
    return [{"input": records[i]["input"], "prediction": preds[i], "reference": records[i]["output"],
             "score": round(per[i], 4)} for i in wrong[:keep]], len(wrong)


def record_prompt(tokenizer, template: str, task: dict, record: dict) -> str:
    """The prompt of one record: its input, or a chat's turns up to the last assistant turn (the reference)."""
    labels = task.get("labels") or []
    if record.get("messages"):
        return conversation_prompt(tokenizer, template, record["messages"], task["instruction"], labels)
    return render_prompt(tokenizer, template, task["instruction"], record["input"], labels)


def choice_scoring(task: dict) -> bool:
    return task["task_type"] == "classification" and task.get("scoring", "choice") == "choice"


def answer(model, tokenizer, task: dict, prompts: list[str]) -> list[str]:
    """The model's answers as TREX scores them: the likeliest label (choice), or greedy text, stripped. With a
    max_seq_length in the spec, a prompt keeps what fits beside its answer (the same cut for val and test)."""
    if choice_scoring(task):
        labels = task.get("labels") or []
        longest = max((len(tokenizer(lab, add_special_tokens=False)["input_ids"]) + 1 for lab in labels), default=1)
        return choose_labels(model, tokenizer, prompts, labels, max_prompt_tokens=prompt_limit(task, longest))
    new = int(task.get("max_new_tokens", 32))
    return generate(model, tokenizer, prompts, new, max_prompt_tokens=prompt_limit(task, new))


# A scoring result keeps the answers to the split's first rows (with a digest of each row): `trex export` checks
# what it writes against them (tools/export/export_check.py, its probe set), without scoring the run's model again.
KEPT_PREDICTIONS = 64


def row_digest(record: dict) -> str:
    """A short digest of one record, to tell that stored predictions answer these very rows."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def scoring_setup(model) -> dict:
    """How a model computed its answers: its device, weight dtype, quantisation and autocast. Answers computed
    the same way can stand in for each other; a GPU's bfloat16 or a 4-bit base may flip near ties."""
    import torch

    try:
        param = next(model.parameters())
    except (AttributeError, StopIteration, TypeError):  # not a torch model (a test's stand-in)
        return {}
    device = param.device.type
    config = getattr(model, "config", None)
    return {"device": device, "dtype": str(param.dtype).removeprefix("torch."),
            "quantized": getattr(config, "quantization_config", None) is not None,
            "autocast": bool(torch.is_autocast_enabled(device)) if device in ("cuda", "cpu") else False}


def kept_predictions(records: list[dict], preds: list[str], model) -> dict:
    """The answers to the first KEPT_PREDICTIONS rows, each row's digest, and how they were computed."""
    return {"answers": list(preds[:KEPT_PREDICTIONS]),
            "rows": [row_digest(r) for r in records[:KEPT_PREDICTIONS]], "setup": scoring_setup(model)}


def score_model(model, tokenizer, job: ScoreJob | dict) -> dict:
    """Score an already loaded model on job.eval_path (at most job.max_examples records)."""
    import time

    from tools.worker.model_loading import read_jsonl

    started = time.time()
    job = as_score_job(job)
    task, cfg = job.task, job.config
    records = read_jsonl(job.eval_path)
    if job.max_examples:
        records = records[: int(job.max_examples)]
    template = cfg.get("template", "chat")
    preds = answer(model, tokenizer, task, [record_prompt(tokenizer, template, task, r) for r in records])
    refs = [r["output"] for r in records]
    metric = scoring_metric(task["metric"])
    before = dict(getattr(metric, "usage", None) or {})  # the metric is one per process: count this job only
    bad, n_wrong = bad_cases(records, preds, metric)
    out = {"status": "ok", "score": metric.compute(preds, refs), "n": len(records), "bad_cases": bad,
           "n_wrong": n_wrong, "predictions": kept_predictions(records, preds, model),
           "wall_s": round(time.time() - started, 2)}
    usage = llm_usage_since(metric, before)
    if usage:
        out["llm_usage"] = usage  # an LLM judge's calls: the lead folds them into the run's LLM ledger
    return out


@lru_cache(maxsize=None)  # one per process: an llm_judge memoises its scores and counts its calls
def scoring_metric(name: str) -> Metric:
    """The metric that scores a job: the llm_judge gets the run's chat model (TREX_CHAT_MODEL), others are as named."""
    if name == LLM_JUDGE:
        from tools.llm.llm_judge import judge_metric

        return judge_metric()
    return get_metric(name)


def llm_usage_since(metric, before: dict) -> dict | None:
    """The chat-model calls a metric (the llm_judge) made since `before` (a copy of its usage), or None."""
    now = getattr(metric, "usage", None) or {}
    usage = {k: int(now.get(k, 0)) - int(before.get(k, 0)) for k in ("calls", "input_tokens", "output_tokens")}
    if usage["calls"] <= 0:
        return None
    return {**usage, **({"model": now["model"]} if now.get("model") else {})}


def evaluate(job: ScoreJob | dict) -> dict:
    """An evaluation job: load the base model (plus adapter) and score it."""
    from tools.worker.model_loading import load_model

    job = as_score_job(job)
    model, tokenizer = load_model(job.model_source(), adapter=job.adapter)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()  # plain weights: inference without the adapter's extra matmuls
    return score_model(model, tokenizer, job)
