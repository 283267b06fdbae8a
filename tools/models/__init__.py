"""Base models: resolve a spec's model name to a local Hugging Face directory (packaged GGUF, hub, tiny)."""
