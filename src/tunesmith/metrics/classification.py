"""Classification metrics over label lists: accuracy, precision/recall/F1 per class and macro, confusion matrix.

Plain functions over predicted and true labels (strings or ids), so they score a classifier head, a generative
model's parsed answer or a hand-written rule alike.
"""

from __future__ import annotations


def label_order(predictions: list, references: list, labels: list | None = None) -> list:
    """The given labels, then any label that occurs but was not listed (so nothing is silently dropped)."""
    known = list(labels or [])
    extra = sorted({*references, *predictions} - set(known), key=str)
    return known + extra


def confusion_matrix(predictions: list, references: list, labels: list | None = None) -> list[list[int]]:
    """matrix[i][j] = examples whose true label is labels[i] and predicted label is labels[j]."""
    order = label_order(predictions, references, labels)
    index = {label: i for i, label in enumerate(order)}
    matrix = [[0] * len(order) for _ in order]
    for predicted, true in zip(predictions, references, strict=True):
        matrix[index[true]][index[predicted]] += 1
    return matrix


def accuracy(predictions: list, references: list) -> float:
    if len(predictions) != len(references):
        raise ValueError("predictions and references differ in length")
    return sum(p == r for p, r in zip(predictions, references)) / len(references) if references else 0.0


def per_class(predictions: list, references: list, labels: list | None = None) -> dict:
    """{label: {precision, recall, f1, support}}; a class never predicted has precision 0 (as scikit-learn's
    zero_division=0), a class absent from the references has recall 0."""
    order = label_order(predictions, references, labels)
    matrix = confusion_matrix(predictions, references, order)
    scores = {}
    for i, label in enumerate(order):
        hits, predicted, actual = matrix[i][i], sum(row[i] for row in matrix), sum(matrix[i])
        precision = hits / predicted if predicted else 0.0
        recall = hits / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[label] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    return scores


def macro(scores: dict, field: str) -> float:
    return sum(s[field] for s in scores.values()) / len(scores) if scores else 0.0


def macro_f1(predictions: list, references: list, labels: list | None = None) -> float:
    return macro(per_class(predictions, references, labels), "f1")


def classification_report(predictions: list, references: list, labels: list | None = None) -> dict:
    """Everything above in one JSON-ready dict."""
    order = label_order(predictions, references, labels)
    classes = per_class(predictions, references, order)
    return {"accuracy": accuracy(predictions, references), "macro_precision": macro(classes, "precision"),
            "macro_recall": macro(classes, "recall"), "macro_f1": macro(classes, "f1"),
            "per_class": {str(k): v for k, v in classes.items()}, "labels": [str(x) for x in order],
            "confusion_matrix": confusion_matrix(predictions, references, order)}
