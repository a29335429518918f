"""Render chat messages with the model's own template and mark which tokens carry loss."""

from __future__ import annotations

from tunesmith.data.tools import template_inputs
from tunesmith.errors import UserError

IGNORE = -100


def render(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> str:
    """The exact text the model sees; training and inference both go through here. Tool definitions, calls,
    results and reasoning traces are rendered as data/tools.py says."""
    if tokenizer.chat_template is None:
        raise UserError(
            "the model's tokenizer has no chat template, so chat examples cannot be formatted",
            hint="use a chat (instruct) model, or a model folder whose tokenizer_config.json sets chat_template",
        )
    plain, tools = template_inputs(tokenizer, messages)
    return tokenizer.apply_chat_template(plain, tools=tools, tokenize=False, add_generation_prompt=add_generation_prompt)


def adds_bos(tokenizer) -> bool:
    """Whether the tokenizer puts its bos token before plain text by itself (so a template that also writes it would
    give two)."""
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a", add_special_tokens=True)["input_ids"][:1] == [bos]


def _without_trace(text: str, message: dict, span: tuple[int, int]) -> list[tuple[int, int]]:
    """The span with the message's <think> trace cut out."""
    start = text.find(message["reasoning"], *span)
    if start < 0:
        return [span]
    opened = text.rfind("<think>", span[0], start)
    closed = text.find("</think>", start)
    low, high = (opened if opened >= 0 else start), (closed + len("</think>") if closed >= 0 else start)
    return [part for part in ((span[0], low), (high, span[1])) if part[1] > part[0]]


def assistant_spans(tokenizer, messages: list[dict], train_reasoning: bool = True) -> tuple[str, list[tuple[int, int]]]:
    """Full text and the character spans of the assistant replies that carry loss (reply + end-of-turn; without
    the reasoning trace unless train_reasoning)."""
    text = render(tokenizer, messages)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant" or message.get("weight", 1) == 0:
            continue
        before = render(tokenizer, messages[:i], add_generation_prompt=True)
        through = render(tokenizer, messages[: i + 1])
        if not (through.startswith(before) and text.startswith(through)):
            raise UserError(
                "the chat template does not render conversations incrementally, so assistant tokens cannot be "
                "located reliably",
                hint="set objective.loss_on=all, or use a model whose template appends each turn unchanged",
            )
        span = (len(before), len(through))
        spans += _without_trace(text, message, span) if message.get("reasoning") and not train_reasoning else [span]
    return text, spans


def tokenize_chat(tokenizer, messages: list[dict], loss_on: str = "assistant", train_reasoning: bool = True) -> dict:
    """input_ids and labels (IGNORE outside the assistant's replies when loss_on == 'assistant')."""
    text, spans = assistant_spans(tokenizer, messages, train_reasoning)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded["input_ids"]
    if loss_on == "all":
        return {"input_ids": ids, "labels": list(ids)}
    labels = [
        token if any(lo <= start < hi for lo, hi in spans) else IGNORE
        for token, (start, _end) in zip(ids, encoded["offset_mapping"])
    ]
    return {"input_ids": ids, "labels": labels}


def prompt_token_ids(tokenizer, prompts: list[str], max_tokens: int) -> list[list[int]]:
    """Each prompt as the model sees it when asked: a user turn in its chat template (with the assistant's turn
    opened) when it has one, else plain text; at most the last `max_tokens` tokens."""
    if tokenizer.chat_template:
        texts = [render(tokenizer, [{"role": "user", "content": p}], add_generation_prompt=True) for p in prompts]
        encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    else:
        encoded = tokenizer(prompts)["input_ids"]
    return [ids[-max_tokens:] for ids in encoded]


def show_tokens(tokenizer, example: dict) -> list[tuple[str, bool]]:
    """(token text, carries loss) pairs, for `tunesmith data inspect --show-tokens` style views."""
    return [
        (tokenizer.decode([token]), label != IGNORE) for token, label in zip(example["input_ids"], example["labels"])
    ]
