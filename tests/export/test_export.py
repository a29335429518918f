"""Export: merged folders load with plain transformers and match the run; every export is checked before it lands."""

import json
import subprocess
import sys

import pytest

from tunesmith.errors import UserError
from tunesmith.export import EXPORT_INFO, FORMATS, export_run
from tunesmith.export.probes import FALLBACK_PROMPTS, Agreement, probe_inputs

PLAIN_TRANSFORMERS = """
import json, sys
sys.modules["tunesmith"] = None  # the exported folder must not need tunesmith
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, messages = sys.argv[1], json.loads(sys.argv[2])
tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder)
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
output = model.generate(**inputs, max_new_tokens=24, do_sample=False)
print(json.dumps(tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()))
"""


def quiet(line):
    pass


@pytest.fixture(scope="module")
def merged(lora_run, tmp_path_factory):
    run, _ = lora_run
    folder = tmp_path_factory.mktemp("exports") / "merged"
    return run, folder, export_run(run, folder, log=lambda line: None)


def test_merged_folder_loads_with_plain_transformers_and_answers_like_tunesmith_chat(merged):
    from tunesmith.inference import generate
    from tunesmith.models.saved import load_run

    run, folder, _ = merged
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "README.md"} <= {
        p.name for p in folder.iterdir()}
    messages = [{"role": "user", "content": "Order for Lucia: 9 x cappuccino, size big, delivered."}]
    loaded = load_run(run)
    model, tokenizer = loaded.model, loaded.tokenizer
    expected = generate(model, tokenizer, [messages], max_new_tokens=24)[0]
    plain = subprocess.run([sys.executable, "-c", PLAIN_TRANSFORMERS, str(folder), json.dumps(messages)],
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert expected  # an empty reply on both sides would prove nothing
    assert json.loads(plain.stdout.strip().splitlines()[-1]) == expected


def test_merge_check_is_measured_and_recorded(merged):
    _, folder, result = merged
    info = json.loads((folder / EXPORT_INFO).read_text())
    assert result.format == info["format"] == "safetensors"
    assert 0 < result.agreement.max_abs_diff < 1e-3  # merging re-rounds the weights: small but not zero
    assert info["check"]["max_abs_diff"] == result.agreement.max_abs_diff
    assert info["check"]["probes"] == 4 and info["check"]["positions"] > 4 * 8


def test_model_card_names_base_data_method_metrics_and_check(merged, lora_run):
    run, folder, result = merged
    _, config = lora_run
    card = (folder / "README.md").read_text()
    manifest = json.loads((run / "manifest.json").read_text())
    evaluation = json.loads((run / "eval.json").read_text())
    assert card.startswith("---\nlibrary_name: transformers")
    assert f"`{config.model.name}` fine-tuned with tunesmith: method **lora**" in card
    assert manifest["data_sha256"]["train"] in card and manifest["data_sha256"]["test"] in card
    assert "| `method.r` | 8 |" in card and "| `training.learning_rate` | 0.01 |" in card
    metric = evaluation["metrics"]["valid_json"]
    assert f"| valid_json | {metric['base']:.1%} | {metric['tuned']:.1%} |" in card
    assert f"on {evaluation['examples']} held-out examples" in card
    assert f"max |logit difference| **{result.agreement.max_abs_diff:.3g}**" in card
    assert "## Intended use and limitations" in card and "**Forgetting**" in card and "**Bias**" in card


def test_existing_folder_is_refused_without_force_and_replaced_with_it(lora_run, tmp_path, monkeypatch, capsys, cli):
    run, _ = lora_run
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    code, _, err = cli("export", str(run), "--to", str(target))
    assert code == 2 and "already exists and is not empty" in err.splitlines()[0] and "--force" in err
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    code, out, err = cli("export", str(run), "--to", str(target), "--force")
    assert code == 0, err
    assert not (target / "keep.txt").exists() and (target / "model.safetensors").is_file()
    assert "max |logit difference|" in out
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging or old folder left behind


def test_the_run_itself_is_never_a_target(lora_run):
    run, _ = lora_run
    for target in (run, run.parent):
        with pytest.raises(UserError, match="would replace the run directory"):
            export_run(run, target, force=True, log=quiet)


def test_an_export_that_differs_from_the_run_is_not_written(lora_run, tmp_path, monkeypatch):
    import dataclasses

    run, _ = lora_run
    honest = FORMATS["safetensors"]

    from tunesmith.models.saved import saved_model_of_run

    def load_drifted(folder):
        forward = honest.reader(saved_model_of_run(run), folder, "float32")
        return lambda ids: forward(ids) + 0.01  # what a wrong merge looks like to the check

    monkeypatch.setitem(FORMATS, "safetensors", dataclasses.replace(honest, holds=None, load=load_drifted))
    with pytest.raises(UserError, match=r"max \|logit difference\| 0\.01\d* > tolerance 0\.001"):
        export_run(run, tmp_path / "bad", log=quiet)
    assert list(tmp_path.iterdir()) == []


def test_adapter_only_export_keeps_the_adapter_and_reloads_exactly(lora_run, tmp_path):
    run, config = lora_run
    result = export_run(run, tmp_path / "adapter", adapter_only=True, log=quiet)
    names = {p.name for p in result.folder.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md"} <= names
    assert "model.safetensors" not in names
    adapter_config = json.loads((result.folder / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == config.model.name  # peft finds the base by itself
    assert result.agreement.max_abs_diff == 0.0
    assert "library_name: peft" in (result.folder / "README.md").read_text()


def test_int8_export_is_smaller_reloads_and_mostly_agrees(lora_run, merged, tmp_path):
    import torch

    from tunesmith.models.int8 import WEIGHTS, load_int8

    run, merged_folder, _ = merged
    result = export_run(run, tmp_path / "int8", quantize="int8", min_agreement=0.75, log=quiet)
    assert (result.folder / WEIGHTS).stat().st_size < 0.75 * (merged_folder / "model.safetensors").stat().st_size
    info = json.loads((result.folder / EXPORT_INFO).read_text())
    assert info["format"] == "int8" and info["check"]["lossy"] and info["check"]["top1_agreement"] >= 0.75
    layer = load_int8(result.folder).model.layers[0]
    assert isinstance(layer.mlp.down_proj, torch.ao.nn.quantized.dynamic.Linear)
    assert layer.mlp.down_proj.weight().dtype == torch.qint8


def test_onnx_export_runs_in_onnxruntime_with_any_batch_and_length(merged, tmp_path):
    pytest.importorskip("onnxruntime")
    import numpy as np
    import onnxruntime
    import torch
    from transformers import AutoModelForCausalLM

    run, merged_folder, _ = merged
    result = export_run(run, tmp_path / "onnx", fmt="onnx", log=quiet)
    assert result.agreement.max_abs_diff < 1e-3
    session = onnxruntime.InferenceSession(str(result.folder / "model.onnx"), providers=["CPUExecutionProvider"])
    ids = torch.randint(3, 300, (3, 11))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0  # left padding, as batched generation uses
    onnx_logits = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    with torch.inference_mode():
        reference = AutoModelForCausalLM.from_pretrained(merged_folder)(input_ids=ids, attention_mask=mask).logits
    assert np.abs(onnx_logits - reference.numpy())[mask.bool().numpy()].max() < 1e-3


def test_judging_lossy_and_exact_formats():
    from tunesmith.export import judge

    close = Agreement(max_abs_diff=2e-4, top1_agreement=1.0, probes=4, positions=40)
    judge(close, FORMATS["safetensors"], tolerance=1e-3, min_agreement=0.9)
    with pytest.raises(UserError, match="tolerance"):
        judge(close, FORMATS["safetensors"], tolerance=1e-4, min_agreement=0.9)
    flipped = Agreement(max_abs_diff=3.0, top1_agreement=0.85, probes=4, positions=40)
    judge(flipped, FORMATS["int8"], tolerance=1e-3, min_agreement=0.8)  # int8 is judged on agreement only
    with pytest.raises(UserError, match="85.0% of 40 probe positions"):
        judge(flipped, FORMATS["int8"], tolerance=1e-3, min_agreement=0.9)


def test_incompatible_options_are_refused_before_loading(lora_run, tmp_path):
    run, _ = lora_run
    for kwargs, message in (({"adapter_only": True, "quantize": "int8"}, "cannot be combined"),
                            ({"fmt": "tflite"}, "unknown --format"), ({"fmt": "int8"}, "unknown --format"),
                            ({"quantize": "int4"}, "unknown --quantize"), ({"quantize": "q4_k_m"}, "unknown --quantize"),
                            ({"fmt": "gguf", "quantize": "int8"}, "unknown GGUF type int8"),
                            ({"fmt": "gguf", "adapter_only": True}, "cannot be combined")):
        with pytest.raises(UserError, match=message):
            export_run(run, tmp_path / "x", log=quiet, **kwargs)
    assert not (tmp_path / "x").exists()


def test_probe_prompts_fall_back_to_generic_chat_with_the_system_prompt(tmp_path, tiny_config):
    config = tiny_config.model_copy(deep=True)
    config.data.system_prompt = "Answer in JSON."
    conversations = probe_inputs(tmp_path, config)
    assert [c[-1]["content"] for c in conversations] == list(FALLBACK_PROMPTS)
    assert all(c[0] == {"role": "system", "content": "Answer in JSON."} for c in conversations)


def short_run(tiny_config, method: str, **method_fields):
    from rich.console import Console

    from tunesmith.training import train

    config = tiny_config.model_copy(deep=True)
    config.method = config.method.model_copy(update={"name": method, **method_fields})
    config.training.max_steps, config.training.save_steps, config.eval.compare_with_base = 3, 3, False
    config.output.name = method
    return train(config, Console(quiet=True))


@pytest.mark.parametrize("method", ["dora", "ia3"])
def test_dora_and_ia3_adapters_merge_within_tolerance(tiny_config, tmp_path, method):
    result = export_run(short_run(tiny_config, method), tmp_path / "merged", log=quiet)
    assert result.agreement.max_abs_diff < 1e-3 and (result.folder / "model.safetensors").is_file()


def test_virtual_token_methods_export_only_as_adapters(tiny_config, tmp_path):
    run = short_run(tiny_config, "prompt_tuning", virtual_tokens=4)
    with pytest.raises(UserError, match="cannot be merged") as info:
        export_run(run, tmp_path / "merged", log=quiet)
    assert "--adapter-only" in info.value.hint and not (tmp_path / "merged").exists()
    result = export_run(run, tmp_path / "adapter", adapter_only=True, log=quiet)
    assert result.agreement.max_abs_diff == 0.0
