"""The search space: config.sweep.parameters → Optuna suggestions → the RunConfig each trial trains."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tunesmith.config import RunConfig, SearchParameter, SweepConfig, build_config
from tunesmith.errors import UserError


def metric_key(sweep: SweepConfig) -> str:
    return sweep.metric if sweep.metric.startswith("eval_") else f"eval_{sweep.metric}"


def direction(sweep: SweepConfig) -> str:
    return sweep.direction or ("minimize" if sweep.metric.endswith(("loss", "perplexity")) else "maximize")


def suggest(trial, parameters: dict[str, SearchParameter]) -> dict[str, Any]:
    """Ask the trial for one value per searched field; Optuna records them under the dotted field names."""
    values = {}
    for key, p in parameters.items():
        if p.type == "choice":
            values[key] = trial.suggest_categorical(key, p.choices)
        elif p.type == "int":
            values[key] = trial.suggest_int(key, int(p.low), int(p.high), step=p.step)
        else:
            values[key] = trial.suggest_float(key, p.low, p.high, log=p.type == "log_uniform")
    return values


def _set_dotted(raw: dict, key: str, value: Any) -> None:
    *sections, field = key.split(".")
    for section in sections:
        raw = raw[section]
    raw[field] = value


def _get_dotted(config: RunConfig, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def with_values(config: RunConfig, values: dict[str, Any], output_dir: str | None, name: str | None) -> RunConfig:
    """`config` with the searched values set and its sweep section emptied: a plain run config."""
    raw = config.model_dump(mode="json")
    for key, value in values.items():
        _set_dotted(raw, key, value)
    raw["output"] = {"dir": output_dir or config.output.dir, "name": name}
    raw["sweep"] = {}
    return build_config(raw, "sweep trial")


def trial_config(config: RunConfig, values: dict[str, Any], folder: Path, number: int) -> RunConfig:
    """Trial runs live in the sweep folder; the final base-vs-tuned generation is skipped because trials are
    judged on the validation metric, and generating a test set per trial would cost more than training."""
    trial = with_values(config, values, str(folder), f"trial-{number:03d}")
    trial.eval.compare_with_base = False
    return trial


def baseline_values(config: RunConfig) -> dict[str, Any] | None:
    """The config's own values when every one lies inside the space, so trial 0 measures where the user started."""
    values = {key: _get_dotted(config, key) for key in config.sweep.parameters}
    return values if all(_inside(p, values[k]) for k, p in config.sweep.parameters.items()) else None


def _inside(p: SearchParameter, value: Any) -> bool:
    if p.type == "choice":
        return value in p.choices
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return False
    if p.type == "int":
        return float(value).is_integer() and p.low <= value <= p.high and (value - p.low) % p.step == 0
    return p.low <= value <= p.high


def check_space(config: RunConfig) -> None:
    """Every end of every range and every choice must make a valid config, checked before any trial trains."""
    if not config.sweep.parameters:
        raise UserError("the config has no sweep.parameters to search over",
                        hint="add e.g. sweep: {parameters: {training.learning_rate: "
                             "{type: log_uniform, low: 1.0e-5, high: 1.0e-2}}}")
    for key, p in config.sweep.parameters.items():
        # an inner float too: a float range over an integer field fails only on values with a fraction
        candidates = p.choices if p.type == "choice" else [p.low, p.high, p.low + 0.377 * (p.high - p.low)]
        for value in candidates:
            value = int(value) if p.type == "int" else value
            try:
                with_values(config, {key: value}, None, None)
            except UserError as exc:
                reason = exc.message.removeprefix("sweep trial: ")
                raise UserError(f"sweep.parameters.{key}: the value {value!r} is not allowed there ({reason})",
                                hint="narrow the range or fix the choices; whole-number fields need type: int") from None
