"""A fake tool-calling chat model for tests: scripted answers per schema, with token usage.

GenericFakeChatModel has no tool calling (so no `with_structured_output`); this subclass binds tools and
answers a structured call with a tool call named after the requested schema, taking the next scripted
payload for that schema. A payload is a dict (the tool call's arguments), a str (plain text: no tool call,
which breaks the schema), an Exception (raised, like a server error), or a callable of the messages
returning one of those. The last payload of a script repeats.
"""
from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field


class FakeToolChatModel(GenericFakeChatModel):
    messages: Any = Field(default_factory=lambda: iter(()))  # unused: answers come from `script`
    script: dict[str, list] = Field(default_factory=dict)  # schema (tool) name -> payloads
    calls: list[dict] = Field(default_factory=list)  # what was asked: tool name and the prompt text

    def bind_tools(self, tools, *, tool_choice=None, **kwargs):
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        tools = kwargs.get("tools") or []
        name = tools[0]["function"]["name"] if tools else "text"
        prompt = "\n".join(str(m.content) for m in messages)
        self.calls.append({"tool": name, "prompt": prompt})
        queue = self.script.get(name)
        if not queue:
            raise AssertionError(f"fake chat model: no scripted answer for {name!r}")
        payload = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(payload) and not isinstance(payload, type):
            payload = payload(messages)
        if isinstance(payload, Exception):
            raise payload
        usage = {"input_tokens": len(prompt) // 4, "output_tokens": 50, "total_tokens": len(prompt) // 4 + 50}
        if isinstance(payload, str):
            msg = AIMessage(content=payload, usage_metadata=usage)
        else:
            msg = AIMessage(content="", usage_metadata=usage,
                            tool_calls=[{"name": name, "args": payload, "id": f"call_{len(self.calls)}"}])
        return ChatResult(generations=[ChatGeneration(message=msg)])

    @property
    def _llm_type(self) -> str:
        return "fake-tool-chat-model"


def fake_model(**script) -> FakeToolChatModel:
    """FakeToolChatModel(script={"RoundPlan": [...], "Requirement": [...]}) from keyword arguments."""
    return FakeToolChatModel(script={k: list(v) if isinstance(v, list) else [v] for k, v in script.items()})
