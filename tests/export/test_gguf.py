"""GGUF and Ollama exports: tiny decoders round-trip through llama.cpp, the Modelfile template renders like the run's
chat template, and what GGUF cannot hold is refused with one line."""

import json

import pytest

from tunesmith.errors import UserError
from tunesmith.export import EXPORT_INFO, export_run
from tunesmith.export.gguf import architecture_of, gguf_file, parse_types, pre_tokenizer_name, write_gguf
from tunesmith.export.ollama import MODELFILE, modelfile_text, rebuild, translate

needs_llama_cpp = pytest.mark.skipif(
    __import__("importlib").util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed (pip install 'tunesmith[gguf]'; .ci/run installs it)")


def tiny_decoder(tiny_model, folder, architecture: str):
    """The tiny model's weights in a Llama or Qwen2 shell, with a rope base other than the default: a writer that
    forgot it would drift with position."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    base = LlamaConfig.from_pretrained(tiny_model).to_dict()
    base.update(rope_parameters={"rope_theta": 50000.0, "rope_type": "default"}, architectures=None)
    torch.manual_seed(0)
    if architecture == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**{k: v for k, v in base.items() if k != "model_type"}))
    else:
        from transformers import LlamaForCausalLM

        model = LlamaForCausalLM(LlamaConfig(**{**base, "attention_bias": architecture == "llama_bias"}))
    with torch.no_grad():  # biases start at zero: random ones show whether they are laid out like the weights
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.normal_(0, 0.5)
    model.config.architectures = [type(model).__name__]
    return model.eval(), tokenizer


def greedy_hf(model, tokenizer, prompt: str, tokens: int) -> list[int]:
    import torch

    ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens, do_sample=False,
                             eos_token_id=None, pad_token_id=tokenizer.pad_token_id)
    return out[0, ids.shape[1]:].tolist()


def greedy_llama(path, tokenizer, prompt: str, tokens: int) -> list[int]:
    from tunesmith.export.gguf_runtime import open_gguf

    llm = open_gguf(path)
    try:
        ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        assert ids == tokenizer(prompt, add_special_tokens=False)["input_ids"]  # llama.cpp tokenizes like the run
        out = []
        for token in llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0):
            out.append(token)
            if len(out) == tokens:
                break
        return out
    finally:
        llm.close()


@needs_llama_cpp
@pytest.mark.parametrize("architecture", ["llama", "llama_bias", "qwen2"])
def test_f16_gguf_generates_the_same_greedy_tokens_in_llama_cpp(tiny_model, tmp_path, architecture):
    model, tokenizer = tiny_decoder(tiny_model, tmp_path, architecture)
    files = write_gguf(model, tokenizer, tmp_path, ["f16"], "tiny", log=lambda line: None)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "two teas and 3 cakes, please"}],
                                           tokenize=False, add_generation_prompt=True)
    assert greedy_llama(files["f16"], tokenizer, prompt, 24) == greedy_hf(model, tokenizer, prompt, 24)


def test_gguf_metadata_holds_tokenizer_template_and_hyperparameters(tiny_model, tmp_path):
    from gguf import GGUFReader

    model, tokenizer = tiny_decoder(tiny_model, tmp_path, "llama")
    path = write_gguf(model, tokenizer, tmp_path, ["f16", "q8_0"], "tiny", log=lambda line: None)["q8_0"]
    reader = GGUFReader(path)
    field = lambda key: reader.fields[key].contents()  # noqa: E731
    assert field("general.architecture") == "llama"
    assert field("llama.rope.freq_base") == 50000.0
    assert field("llama.attention.head_count_kv") == 2
    assert field("tokenizer.ggml.model") == "gpt2" and field("tokenizer.ggml.pre") == "gpt-2"
    assert field("tokenizer.chat_template") == tokenizer.chat_template
    assert field("tokenizer.ggml.tokens")[tokenizer.eos_token_id] == tokenizer.eos_token
    assert field("tokenizer.ggml.eos_token_id") == tokenizer.eos_token_id
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == "Q8_0" and types["blk.0.attn_norm.weight"] == "F32"
    assert "output.weight" not in types  # tied head: llama.cpp reuses token_embd


def test_unknown_types_and_architectures_are_refused():
    assert parse_types("q4_k_m,q8_0") == ["f16", "q4_k_m", "q8_0"]
    assert parse_types("none") == ["f16"]
    with pytest.raises(UserError, match="unknown GGUF type q3"):
        parse_types("q3")
    config = type("Config", (), {"architectures": ["GPT2LMHeadModel"]})()
    with pytest.raises(UserError, match="GGUF export supports LlamaForCausalLM.*GPT2LMHeadModel"):
        architecture_of(config)


def test_pre_tokenizers_map_to_llama_cpp_names_or_are_refused():
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}
    assert pre_tokenizer_name(byte_level) == "gpt-2"
    digits = {"type": "Digits", "individual_digits": True}
    assert pre_tokenizer_name({"type": "Sequence", "pretokenizers": [digits, byte_level]}) == "smollm"
    with pytest.raises(UserError, match="no llama.cpp pre-tokenizer"):
        pre_tokenizer_name({"type": "Sequence", "pretokenizers": [{"type": "Split"}, byte_level]})


def test_modelfile_template_rebuilds_the_chat_template(tiny_model):
    from transformers import AutoTokenizer

    from tunesmith.data.tokenize import render

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    turns = translate(tokenizer)
    roles, contents = ["user", "assistant", "user"], ["hi", "hello", "two teas"]
    expected = render(tokenizer, [{"role": r, "content": c} for r, c in zip(roles, contents)],
                      add_generation_prompt=True)
    assert rebuild(turns, roles, contents) == expected
    text = modelfile_text(tokenizer, "model-q8_0.gguf", "You take orders.", 2048)
    assert text.startswith("FROM ./model-q8_0.gguf\n")
    assert '{{ if eq .Role "user" }}' not in text  # system comes first in the branches
    assert '{{ else if eq .Role "user" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n' in text
    assert 'SYSTEM """You take orders."""' in text and 'PARAMETER stop "<|im_end|>"' in text


def test_a_template_that_is_not_per_role_is_refused(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    # Numbers each turn: no fixed prefix per role reproduces it.
    tokenizer.chat_template = ("{% for m in messages %}{{ loop.index ~ ' ' ~ m['role'] ~ ': ' ~ m['content'] ~ '\n' }}"
                               "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")
    with pytest.raises(UserError, match="cannot be written as an Ollama TEMPLATE"):
        translate(tokenizer)


@needs_llama_cpp
def test_ollama_export_of_a_lora_run_is_checked_in_llama_cpp_and_on_the_test_split(lora_run, tmp_path):
    run, _ = lora_run
    result = export_run(run, tmp_path / "ollama", fmt="ollama", quantize="q8_0", log=lambda line: None)
    folder = result.folder
    assert gguf_file(folder, "f16").is_file() and gguf_file(folder, "q8_0").is_file()
    assert (folder / MODELFILE).read_text().startswith("FROM ./model-q8_0.gguf")
    check = json.loads((folder / EXPORT_INFO).read_text())["check"]
    assert check["files"]["f16"]["top1_agreement"] >= 0.99
    task = check["task"]
    assert task["examples"] == 4 and set(task["exports"]) == {"f16", "q8_0"}
    f16 = task["exports"]["f16"]
    assert f16["metrics"]["json_exact_match"]["run"] == pytest.approx(f16["metrics"]["json_exact_match"]["export"])
    assert f16["speed"]["tokens_per_second"] > 0 and "model-q8_0.gguf" in (folder / "README.md").read_text()


def test_gguf_of_a_classifier_is_refused_before_loading(classification_run, tmp_path, cli):
    code, _, err = cli("export", str(classification_run), "--to", str(tmp_path / "g"), "--format", "gguf")
    assert code == 2 and "gguf format holds causal_lm models" in err and "Traceback" not in err


def test_llama3_and_qwen2_split_patterns_are_recognised():
    from tunesmith.export.gguf import SPLIT_PATTERNS

    byte_level = {"type": "ByteLevel", "use_regex": False}
    for pattern, name in SPLIT_PATTERNS.items():
        spec = {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": pattern}}, byte_level]}
        assert pre_tokenizer_name(spec) == name
    assert sorted(SPLIT_PATTERNS.values()) == ["llama-bpe", "qwen2"]


def test_a_template_that_adds_a_default_system_prompt_keeps_it_in_ollama(tiny_model):
    from transformers import AutoTokenizer

    from tests.conftest import CHATML

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    default = "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nBe brief.<|im_end|>\n' }}{% endif %}"
    tokenizer.chat_template = default + CHATML
    turns = translate(tokenizer)
    assert turns.default_head == "<|im_start|>system\nBe brief.<|im_end|>\n"
    assert rebuild(turns, ["user"], ["hi"]) == tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    text = modelfile_text(tokenizer, "model-f16.gguf", None, 2048)
    assert '{{ if or (not .Messages) (ne (index .Messages 0).Role "system") }}<|im_start|>system\nBe brief.' in text
    assert "SYSTEM" not in text
