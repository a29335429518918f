"""POST /v1/chat/completions and /v1/completions, answered whole or streamed as server-sent events."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from tunesmith.serve.engine import Job
from tunesmith.serve.errors import APIError
from tunesmith.serve.generation import Generation
from tunesmith.serve.responses import Meta, chunk, full_response, sse, usage_chunk
from tunesmith.serve.schemas import ChatRequest, CompletionRequest, Sampling
from tunesmith.serve.tool_calls import CallStream, conversation

router = APIRouter()


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatRequest, request: Request):
    state = request.app.state.serve
    served = state.pool.get(body.model, "generate")
    messages, tools = conversation(body)
    prompt = served.tokenizer.encode(served.chat_prompt(messages) + tools.prefix, special=False)
    work = plan_generation(body, [prompt], body.token_budget(), served, state.settings, strip=not tools.prefix)
    return await answer(state, served, work, body, Meta(chat=True, model=served.name, tools=tools))


@router.post("/v1/completions")
async def completions(body: CompletionRequest, request: Request):
    state = request.app.state.serve
    served = state.pool.get(body.model, "generate")
    prompts = [served.tokenizer.encode(text, special=True) for text in body.prompt]
    work = plan_generation(body, prompts, body.token_budget(), served, state.settings, strip=False)
    return await answer(state, served, work, body, Meta(chat=False, model=served.name))


def plan_generation(body: Sampling, prompts: list[list[int]], budget: int | None, served, settings,
                    strip: bool) -> Generation:
    """The request's work, after checking it against the server's limits and the model's context length."""
    if len(prompts) * body.n > settings.max_batch:
        raise APIError(400, f"n x prompts = {len(prompts) * body.n} sequences; this server generates at most "
                            f"{settings.max_batch} per request", param="n")
    if budget is not None and budget > settings.max_tokens:
        raise APIError(400, f"max_tokens={budget} is more than this server allows ({settings.max_tokens})",
                       param="max_tokens")
    if any(not p for p in prompts):
        raise APIError(400, "the prompt is empty", param="prompt")
    longest = max(map(len, prompts))
    room = served.context_length - longest
    if room < 1 or (budget is not None and budget > room):
        raise APIError(400, f"this model's maximum context length is {served.context_length} tokens; the prompt has "
                            f"{longest} and max_tokens asks for {budget or 1} more",
                       param="messages" if strip else "prompt",
                       code="context_length_exceeded")
    return Generation(tuple(map(tuple, prompts)), body.n, budget or min(settings.max_tokens, room), body.temperature,
                      body.top_p, body.stops(), body.seed, strip)


async def answer(state, served, work: Generation, body: Sampling, meta: Meta):
    job = Job(served, "generate", work, body.stream, asyncio.get_running_loop())
    state.submit(job)
    if body.stream:
        events = stream_events(job, meta, body.include_usage())
        return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    return JSONResponse(full_response(meta, await state.wait(job)))


def _closing(meta: Meta, choice, stream: CallStream):
    """The last chunks of one choice: text held back while a call might have been starting, the calls, the end."""
    rest, calls, reason = stream.finish(choice.finish_reason)
    if rest:
        yield sse(chunk(meta, choice.index, text=rest))
    if calls:
        yield sse(chunk(meta, choice.index, tool_calls=calls))
    yield sse(chunk(meta, choice.index, finish_reason=reason))


async def stream_events(job: Job, meta: Meta, include_usage: bool):
    """SSE chunks as the worker produces text; the client leaving cancels the job's remaining generation."""
    streams = [CallStream(meta.tools) for _ in range(job.work.rows)]
    try:
        if meta.chat:
            for index in range(job.work.rows):
                yield sse(chunk(meta, index, opening=True))
        while True:
            kind, *data = await job.events.get()
            if kind == "delta":
                if text := streams[data[0]].feed(data[1]):
                    yield sse(chunk(meta, data[0], text=text))
            elif kind == "error":
                yield sse(data[0].body())
                break
            else:
                for choice in data[0].choices:
                    for event in _closing(meta, choice, streams[choice.index]):
                        yield event
                if include_usage:
                    yield sse(usage_chunk(meta, data[0]))
                break
        yield sse("[DONE]")
    finally:
        job.cancelled = True
