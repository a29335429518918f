"""The LM head projected inside the loss, in chunks: the same loss and gradients as projecting in the model."""

import copy

import pytest
import torch

from tunesmith.fast import head_loss
from tunesmith.fast.padding_free import PaddingFreeCollator, label_loss, language_model, use_varlen_attention


def tiny_llama(**extra):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, **extra))


def rows(lengths=(12, 30, 9, 21)) -> list[dict]:
    generator = torch.Generator().manual_seed(1)
    out = []
    for n in lengths:
        ids = torch.randint(0, 300, (n,), generator=generator).tolist()
        out.append({"input_ids": ids, "labels": [-100] * (n // 2) + ids[n // 2:]})
    return out


@pytest.mark.parametrize("tied", [True, False])
def test_chunked_head_loss_equals_the_models_own_head(monkeypatch, tied):
    monkeypatch.setattr(head_loss, "CHUNK", 7)  # several chunks, the last one short
    plain = tiny_llama(tie_word_embeddings=tied)
    chunked = copy.deepcopy(plain)
    assert use_varlen_attention(plain) and use_varlen_attention(chunked)
    loss_of = head_loss.chunked_head_loss(language_model(chunked))
    assert loss_of is not None
    losses = []
    for model, collator, loss in ((plain, PaddingFreeCollator(), label_loss),
                                  (chunked, PaddingFreeCollator(head_in_loss=True), loss_of)):
        batch = collator(rows())
        value = loss(model.train()(**{k: v for k, v in batch.items() if k != "labels"}), batch["labels"], 40)
        value.backward()
        losses.append(value.item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    for (name, a), b in zip(plain.named_parameters(), chunked.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_a_head_that_is_not_a_plain_projection_keeps_the_models_own_path():
    model = tiny_llama()
    model.lm_head = torch.nn.Linear(32, 300, bias=True)
    assert head_loss.chunked_head_loss(model) is None
    scaled = tiny_llama()
    scaled.lm_head.forward = lambda hidden: torch.nn.functional.linear(hidden, scaled.lm_head.weight) * 0.5
    assert head_loss.chunked_head_loss(scaled) is None  # the start-up probe sees logits != hidden @ W.T
