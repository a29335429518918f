"""The memory plan: its activation formula equals what autograd keeps in tunesmith's own training step, its peak
equals the live bytes of a real tiny step, counts on the meta device equal the real model's, the what-fits answers
are consistent, and `tunesmith plan` works from a config file."""

import json

import pytest
import torch
import yaml

from tunesmith.config import MethodConfig
from tunesmith.config import FastConfig
from tunesmith.fast import fuse_adapters
from tunesmith.methods import count_parameters, get_method
from tunesmith.plan.memory import GIB, ModelShape, Step, Trainable, logit_bytes, plan_step, token_bytes, what_fits
from tunesmith.plan.build import read_trainable
from tunesmith.fast.fused_layers import fuse_layers
from tunesmith.fast.head_loss import chunked_head_loss
from tunesmith.fast.padding_free import PaddingFreeCollator, language_model, use_varlen_attention

SHAPES = {
    "gqa-tied": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, tie_word_embeddings=True),
    "mha-untied": dict(hidden_size=96, intermediate_size=256, num_hidden_layers=3, num_attention_heads=6,
                       num_key_value_heads=6, tie_word_embeddings=False),
    "wide-heads": dict(hidden_size=80, intermediate_size=200, num_hidden_layers=2, num_attention_heads=5,
                       num_key_value_heads=1, head_dim=32, tie_word_embeddings=True),
}
METHODS = {
    "lora": dict(name="lora", r=8, alpha=16, dropout=0.1),
    "lora-no-dropout": dict(name="lora", r=8, alpha=16, dropout=0.0),
    "full": dict(name="full"),
    "freeze": dict(name="freeze", trainable_layers=1),
}
VOCAB = 500


def trainable_model(shape: str, method: str):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, **SHAPES[shape]))
    config = MethodConfig(**METHODS[method])
    model = fuse_adapters(get_method(config.name).apply(model, config, "CAUSAL_LM"), FastConfig()).train()
    return padding_free(model)


def padding_free(model):
    """The model as SFT's padding-free path trains it: per-example attention, lean norms and SwiGLU products."""
    assert use_varlen_attention(model)
    layers = model.config.num_hidden_layers
    assert len(fuse_layers(language_model(model))) == 3 * layers + 1  # two norms and an MLP a layer, the final norm
    return model


def padding_free_batch(lengths=(37, 90, 64, 21), labelled=0.4) -> dict:
    generator = torch.Generator().manual_seed(1)
    rows = []
    for length in lengths:
        ids = torch.randint(0, VOCAB, (length,), generator=generator).tolist()
        cut = round(length * (1 - labelled))
        rows.append({"input_ids": ids, "labels": [-100] * cut + ids[cut:]})
    return PaddingFreeCollator()(rows)


def train_step(model, batch) -> None:
    """SFT's padding-free step as the Trainer runs it: the head projected in the loss (fast/head_loss.py)."""
    loss_of = getattr(model, "_head_loss", None) or chunked_head_loss(language_model(model))
    model._head_loss = loss_of
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    inputs["logits_to_keep"] = torch.zeros_like(batch["logits_to_keep"])  # the model's own head projects nothing
    outputs = model(**inputs)
    loss = loss_of(outputs, batch["labels"])
    del outputs  # as the Trainer: only the loss outlives the forward
    loss.backward()


def saved_tensor_bytes(model, batch) -> int:
    """Bytes autograd keeps for backward: unique storages passed to the saved-tensor hook, parameters left out."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        train_step(model, batch)
    return sum(kept.values())


def predicted_saved_bytes(model, batch) -> float:
    shape, trainable = ModelShape.from_config(model.config), read_trainable(model)
    tokens, labelled = batch["input_ids"].numel(), int(batch["logits_to_keep"].sum())
    return tokens * token_bytes(shape, trainable, 4, True) + labelled * logit_bytes(shape, trainable, 4, True)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_formula_equals_what_autograd_keeps(shape, method):
    model, batch = trainable_model(shape, method), padding_free_batch()
    assert predicted_saved_bytes(model, batch) == pytest.approx(saved_tensor_bytes(model, batch), rel=0.005)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lora", "full"])
def test_activation_formula_on_smollm2(method):
    from tunesmith.models import load_model, resolve_model

    config = MethodConfig(**{**METHODS[method], "r": 16, "alpha": 32, "dropout": 0.05} if method == "lora"
                          else METHODS[method])
    model = load_model(resolve_model("smollm2-135m"), "causal_lm", "float32")
    model = padding_free(fuse_adapters(get_method(method).apply(model, config, "CAUSAL_LM"), FastConfig()).train())
    batch = padding_free_batch(lengths=(150, 90, 120, 60, 130, 100, 140, 110), labelled=0.45)
    assert predicted_saved_bytes(model, batch) == pytest.approx(saved_tensor_bytes(model, batch), rel=0.005)


def test_formula_follows_the_labelled_share():
    model = trainable_model("gqa-tied", "lora")
    for share in (0.1, 0.9):  # with the head in the loss a labelled position keeps a hidden row, not V-wide logits
        batch = padding_free_batch(labelled=share)
        assert predicted_saved_bytes(model, batch) == pytest.approx(saved_tensor_bytes(model, batch), rel=0.005)


def live_tensor_peak(step, tmp_path) -> int:
    """Peak of the bytes held in tensors allocated during `step` (the profiler's allocation accounting)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        step()
    trace = tmp_path / "trace.json"
    profiler.export_chrome_trace(str(trace))
    events = json.loads(trace.read_text())["traceEvents"]
    return max(e["args"]["Total Allocated"] for e in events if e.get("name") == "[memory]")


@pytest.mark.parametrize("method", ["lora", "full"])
def test_planned_activations_match_the_peak_of_a_real_step(method, tmp_path):
    model, batch = trainable_model("gqa-tied", method), padding_free_batch(lengths=(120, 200, 160, 80))
    train_step(model, batch)  # once before measuring: lazily created state is not the step's own memory
    model.zero_grad(set_to_none=True)
    peak = live_tensor_peak(lambda: train_step(model, batch), tmp_path)
    tokens, labelled = batch["input_ids"].numel(), int(batch["logits_to_keep"].sum())
    step = Step(1, tokens, labelled / tokens - 1e-9, padding_free=True)
    plan = plan_step(ModelShape.from_config(model.config), read_trainable(model), step, "float32")
    assert plan.logit_positions == labelled
    assert plan.activations_gb * GIB == pytest.approx(peak, rel=0.03)


@pytest.mark.parametrize("method", ["lora", "dora", "full", "freeze", "ia3"])
def test_meta_device_counts_equal_the_loaded_model(tiny_model, tiny_config, method):
    from tunesmith.models import load_model, resolve_model
    from tunesmith.plan.build import meta_model, trains_padding_free
    from tunesmith.objectives import get_objective

    config = tiny_config.model_copy(update={"method": tiny_config.method.model_copy(update={"name": method})})
    source, objective, applied = resolve_model(str(tiny_model)), get_objective("sft"), get_method(method)
    meta = meta_model(config, source, objective, applied, {})
    real = fuse_adapters(applied.apply(load_model(source, "causal_lm", "float32"), config.method, "CAUSAL_LM"),
                         config.fast)
    assert all(p.device.type == "meta" for p in meta.parameters())
    assert read_trainable(meta) == read_trainable(real)
    assert (read_trainable(meta).trainable, read_trainable(meta).total) == count_parameters(real)
    assert trains_padding_free(config, meta) == trains_padding_free(config, real)


SMOLLM2 = ModelShape(hidden=576, intermediate=1536, layers=30, heads=9, kv_heads=3, head_dim=64, vocab=49152)


@pytest.mark.parametrize("trainable", [Trainable.guess(134_515_008, 4_884_480, 30),
                                       Trainable.guess(134_515_008, 134_515_008, 30)], ids=["lora", "full"])
def test_what_fits_grows_with_memory_and_holds_by_its_own_formula(trainable):
    step = Step(8, 256, 0.5, padding_free=True)
    answers = []
    for memory in (1.0, 2.0, 4.0, 16.0, 24.0, 80.0, 141.0):
        fit = what_fits(SMOLLM2, trainable, step, "float32", "cpu", memory)
        answers.append((fit.largest_batch, fit.longest_seq, fit.largest_params))

        def total(batch=8, seq=256, scale=1.0):
            return plan_step(SMOLLM2, trainable, Step(batch, seq, 0.5, True), "float32", "cpu", scale).total_gb

        if fit.largest_batch:
            assert total(batch=fit.largest_batch) <= memory < total(batch=fit.largest_batch + 1)
            assert total(seq=fit.longest_seq) <= memory < total(seq=fit.longest_seq + 1)
            scale = fit.largest_params / trainable.total
            assert total(scale=scale * 0.999) <= memory < total(scale=scale * 1.01)
        assert fit.fits == (total() <= memory)
    for column in zip(*answers):
        assert list(column) == sorted(column) and column[0] < column[-1]
    # 1 GiB: the runtime and the weights leave no room for a batch; only a far smaller model of the family fits
    assert answers[0][0] == 0 and answers[0][2] < trainable.total / 10


def test_plan_breaks_down_the_way_adamw_and_the_dtype_say():
    lora, full = Trainable.guess(1_000_000, 10_000, 4), Trainable.guess(1_000_000, 1_000_000, 4)
    shape = ModelShape(64, 128, 4, 4, 2, 16, 1000)
    fp32 = plan_step(shape, full, Step(2, 32), "float32")
    bf16 = plan_step(shape, full, Step(2, 32), "bfloat16")
    adapters = plan_step(shape, lora, Step(2, 32), "bfloat16")
    assert fp32.optimizer_gb == pytest.approx(2 * fp32.gradients_gb) == pytest.approx(8 * 1_000_000 / GIB)
    assert bf16.weights_gb == pytest.approx(fp32.weights_gb / 2)  # a bf16 model trains in bf16, moments too
    assert adapters.gradients_gb == pytest.approx(4 * 10_000 / GIB)  # PEFT keeps adapters in fp32
    assert plan_step(shape, full, Step(2, 32), "float32", "cuda").overhead_gb == 1.0 and fp32.overhead_gb == 0.0
    bigger = plan_step(shape, full, Step(2, 32), "float32", scale=8.0)
    assert bigger.weights_gb == pytest.approx(8 * fp32.weights_gb)


def write_config(tmp_path, config, **changes) -> str:
    raw = config.model_dump(mode="json")
    for section, values in changes.items():
        raw[section].update(values)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_plan_command_prints_json_for_the_run(tmp_path, tiny_model, tiny_config):
    from typer.testing import CliRunner

    from tunesmith.cli import app
    from tunesmith.models import load_model, resolve_model

    path = write_config(tmp_path, tiny_config)
    result = CliRunner().invoke(app, ["plan", path, "--json", "--device", "t4", "--device", "lab=48"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    real = get_method("lora").apply(load_model(resolve_model(str(tiny_model)), "causal_lm", "float32"),
                                    tiny_config.method, "CAUSAL_LM")
    assert (plan["parameters"]["trainable"], plan["parameters"]["total"]) == count_parameters(real)
    assert plan["step"]["seq_len_from"] == "longest example of the run's data" and plan["padding_free"]
    assert 0 < plan["step"]["seq_len"] <= tiny_config.data.max_length
    assert plan["step"]["logit_positions"] < plan["step"]["tokens"] == 4 * plan["step"]["seq_len"]
    parts = plan["plan_gb"]
    assert parts["total"] == pytest.approx(sum(v for k, v in parts.items() if k != "total"))
    assert [d["device"] for d in plan["devices"]][1:] == ["T4 16GB", "lab 48 GiB"]  # after this machine's row
    assert [d["dtype"] for d in plan["devices"]][1:] == ["float16", "bfloat16"]
    assert all(d["fits"] and d["largest_batch"] >= 4 for d in plan["devices"])


def test_plan_command_table_and_sequence_override(tmp_path, tiny_config):
    from typer.testing import CliRunner

    from tunesmith.cli import app

    path = write_config(tmp_path, tiny_config)
    result = CliRunner().invoke(app, ["plan", path, "--seq-len", "64"])
    assert result.exit_code == 0, result.output
    for part in ("weights", "gradients", "optimizer", "activations", "runtime", "H200 141GB", "largest model"):
        assert part in result.stdout
    assert "batch 4 x 64 tokens = 256 tokens" in result.stdout
    assert not (tmp_path / "runs").exists()  # planning writes no run folder


def test_plan_command_bad_config_is_one_line_and_exit_2(tmp_path, tiny_config, cli):
    path = write_config(tmp_path, tiny_config, training={"batch_sise": 4})
    code, out, err = cli("plan", path)
    assert code == 2 and "Traceback" not in err and err.startswith("error: ")
    assert "batch_sise" in err.splitlines()[0]
    code, _, err = cli("plan", write_config(tmp_path, tiny_config), "--device", "a100")
    assert code == 2 and "unknown --device 'a100'" in err.splitlines()[0]


def test_training_checks_the_plan_the_command_prints(tiny_config):
    from dataclasses import replace

    from tunesmith.errors import UserError
    from tunesmith.plan.build import plan_run
    from tunesmith.training.prepare import prepare_inputs
    from tunesmith.training.model import load_for_training
    from tunesmith.training.run import _fit_memory

    lines: list[str] = []
    inputs = prepare_inputs(tiny_config, lines.append)
    method, hardware, data = inputs.method, inputs.hardware, inputs.data
    model = load_for_training(inputs.config, inputs, lines.append)
    _fit_memory(inputs.config, model, method, data, hardware, lines.append, {})
    planned = plan_run(tiny_config).rows[0].fit.plan
    assert any(line.startswith(f"memory plan: {planned.describe()}") for line in lines)
    with pytest.raises(UserError, match=f"needs about {planned.total_gb:.1f} GiB but only 0.1 GiB is free"):
        _fit_memory(inputs.config, model, method, data, replace(hardware, available_memory_gb=0.1), lines.append,
                    {})


def test_a_decided_batch_that_does_not_fit_is_split_into_micro_batches(tiny_config):
    from dataclasses import replace

    from tunesmith.plan.build import plan_loaded_model
    from tunesmith.training.prepare import prepare_inputs
    from tunesmith.training.model import load_for_training
    from tunesmith.training.run import _fit_memory

    config = tiny_config.model_copy(deep=True)
    config.training.batch_size = None
    inputs = prepare_inputs(config, print)
    assert inputs.config.training.batch_size == 8 and "batch_size" in inputs.chosen
    method, data = inputs.method, inputs.data
    model = load_for_training(inputs.config, inputs, print)
    sizes = {}
    for batch in (8, 4, 2):
        trial = inputs.config.model_copy(deep=True)
        trial.training.batch_size = batch
        sizes[batch] = plan_loaded_model(trial, model, method, data, inputs.hardware).total_gb
    assert sizes[8] > sizes[4] > sizes[2]
    tight = replace(inputs.hardware, available_memory_gb=(sizes[4] + sizes[2]) / 2)
    chosen = dict(inputs.chosen)
    fitted = _fit_memory(inputs.config, model, method, data, tight, print, chosen)
    t = fitted.training
    assert (t.batch_size, t.gradient_accumulation_steps) == (2, 4)
    assert "micro-batches of 2 x 4" in chosen["batch_size"]["why"]
