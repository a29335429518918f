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


def tokenizer_agreement(llm, tokenizer, texts: list[str]) -> float:
    """Share of texts llama.cpp tokenizes exactly as the run's tokenizer (special tokens parsed in both)."""
    same = sum(llm.tokenize(text.encode(), add_bos=False, special=True)
               == tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts)
    return same / max(len(texts), 1)


def gguf_replies(llm, prompts: list[str], max_new_tokens: int) -> list[str]:
    """Greedy replies to rendered prompts; a reply ends at the file's end-of-generation tokens."""
    replies = []
    for prompt in prompts:
        llm.reset()
        ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        output = llm.create_completion(ids, max_tokens=max_new_tokens, temperature=0.0, top_k=1, top_p=1.0,
                                       repeat_penalty=1.0)
        replies.append(output["choices"][0]["text"].strip())
    return replies
