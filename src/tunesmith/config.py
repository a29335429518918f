"""Typed run configuration: the only place a field's default and help text live."""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tunesmith.errors import UserError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    name: str = Field("smollm2-135m", description="bundled alias, local model directory, .gguf file or Hub id")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weight/compute dtype; auto = bf16 only on hardware with native bf16, else fp32"
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="where to train and generate")
    revision: str | None = Field(None, description="Hub branch, tag or commit (Hub ids only)")
    trust_remote_code: bool = Field(False, description="allow model code from the Hub repository to run")
    from_run: str | None = Field(
        None, description="continue from a finished run (`train --from RUN`): a full run's weights are the starting "
                          "model; a LoRA-family run's adapter trains further (same method and objective); model.name "
                          "is then taken from that run, and the chain is kept in the manifest's lineage"
    )
    from_run_adapter: Literal["continue", "stack"] = Field(
        "continue", description="a LoRA-family parent (model.from_run): continue = train its adapter further; "
                                "stack = fold it into the weights (kept once as PARENT/merged/) and train a new "
                                "adapter of method.name on top, which is then compared with the parent"
    )


class CleanConfig(Section):
    normalise: bool = Field(True, description="Unicode NFC, no control/zero-width characters, tidy line ends")
    strip_html: bool = Field(False, description="remove HTML tags and entities (for scraped text)")
    dedup_exact: bool = Field(True, description="drop rows whose text repeats an earlier row (case/space-insensitive)")
    dedup_near: bool = Field(True, description="drop near-duplicates (MinHash over word 3-grams)")
    near_threshold: float = Field(0.85, gt=0, le=1, description="estimated Jaccard similarity that counts as near-dup")
    near_min_words: int = Field(8, ge=1, description="texts with fewer words are compared exactly only: short phrases "
                                                     "share most of their few 3-grams by chance")
    max_drop_share: float = Field(0.1, ge=0, le=1, description="warn loudly when cleaning drops more than this share of "
                                                               "a file's rows")
    min_chars: int = Field(1, ge=0, description="drop rows whose text is shorter than this")
    max_chars: int | None = Field(None, gt=0, description="drop rows whose text is longer than this")
    scrub_pii: list[Literal["EMAIL", "PHONE", "IP", "CARD", "IBAN"]] = Field(
        ["EMAIL", "PHONE", "IP", "CARD", "IBAN"], description="personal data replaced by [TYPE] placeholders"
    )


class ReplayConfig(Section):
    source: str | None = Field(
        None, description="general data mixed into training against forgetting: `base` = the base model's own greedy "
                          "answers to general instructions (sft), or a data file/folder (chat rows for sft, text for "
                          "causal_lm); null = no replay"
    )
    fraction: float = Field(0.25, gt=0, le=4, description="replay rows added per training row (0.25 = one for every "
                                                          "four)")
    prompts: str | None = Field(None, description="source=base: text file of instructions, one per line; default: "
                                                  "the set tunesmith ships (disjoint from the forgetting check's)")
    max_new_tokens: int = Field(96, gt=0, description="source=base: longest answer generated per instruction")


class RehearsalConfig(Section):
    lineage: bool = Field(False, description="continual: rehearse the earlier tasks, the training splits of every "
                                             "run in model.from_run's lineage")
    runs: list[str] = Field([], description="earlier run directories whose training splits are rehearsed (filled "
                                            "from the lineage when lineage is true)")
    rows: int | None = Field(None, gt=0, description="a buffer of this many earlier rows in all, shared evenly "
                                                     "between the earlier tasks; null: `fraction`")
    fraction: float = Field(0.25, gt=0, le=4, description="earlier rows added per new training row, when rows is "
                                                          "null")


class DataConfig(Section):
    train: str | None = Field(None, description="training data: JSONL/JSON/CSV/TSV/Parquet file, .txt folder, "
                                                "save_to_disk folder or Hub dataset id")
    validation: str | None = Field(None, description="validation data; default: split off `validation_size`")
    test: str | None = Field(None, description="held-out test data for base-vs-tuned evaluation; default: split")
    test_as_given: bool = Field(True, description="score every row of a given test file; its duplicates and rows that "
                                                  "repeat training data are flagged and scored beside it (leak-free "
                                                  "subset), not removed")
    columns: dict[str, str] = Field({}, description="rename fields, e.g. {question: prompt, answer: completion}")
    labels: list[str] | None = Field(None, description="allowed classification labels; default: those in train")
    validation_size: float = Field(0.1, ge=0, lt=1, description="fraction of train held out for validation; 0 = none")
    validation_max_rows: int | None = Field(1000, gt=0, description="at most this many rows split off for validation; "
                                                                    "null = no cap")
    test_size: float = Field(0.0, ge=0, lt=1, description="fraction of train held out for the final test")
    max_length: int | None = Field(None, gt=8, description="longest example in tokens; null: what the model reads, "
                                   "at most 1024 (config --explain)")
    too_long: Literal["error", "drop", "truncate"] | None = Field(
        None, description="examples over max_length: stop with the list, drop them, or keep their first max_length "
                          "tokens (classification only); counted in the report; null: the objective's "
                          "(config --explain)"
    )
    system_prompt: str | None = Field(
        None, description="system message for chat examples without one; also used by `tunesmith chat`"
    )
    clean: CleanConfig = Field(default_factory=CleanConfig, description="cleaning steps")
    seed: int = Field(42, description="seed of the train/validation/test split")
    replay: ReplayConfig = Field(default_factory=ReplayConfig, description="general examples mixed into the "
                                 "training split so the model keeps what it knew (see the forgetting check)")
    rehearsal: RehearsalConfig = Field(default_factory=RehearsalConfig, description="earlier tasks' rows mixed "
                                       "into the training split, against forgetting them (continual fine-tuning)")
    cache: bool = Field(True, description="reuse prepared data when files and settings are unchanged")


class MethodConfig(Section):
    name: str = Field("lora", description="which parameters train: full, freeze, head, lora, dora, ia3, "
                                          "prompt_tuning, prefix_tuning, qlora")
    r: int = Field(16, gt=0, description="LoRA rank")
    alpha: int = Field(32, gt=0, description="LoRA scaling numerator (scale = alpha / r)")
    dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA input")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="module names to adapt; all-linear = every linear layer except the output head"
    )
    trainable_layers: int = Field(2, gt=0, description="freeze: how many of the top layers train (plus the head)")
    virtual_tokens: int = Field(20, gt=0, description="prompt_tuning/prefix_tuning: learned virtual tokens")


class ObjectiveConfig(Section):
    name: str = Field("sft", description="what the model learns: sft, causal_lm, classification, seq2seq, dpo, kto, "
                                         "reward_model, grpo")
    loss_on: Literal["assistant", "all"] = Field(
        "assistant", description="sft: tokens that carry loss, the assistant's replies (with end-of-turn) or all"
    )
    train_reasoning: bool = Field(True, description="sft: a reasoning trace (<think>, or a reasoning/thinking field) "
                                                    "carries loss like the answer; false = context only")
    class_weights: Literal["none", "balanced"] = Field(
        "none", description="classification: weight the loss by inverse label frequency against imbalance"
    )
    beta: float = Field(0.1, gt=0, description="dpo/kto/grpo: strength of the pull towards the reference model")
    loss_type: str = Field("sigmoid", description="dpo: TRL loss variant (sigmoid, ipo, hinge, robust, ...)")
    reward: str = Field("json_valid", description="grpo: reward function: a built-in name (json_valid, exact_match, "
                                                  "json_match), grader:FILE.json (an OpenAI grader), module:function, "
                                                  "or a reward_model run directory")
    num_generations: int = Field(4, gt=1, description="grpo: completions sampled per prompt")
    max_new_tokens: int = Field(64, gt=0, description="grpo: longest sampled completion")


class TrainingConfig(Section):
    epochs: float | None = Field(None, gt=0, description="passes over the training data (ignored when max_steps > 0); "
                                  "null: by the number of training rows (config --explain)")
    max_steps: int = Field(-1, description="stop after this many optimizer steps; -1 = use epochs")
    batch_size: int | None = Field(None, gt=0, description="examples per device per forward pass; null: the "
                                   "objective's batch, split into micro-batches while it does not fit the memory "
                                   "plan (config --explain)")
    gradient_accumulation_steps: int = Field(1, gt=0, description="forward passes per optimizer step")
    learning_rate: float | None = Field(None, gt=0, description="peak learning rate; null: by method, model family and "
                                        "width (config --explain)")
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field(
        "cosine", description="learning-rate schedule after warmup"
    )
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="fraction of steps spent warming up")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    anchor_decay: float = Field(0.0, ge=0, lt=1, description="L2 pull toward the weights the run started from (the "
                                "parent's, with model.from_run): after each optimizer step every trained weight "
                                "moves this share of the way back, scaled by lr / peak lr; 0 = off")
    seed: int = Field(42, description="seed for initialisation, shuffling and dropout")
    logging_steps: int = Field(5, gt=0, description="log training loss every N steps")
    save_steps: int = Field(100, gt=0, description="write a resumable checkpoint every N steps")
    save_total_limit: int = Field(2, gt=0, description="checkpoints kept on disk")
    shuffle: bool = Field(True, description="shuffle the training examples each epoch; false keeps file order")
    group_by_length: bool = Field(True, description="batch examples of similar length to cut padding")
    threads: int | None = Field(None, gt=0, description="CPU threads; default: the usable cores other processes "
                                "leave free, re-checked during training")
    dropout: float | None = Field(None, ge=0, lt=1, description="override the model's dropout rates")
    early_stopping_patience: int | None = Field(
        None, ge=0, description="stop after this many evaluations without improvement of metric_for_best; 0 = never; "
                                "null: 5 when there is a validation split and no max_steps"
    )
    metric_for_best: str | None = Field(None, description="validation metric that picks the best checkpoint; null: the "
                                                          "objective's (eval_accuracy for classification, else eval_loss)")
    keep_best: bool | None = Field(None, description="end with the best checkpoint's weights, not the last ones; null: "
                                                     "true when there is a validation split")
    divergence_factor: float | None = Field(
        4.0, gt=1, description="stop when the training loss stays above this multiple of its first logged value "
                               "for two logs in a row (NaN/inf always stops); null = only NaN/inf"
    )


class FastConfig(Section):
    padding_free: bool = Field(True, description="sft: join each batch into one row with attention kept inside each "
                               "example and score only labelled positions; false = padded batches (TRL SFTTrainer)")
    shared_prefix: bool = Field(True, description="padding-free sft: a prefix all of a batch's examples begin with "
                                "(system prompt, tool listing) computed once per batch; same loss and gradients")
    head_loss: bool = Field(True, description="padding-free sft: project the LM head inside the loss, 512 labelled "
                            "positions at a time; false = the model's own head on every labelled position")
    lean_layers: bool = Field(True, description="padding-free sft: RMSNorm and SwiGLU backward passes that keep "
                              "fewer activations; false = the model's own layers")
    fused_lora: bool = Field(True, description="lora/dora: the adapter path as one addmm with 1-byte dropout masks; "
                             "false = PEFT's own LoRA layers")
    head_cache: bool = Field(True, description="method head: compute the frozen backbone's features once and train "
                             "the head on them; false = a full forward pass every step")


class EvalConfig(Section):
    steps: int = Field(50, gt=0, description="validation loss every N steps during training")
    compare_with_base: bool = Field(True, description="after training, score base and tuned models on the test "
                                                            "split; false also skips forgetting and bias")
    metrics: list[Literal["exact_match", "json_exact_match", "valid_json", "token_f1", "rouge_l",
                          "tool_call_exact_match", "function_name_accuracy", "arguments_valid_json", "argument_f1",
                          "call_decision_accuracy", "final_answer_exact_match", "trace_words"]] = Field(
        ["exact_match"], description="generation objectives: task metrics on the test split (the first one also "
                                     "scores the bias probe); tool_call_* and the call metrics score rows whose "
                                     "reference calls a tool"
    )
    max_new_tokens: int = Field(128, gt=0, description="generation budget per test example")
    batch_size: int = Field(16, gt=0, description="examples generated together (greedy decoding)")
    max_examples: int | None = Field(None, gt=0, description="score at most this many test examples")
    forgetting: bool = Field(True, description="after training, measure drift from the base on general prompts "
                                               "(KL divergence, perplexity of the base's answers); generating models")
    general_prompts: str | None = Field(None, description="text file of general prompts for the forgetting check, "
                                                          "one per line; default: the set tunesmith ships")
    forgetting_max_new_tokens: int = Field(32, gt=0, description="length of the base's answers both models score")
    bias: bool = Field(True, description="after training, probe classification and generation with counterfactual "
                                         "inputs (names, pronouns, group terms swapped)")
    bias_terms: str | None = Field(None, description="YAML file of word pairs to swap, per category; default: the "
                                                     "lists tunesmith ships")
    bias_max_examples: int | None = Field(32, gt=0, description="counterfactual inputs per category, at most")
    lm_eval_tasks: list[str] = Field([], description="lm-evaluation-harness tasks scored for base and fine-tuned "
                                     "(names, or task YAML files/folders with local data); needs `pip install lm-eval`")
    lm_eval_limit: int | None = Field(None, gt=0, description="examples per lm-eval task, at most")


class ContinualTask(Section):
    name: str = Field(description="what the task is called in the accuracy matrix")
    train: str = Field(description="the task's training data")
    test: str = Field(description="the task's held-out test data, scored after every stage")
    validation: str | None = Field(None, description="the task's validation data; default: split off train")


MITIGATIONS = ("replay", "anchor", "general")


class ContinualConfig(Section):
    tasks: list[ContinualTask] = Field([], description="`tunesmith continual`: tasks trained one after another, "
                                                       "each stage continuing from the last (model.from_run)")
    mitigations: list[str] = Field(
        ["none", "replay"], description="sequences to run and compare: none (plain sequential training), or "
                                        "mitigations joined by +: replay (data.rehearsal of earlier tasks), anchor "
                                        "(training.anchor_decay), general (data.replay)"
    )

    @field_validator("mitigations")
    @classmethod
    def _known(cls, mitigations: list[str]) -> list[str]:
        for entry in mitigations:
            unknown = [part for part in entry.split("+") if part not in MITIGATIONS and entry != "none"]
            if unknown:
                raise ValueError(f"unknown mitigation '{unknown[0]}' in '{entry}' (use none, or a +-joined "
                                 f"combination of {', '.join(MITIGATIONS)})")
        if len(set(mitigations)) != len(mitigations):
            raise ValueError("a mitigation is listed twice")
        return mitigations


class PrivacyConfig(Section):
    clip: float | None = Field(None, gt=0, description="clip each client's update (its weights minus the round's "
                                                       "global weights) to this L2 norm on the server; null: no "
                                                       "differential privacy")
    noise: float = Field(1.0, gt=0, description="Gaussian noise multiplier: noise of std noise x clip / clients "
                                                "per round is added to the averaged update (with clip set)")
    delta: float = Field(1e-5, gt=0, lt=1, description="the delta that the reported epsilon is for")


class FederatedConfig(Section):
    clients: int = Field(4, ge=2, description="`tunesmith federate`: simulated clients, each holding one part of "
                                              "the training split")
    rounds: int = Field(10, ge=1, description="federated rounds: the clients train, the server averages")
    fraction: float = Field(1.0, gt=0, le=1, description="share of the clients that train in each round")
    partition: str = Field("dirichlet:0.5", pattern=r"^(iid|dirichlet:[0-9]*\.?[0-9]+|by:.+)$",
                           description="how the training rows are dealt to clients: iid (at random), "
                                       "dirichlet:ALPHA (label shares per client drawn from Dirichlet(ALPHA): "
                                       "small ALPHA, few labels per client; classification), by:FIELD (one "
                                       "group per value of a field of the training file)")
    local_epochs: float = Field(1.0, gt=0, description="passes a client makes over its own rows in each round")
    strategy: Literal["fedavg", "fedprox", "fedadam"] = Field(
        "fedavg", description="fedavg (average weighted by rows), fedprox (fedavg with a pull of proximal_mu "
                              "toward the round's global weights during local training), fedadam (the average "
                              "update applied by a server-side Adam)")
    proximal_mu: float = Field(0.01, gt=0, lt=1, description="fedprox: strength of the pull toward the global "
                                                             "weights (as training.anchor_decay)")
    server_learning_rate: float = Field(0.01, gt=0, description="fedadam: the server optimizer's step size")
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig, description="differential privacy of the "
                                   "clients' updates (server-side clipping and Gaussian noise, epsilon reported)")
    compare: bool = Field(True, description="also train centralised on all rows, federated on IID partitions and "
                                            "each client alone, and score all of them on the same test split")
    client_cpus: int = Field(1, ge=1, description="CPU cores (and torch threads) each simulated client uses")


class OutputConfig(Section):
    dir: str = Field("runs", description="folder that holds run directories")
    name: str | None = Field(None, description="run directory name; default: <objective>-<method>-<timestamp>")


class SearchParameter(Section):
    type: Literal["log_uniform", "uniform", "int", "choice"] = Field(
        description="log_uniform/uniform: a float in [low, high]; int: an integer in that range; choice: one of choices"
    )
    low: float | None = Field(None, description="smallest value (log_uniform, uniform, int)")
    high: float | None = Field(None, description="largest value (log_uniform, uniform, int)")
    step: int = Field(1, gt=0, description="int: spacing between the values tried")
    choices: list[str | bool | int | float | None] | None = Field(None, description="choice: the values to try")

    @model_validator(mode="after")
    def _consistent(self):
        if self.type == "choice":
            if not self.choices:
                raise ValueError("a choice parameter needs a non-empty 'choices' list")
            return self
        if self.low is None or self.high is None or self.low >= self.high:
            raise ValueError(f"{self.type} needs low < high (got low={self.low}, high={self.high})")
        if self.type == "log_uniform" and self.low <= 0:
            raise ValueError("log_uniform needs low > 0")
        if self.type == "int" and not (self.low.is_integer() and self.high.is_integer()):
            raise ValueError("int needs whole numbers for low and high")
        return self


class SweepConfig(Section):
    parameters: dict[str, SearchParameter] = Field(
        {}, description="`tunesmith sweep`: dotted config field -> range, e.g. "
                        "{training.learning_rate: {type: log_uniform, low: 1.0e-5, high: 1.0e-2}}"
    )
    metric: str = Field("eval_loss", description="validation metric the sweep optimises (eval_ prefix optional)")
    direction: Literal["minimize", "maximize"] | None = Field(
        None, description="null = minimize losses and perplexity, maximize anything else"
    )
    pruner: Literal["median", "successive_halving", "none"] = Field(
        "median", description="how trials that fall behind are stopped early, judged at each validation"
    )
    pruner_startup_trials: int = Field(2, ge=0, description="median: trials that finish before any is pruned")
    pruner_warmup_steps: int = Field(0, ge=0, description="median: no pruning before this training step")
    seed: int = Field(42, description="seed of the TPE sampler")

    @field_validator("parameters")
    @classmethod
    def _known_fields(cls, parameters: dict) -> dict:
        for key in parameters:
            problem = _leaf_problem(key)
            if problem:
                raise ValueError(problem)
        return parameters


def _leaf_problem(dotted: str) -> str | None:
    """Why `dotted` cannot be searched over, or None when it names a leaf field of RunConfig."""
    path = dotted.split(".")
    if path[0] in ("sweep", "output"):
        return f"'{dotted}': the sweep cannot search over its own or the output settings"
    model: type[BaseModel] = RunConfig
    for depth, part in enumerate(path):
        fields = model.model_fields
        if part not in fields:
            close = difflib.get_close_matches(part, list(fields), n=1)
            where = ".".join(path[:depth]) or "the config"
            return (f"'{dotted}' is not a config field" + (f"; did you mean '{'.'.join([*path[:depth], close[0]])}'?"
                                                              if close else f" ({where} has: {', '.join(fields)})"))
        annotation = fields[part].annotation
        nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if depth == len(path) - 1:
            return f"'{dotted}' is a section; name one of its fields" if nested else None
        if not nested:
            return f"'{dotted}': '{part}' has no fields below it"
        model = annotation
    return None


class RunConfig(Section):
    model: ModelConfig = Field(default_factory=ModelConfig, description="which model to fine-tune")
    data: DataConfig = Field(default_factory=DataConfig, description="where the examples come from")
    method: MethodConfig = Field(default_factory=MethodConfig, description="which parameters train")
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig, description="what the model learns")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="optimisation settings")
    fast: FastConfig = Field(default_factory=FastConfig, description="accelerations (tunesmith/fast/), each switchable")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="evaluation during and after training")
    output: OutputConfig = Field(default_factory=OutputConfig, description="where results are written")
    sweep: SweepConfig = Field(default_factory=SweepConfig, description="search space for `tunesmith sweep`")
    continual: ContinualConfig = Field(default_factory=ContinualConfig, description="task sequence for "
                                       "`tunesmith continual`")
    federated: FederatedConfig = Field(default_factory=FederatedConfig, description="clients, rounds and "
                                       "strategy for `tunesmith federate`")


def _section_for(path: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] = RunConfig
    parts = list(path)
    while parts:
        field = model.model_fields.get(str(parts.pop(0)))
        sub = field.annotation if field else None
        if typing.get_origin(sub) is dict and parts:  # sweep.parameters.<any key>: the mapping's value type
            sub = typing.get_args(sub)[1]
            parts.pop(0)
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            return None
        model = sub
    return model


def _describe_error(err: dict, source: str) -> str:
    loc = tuple(err["loc"])
    dotted = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        section = _section_for(loc[:-1])
        valid = list(section.model_fields) if section else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f"; did you mean '{'.'.join([*map(str, loc[:-1]), close[0]])}'?" if close else ""
        return f"{source}: unknown key '{dotted}'{hint} (valid here: {', '.join(valid)})"
    message = err["msg"].removeprefix("Value error, ")  # our validators' own sentences, without pydantic's label
    if err["type"] == "value_error":
        return f"{source}: {dotted}: {message}"
    return f"{source}: {dotted}: {message} (got {err.get('input')!r})"


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split 'training.learning_rate=1e-4' into (['training', 'learning_rate'], 1e-4)."""
    if "=" not in text:
        raise UserError(f"--set {text!r} needs the form section.key=value", hint="e.g. --set training.epochs=2")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, dict) and not raw.strip().startswith("{"):
        value = raw  # "be brief: always" is a sentence with a colon, not a mapping
    return key.strip().split("."), value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UserError(f"--set {text!r}: '{part}' is not a section")
            node = child
        node[path[-1]] = value
    return raw


def build_config(raw: dict, source: str = "config") -> RunConfig:
    """Validate a raw mapping into a RunConfig; every problem becomes one readable line."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe_error(e, source) for e in exc.errors()]
        raise UserError(lines[0] if len(lines) == 1 else "\n".join(lines), hint="see `tunesmith config --explain`")


def read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections (model, data, ...), got {type(raw).__name__}")
    return raw


def load_config(path: Path | None, overrides: list[str] = ()) -> RunConfig:
    """Read a YAML run config (or defaults when path is None) and apply --set overrides."""
    raw = read_yaml(path) if path else {}
    raw = apply_overrides(raw, list(overrides))
    return build_config(raw, str(path) if path else "config")


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def _show(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def explain(model: type[BaseModel] = RunConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, description) for every leaf field."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            rows.extend(explain(sub, key + "."))
        else:
            default = field.get_default(call_default_factory=True)
            rows.append((key, _show(default), field.description or ""))
    return rows
