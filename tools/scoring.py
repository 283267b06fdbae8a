"""Scoring a model (base, or base + adapter) on a split: constrained choice for classification,
batched greedy generation otherwise. Runs inside the worker subprocess."""
from __future__ import annotations

from tools.metrics import get_metric
from tools.prompting import render_prompt


def label_log_likelihoods(model, tokenizer, prompt: str, labels: list[str]) -> list[float]:
    """log P(label + end-of-sequence | prompt) for every label, running the shared prompt only once:
    its KV cache is repeated for the candidates, so cost is one prompt plus a few label tokens each."""
    import torch

    eos = tokenizer.eos_token_id
    cands = [tokenizer(lab, add_special_tokens=False)["input_ids"] + [eos] for lab in labels]
    width = max(len(c) for c in cands)
    ids = torch.full((len(cands), width), tokenizer.pad_token_id, device=model.device)
    for j, c in enumerate(cands):
        ids[j, :len(c)] = torch.tensor(c)
    prompt_ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(model.device)
    out = model(input_ids=prompt_ids, use_cache=True)
    first = torch.log_softmax(out.logits[0, -1].float(), -1)
    cache = out.past_key_values
    cache.batch_repeat_interleave(len(cands))
    mask = torch.ones((len(cands), prompt_ids.shape[1] + width), dtype=torch.long, device=model.device)
    rest = torch.log_softmax(model(input_ids=ids, attention_mask=mask, past_key_values=cache).logits.float(), -1)
    scores = []
    for j, c in enumerate(cands):
        total = float(first[c[0]])
        for t in range(1, len(c)):
            total += float(rest[j, t - 1, c[t]])
        scores.append(total)
    return scores


def choose_labels(model, tokenizer, prompts: list[str], labels: list[str]) -> list[str]:
    """For each prompt, the label whose tokens (then end-of-sequence) the model finds most likely."""
    import torch

    model.eval()
    preds = []
    with torch.no_grad():
        for prompt in prompts:
            scores = label_log_likelihoods(model, tokenizer, prompt, labels)
            preds.append(labels[max(range(len(labels)), key=scores.__getitem__)])
    return preds


def generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int = 16) -> list[str]:
    import torch

    tokenizer.padding_side = "left"
    outs = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(prompts), batch_size):
            enc = tokenizer(prompts[i:i + batch_size], return_tensors="pt", padding=True,
                            add_special_tokens=False).to(model.device)
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
            outs += [t.strip() for t in tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:],
                                                               skip_special_tokens=True)]
    return outs


def evaluate(job: dict) -> dict:
    from tools.train_worker import _read_jsonl, load_model

    task, cfg = job["task"], job["config"]
    records = _read_jsonl(job["eval_path"])
    if job.get("max_examples"):
        records = records[: int(job["max_examples"])]
    model, tokenizer = load_model(job, adapter=job.get("adapter"))
    if job.get("adapter"):
        model = model.merge_and_unload()  # plain weights: inference without the adapter's extra matmuls
    labels = task.get("labels") or []
    prompts = [render_prompt(tokenizer, cfg.get("template", "chat"), task["instruction"], r["input"], labels)
               for r in records]
    if task["task_type"] == "classification":
        preds = choose_labels(model, tokenizer, prompts, labels)
    else:
        preds = generate(model, tokenizer, prompts, int(task.get("max_new_tokens", 32)))
    refs = [r["output"] for r in records]
    metric = get_metric(task["metric"])
    wrong = [{"input": r["input"], "prediction": p, "reference": r["output"]}
             for r, p in zip(records, preds) if metric.compute([p], [r["output"]]) < 1.0]
    return {"status": "ok", "score": metric.compute(preds, refs), "n": len(records), "bad_cases": wrong[:5],
            "n_wrong": len(wrong)}
