"""Probe inputs and the output comparison every export must pass before it is renamed into place."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tunesmith.data.tokenize import render
from tunesmith.runs import read_json

# Used when a run kept neither prepared data nor evaluation samples: generic chat turns still exercise every
# layer, only less like the real traffic.
FALLBACK_PROMPTS = (
    "Hello! What can you help me with?",
    "Write one sentence about the sea.",
    "List three colours, separated by commas.",
    "hey it's Ana, two small teas to take away please",
)


@dataclass
class Probe:
    ids: object  # LongTensor (1, length): the rendered prompt plus the reference model's greedy continuation
    logits: object  # FloatTensor (length, vocab): the reference model's logits on `ids`


@dataclass
class Agreement:
    max_abs_diff: float  # largest |logit difference| over every probe position and vocabulary entry
    top1_agreement: float  # share of positions where both models predict the same next token
    probes: int
    positions: int

    def as_dict(self) -> dict:
        return asdict(self)


def probe_conversations(run: Path, config, count: int = 4) -> list[list[dict]]:
    """Prompts like the run's real traffic: its prepared held-out data, else its evaluation prompts, else generic."""
    system = [{"role": "system", "content": config.data.system_prompt}] if config.data.system_prompt else []
    for split in ("test", "validation", "train"):
        rows = _jsonl_head(run / "data" / f"{split}.jsonl", count)  # written by `tunesmith data prepare`
        conversations = [_without_final_reply(row["messages"]) for row in rows if row.get("messages")]
        if conversations:
            return conversations
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


def make_probes(model, tokenizer, conversations: list[list[dict]], new_tokens: int = 8) -> list[Probe]:
    """Reference logits of the unexported model on each prompt extended by its own greedy continuation."""
    import torch

    device = next(model.parameters()).device
    probes = []
    for conversation in conversations:
        text = render(tokenizer, conversation, add_generation_prompt=True)
        prompt = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(device)
        with torch.inference_mode():
            ids = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens,
                                 do_sample=False, top_p=None, top_k=None, pad_token_id=tokenizer.pad_token_id)
            logits = model(input_ids=ids).logits[0].float()
        probes.append(Probe(ids.cpu(), logits.cpu()))
    return probes


def torch_forward(model) -> Callable:
    """ids (1, length) → logits (length, vocab) for a PyTorch causal LM."""
    import torch

    device = next(model.parameters()).device

    def forward(ids):
        with torch.inference_mode():
            return model(input_ids=ids.to(device)).logits[0].float().cpu()

    return forward


def compare(probes: list[Probe], forward: Callable) -> Agreement:
    """How closely `forward` (the exported model) reproduces the reference logits on every probe."""
    worst, same, positions = 0.0, 0, 0
    for probe in probes:
        logits = forward(probe.ids)
        worst = max(worst, float((logits - probe.logits).abs().max()))
        same += int((logits.argmax(-1) == probe.logits.argmax(-1)).sum())
        positions += probe.logits.shape[0]
    return Agreement(worst, same / max(positions, 1), len(probes), positions)
