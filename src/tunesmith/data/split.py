"""Seeded, reproducible train/validation/test splits, stratified by label when labels are given."""

from __future__ import annotations

import random


def _cut(indices: list[int], validation_size: float, test_size: float, rng: random.Random) -> dict[str, list[int]]:
    order = list(indices)
    rng.shuffle(order)
    n = len(order)
    n_test = round(n * test_size) if test_size else 0
    n_val = round(n * validation_size) if validation_size else 0
    if test_size and n_test == 0 and n > 2:
        n_test = 1
    if validation_size and n_val == 0 and n > 1:
        n_val = 1
    n_val = min(n_val, max(0, n - n_test - 1))
    return {"test": order[:n_test], "validation": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}


def split_indices(n: int, validation_size: float, test_size: float, seed: int,
                  labels: list[str] | None = None) -> dict[str, list[int]]:
    """Row indices per split; with `labels`, every label is cut in the same proportions (stratified)."""
    rng = random.Random(seed)
    if labels is None:
        groups = [list(range(n))]
    else:
        by_label: dict[str, list[int]] = {}
        for i, label in enumerate(labels):
            by_label.setdefault(label, []).append(i)
        groups = [by_label[label] for label in sorted(by_label)]
    result: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for group in groups:
        for name, part in _cut(group, validation_size, test_size, rng).items():
            result[name].extend(part)
    return {name: sorted(part) for name, part in result.items()}


def seeded_sample(items: list, count: int, seed: int) -> list:
    """`count` items in their original order, chosen with the split's seed."""
    chosen = sorted(random.Random(seed).sample(range(len(items)), count))
    return [items[i] for i in chosen]
