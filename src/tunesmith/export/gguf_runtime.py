"""A GGUF file run in llama.cpp (llama-cpp-python, CPU build): logits for the export check, greedy replies for the
task check and `tunesmith serve`. Prompts are tokenized by llama.cpp itself, as llama.cpp and Ollama users get."""

from __future__ import annotations

from pathlib import Path

from tunesmith.export.gguf import mute_llama_cpp, require_llama_cpp

CONTEXT = 2048  # tokens the runtime holds: probes and test prompts with their replies


def open_gguf(path: Path, context: int = CONTEXT, logits: bool = False):
    llama_cpp = require_llama_cpp("loading a GGUF file")
    mute_llama_cpp()
    return llama_cpp.Llama(str(path), n_ctx=context, logits_all=logits, verbose=False)


def gguf_forward(path: Path):
    """inputs → logits (positions, vocabulary) of the GGUF, for the export check's comparison."""
    import numpy as np
    import torch

    llm = open_gguf(path, logits=True)

    def forward(inputs: dict):
        ids = inputs["input_ids"][0].tolist()
        llm.reset()
        llm.eval(ids)
        return torch.from_numpy(np.array(llm.scores[: len(ids)], dtype=np.float32))

    forward.close = llm.close
    return forward


def gguf_tokenizer(path: Path):
    """The export's saved tokenizer, else the one transformers rebuilds from the file's own metadata."""
    from transformers import AutoTokenizer

    if (path.parent / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(path.parent)
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


def tokenizer_agreement(llm, tokenizer, texts: list[str]) -> float:
    """Share of texts llama.cpp tokenizes exactly as the run's tokenizer (special tokens parsed in both)."""
    same = sum(llm.tokenize(text.encode(), add_bos=False, special=True)
               == tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts)
    return same / max(len(texts), 1)


def gguf_replies(llm, prompts: list[str], max_new_tokens: int, temperature: float = 0.0,
                 seed: int | None = None) -> list[str]:
    """Replies to rendered prompts, greedy unless temperature > 0; a reply ends at the file's end-of-generation
    tokens."""
    replies = []
    for prompt in prompts:
        llm.reset()
        if seed is not None:
            llm.set_seed(seed)
        ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        output = llm.create_completion(ids, max_tokens=max_new_tokens, temperature=temperature,
                                       top_k=1 if temperature == 0 else 0, top_p=1.0, repeat_penalty=1.0)
        replies.append(output["choices"][0]["text"].strip())
    return replies
