"""Models the studio generates with: a finished run's model or the untouched base model it started from.

Loading goes through `tunesmith.models.saved.load_run`, the same code as `tunesmith chat`, so the studio
answers with exactly the weights, dtype and chat template the CLI uses. A few models stay in memory (least
recently used are dropped first), and one lock keeps generation to one batch at a time: on a CPU, two batches at
once only slow each other down.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from tunesmith.data.tokenize import render
from tunesmith.errors import UserError
from tunesmith.inference import generate
from tunesmith.models.saved import load_run, saved_model_of_run
from tunesmith.objectives import OBJECTIVES, get_objective
from tunesmith.runs import open_run
from tunesmith.studio.runs_index import resolve_run


@dataclass(frozen=True)
class ModelRef:
    """`run:<run id>` (the fine-tuned model), `base:<run id>` (the model that run started from) or
    `gguf:<path>` (a GGUF export inside the studio folder, run in llama.cpp)."""

    run_id: str  # the run, or the .gguf file's path relative to the studio folder
    base: bool = False
    gguf: bool = False

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        kind, sep, run_id = (text or "").partition(":")
        if not sep or kind not in ("run", "base", "gguf") or not run_id:
            raise UserError(f"'{text}' does not name a model",
                            hint="use run:<run name>, base:<run name> or gguf:<file in the studio folder>")
        return cls(run_id, kind == "base", kind == "gguf")

    def __str__(self) -> str:
        return f"{'gguf' if self.gguf else 'base' if self.base else 'run'}:{self.run_id}"

    @property
    def label(self) -> str:
        if self.gguf:
            return f"{self.run_id} (llama.cpp)"
        return f"base model of {self.run_id}" if self.base else self.run_id


def gguf_path(root: Path, ref: ModelRef) -> Path:
    """The GGUF file a gguf: reference names; only files inside the studio folder."""
    path = (root / ref.run_id).resolve()
    if path.suffix != ".gguf" or not path.is_file() or root.resolve() not in path.parents:
        raise UserError(f"no GGUF file '{ref.run_id}' in the studio folder",
                        hint="export a run with `tunesmith export RUN --to FOLDER/exports/NAME --format gguf`")
    return path


def gguf_files(root: Path) -> list[str]:
    """GGUF exports in the studio folder (FOLDER/NAME/ or FOLDER/exports/NAME/), relative to it."""
    found = [*root.glob("*/model-*.gguf"), *root.glob("*/*/model-*.gguf")]
    return sorted(str(p.relative_to(root)) for p in found)


def check_generates(root: Path, ref: ModelRef) -> None:
    """Refuse, before any model loads, a model that cannot answer chat prompts."""
    if ref.gguf:
        gguf_path(root, ref)
        return
    run = resolve_run(root, ref.run_id)
    config, _ = open_run(run)
    if get_objective(config.objective.name).serving != "generate":
        raise UserError(f"{ref.run_id} trains a {config.objective.name} model, which does not write answers",
                        hint="pick a run with a text-generation objective (sft, dpo, ...)")
    if not ref.base and not Path(saved_model_of_run(run).weights).is_dir():
        raise UserError(f"{ref.run_id} has no trained weights yet", hint="wait for it to finish, or pick its base")


class ModelCache:
    def __init__(self, root: Path, capacity: int = 3):
        self.root, self.capacity = root, capacity
        self.lock = threading.Lock()
        self._loaded: OrderedDict[tuple, tuple] = OrderedDict()

    def _key(self, ref: ModelRef) -> tuple:
        if ref.gguf:
            return ("gguf", str(gguf_path(self.root, ref)))
        if not ref.base:
            return ("run", str(resolve_run(self.root, ref.run_id)))
        config, _ = open_run(resolve_run(self.root, ref.run_id))
        return ("base", config.model.name, config.model.dtype, config.model.device)  # runs on one base share it

    def _get(self, ref: ModelRef):
        key = self._key(ref)
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]

        check_generates(self.root, ref)
        while len(self._loaded) >= self.capacity:
            self._loaded.popitem(last=False)
        self._loaded[key] = self._load(ref)
        return self._loaded[key]

    def _load(self, ref: ModelRef) -> tuple:
        if ref.gguf:
            from tunesmith.export.gguf_runtime import gguf_tokenizer, open_gguf

            path = gguf_path(self.root, ref)
            return open_gguf(path), gguf_tokenizer(path)
        loaded = load_run(resolve_run(self.root, ref.run_id), base=ref.base)
        return loaded.model, loaded.tokenizer

    def answer(self, ref: ModelRef, conversations: list[list[dict]], max_new_tokens: int, temperature: float = 0.0,
               seed: int | None = None) -> list[str]:
        """One reply per conversation; sampled with `seed` when temperature > 0, so a labelling task can be
        regenerated identically."""
        import torch

        with self.lock:
            model, tokenizer = self._get(ref)
            if ref.gguf:
                from tunesmith.export.gguf_runtime import gguf_replies

                prompts = [render(tokenizer, conv, add_generation_prompt=True) for conv in conversations]
                return gguf_replies(model, prompts, max_new_tokens, temperature, seed)
            if seed is not None:
                torch.manual_seed(seed)
            return generate(model, tokenizer, conversations, max_new_tokens, batch_size=8, temperature=temperature)


def system_prompt_of(root: Path, run_id: str) -> str | None:
    config, _ = open_run(resolve_run(root, run_id))
    return config.data.system_prompt


def generating_runs(summaries: list[dict]) -> list[dict]:
    """The runs that can answer prompts: finished text-generation runs with saved weights."""
    return [s for s in summaries if s["has_weights"] and s["status"] == "finished"
            and getattr(OBJECTIVES.get(s["objective"]), "serving", None) == "generate"]
