"""The baseline of benchmarks/quality.py: what a tutorial-following user writes with plain transformers / TRL.

    .venv/bin/python benchmarks/plain_trainer.py classify --model DIR --train train.jsonl --test test.jsonl \
        --out result.json [--lr 5e-5] [--max-length 96]
    .venv/bin/python benchmarks/plain_trainer.py sft --model DIR --train train.jsonl --test test.jsonl \
        --out result.json [--max-new-tokens 128]

classify: AutoModelForSequenceClassification + Trainer, every parameter trained, 3 epochs, batch 16, linear
schedule, no warmup, the Trainer's other defaults; rows are {"text", "label"}.
sft: TRL SFTTrainer on prompt-completion conversations (loss on the completion) with a PEFT LoRA (r=16, alpha=32,
dropout 0.05, all linear layers), learning rate 2e-4 and SFTConfig's other defaults (3 epochs, batch 8), bf16 off;
rows are {"messages": [..., assistant]}; test answers are decoded greedily through the chat template.

Writes to --out: the test predictions (labels or replies), the references, training seconds (trainer.train()
only) and the non-padding tokens the training forwards saw. Nothing here imports tunesmith.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

EPOCHS, SEED = 3, 42


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def timed_train(trainer) -> tuple[float, int]:
    """(seconds in trainer.train(), non-padding tokens seen)."""
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started, int(trainer.state.num_input_tokens_seen)


def classification_dataset(rows: list[dict], tokenizer, label2id: dict, max_length: int):
    from datasets import Dataset

    dataset = Dataset.from_list([{"text": r["text"], "label": label2id[r["label"]]} for r in rows])
    return dataset.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_length),
                       batched=True, remove_columns=["text"])


def load_classifier(model_path: str, labels: list[str]):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:  # decoder-only models (SmolLM2) ship without one; the usual fix
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)})
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def classify(args) -> dict:
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    train_rows, test_rows = read_jsonl(args.train), read_jsonl(args.test)
    labels = sorted({r["label"] for r in train_rows})
    model, tokenizer = load_classifier(args.model, labels)
    label2id = {label: i for i, label in enumerate(labels)}
    with tempfile.TemporaryDirectory() as tmp:
        training = TrainingArguments(
            output_dir=tmp, learning_rate=args.lr, num_train_epochs=EPOCHS, per_device_train_batch_size=16,
            per_device_eval_batch_size=32, lr_scheduler_type="linear", warmup_steps=0, save_strategy="no",
            report_to="none", seed=SEED, logging_steps=10, include_num_input_tokens_seen="non_padding")
        trainer = Trainer(model=model, args=training, processing_class=tokenizer,
                          train_dataset=classification_dataset(train_rows, tokenizer, label2id, args.max_length),
                          data_collator=DataCollatorWithPadding(tokenizer))
        seconds, tokens = timed_train(trainer)
        test = classification_dataset(test_rows, tokenizer, label2id, args.max_length)
        logits = trainer.predict(test).predictions
    predictions = [labels[i] for i in logits.argmax(-1).tolist()]
    return {"predictions": predictions, "references": [r["label"] for r in test_rows],
            "train_seconds": seconds, "train_tokens": tokens}


def sft_trainer(model_path: str, rows: list[dict], out: str):
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    dataset = Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows])
    peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                             task_type="CAUSAL_LM")
    config = SFTConfig(output_dir=out, learning_rate=2e-4, bf16=False, save_strategy="no", report_to="none",
                       seed=SEED, logging_steps=10, include_num_input_tokens_seen="non_padding")
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    return SFTTrainer(model=model, args=config, train_dataset=dataset, peft_config=peft_config)


def greedy_replies(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int,
                   batch_size: int = 16) -> list[str]:
    import torch

    tokenizer.padding_side = "left"
    model.eval()
    replies = []
    for start in range(0, len(conversations), batch_size):
        prompts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                   for c in conversations[start:start + batch_size]]
        batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id)
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        replies += [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    return replies


def sft(args) -> dict:
    train_rows, test_rows = read_jsonl(args.train), read_jsonl(args.test)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = sft_trainer(args.model, train_rows, tmp)
        seconds, tokens = timed_train(trainer)
        replies = greedy_replies(trainer.model, trainer.processing_class, [r["messages"][:-1] for r in test_rows],
                                 args.max_new_tokens)
    return {"predictions": replies, "references": [r["messages"][-1]["content"] for r in test_rows],
            "train_seconds": seconds, "train_tokens": tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["classify", "sft"])
    parser.add_argument("--model", required=True, help="local model folder")
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--lr", type=float, default=5e-5, help="classify: learning rate")
    parser.add_argument("--max-length", type=int, default=512, help="classify: truncate texts to this many tokens")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="sft: longest generated answer")
    args = parser.parse_args()
    result = classify(args) if args.task == "classify" else sft(args)
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
