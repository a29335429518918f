"""What an evaluation task hands on besides its metrics."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TaskOutputs:
    """What the models produced on the split, kept for the bias probe (it reuses them instead of regenerating)."""
    kind: str  # generation, classification, language_modeling, preference
    inputs: list = field(default_factory=list)  # conversations or texts
    references: list = field(default_factory=list)
    base: list = field(default_factory=list)  # replies, or class probabilities
    tuned: list = field(default_factory=list)
