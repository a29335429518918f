"""Probe inputs and the output comparison every export must pass before it is renamed into place."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tunesmith.data.tokenize import render
from tunesmith.errors import UserError
from tunesmith.runs import read_json

# Used when a run kept neither prepared data nor evaluation samples: generic inputs still exercise every layer,
# only less like the real traffic.
FALLBACK_PROMPTS = (
    "Hello! What can you help me with?",
    "Write one sentence about the sea.",
    "List three colours, separated by commas.",
    "hey it's Ana, two small teas to take away please",
)
CONTINUATION_TOKENS = 8


@dataclass
class Probe:
    inputs: dict  # tensors for model(**inputs): the prompt plus the reference's greedy continuation, batch of 1
    logits: object  # FloatTensor (positions, classes or vocabulary): the reference model's output on `inputs`


@dataclass
class Agreement:
    max_abs_diff: float  # largest |logit difference| over every probe position and vocabulary entry
    top1_agreement: float  # share of positions where both models predict the same token (or class)
    probes: int
    positions: int

    def as_dict(self) -> dict:
        return asdict(self)


def probe_inputs(run: Path, config, count: int = 4) -> list:
    """Inputs like the run's real traffic: conversations (chat data) or texts (text and classification data),
    from its prepared held-out data, else its evaluation prompts, else generic ones."""
    for split in ("test", "validation", "train"):
        rows = _jsonl_head(run / "data" / f"{split}.jsonl", count)  # written by `tunesmith data prepare`
        items = [_without_final_reply(r["messages"]) if r.get("messages") else r.get("text") or r.get("prompt")
                 for r in rows]
        if items and all(items):
            return items
    system = [{"role": "system", "content": config.data.system_prompt}] if config.data.system_prompt else []
    samples = read_json(run / "eval.json").get("samples", [])[:count]
    prompts = [s["prompt"] for s in samples if isinstance(s.get("prompt"), str)] or list(FALLBACK_PROMPTS[:count])
    return [system + [{"role": "user", "content": text}] for text in prompts]


def _jsonl_head(path: Path, count: int) -> list[dict]:
    if not path.is_file():
        return []
    with path.open() as handle:
        return [json.loads(line) for line, _ in zip(handle, range(count)) if line.strip()]


def _without_final_reply(messages: list[dict]) -> list[dict]:
    return messages[:-1] if len(messages) > 1 and messages[-1]["role"] == "assistant" else messages


def encode_probe(tokenizer, item) -> list[int]:
    """A conversation through the chat template (as training saw it); a text, or a chat model without a
    template, as plain text with the tokenizer's special tokens."""
    if isinstance(item, list):
        try:
            text = render(tokenizer, item, add_generation_prompt=True)
            return tokenizer(text, add_special_tokens=False)["input_ids"]
        except UserError:
            item = "\n".join(m["content"] for m in item)
    return tokenizer(item, add_special_tokens=True)["input_ids"]


def make_probes(model, tokenizer, items: list, kind: str) -> list[Probe]:
    """Reference logits of the unexported model; generating models also predict their own greedy continuation."""
    import torch

    device = next(model.parameters()).device
    probes = []
    for item in items:
        ids = torch.tensor([encode_probe(tokenizer, item)], device=device)
        inputs = {"input_ids": ids}
        with torch.inference_mode():
            if kind != "seq_cls":
                generated = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                           max_new_tokens=CONTINUATION_TOKENS, top_p=None, top_k=None,
                                           pad_token_id=tokenizer.pad_token_id)
                # An encoder-decoder continues in its decoder; a decoder-only model continues its own input.
                inputs = {"input_ids": ids, "decoder_input_ids": generated} if kind == "seq2seq" else {
                    "input_ids": generated}
            logits = model(**inputs).logits
        probes.append(Probe({k: v.cpu() for k, v in inputs.items()}, flat(logits).cpu()))
    return probes


def flat(logits):
    """(positions, classes or vocabulary) in float32, whatever the model's batch/sequence layout."""
    return logits.float().reshape(-1, logits.shape[-1])


def torch_forward(model) -> Callable:
    """inputs → logits (positions, vocabulary) for a PyTorch model."""
    import torch

    device = next(model.parameters()).device

    def forward(inputs: dict):
        with torch.inference_mode():
            return flat(model(**{k: v.to(device) for k, v in inputs.items()}).logits).cpu()

    return forward


def compare(probes: list[Probe], forward: Callable) -> Agreement:
    """How closely `forward` (the exported model) reproduces the reference logits on every probe."""
    worst, same, positions = 0.0, 0, 0
    for probe in probes:
        logits = forward(probe.inputs)
        worst = max(worst, float((logits - probe.logits).abs().max()))
        same += int((logits.argmax(-1) == probe.logits.argmax(-1)).sum())
        positions += probe.logits.shape[0]
    return Agreement(worst, same / max(positions, 1), len(probes), positions)
