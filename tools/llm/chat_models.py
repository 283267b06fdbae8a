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

`ChatSource` is where a run's LLM steps get their model: by default this loader with Context.chat_model; a model
or a factory handed to graph.main.build_graph(chat_model=...) replaces it (docs/seams.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

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


def configured_spec(ctx) -> str:
    """Context.chat_model, stripped ("" = none configured)."""
    return (getattr(ctx, "chat_model", "") or "").strip()


def _model_name(model) -> str:
    for attr in ("model_name", "model", "model_id"):
        name = getattr(model, attr, None)
        if isinstance(name, str) and name:
            return name
    return type(model).__name__


@dataclass(frozen=True)
class ChatSource:
    """The chat model of a run's LLM steps. factory None: load Context.chat_model with `load_chat_model`
    (none configured = offline); else factory(ctx) builds the model (or None = offline) each time a step needs it."""
    factory: Callable[[Any], Any] | None = None
    name: str = ""  # what the ledger records an injected model as when Context.chat_model is empty

    def configured(self, ctx) -> bool:
        """Whether the steps should prepare an LLM call at all (an injected model always is)."""
        return self.factory is not None or bool(configured_spec(ctx))

    def spec(self, ctx) -> str:
        """The model's name in the ledger and the price table: Context.chat_model, else the injected one's name."""
        return configured_spec(ctx) or (self.name if self.factory is not None else "")

    def model(self, ctx):
        """The chat model, or None (offline); ChatModelError when the configured spec cannot be built."""
        if self.factory is not None:
            return self.factory(ctx)
        spec = configured_spec(ctx)
        return load_chat_model(spec, getattr(ctx, "cache_dir", None)) if spec else None


DEFAULT_CHAT = ChatSource()


def chat_source(chat_model=None) -> ChatSource:
    """A ChatSource from what build_graph(chat_model=...) accepts: None (the loader), a chat model instance (used
    for every step), a factory called with the run's Context, or a ChatSource."""
    if chat_model is None:
        return DEFAULT_CHAT
    if isinstance(chat_model, ChatSource):
        return chat_model
    if hasattr(chat_model, "invoke"):  # a LangChain chat model (a Runnable): not a factory
        return ChatSource(lambda ctx: chat_model, _model_name(chat_model))
    if callable(chat_model):
        return ChatSource(chat_model, getattr(chat_model, "__name__", "") or type(chat_model).__name__)
    raise TypeError(f"chat_model must be a chat model, a factory (context -> chat model) or None, "
                    f"not {type(chat_model).__name__}")
