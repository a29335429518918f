"""Launching training from the browser: a form → the same RunConfig validation as the CLI → `tunesmith train` in a
background process whose output and run directory the run page follows.

A separate process rather than a thread: training uses every core and lots of memory, must not stall the web
server, and keeps going (and can be stopped with Ctrl-C semantics) independently of it.
"""

from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tunesmith.config import (
    RunConfig,
    apply_overrides,
    build_config,
    dump_config,
    parse_override,
    read_yaml,
)
from tunesmith.errors import UserError
from tunesmith.methods import METHODS, get_method
from tunesmith.objectives import OBJECTIVES, get_objective
from tunesmith.runs import default_name
from tunesmith.studio.runs_index import resolve_run, tail

# (dotted key, input kind) of the fields the form shows; everything else goes in the "more settings" lines.
FIELDS = (
    ("model.name", "text"), ("objective.name", "choice"), ("method.name", "choice"),
    ("data.train", "text"), ("data.validation", "text"), ("data.test", "text"), ("data.system_prompt", "text"),
    ("training.epochs", "number"), ("training.max_steps", "number"), ("training.batch_size", "number"),
    ("training.learning_rate", "number"), ("output.name", "text"),
)
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
STEP_LINE = re.compile(r"step (\d+)/(\d+)")


def _field(key: str):
    section, name = key.split(".")
    return RunConfig.model_fields[section].annotation.model_fields[name]


def describe_fields() -> list[dict]:
    """Label, help text (from the config models, the one place it lives) and choices of each form field."""
    choices = {"objective.name": sorted(OBJECTIVES), "method.name": sorted(METHODS)}
    return [{"key": key, "kind": kind, "help": _field(key).description or "", "choices": choices.get(key, [])}
            for key, kind in FIELDS]


def base_config(root: Path, from_run: str | None) -> dict:
    """The raw settings a new run starts from: a copy of an existing run's config, or the defaults."""
    if not from_run:
        return {}
    raw = copy.deepcopy(read_yaml(resolve_run(root, from_run) / "config.yaml"))
    raw.pop("output", None)
    return raw


def form_values(raw: dict, preset: dict[str, str] | None = None) -> dict[str, str]:
    """What each field shows: the preset (from the link that opened the form), else the base config's value."""
    defaults = RunConfig.model_validate(raw).model_dump(mode="json") if raw else RunConfig().model_dump(mode="json")
    values = {}
    for key, _ in FIELDS:
        section, name = key.split(".")
        value = defaults[section][name]
        values[key] = "" if value is None else str(value)
    values["output.name"] = ""
    return {**values, **{k: v for k, v in (preset or {}).items() if k in values}}


def _set(raw: dict, key: str, value) -> None:
    section, name = key.split(".")
    raw.setdefault(section, {})[name] = value


def config_from_form(root: Path, raw: dict, values: dict[str, str], more: str) -> RunConfig:
    """Validate the form exactly as `tunesmith train CONFIG --set ...` would, with output in the studio folder."""
    raw = copy.deepcopy(raw)
    for key, kind in FIELDS:
        text = (values.get(key) or "").strip()
        if not text:
            if _field(key).default is None:
                _set(raw, key, None)
            else:
                raw.get(key.split(".")[0], {}).pop(key.split(".")[1], None)
        else:
            _set(raw, key, parse_override(f"{key}={text}")[1] if kind == "number" else text)
    lines = [line.strip() for line in more.splitlines() if line.strip() and not line.strip().startswith("#")]
    raw = apply_overrides(raw, lines)
    name = raw.get("output", {}).get("name")
    raw["output"] = {"dir": str(root), "name": name}
    config = build_config(raw, "launch form")
    _check_names(config)
    config.output.name = config.output.name or default_name(config)
    if not RUN_NAME.match(config.output.name):
        raise UserError(f"run name '{config.output.name}' may hold only letters, digits, '.', '_' and '-'")
    if (root / config.output.name).exists():
        raise UserError(f"a run named '{config.output.name}' already exists", hint="pick another run name")
    return config


def _check_names(config: RunConfig) -> None:
    get_objective(config.objective.name)
    get_method(config.method.name)


class Launcher:
    """Starts `tunesmith train` processes and reports on them; the store remembers them across restarts."""

    def __init__(self, root: Path, store):
        self.root, self.store = root, store
        self.folder = root / ".studio" / "launches"
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, config: RunConfig) -> str:
        name = config.output.name
        self.folder.mkdir(parents=True, exist_ok=True)
        config_path, log_path = self.folder / f"{name}.yaml", self.folder / f"{name}.log"
        config_path.write_text(dump_config(config))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "160"}
        with log_path.open("ab") as log:
            # A new session: Ctrl-C on the studio's terminal does not stop training the user started.
            process = subprocess.Popen([sys.executable, "-m", "tunesmith", "train", str(config_path)],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True)
        self.processes[name] = process
        self.store.add_launch(name, process.pid, config_path, log_path)
        return name

    def state(self, name: str) -> dict | None:
        """Whether the process runs, its exit code, progress (step/total) and the end of its output."""
        launch = self.store.launch(name)
        if launch is None:
            return None
        code, process = launch["returncode"], self.processes.get(name)
        if process is not None and code is None:
            code = process.poll()
            if code is not None:
                self.store.set_returncode(name, code)
        running = code is None and (process is not None or _alive(launch["pid"]))
        output = tail(Path(launch["log"]), 400)
        steps = STEP_LINE.findall(output)
        return {"running": running, "returncode": code, "log": "\n".join(output.splitlines()[-30:]),
                "step": int(steps[-1][0]) if steps else None, "total": int(steps[-1][1]) if steps else None}

    def stop(self, name: str) -> bool:
        """Ctrl-C for the training process: it saves a checkpoint and ends as `interrupted`."""
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return False
        process.send_signal(signal.SIGINT)
        return True


def _alive(pid: int) -> bool:
    """After a studio restart only the pid is known; signal 0 checks it exists without touching it."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
