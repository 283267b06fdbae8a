"""A GGUF file of a (merged) model, for llama.cpp, Ollama and LM Studio: `trex export RUN --gguf`.

Written with the `gguf` package (llama.cpp's own writer): the hyperparameters, the tokenizer (tokens, merges,
token types, special ids, chat template) and the tensors under llama.cpp's names, f16 or q8_0. Llama's
q/k projections are permuted as llama.cpp's converter does (its rotary embedding pairs a head's dimensions
differently); transformers' GGUF loader permutes them back, which the export check relies on.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

# model_type -> gguf architecture; the Llama family covers SmolLM2 and Llama 2/3 shapes.
ARCHITECTURES = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}
QUANTS = ("f16", "q8_0")
SUPPORTED = "Llama (SmolLM2, Llama 3), Qwen2 and Qwen3"


def gguf_architecture(config) -> str:
    """The GGUF architecture of a transformers config; ValueError (one line) for any other model."""
    kind = getattr(config, "model_type", None)
    if kind not in ARCHITECTURES:
        raise ValueError(f"GGUF export supports {SUPPORTED} models; this one is {kind!r} "
                         "(export it with --merge and convert it with llama.cpp's convert_hf_to_gguf.py)")
    scaling = getattr(config, "rope_scaling", None) or {}
    kind_of_rope = scaling.get("rope_type", scaling.get("type", "default")) if isinstance(scaling, dict) else "default"
    if kind_of_rope not in (None, "default"):
        raise ValueError(f"GGUF export does not write {kind_of_rope!r} rope scaling yet: export it with --merge and "
                         "convert it with llama.cpp's convert_hf_to_gguf.py")
    return ARCHITECTURES[kind]


def permute_qk(weights, n_head: int, n_head_kv: int | None = None):
    """llama.cpp's permutation of a Llama q/k projection (convert_hf_to_gguf.LlamaModel.permute); transformers'
    GGUF loader undoes it (modeling_gguf_pytorch_utils.LlamaTensorProcessor._reverse_permute_weights)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _pre_tokenizer(tokenizer, arch: str) -> str:
    """llama.cpp's name for how the text is split before BPE (tokenizer.ggml.pre)."""
    if arch in ("qwen2", "qwen3"):
        return "qwen2"
    pre = json.loads(tokenizer.backend_tokenizer.to_str()).get("pre_tokenizer") or {}
    text = json.dumps(pre)
    if '"Digits"' in text and '"individual_digits": true' in text:
        return "smollm"  # SmolLM's hub tokenizer: each digit alone, then GPT-2's split
    if '"Split"' in text and "\\\\p{N}{1,3}" in text:
        return "llama-bpe"  # Llama 3's split
    return "gpt-2"  # byte-level BPE with GPT-2's split (what a tokenizer read from a GGUF by transformers does)


def _merges(tokenizer) -> list[str]:
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    return [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]


def add_tokenizer(writer, tokenizer, vocab_size: int, arch: str) -> None:
    """The tokenizer as llama.cpp's converter writes a byte-level BPE one (get_vocab_base): one token per id up to
    the model's vocabulary size, control tokens marked, unused ids padded."""
    import gguf

    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        raise ValueError("GGUF export writes byte-level BPE tokenizers (SmolLM2, Llama 3, Qwen); this model's "
                         f"tokenizer is {model.get('type')!r}: export it with --merge and use llama.cpp's converter")
    by_id = {i: t for t, i in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for i in range(max(vocab_size, len(by_id))):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        else:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.NORMAL if i not in added else
                         gguf.TokenType.CONTROL if added[i].special else gguf.TokenType.USER_DEFINED)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer(tokenizer, arch))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(_merges(tokenizer))
    for token, add in (("bos", writer.add_bos_token_id), ("eos", writer.add_eos_token_id),
                       ("unk", writer.add_unk_token_id), ("pad", writer.add_pad_token_id)):
        token_id = getattr(tokenizer, f"{token}_token_id", None)
        if token_id is not None:
            add(int(token_id))
    probe = tokenizer("a")["input_ids"]  # does the tokenizer put BOS in front by itself?
    writer.add_add_bos_token(bool(probe) and tokenizer.bos_token_id is not None and probe[0] == tokenizer.bos_token_id)
    writer.add_add_space_prefix(False)
    if getattr(tokenizer, "chat_template", None):
        writer.add_chat_template(tokenizer.chat_template)


def _add_hparams(writer, config, arch: str, quant: str) -> None:
    import gguf

    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(getattr(config, "num_key_value_heads", None) or heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    theta = getattr(config, "rope_theta", None) or (getattr(config, "rope_parameters", None) or {}).get("rope_theta")
    writer.add_rope_freq_base(float(theta or 10000.0))
    writer.add_vocab_size(config.vocab_size)
    if arch == "llama":
        writer.add_rope_dimension_count(head_dim)
    if head_dim != config.hidden_size // heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if quant == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0)


def _tensor_data(name: str, tensor, quant: str):
    """(data, raw type) of one tensor: norms and biases stay f32, matrices become f16 or q8_0 (f16 where a row
    does not split into q8_0's blocks of 32)."""
    import gguf
    import numpy as np

    data = tensor.detach().float().cpu().numpy()
    if data.ndim < 2:
        return data.astype(np.float32), gguf.GGMLQuantizationType.F32
    if quant == "q8_0" and data.shape[-1] % gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0] == 0:
        return gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0), gguf.GGMLQuantizationType.Q8_0
    return data.astype(np.float16), gguf.GGMLQuantizationType.F16


def write_gguf(model, tokenizer, path: str | Path, quant: str = "q8_0", name: str = "") -> Path:
    """Write `model` (a transformers causal LM, adapter merged) and its tokenizer to the GGUF file `path`."""
    import gguf

    if quant not in QUANTS:
        raise ValueError(f"unknown GGUF quantisation {quant!r}; known: {', '.join(QUANTS)}")
    config = model.config
    arch = gguf_architecture(config)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.upper()], config.num_hidden_layers)
    heads, kv_heads = config.num_attention_heads, getattr(config, "num_key_value_heads", None)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    path = Path(path)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(name or path.stem)
    _add_hparams(writer, config, arch, quant)
    add_tokenizer(writer, tokenizer, config.vocab_size, arch)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and tied:
            continue  # llama.cpp reads the output head from token_embd when output.weight is absent
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ValueError(f"GGUF export cannot place the tensor {hf_name!r} of this {arch} model")
        if arch == "llama" and hf_name.endswith("q_proj.weight"):
            tensor = permute_qk(tensor, heads, heads)
        elif arch == "llama" and hf_name.endswith("k_proj.weight"):
            tensor = permute_qk(tensor, heads, kv_heads)
        data, raw = _tensor_data(gguf_name, tensor, quant)
        writer.add_tensor(gguf_name, data, raw_dtype=raw)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@contextmanager
def parsed_once():
    """Within this block, gguf's reader parses each file once and its tensor-name table is built once per model.

    transformers' GGUF loader parses a file's whole metadata (for SmolLM2: 49k tokens and 48k merges, field by
    field in Python) for the tokenizer's config, again for the model's config and again for its weights, and
    builds gguf's tensor-name table again for every module of the model (about 400 times for SmolLM2-135M):
    most of the read-back's time. Here they share one GGUFReader per file (the same bytes, read from disk by
    the same reader) and one table per architecture and depth; what transformers does with them is unchanged.
    """
    import functools

    import gguf

    reader, name_map, readers = gguf.GGUFReader, gguf.get_tensor_name_map, {}

    def shared_reader(path, mode="r"):
        if mode != "r":  # a writable reader is never shared
            return reader(path, mode)
        key = str(Path(path).resolve())
        if key not in readers:
            readers[key] = reader(path, mode)
        return readers[key]

    gguf.GGUFReader, gguf.get_tensor_name_map = shared_reader, functools.lru_cache(maxsize=None)(name_map)
    try:
        yield readers
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


def load_gguf(path: str | Path):
    """(model, tokenizer) read back from a GGUF file by transformers' own GGUF loader, which knows nothing of
    TREX or of the files beside it: the file is linked alone into a fresh directory first. Its metadata is
    parsed once for the tokenizer, the config and the weights (parsed_once)."""
    import tempfile

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix="trex-gguf-") as alone, parsed_once():
        (Path(alone) / path.name).symlink_to(path)
        tokenizer = AutoTokenizer.from_pretrained(alone, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(alone, gguf_file=path.name, dtype=torch.float32)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # as tools/worker/model_loading.load_model does
    return model.eval(), tokenizer
