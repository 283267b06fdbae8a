"""The Ollama Modelfile beside an exported GGUF: `ollama create NAME -f Modelfile` makes the tuned model a local
Ollama model that prompts as TREX's scoring did (the task's preamble as the system turn, greedy decoding).

Ollama writes prompts with Go templates, not Jinja: the chat templates TREX's base models use (ChatML: SmolLM2,
Qwen) and TREX's plain prompt are written out here; any other template is left to Ollama, which reads the
chat template stored in the GGUF.
"""
from __future__ import annotations

from tools.export.manifest import INPUT

# ChatML as Ollama writes it: every turn (SYSTEM comes first), then the assistant's turn opened.
CHATML = """{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ if $last }}<|im_start|>assistant
{{ end }}
{{- end }}"""


def _quoted(text: str) -> str:
    return '"""' + text.replace('"""', '" " "') + '"""'


def go_template(manifest: dict, chat_template: str | None) -> str | None:
    """The prompt as an Ollama TEMPLATE, or None where Ollama should use the GGUF's own chat template."""
    if manifest["prompt"]["template"] == "plain" or not chat_template:
        # TREX's plain prompt: the preamble (SYSTEM), the input, an "Output:" cue.
        plain, first = manifest["prompt"]["plain"], manifest["prompt"]["chat_messages"][0]
        if first["role"] == "system":
            plain = plain.replace(first["content"], "{{ .System }}", 1)
        return plain.replace(INPUT, "{{ .Prompt }}")
    if "<|im_start|>" in chat_template:
        return CHATML
    return None


def stop_tokens(manifest: dict, chat_template: str | None, eos: str | None) -> list[str]:
    stops = ["<|im_end|>", "<|im_start|>"] if chat_template and "<|im_start|>" in chat_template else []
    if manifest["prompt"]["template"] == "plain" or not chat_template:
        stops = ["Input:"]  # the plain prompt's next example would start here
    return list(dict.fromkeys([*stops, *([eos] if eos else [])]))


def modelfile(gguf_name: str, manifest: dict, chat_template: str | None, eos: str | None) -> str:
    """The Modelfile text for the GGUF file `gguf_name` in the same directory."""
    system = manifest["prompt"]["chat_messages"][0]
    lines = [f"# {manifest['task_name']}: {manifest['base_model']} tuned by TREX. ollama create NAME -f Modelfile",
             f"FROM ./{gguf_name}"]
    template = go_template(manifest, chat_template)
    if template:
        lines.append(f"TEMPLATE {_quoted(template)}")
    else:
        lines.append("# TEMPLATE: Ollama uses the chat template stored in the GGUF")
    if system["role"] == "system":
        lines.append(f"SYSTEM {_quoted(system['content'])}")
    lines.append("PARAMETER temperature 0")  # TREX scored greedy answers
    lines.append(f"PARAMETER num_predict {int(manifest['task'].get('max_new_tokens', 32))}")
    lines += [f'PARAMETER stop "{s}"' for s in stop_tokens(manifest, chat_template, eos)]
    if manifest.get("scoring") == "choice":
        lines.append("# TREX picked one of these labels by likelihood; Ollama generates freely: "
                     + ", ".join(manifest["task"].get("labels") or []))
    return "\n".join(lines) + "\n"
