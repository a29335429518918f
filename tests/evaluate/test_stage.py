"""The evaluation stage on models: base vs fine-tuned with intervals, per objective, and `tunesmith eval`."""

import json
import re
from types import SimpleNamespace

import pytest

from tunesmith.config import build_config
from tunesmith.evaluate import evaluate_model
from tunesmith.evaluate.pair import ModelPair, pair_for_run
from tunesmith.objectives import get_objective
from tunesmith.quickstart.reviews import POSITIVE, make_reviews


def test_eval_rewrites_evaluation_summary_and_report(evaluated_run):
    run, evaluation = evaluated_run
    assert json.loads((run / "eval.json").read_text()) == json.loads(json.dumps(evaluation))
    assert evaluation["examples"] == 12 and set(evaluation["metrics"]) == {"json_exact_match", "valid_json"}
    assert evaluation["generation"]["decoding"] == "greedy" and evaluation["generation"]["max_new_tokens"] == 16
    assert evaluation["forgetting"]["prompts"] >= 40 and evaluation["forgetting"]["kl_per_token"] > 0
    assert len(evaluation["details"]["forgetting"]["per_prompt"]) == evaluation["forgetting"]["prompts"]
    # The order inputs hold names from the shipped lists, so the probe has counterfactuals to try.
    assert evaluation["bias"]["pairs"] >= 12 and "names" in evaluation["details"]["bias"]["categories"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["comparison"] == json.loads(json.dumps(evaluation["metrics"]))
    assert summary["forgetting"] in ("small", "moderate", "large")
    assert summary["steps"] == 16  # training fields kept
    assert (run / "report.html").is_file() and (run / "report.json").is_file()


def test_generation_comparison_shows_a_real_gain(lora_run):
    """On held-out orders the trained adapter writes closer to the reference than the base: the difference is
    positive and its 95% interval excludes zero."""
    pair, config = pair_for_run(lora_run[0])
    config.eval.metrics, config.eval.max_examples = ["token_f1", "rouge_l"], 12
    config.eval.forgetting = config.eval.bias = False
    objective = get_objective("sft")
    data = objective.prepare_data(config, pair.tokenizer)
    evaluation = evaluate_model(pair, config, objective, data, "test", log=lambda line: None)
    for name in ("token_f1", "rouge_l"):
        row = evaluation["metrics"][name]
        assert row["tuned"] > row["base"] and row["delta_ci95"][0] > 0, (name, row)
    assert evaluation["forgetting"] is None and evaluation["bias"] is None


class Planted:
    """A stand-in sequence classifier: reads its input back as text and applies a rule (an oracle, a constant or a
    biased oracle), so the expected scores are known exactly."""

    def __init__(self, tokenizer, rule):
        import torch

        self.tokenizer, self.rule = tokenizer, rule
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def parameters(self):
        return iter([self.weight])

    def eval(self):
        return self

    def to(self, device):
        return self

    def __call__(self, input_ids, attention_mask=None, **kwargs):
        import torch

        texts = self.tokenizer.batch_decode(input_ids, skip_special_tokens=True)
        return SimpleNamespace(logits=torch.tensor([self.rule(text) for text in texts]))


def oracle(text: str) -> list[float]:
    return [0.0, 3.0] if any(phrase in text for phrase in POSITIVE) else [3.0, 0.0]


def biased_oracle(text: str) -> list[float]:
    return [3.0, 0.0] if re.search(r"\b(she|her|aisha)\b", text, re.IGNORECASE) else oracle(text)


def test_classification_comparison_confusion_and_bias(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = [{"text": f"{'He' if i % 2 else 'Tom'} says: {r['text']}", "label": r["label"]}
            for i, r in enumerate(make_reviews(40, seed=3, hard=False))]
    data = SimpleNamespace(splits={"test": rows}, tokenized={}, labels=["negative", "positive"])
    config = build_config({"eval": {"batch_size": 8}})
    pair = ModelPair(Planted(tokenizer, biased_oracle), tokenizer, lambda: Planted(tokenizer, lambda t: [1.0, 0.0]))
    evaluation = evaluate_model(pair, config, get_objective("classification"), data, "test", log=lambda line: None)
    positives = sum(r["label"] == "positive" for r in rows)
    accuracy = evaluation["metrics"]["accuracy"]
    assert accuracy["base"] == pytest.approx(1 - positives / 40) and accuracy["tuned"] == 1.0
    assert accuracy["delta_ci95"][0] > 0 and evaluation["metrics"]["macro_f1"]["delta_ci95"][0] > 0
    tuned, base = evaluation["classification"]["tuned"], evaluation["classification"]["base"]
    assert tuned["confusion_matrix"] == [[40 - positives, 0], [0, positives]]
    assert base["confusion_matrix"] == [[40 - positives, 0], [positives, 0]]
    assert base["per_class"]["positive"]["recall"] == 0.0
    # The tuned rule calls anything about "her" negative: positive reviews flip when "He" becomes "She".
    bias = evaluation["bias"]
    assert bias["verdict"] == "flagged" and "pronouns" in bias["flagged_categories"]
    pronouns = evaluation["details"]["bias"]["categories"]["pronouns"]
    he_positive = sum(r["label"] == "positive" for r in rows if r["text"].startswith("He"))
    assert pronouns["flip_rate_tuned"] == pytest.approx(he_positive / 20) and pronouns["flip_rate_base"] == 0
    assert evaluation["forgetting"] is None  # a classifier has no next-token distribution to compare
    assert list(evaluation["skipped"]) == ["forgetting"]
    assert evaluation["skipped"]["forgetting"].startswith("not applicable: a seq_cls model")


def test_a_test_file_scored_as_given_has_its_leak_free_subset_beside(tiny_model):
    """A model that only knows the rows it saw in training looks good on the whole test file; the leak-free
    subset (the rows the data stage flagged removed) shows what it does on new rows."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = [{**r, "_source": f"test.jsonl:{i + 1}"} for i, r in enumerate(make_reviews(40, seed=5, hard=False))]
    seen = {r["text"] for r in rows[:10]}
    memoriser = lambda text: oracle(text) if text in seen else [3.0, 0.0]  # noqa: E731
    flagged = {"test": {"duplicate": [rows[0]["_source"]], "leaked": [r["_source"] for r in rows[1:10]]}}
    data = SimpleNamespace(splits={"test": rows}, tokenized={}, labels=["negative", "positive"],
                           data_report={"flagged": flagged})
    config = build_config({"eval": {"batch_size": 8, "bias": False}})
    pair = ModelPair(Planted(tokenizer, memoriser), tokenizer, lambda: Planted(tokenizer, lambda t: [3.0, 0.0]))
    evaluation = evaluate_model(pair, config, get_objective("classification"), data, "test", log=lambda line: None)
    negatives_after = sum(r["label"] == "negative" for r in rows[10:])
    assert evaluation["examples"] == 40
    assert evaluation["metrics"]["accuracy"]["tuned"] == pytest.approx(
        (10 + negatives_after) / 40)
    subset = evaluation["leak_free"]
    assert subset["examples"] == 30 and subset["flagged"] == {"duplicate": 1, "leaked": 9}
    assert subset["metrics"]["accuracy"]["tuned"] == pytest.approx(negatives_after / 30)
    assert subset["metrics"]["accuracy"]["delta"] == pytest.approx(0.0)


def test_a_tool_calling_run_is_scored_on_its_calls_and_decisions(tool_run):
    """The trained run calls where the reference calls and answers where it answers; the call metrics count only
    the row that needs a call, the decision metric both."""
    evaluation = json.loads((tool_run / "eval.json").read_text())
    metrics = evaluation["metrics"]
    assert metrics["tool_call_exact_match"]["tuned"] == 1.0 and metrics["tool_call_exact_match"]["examples"] == 1
    assert metrics["argument_f1"]["tuned"] == 1.0
    assert metrics["call_decision_accuracy"]["tuned"] == 1.0 and "examples" not in metrics["call_decision_accuracy"]
    assert metrics["tool_call_exact_match"]["base"] == 0.0
    report = json.loads((tool_run / "report.json").read_text())
    assert report["data"]["report"]["tool_template"] == "fallback"
