"""The LLM layer: the chat-model loader, structured steps with fallback, prompts, answer schemas, pricing,
and the llm_judge metric."""
