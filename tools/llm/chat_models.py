"""The one chat-model loader. Models are built when a node needs one, never at import.

A spec (Context.chat_model / TREX_CHAT_MODEL) is one of:

* any ``init_chat_model`` string, ``"provider:model"``: ``"openai:gpt-4.1"``, ``"anthropic:claude-sonnet-4-5"``
  (the provider's integration package must be installed, its key set);
* an OpenAI-compatible server (vLLM, llama.cpp ``llama-server``, Ollama, LM Studio):
  ``"openai:<served model name>"`` with ``OPENAI_BASE_URL=http://host:port/v1``; ``OPENAI_API_KEY`` may be any
  value for a local server (a placeholder is used when it is unset);
* ``"hf:<local dir, packaged model or hub id>"``: a local transformers text-generation pipeline wrapped in
  ``ChatHuggingFace`` (CPU is fine for small models; the packaged SmolLM2 works offline);
* ``""``: no chat model; callers use the built-in offline policy.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

HF_PREFIX = "hf:"
HF_MAX_NEW_TOKENS = 512


class ChatModelError(ValueError):
    """A chat-model spec that cannot be turned into a model."""


def default_cache_dir() -> str:
    return os.environ.get("TREX_CACHE_DIR", str(Path.home() / ".cache" / "trex"))


@lru_cache(maxsize=2)  # loading weights is slow; a run asks for the same local model many times
def _load_hf(target: str, cache_dir: str):
    from langchain.chat_models import init_chat_model

    from tools.models.base_models import resolve_model_dir

    path = resolve_model_dir(target, cache_dir)  # a local dir as is; the packaged SmolLM2 converted once
    return init_chat_model(path, model_provider="huggingface", backend="pipeline", task="text-generation",
                           max_new_tokens=HF_MAX_NEW_TOKENS, do_sample=False,
                           pipeline_kwargs={"return_full_text": False})


def load_chat_model(spec: str, cache_dir: str | None = None):
    """A LangChain chat model for the spec; ChatModelError when the spec is empty or cannot be built."""
    spec = (spec or "").strip()
    if not spec:
        raise ChatModelError("no chat model configured: set TREX_CHAT_MODEL (e.g. 'openai:gpt-4.1', or "
                             "'openai:<name>' with OPENAI_BASE_URL for a local server, or 'hf:<model dir>')")
    if spec.startswith(HF_PREFIX):
        target = spec[len(HF_PREFIX):]
        if not target:
            raise ChatModelError("chat model 'hf:' needs a local model directory or a model id after the colon")
        try:
            return _load_hf(target, cache_dir or default_cache_dir())
        except Exception as err:  # noqa: BLE001 - import errors, missing files, bad configs: one clear message
            raise ChatModelError(f"cannot load local chat model {target!r}: {err}") from err
    from langchain.chat_models import init_chat_model

    kwargs = {}
    provider = spec.split(":", 1)[0]
    if provider == "openai" and os.environ.get("OPENAI_BASE_URL") and not os.environ.get("OPENAI_API_KEY"):
        kwargs["api_key"] = "not-needed"  # local OpenAI-compatible servers accept any key
    try:
        return init_chat_model(spec, **kwargs)
    except Exception as err:  # noqa: BLE001 - unknown provider, missing package, missing key
        raise ChatModelError(f"cannot build chat model {spec!r}: {err}") from err
