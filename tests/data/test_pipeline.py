"""The whole data stage: counts for every step, stratified seeded splits, leakage removal, cache, bad data."""

import json
import random

import pytest

from tunesmith.config import DataConfig
from tunesmith.data.pipeline import cache_key, prepare_splits
from tunesmith.errors import UserError


def review(i: int, rng: random.Random) -> str:
    words = [f"w{rng.randint(0, 5000)}" for _ in range(30)]
    return f"review {i}: " + " ".join(words)


def classification_rows(n=200, seed=0):
    rng = random.Random(seed)
    return [{"text": review(i, rng), "label": "pos" if i % 4 else "neg"} for i in range(n)]


def test_every_step_is_counted(write_jsonl):
    rows = classification_rows(100)
    rows.append(dict(rows[3]))  # exact duplicate
    rows.append({"text": rows[5]["text"].upper() + "  ", "label": rows[5]["label"]})  # same up to case/space
    words = rows[7]["text"].split()
    rows.append({"text": " ".join(words[:-1] + ["tail"]), "label": rows[7]["label"]})  # near duplicate
    rows.append({"text": "mail me at someone@example.com or +1 415 555 0100", "label": "pos"})
    rows.append({"text": "<i>tagged</i>\u200b", "label": "neg"})
    cfg = DataConfig(train=str(write_jsonl("t.jsonl", rows)), validation_size=0.2, test_size=0.1,
                     clean={"strip_html": True})
    splits, report = prepare_splits(cfg, "classification")
    source = report["sources"]["train"]
    assert source["records"] == 105 and source["format"] == "classification"
    assert source["dropped_exact_duplicates"] == 2 and source["dropped_near_duplicates"] == 1
    assert source["pii_email"] == 1 and source["pii_phone"] == 1 and source["markup_stripped"] == 1
    assert source["kept"] == 102 == sum(report["rows"].values())
    texts = [t for ds in splits.values() for t in ds["text"]]
    assert "mail me at [EMAIL] or [PHONE]" in texts and "tagged" in texts
    assert all(s.startswith(str(cfg.train)) for ds in splits.values() for s in ds["_source"])


def test_split_is_stratified_and_reproducible(write_jsonl):
    cfg = DataConfig(train=str(write_jsonl("t.jsonl", classification_rows(200))), validation_size=0.2,
                     test_size=0.2, cache=False)
    splits, report = prepare_splits(cfg, "classification")
    for name in ("train", "validation", "test"):
        labels = splits[name]["label"]
        assert labels.count("neg") / len(labels) == pytest.approx(0.25, abs=0.02), name
    again, _ = prepare_splits(cfg, "classification")
    assert again["test"]["_source"] == splits["test"]["_source"]
    reseeded, _ = prepare_splits(cfg.model_copy(update={"seed": 1}), "classification")
    assert reseeded["test"]["_source"] != splits["test"]["_source"]
    assert report["labels"]["test"] == {"pos": 30, "neg": 10}


def _leaky_test_file(write_jsonl, **settings):
    rows = classification_rows(60)
    test_rows = classification_rows(10, seed=99)
    test_rows[0] = dict(rows[4])  # exact copy of a training row
    words = rows[9]["text"].split()
    test_rows[1] = {"text": " ".join(words[:-1] + ["x"]), "label": rows[9]["label"]}  # near copy
    test_rows[2] = dict(test_rows[3])  # a duplicate inside the test file
    cfg = DataConfig(train=str(write_jsonl("t.jsonl", rows)), test=str(write_jsonl("e.jsonl", test_rows)),
                     validation_size=0.0, **settings)
    return rows, prepare_splits(cfg, "classification")


def test_a_given_test_file_is_kept_whole_and_its_leaks_flagged(write_jsonl):
    rows, (splits, report) = _leaky_test_file(write_jsonl)
    assert len(splits["test"]) == 10 and rows[4]["text"] in splits["test"]["text"]
    flagged = report["flagged"]["test"]
    assert flagged["leaked"] == [splits["test"][0]["_source"], splits["test"][1]["_source"]]
    assert flagged["duplicate"] == [splits["test"][3]["_source"]]
    assert report["sources"]["test"]["flagged_exact_duplicates"] == 1 and "leaked_into_test" not in report


def test_leaked_evaluation_rows_are_removed_when_asked(write_jsonl):
    rows, (splits, report) = _leaky_test_file(write_jsonl, test_as_given=False)
    assert report["leaked_into_test"] == 2 and len(splits["test"]) == 7
    assert rows[4]["text"] not in splits["test"]["text"] and not report["flagged"]


def test_short_texts_are_not_near_duplicates(write_jsonl):
    phrases = [{"text": f"a {word} movie", "label": "pos"} for word in ("good", "great", "fine", "nice")]
    longer = classification_rows(20)
    words = longer[0]["text"].split()
    longer.append({"text": " ".join(words[:-1] + ["x"]), "label": longer[0]["label"]})
    cfg = DataConfig(train=str(write_jsonl("t.jsonl", phrases + longer)), validation_size=0.0,
                     clean={"near_threshold": 0.3})
    _, report = prepare_splits(cfg, "classification")
    source = report["sources"]["train"]
    assert source["dropped_near_duplicates"] == 1 and source["kept"] == 24
    example = source["examples"]["near_duplicates"][0]
    assert example["row"].endswith(":25") and example["repeats"].endswith(":5")


def test_dropping_a_large_share_is_a_warning(write_jsonl):
    rows = classification_rows(20)
    rows += [dict(r) for r in rows[:5]]
    cfg = DataConfig(train=str(write_jsonl("t.jsonl", rows)), validation_size=0.0)
    _, report = prepare_splits(cfg, "classification")
    assert any("dropped 5 of 25 rows (20%" in w for w in report["warnings"])
    _, quiet = prepare_splits(DataConfig(train=cfg.train, validation_size=0.0, clean={"max_drop_share": 0.25}),
                              "classification")
    assert not quiet["warnings"]


def test_validation_is_capped(write_jsonl):
    cfg = DataConfig(train=str(write_jsonl("t.jsonl", classification_rows(200))), validation_size=0.2,
                     validation_max_rows=12)
    _, report = prepare_splits(cfg, "classification")
    assert report["rows"]["validation"] == 12 and report["rows"]["train"] == 188
    _, uncapped = prepare_splits(cfg.model_copy(update={"validation_max_rows": None}), "classification")
    assert uncapped["rows"]["validation"] == 40


def test_label_in_one_split_only_is_a_warning(write_jsonl):
    rows = classification_rows(40)
    test_rows = [{"text": "a brand new kind of review", "label": "mixed"}, *classification_rows(5, seed=3)]
    cfg = DataConfig(train=str(write_jsonl("t.jsonl", rows)), test=str(write_jsonl("e.jsonl", test_rows)))
    _, report = prepare_splits(cfg, "classification")
    assert "label 'mixed' appears only in the test split" in report["warnings"]


def test_zero_rows_after_cleaning(write_jsonl):
    cfg = DataConfig(train=str(write_jsonl("t.jsonl", [{"text": "short"}, {"text": "tiny"}])),
                     clean={"min_chars": 100})
    with pytest.raises(UserError, match=r"t.jsonl: no rows left after cleaning \(2 read; dropped length 2\)"):
        prepare_splits(cfg, "text")


def test_all_validation_errors_are_listed_before_anything_runs(write_jsonl):
    rows = [{"text": "fine", "label": "pos"}, {"text": "", "label": "pos"}, {"text": "ok", "label": None},
            {"text": "ok", "label": "neg"}]
    cfg = DataConfig(train=str(write_jsonl("t.jsonl", rows)))
    with pytest.raises(UserError) as err:
        prepare_splits(cfg, "classification")
    lines = err.value.message.splitlines()
    assert lines[0].endswith("t.jsonl:2: field 'text' is empty")
    assert lines[1].endswith("t.jsonl:3: field 'label' must be a string or an integer, got NoneType")


def test_preparation_is_cached_by_content(write_jsonl, tmp_path):
    path = write_jsonl("t.jsonl", classification_rows(30))
    cfg = DataConfig(train=str(path))
    _, first = prepare_splits(cfg, "classification")
    _, second = prepare_splits(cfg, "classification")
    assert (first["cache"], second["cache"]) == ("miss", "hit")
    with path.open("a") as handle:
        handle.write(json.dumps({"text": "one more review", "label": "pos"}) + "\n")
    assert cache_key(cfg, "classification") != first["cache_key"]
    _, third = prepare_splits(cfg, "classification")
    assert third["cache"] == "miss" and third["sources"]["train"]["records"] == 31
    assert prepare_splits(cfg.model_copy(update={"cache": False}), "classification")[1]["cache"] == "miss"
