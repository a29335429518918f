"""The fine-tuned model and the model it started from, side by side.

A PEFT model is its own base with the adapter switched off (`disable_adapter()`): no second copy of the weights in
memory. A full-weight run needs the base loaded once more; that happens on first use, with the run's seed set first
so a new head (classification, reward model) starts exactly as it did in training.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.evaluate.scoring import device_of
from tunesmith.models.saved import load_base_model, load_run


def is_peft(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


@dataclass
class ModelPair:
    tuned: Any
    tokenizer: Any
    load_base: Callable[[], Any] | None = None
    _loaded: list = field(default_factory=list)

    @property
    def shares_weights(self) -> bool:
        return is_peft(self.tuned)

    @contextmanager
    def base(self):
        """The untouched starting model, for the duration of the block."""
        if self.shares_weights:
            with self.tuned.disable_adapter():
                yield self.tuned
            return
        if not self._loaded:
            if self.load_base is None:
                raise RuntimeError("this pair has no base model to compare with")
            self._loaded.append(self.load_base().to(device_of(self.tuned)).eval())
        yield self._loaded[0]

    def release_base(self) -> None:
        self._loaded.clear()


def dtype_name(model) -> str:
    return str(next(model.parameters()).dtype).removeprefix("torch.")


def base_loader(saved, dtype: str, seed: int | None) -> Callable[[], Any]:
    """A function that loads the starting model of `saved` (a tunesmith.models.saved.SavedModel) the way training
    did: same seed, same head shape."""
    return lambda: load_base_model(saved, dtype, seed)


def pair_for_run(run: Path) -> tuple[ModelPair, Any]:
    """(pair, config) for a finished run directory."""
    loaded = load_run(run)
    return ModelPair(loaded.model, loaded.tokenizer, None if is_peft(loaded.model) else loaded.load_base), loaded.config
