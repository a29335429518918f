"""Continued pre-training on raw text: documents joined with end-of-text and cut into full-length blocks."""

from __future__ import annotations

from tunesmith.data import PreparedData, prepare_splits
from tunesmith.data.examples import length_limit
from tunesmith.data.replay import file_replay
from tunesmith.objectives.registry import (
    Objective,
    register,
    splits_as_datasets,
    trainer_on,
)


def pack_blocks(token_lists: list[list[int]], eos_id: int, block: int) -> list[list[int]]:
    """Concatenate documents (each ended by EOS) and cut into blocks of `block` tokens; a short tail is kept."""
    stream = [t for tokens in token_lists for t in (*tokens, eos_id)]
    return [stream[i : i + block] for i in range(0, len(stream), block) if len(stream[i : i + block]) > 1]


def prepare(config, tokenizer) -> PreparedData:
    splits, report = prepare_splits(config.data, "text")
    documents = {name: list(ds) for name, ds in splits.items()}
    if config.data.replay.source is not None:
        held_out = [row["text"] for name in ("validation", "test") for row in documents.get(name, [])]
        rows, report["replay"] = file_replay(config.data, "text", len(documents["train"]), held_out)
        documents["train"] += rows
    prepared = PreparedData({}, data_report=report)
    for name, rows in documents.items():
        encoded = tokenizer([row["text"] for row in rows], add_special_tokens=False)["input_ids"]
        blocks = pack_blocks(encoded, tokenizer.eos_token_id, length_limit(config.data)[0])
        prepared.splits[name] = rows
        prepared.tokenized[name] = [{"input_ids": b, "labels": list(b)} for b in blocks]
        prepared.report[name] = {"examples": len(blocks), "documents": len(rows), "tokens": sum(map(len, blocks)),
                                 "loss_tokens": sum(map(len, blocks)), "longest": max(map(len, blocks), default=0)}
    return prepared


def build_trainer(model, tokenizer, data, trainer_args, callbacks, config):
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(**trainer_args, packing=False, completion_only_loss=False)
    return trainer_on(SFTTrainer, splits_as_datasets(data), model=model, args=args, processing_class=tokenizer,
                      callbacks=callbacks)


register(Objective("causal_lm", "text", "causal_lm", "CAUSAL_LM", prepare, build_trainer,
                   evaluation="language_modeling", test_loss=True, replay=("file",)))
