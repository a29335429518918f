"""Request bodies of the OpenAI-compatible endpoints, validated strictly: a wrong type is a 400, never a guess."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    # Unknown fields are errors, as in OpenAI's API and tunesmith's configs: a typo must not be silently ignored.
    model_config = ConfigDict(extra="forbid", strict=True)


class TextPart(Strict):
    type: Literal["text"]
    text: str


class FunctionCall(Strict):
    name: str = Field(min_length=1)
    arguments: str  # JSON text, as OpenAI sends it


class ToolCall(Strict):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def text(self) -> str | None:
        return self.content if not isinstance(self.content, list) else "".join(part.text for part in self.content)

    def plain(self) -> dict:
        """The {role, content} pair the chat template renders; "developer" is OpenAI's newer name for system."""
        return {"role": "system" if self.role == "developer" else self.role, "content": self.text() or ""}

    def openai(self) -> dict:
        """The message as OpenAI's chat format has it, for the data stage's checks (tool calls included)."""
        out = {**self.plain(), "content": self.text()}
        if self.tool_calls:
            out["tool_calls"] = [call.model_dump() for call in self.tool_calls]
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        return out


class FunctionDefinition(Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict | None = None
    strict: bool | None = None


class Tool(Strict):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(Strict):
    name: str = Field(min_length=1)


class NamedToolChoice(Strict):
    type: Literal["function"]
    function: NamedFunction


class StreamOptions(Strict):
    include_usage: bool = False


class Sampling(Strict):
    """Fields shared by chat and text completions."""

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    n: int = Field(1, ge=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    seed: int | None = None
    user: str | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logprobs: bool | int | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, stop):
        stops = [stop] if isinstance(stop, str) else stop or []
        if len(stops) > 4 or any(not s for s in stops):
            raise ValueError("stop takes up to 4 non-empty strings")
        return stops

    @field_validator("presence_penalty", "frequency_penalty", "logprobs")
    @classmethod
    def _unsupported(cls, value, info):
        if value:
            raise ValueError(f"{info.field_name} is not supported by this server; leave it out")
        return value

    def stops(self) -> tuple[str, ...]:
        return tuple(self.stop or ())

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatRequest(Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None

    def token_budget(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(Sampling):
    prompt: str | list[str]

    @field_validator("prompt")
    @classmethod
    def _prompts(cls, prompt):
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not prompts:
            raise ValueError("prompt needs at least one string")
        return prompts

    def token_budget(self) -> int | None:
        return self.max_tokens


class ClassifyRequest(Strict):
    model: str = Field(min_length=1)
    input: str | list[str | list[str]]  # texts, or [text, text_pair] for a sentence-pair classifier

    @field_validator("input")
    @classmethod
    def _inputs(cls, value):
        inputs = [value] if isinstance(value, str) else value
        if not inputs:
            raise ValueError("input needs at least one string")
        if any(isinstance(item, list) and len(item) != 2 for item in inputs):
            raise ValueError("a sentence pair is [text, text_pair]: two strings")
        return [tuple(item) if isinstance(item, list) else item for item in inputs]
