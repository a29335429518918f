"""Sentence-pair classification (paraphrase, entailment): both texts reach the model as one input with the
tokenizer's separator, through loading, cleaning, deduplication, training, evaluation and /v1/classify."""

import json

import pytest
from rich.console import Console

from tunesmith.data.dedup import dedup_text
from tunesmith.data.formats import with_aliases
from tunesmith.errors import UserError
from tunesmith.objectives.classification import text_inputs

ANIMALS = ["cat", "dog", "horse", "bird", "fish", "cow"]


def pair_rows(count: int) -> list[dict]:
    """Does the second sentence name the same animal as the first? Only the pair answers it."""
    rows = []
    for i in range(count):
        first, second = ANIMALS[i % 6], ANIMALS[(i // 2 + i) % 6]
        rows.append({"sentence1": f"the film was about a {first} number {i}",
                     "sentence2": f"really quite a {second} story {i}", "label": "same" if first == second else "other"})
    return rows


def test_pair_columns_of_public_datasets_become_text_and_text_pair():
    assert with_aliases({"sentence1": "a", "sentence2": "b", "label": 1}) == {"text": "a", "text_pair": "b",
                                                                               "label": 1}
    assert with_aliases({"premise": "a", "hypothesis": "b", "label": 0})["text_pair"] == "b"
    assert with_aliases({"question1": "a", "question2": "b", "label": 0})["text"] == "a"
    assert "text_pair" not in with_aliases({"sentence": "a", "label": 0})


def test_a_pair_is_a_duplicate_only_when_both_texts_repeat():
    assert dedup_text({"text": "a", "text_pair": "b"}) != dedup_text({"text": "a", "text_pair": "c"})
    assert dedup_text({"text": "a", "text_pair": None}) == "a"


def test_rows_without_their_second_text_are_refused_by_file_and_line():
    rows = [{"text": "a", "text_pair": "b", "_source": "t.jsonl:1"}, {"text": "c", "text_pair": None,
                                                                        "_source": "t.jsonl:2"}]
    with pytest.raises(UserError, match="t.jsonl:2: this row has no second text"):
        text_inputs(rows)
    assert text_inputs(rows[:1]) == [("a", "b")]


@pytest.fixture(scope="module")
def pair_run(tiny_bert, tmp_path_factory):
    from tunesmith.config import build_config
    from tunesmith.training import train

    folder = tmp_path_factory.mktemp("pairs")
    rows = pair_rows(96)
    for name, part in (("train", rows[:72]), ("test", rows[72:])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    config = build_config({
        "model": {"name": str(tiny_bert)}, "objective": {"name": "classification"},
        "data": {"train": str(folder / "train.jsonl"), "test": str(folder / "test.jsonl"), "max_length": 64,
                 "validation_size": 0.0},
        "method": {"name": "full"},
        "training": {"max_steps": 6, "batch_size": 8, "learning_rate": 1e-3, "logging_steps": 2, "save_steps": 6,
                     "warmup_ratio": 0.0, "lr_scheduler": "constant"},
        "eval": {"forgetting": False},
        "output": {"dir": str(folder / "runs"), "name": "pairs"},
    })
    return train(config, Console(quiet=True)), config


def test_training_reads_both_texts_and_evaluation_scores_the_pairs(pair_run):
    from tunesmith.models.saved import load_run
    from tunesmith.objectives import get_objective

    run, config = pair_run
    loaded = load_run(run)
    data = get_objective("classification").prepare_data(config, loaded.tokenizer)
    row, ids = data.splits["train"][0], data.tokenized["train"][0]["input_ids"]
    expected = loaded.tokenizer(row["text"], row["text_pair"])["input_ids"]
    assert ids == expected and ids.count(loaded.tokenizer.sep_token_id) == 2
    evaluation = json.loads((run / "eval.json").read_text())
    assert evaluation["examples"] == 24 and "accuracy" in evaluation["metrics"]
    assert "\n\nreally quite a" in evaluation["samples"][0]["prompt"]  # the report shows both texts


def test_classify_takes_pairs_and_answers_like_the_model(pair_run):
    import httpx
    import torch

    from tunesmith.models.saved import load_run
    from tunesmith.serve import ServeSettings, create_app, load_models, start_in_background

    run, _ = pair_run
    server = start_in_background(create_app(load_models([f"pairs={run}"], log=lambda line: None), ServeSettings()))
    pair = ["the film was about a cat number 1", "really quite a cat story 1"]
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            response = http.post("/v1/classify", json={"model": "pairs", "input": [pair, "a single text"]})
            answer = response.json()
    finally:
        server.stop()
    assert response.status_code == 200, answer
    loaded = load_run(run)
    with torch.inference_mode():
        expected = loaded.model(**loaded.tokenizer(*pair, return_tensors="pt")).logits[0].softmax(-1).tolist()
    labels = [loaded.model.config.id2label[i] for i in range(len(expected))]
    assert answer["data"][0]["scores"] == pytest.approx(dict(zip(labels, expected)), abs=1e-4)
    assert len(answer["data"]) == 2


def test_a_tokenizer_without_a_pair_template_gets_the_texts_joined(tiny_model, tiny_bert):
    from transformers import AutoTokenizer

    from tunesmith.objectives.classification import PAIR_JOIN, encode, has_pair_template

    llama, bert = AutoTokenizer.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(tiny_bert)
    assert has_pair_template(bert) and not has_pair_template(llama)
    assert encode(llama, [("two teas", "one cake")]) == [llama(f"two teas{PAIR_JOIN}one cake")["input_ids"]]
    assert encode(bert, [("two teas", "one cake")]) == [bert("two teas", "one cake")["input_ids"]]
