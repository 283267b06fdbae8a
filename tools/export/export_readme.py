"""The README.md `trex export` writes beside the model: what it is, how to load it, how to serve it."""
from __future__ import annotations

import json
from pathlib import Path


def _prompt_lines(manifest: dict) -> list[str]:
    prompt, task = manifest["prompt"], manifest["task"]
    if prompt["template"] == "chat":
        shape = ("the tokenizer's chat template over these turns, with `add_generation_prompt=True`:\n\n"
                 f"```json\n{json.dumps(prompt['chat_messages'], ensure_ascii=False)}\n```")
    else:
        shape = f"this text, the answer following it directly:\n\n```\n{prompt['plain']}\n```"
    if manifest["scoring"] == "choice":
        how = ("TREX picks the label whose tokens (then end-of-sequence) are likeliest after the prompt: one of "
               + ", ".join(f"`{lab}`" for lab in task["labels"]) + ".")
    else:
        how = f"TREX decodes greedily, at most {task['max_new_tokens']} new tokens, and strips whitespace."
    return [f"Prompt ({{input}} is the input): {shape}", "", how]


def _gguf_lines(manifest: dict) -> list[str]:
    gguf, prompt = manifest["gguf"], manifest["prompt"]
    name = manifest["task_name"].replace("_", "-")
    if prompt["template"] == "plain":
        llama = [f"llama-cli -m {gguf['file']} -no-cnv --temp 0 -n {manifest['task']['max_new_tokens']} "
                 f"-p {json.dumps(prompt['plain'])}  # with your input in place of {{input}}"]
    else:
        system = prompt["chat_messages"][0]
        sys_flag = f" -sys {json.dumps(system['content'])}" if system["role"] == "system" else ""
        llama = [f"llama-cli -m {gguf['file']}{sys_flag} --temp 0  # a chat in the terminal: type an input",
                 f"llama-server -m {gguf['file']} --temp 0  # OpenAI-compatible API on :8080 (send the system turn)"]
    return ["## Run it with llama.cpp or Ollama", "",
            f"`{gguf['file']}` is the tuned model (adapter merged in) as GGUF, {gguf['quant']}, with its tokenizer and "
            "chat template inside. `Modelfile` gives Ollama the same prompt (the task's system turn) and greedy "
            "decoding.", "", "```sh", *llama,
            f"ollama create {name} -f Modelfile && ollama run {name} 'YOUR INPUT'", "```", ""]


def _what(manifest: dict, merged: bool) -> str:
    if manifest["kind"] == "gguf":
        return f"A GGUF file ({manifest['gguf']['quant']}) of the tuned model"
    return "A full model (adapter merged in)" if merged else "A LoRA adapter"


def export_readme(manifest: dict, out: Path, check: list[str] | None = None) -> str:
    """check: the lines of the export check (tools/export/export_check.py), shown as they were printed."""
    merged = (out / "config.json").is_file()
    base, scores = manifest["base_model"], manifest.get("scores") or {}
    lines = [f"# {manifest['task_name']}: {base} tuned by TREX", "",
             f"{_what(manifest, merged)} for a "
             f"{manifest['task']['task_type']} task. Test {scores.get('metric', 'score')}: {scores.get('test')} "
             f"(base model: {scores.get('base_test')}). Everything TREX knows about it is in `trex_model.json`.", ""]
    if manifest.get("base_weights"):
        lines += [f"Trained on: {manifest['base_weights']}.", ""]
    for warning in manifest.get("licence_warnings") or []:
        lines += [f"**Data licence:** {warning}", ""]
    lines += _prompt_lines(manifest) + [""]
    if check:
        lines += ["## Checked", "", "Loaded back from these files, this export's answers to the run's validation "
                  "rows against the run's own model's:", "", "```", *check, "```", ""]
    if manifest.get("gguf"):
        lines += _gguf_lines(manifest)
    if manifest["kind"] == "gguf":
        return "\n".join(lines)
    lines += ["## Load it", "", "`DIR` is this directory.", "", "```python"]
    if merged:
        lines += ["from transformers import AutoModelForCausalLM, AutoTokenizer",
                  "model = AutoModelForCausalLM.from_pretrained(DIR)", "tokenizer = AutoTokenizer.from_pretrained(DIR)"]
    else:
        lines += ["from peft import PeftModel", "from transformers import AutoModelForCausalLM, AutoTokenizer",
                  f"base = AutoModelForCausalLM.from_pretrained({base!r})",
                  "model = PeftModel.from_pretrained(base, DIR).merge_and_unload()",
                  "tokenizer = AutoTokenizer.from_pretrained(DIR)  # with the chat template"]
    lines += ["```", "", "With TREX installed, `from tools.export import load_tuned; load_tuned(DIR).predict([...])` "
              "prompts and answers exactly as the run scored (`trex predict DIR FILE` from a shell).", "",
              "## Serve it with vLLM", "", "```sh"]
    if merged:
        lines += ["vllm serve DIR"]
    else:
        rank = int((manifest.get("trial") or {}).get("lora_r") or 16)
        lines += [f"vllm serve {base} --enable-lora --lora-modules {manifest['task_name']}=DIR"
                  + (f" --max-lora-rank {rank}" if rank > 16 else "")]
    lines += ["```", "", "vLLM generates text; use the prompt above (its chat API applies the chat template to the "
              "turns)" + ("; to stay within the labels, constrain the output to them (vLLM's structured outputs, "
                          "`choice`)." if manifest["scoring"] == "choice" else "."), ""]
    return "\n".join(lines)
