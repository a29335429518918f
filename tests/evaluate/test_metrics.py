import pytest

from tunesmith.evaluate import bootstrap_ci, compare_with_base
from tunesmith.evaluate.metrics import exact_match, json_exact_match, parse_json, valid_json


def test_json_metrics():
    reference = '{"name": "Tom", "quantity": 2}'
    assert json_exact_match('{"quantity": 2,  "name": "Tom"}', reference) == 1.0
    assert json_exact_match('{"quantity": "2", "name": "Tom"}', reference) == 0.0
    assert json_exact_match("Sure! here it is", reference) == 0.0
    assert valid_json('```json\n{"a": 1}\n```', reference) == 1.0 and parse_json("{'a': 1}") is None
    assert exact_match("  Hello   World ", "hello world") == 1.0


def test_bootstrap_interval_brackets_the_mean():
    diffs = [1.0] * 30 + [0.0] * 10
    lo, hi = bootstrap_ci(diffs)
    assert lo < 0.75 < hi and 0.5 < lo and hi <= 1.0
    assert bootstrap_ci([0.0] * 20) == (0.0, 0.0)


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
