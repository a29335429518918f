import pytest

from tunesmith.metrics.classification import accuracy, classification_report, confusion_matrix, macro_f1, per_class
from tunesmith.evaluate.preference import reward_accuracy, reward_margin

REFERENCES = ["a", "a", "a", "b", "b", "c"]
PREDICTIONS = ["a", "a", "b", "b", "c", "c"]


def test_confusion_matrix_rows_are_true_labels():
    assert confusion_matrix(PREDICTIONS, REFERENCES, ["a", "b", "c"]) == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_per_class_and_macro_scores_by_hand():
    scores = per_class(PREDICTIONS, REFERENCES, ["a", "b", "c"])
    # a: predicted twice, both right (P 1); 2 of 3 found (R 2/3); F1 = 2 * 1 * 2/3 / (5/3) = 0.8
    assert scores["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert scores["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert scores["c"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert accuracy(PREDICTIONS, REFERENCES) == pytest.approx(4 / 6)
    assert macro_f1(PREDICTIONS, REFERENCES) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_unlisted_and_never_predicted_labels_are_kept():
    report = classification_report(["x", "x"], ["x", "y"], labels=["x"])
    assert report["labels"] == ["x", "y"]  # "y" occurs but was not listed: appended, not dropped
    assert report["per_class"]["y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["per_class"]["x"]["precision"] == 0.5 and report["confusion_matrix"] == [[1, 0], [1, 0]]
    assert report["macro_precision"] == 0.25 and report["accuracy"] == 0.5


def test_reward_accuracy_and_margin():
    chosen, rejected = [1.0, 2.0, 3.0, 0.5], [0.0, 2.0, 4.0, -0.5]
    assert reward_accuracy(chosen, rejected) == 0.5  # 1 > 0 and 0.5 > -0.5; a tie is not a win
    assert reward_margin(chosen, rejected) == pytest.approx((1 + 0 - 1 + 1) / 4)
    with pytest.raises(ValueError):
        reward_accuracy([1.0], [])


def test_the_trainers_flat_metrics_are_the_same_numbers():
    from tunesmith.objectives.classification import classification_metrics

    # ids: 0 = neg, 1 = pos, 2 = mixed (never predicted, never true)
    metrics = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], ["neg", "pos", "mixed"])
    assert metrics["accuracy"] == 0.75
    assert metrics["precision_neg"] == 1.0 and metrics["recall_neg"] == 2 / 3
    assert metrics["precision_pos"] == 0.5 and metrics["recall_pos"] == 1.0
    assert metrics["f1_neg"] == pytest.approx(0.8) and metrics["f1_pos"] == pytest.approx(2 / 3)
    assert metrics["f1_mixed"] == 0.0
    assert metrics["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 0.0) / 3)
