"""Seeded, reproducible train/validation/test splits."""

from __future__ import annotations

import random


def split_indices(n: int, validation_size: float, test_size: float, seed: int) -> dict[str, list[int]]:
    """Shuffle 0..n-1 with `seed` and cut off test, then validation; train keeps the rest (at least one)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_test = round(n * test_size) if test_size else 0
    n_val = round(n * validation_size) if validation_size else 0
    if test_size and n_test == 0 and n > 2:
        n_test = 1
    if validation_size and n_val == 0 and n > 1:
        n_val = 1
    n_val = min(n_val, max(0, n - n_test - 1))
    return {
        "test": sorted(order[:n_test]),
        "validation": sorted(order[n_test : n_test + n_val]),
        "train": sorted(order[n_test + n_val :]),
    }
