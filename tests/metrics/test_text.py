import pytest

from tunesmith.evaluate import bootstrap_ci, compare_with_base, metric_row, paired_bootstrap
from tunesmith.metrics.text import (exact_match, json_exact_match, longest_common_subsequence, parse_json, rouge_l,
                                        token_f1, valid_json)


def test_json_metrics():
    reference = '{"name": "Tom", "quantity": 2}'
    assert json_exact_match('{"quantity": 2,  "name": "Tom"}', reference) == 1.0
    assert json_exact_match('{"quantity": "2", "name": "Tom"}', reference) == 0.0
    assert json_exact_match("Sure! here it is", reference) == 0.0
    assert valid_json('```json\n{"a": 1}\n```', reference) == 1.0 and parse_json("{'a': 1}") is None
    assert exact_match("  Hello   World ", "hello world") == 1.0


def test_token_f1_counts_shared_words_with_multiplicity():
    # shared: the x2, cat, on, mat = 5 of 6 words each side -> P = R = F1 = 5/6
    assert token_f1("The cat sat on the mat.", "the cat is on the mat") == pytest.approx(5 / 6)
    # prediction "the the the" vs reference "the cat": overlap 1 -> P 1/3, R 1/2, F1 = 2*(1/6)/(5/6) = 0.4
    assert token_f1("the the the", "the cat") == pytest.approx(0.4)
    assert token_f1("mat the cat", "the cat mat") == 1.0  # a bag of words: order does not count
    assert token_f1("", "") == 1.0 and token_f1("word", "") == 0.0 and token_f1("a", "b") == 0.0


def test_rouge_l_is_the_lcs_f_measure():
    # The example of Lin (2004): reference "police killed the gunman".
    reference = "police killed the gunman"
    assert longest_common_subsequence("police kill the gunman".split(), reference.split()) == 3
    assert rouge_l("police kill the gunman", reference) == pytest.approx(0.75)  # P = R = 3/4
    assert rouge_l("the gunman kill police", reference) == pytest.approx(0.5)  # LCS "the gunman": 2/4
    assert rouge_l("mat the cat", "the cat mat") == pytest.approx(2 / 3)  # order counts, unlike token-F1
    # LCS 2 ("a c") of a 2-word prediction and a 4-word reference: P 1, R 1/2, F1 2/3
    assert rouge_l("a c", "a b c d") == pytest.approx(2 / 3)
    assert rouge_l("", "") == 1.0 and rouge_l("x", "y z") == 0.0


def test_bootstrap_interval_brackets_the_mean():
    diffs = [1.0] * 30 + [0.0] * 10
    lo, hi = bootstrap_ci(diffs)
    assert lo < 0.75 < hi and 0.5 < lo and hi <= 1.0
    assert bootstrap_ci([0.0] * 20) == (0.0, 0.0)


def test_paired_bootstrap_for_a_statistic_that_is_not_a_mean():
    # tuned is right on 9 of 10 examples where base is right on 1: the ratio statistic must come out clearly positive
    base, tuned = [(0, 1)] * 9 + [(1, 1)], [(1, 1)] * 9 + [(0, 1)]
    share = lambda rows: sum(p == r for p, r in rows) / len(rows)  # noqa: E731
    row = metric_row(base, tuned, share)
    assert (row["base"], row["tuned"], row["delta"]) == (pytest.approx(0.1), pytest.approx(0.9), pytest.approx(0.8))
    lo, hi = row["delta_ci95"]
    assert 0.3 < lo < 0.8 < hi <= 1.0
    assert paired_bootstrap(base, base, share) == (0.0, 0.0)  # same model twice: no difference on any resample


def test_metric_row_marks_direction_and_scale():
    row = metric_row([3.0, 3.0], [2.0, 2.0], higher_is_better=False, scale="value")
    assert row["delta"] == -1.0 and row["higher_is_better"] is False and row["scale"] == "value"


def test_compare_with_base_pairs_examples():
    prompts = [[{"role": "user", "content": str(i)}] for i in range(4)]
    references = ['{"n": 0}', '{"n": 1}', '{"n": 2}', '{"n": 3}']
    result = compare_with_base(lambda convs: ["no"] * len(convs),
                               lambda convs: ['{"n": %s}' % c[-1]["content"] for c in convs][:3] + ["{}"],
                               prompts, references, ["json_exact_match", "valid_json"])
    row = result["metrics"]["json_exact_match"]
    assert (row["base"], row["tuned"], row["delta"]) == (0.0, 0.75, 0.75)
    assert result["metrics"]["valid_json"]["tuned"] == 1.0
    assert result["samples"][0] == {"prompt": "0", "reference": '{"n": 0}', "base": "no", "tuned": '{"n": 0}'}
    assert result["metrics"]["json_exact_match"]["delta_ci95"][1] == pytest.approx(1.0)
