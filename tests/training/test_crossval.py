"""k-fold cross-validation: folds cover the data once, each fold is a real run, mean and spread are reported."""

import json

import pytest
from rich.console import Console

from tunesmith.training.crossval import cross_validate, fold_indices, summarize_folds
from tunesmith.runs import create_run


def test_folds_are_disjoint_cover_everything_and_keep_label_shares():
    labels = ["a"] * 12 + ["b"] * 6
    folds = fold_indices(18, 3, labels, seed=1)
    assert sorted(i for fold in folds for i in fold) == list(range(18))
    assert [sum(labels[i] == "b" for i in fold) for fold in folds] == [2, 2, 2]
    assert fold_indices(18, 3, labels, seed=1) == folds and fold_indices(18, 3, labels, seed=2) != folds
    assert [len(f) for f in fold_indices(10, 3)] == [4, 3, 3]


def test_fold_summary_is_mean_and_sample_spread():
    per_fold = [{"acc": {"tuned": 0.5, "delta": 0.1}}, {"acc": {"tuned": 0.7, "delta": 0.3}}, {"acc": {"tuned": 0.9,
                                                                                                      "delta": 0.2}}]
    acc = summarize_folds(per_fold)["acc"]
    assert acc["mean"] == pytest.approx(0.7) and acc["std"] == pytest.approx(0.2)  # sample std of .5, .7, .9
    assert acc["delta_mean"] == pytest.approx(0.2) and acc["values"] == [0.5, 0.7, 0.9]


def test_cross_validation_trains_each_fold_and_reuses_finished_ones(tiny_config):
    config = tiny_config.model_copy(deep=True)
    config.training.max_steps, config.eval.steps = 2, 2
    config.eval.max_examples, config.eval.max_new_tokens = 2, 4
    run = create_run(config)  # cross-validation needs only the run's config, not its weights
    result = cross_validate(run, 2, Console(quiet=True))
    assert result["folds"] == 2 and sum(result["fold_sizes"]) == result["examples"] == 48
    for index in (1, 2):
        fold = run / "cv" / f"fold-{index}"
        assert json.loads((fold / "manifest.json").read_text())["status"] == "finished"
        assert len((run / "cv" / f"fold-{index}.test.jsonl").read_text().splitlines()) == 24
    stats = result["metrics"]["valid_json"]
    assert len(stats["values"]) == 2 and stats["mean"] == pytest.approx(sum(stats["values"]) / 2)
    assert json.loads((run / "cv.json").read_text())["metrics"]["valid_json"]["std"] == pytest.approx(stats["std"])
    assert "Cross-validation (2 folds)" in (run / "report.html").read_text()
    adapter = run / "cv" / "fold-1" / "adapter" / "adapter_model.safetensors"
    before = adapter.stat().st_mtime_ns
    assert cross_validate(run, 2, Console(quiet=True))["per_fold"] == result["per_fold"]
    assert adapter.stat().st_mtime_ns == before  # the finished fold was reused, not retrained
