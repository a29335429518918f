"""QLoRA: the base model loaded in 4-bit (bitsandbytes, CUDA only) with LoRA adapters trained on top."""

from tunesmith.errors import UserError
from tunesmith.methods.lora import lora_config
from tunesmith.methods.registry import register


def check_qlora(config, hardware, task: str) -> None:
    if hardware.device != "cuda":
        raise UserError(f"qlora needs a CUDA GPU (4-bit bitsandbytes kernels); this run is on {hardware.device}",
                        hint="use method.name=lora here; it trains the same adapters on an unquantized base")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise UserError("qlora needs the bitsandbytes package", hint="pip install bitsandbytes") from None


def qlora_load_kwargs(config) -> dict:
    import torch
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                      bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)}


@register("qlora", artifact="adapter", check=check_qlora, load_kwargs=qlora_load_kwargs, four_bit_base=True)
def apply_qlora(model, cfg, task):
    from peft import get_peft_model, prepare_model_for_kbit_training

    return get_peft_model(prepare_model_for_kbit_training(model), lora_config(cfg, task))
