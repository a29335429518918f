"""Continuing from a finished run (`train --from RUN`): the adapter or weights it starts from, and the lineage."""

import json

import pytest
import torch
from rich.console import Console

from tunesmith.errors import UserError
from tunesmith.training import train
from tunesmith.training.run import prepare


def child_config(tiny_config, parent, tmp_path, name="child", **method):
    config = tiny_config.model_copy(deep=True)
    config.model.from_run = str(parent)
    config.model.name = "not-used"  # taken from the parent run
    config.output.dir, config.output.name = str(tmp_path / "runs"), name
    config.training.max_steps = 4
    for key, value in method.items():
        setattr(config.method, key, value)
    return config


def adapter_tensors(folder):
    from safetensors.torch import load_file

    return load_file(folder / "adapter_model.safetensors")


def test_a_lora_run_continues_with_its_own_adapter_trainable(lora_run, tiny_config, tmp_path):
    parent, _ = lora_run
    stage = prepare(child_config(tiny_config, parent, tmp_path), Console(quiet=True), None, ())
    saved = adapter_tensors(parent / "adapter")
    state = {k: v for k, v in stage.model.named_parameters() if "lora_" in k}
    assert state and all(v.requires_grad for v in state.values())
    for key, value in saved.items():  # every saved adapter tensor is in the child's model, unchanged
        match = [v for k, v in state.items() if k.replace(".default", "").endswith(key.removeprefix("base_model"))]
        assert match and torch.equal(match[0].detach().cpu(), value), key
    manifest = json.loads((stage.run / "manifest.json").read_text())
    assert [e["name"] for e in manifest["lineage"]] == [parent.name]
    assert manifest["lineage"][0]["method"] == "lora" and manifest["model"]["format"] == "adapter"


def test_the_lineage_grows_along_a_chain_and_runs_lists_it(lora_run, tiny_config, tmp_path, cli):
    parent, _ = lora_run
    child = train(child_config(tiny_config, parent, tmp_path), Console(quiet=True))
    grandchild = prepare(child_config(tiny_config, child, tmp_path, "grandchild"), Console(quiet=True), None, ()).run
    lineage = json.loads((grandchild / "manifest.json").read_text())["lineage"]
    assert [e["name"] for e in lineage] == [parent.name, "child"]
    from tunesmith.runs import list_runs

    listed = {row["run"]: row["from"] for row in list_runs(tmp_path / "runs")}
    assert listed == {"child": parent.name, "grandchild": f"{parent.name} -> child"}
    code, out, _ = cli("runs", str(tmp_path / "runs"))
    assert code == 0 and "continued" in out
    from tunesmith.studio.runs_index import summarize

    assert summarize(tmp_path / "runs", "grandchild")["continued_from"] == f"{parent.name} -> child"


def test_a_full_run_is_the_starting_model(tool_run, tiny_config, tmp_path):
    from transformers import AutoModelForCausalLM

    config = child_config(tiny_config, tool_run, tmp_path)
    config.method.name = "full"
    stage = prepare(config, Console(quiet=True), None, ())
    trained = AutoModelForCausalLM.from_pretrained(tool_run / "model")
    for (name, ours), theirs in zip(stage.model.named_parameters(), trained.parameters()):
        assert torch.equal(ours.detach().cpu(), theirs), name
    assert json.loads((stage.run / "manifest.json").read_text())["lineage"][0]["name"] == tool_run.name


def test_continuing_an_adapter_with_another_method_is_refused(lora_run, tiny_config, tmp_path, cli):
    parent, _ = lora_run
    config = child_config(tiny_config, parent, tmp_path)
    config.method.name = "dora"
    with pytest.raises(UserError, match="trained a lora adapter.*method.name is dora"):
        prepare(config, Console(quiet=True), None, ())
    code, _, err = cli("train", "--from", str(tmp_path / "nowhere"), "--set", f"data.train={tiny_config.data.train}")
    assert code == 2 and "is not a run directory" in err and "Traceback" not in err


def test_stacking_folds_the_parents_adapter_in_and_trains_a_new_one_that_starts_as_the_parent(lora_run, tiny_config,
                                                                                               tmp_path):
    from tunesmith.models.saved import load_run

    parent, _ = lora_run
    config = child_config(tiny_config, parent, tmp_path, "stacked")
    config.method.name, config.model.from_run_adapter = "dora", "stack"  # any method may go on top
    stage = prepare(config, Console(quiet=True), None, ())
    assert (parent / "merged" / "config.json").is_file()
    manifest = json.loads((stage.run / "manifest.json").read_text())
    assert manifest["model"]["base"].endswith("merged") and manifest["lineage"][0]["name"] == parent.name
    trained = [k for k, p in stage.model.named_parameters() if p.requires_grad]
    assert trained and all("lora_" in k for k in trained)  # a new adapter; the parent's is in the weights
    ids = torch.tensor([[1, 5, 9, 12, 7]])
    with torch.no_grad():
        ours = stage.model(input_ids=ids).logits
        theirs = load_run(parent, log=lambda line: None).model(input_ids=ids).logits
    assert torch.allclose(ours, theirs, atol=1e-4)  # a new adapter starts as a no-op on the merged parent
    child = train(config.model_copy(update={"output": config.output.model_copy(update={"name": "stacked-2"})}),
                  Console(quiet=True))
    reloaded = load_run(child, log=lambda line: None)
    assert reloaded.saved.base.endswith("merged")
