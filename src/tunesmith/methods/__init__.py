"""Methods make a loaded model trainable. Each file registers one or more methods in METHODS.

A method is `apply(model, MethodConfig, task) -> model`, where task is the PEFT task type of the objective
("CAUSAL_LM", "SEQ_CLS", "SEQ_2_SEQ_LM"); `check(config, hardware, task)` runs before any weights load, so an
impossible combination fails in the first second; `load_kwargs(config)` adds from_pretrained arguments
(quantization for QLoRA).
"""

# Importing the files registers them.
from tunesmith.methods import freeze, full, head, ia3, lora, prompt, qlora  # noqa: E402,F401
from tunesmith.methods.registry import (  # noqa: F401
    METHODS,
    Method,
    count_parameters,
    freeze_all,
    get_method,
    register,
)
