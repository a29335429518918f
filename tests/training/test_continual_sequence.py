"""A task sequence (`tunesmith continual`): rehearsal of earlier runs' rows, the anchor toward the starting weights,
the earlier tasks a continued run is scored on, the accuracy matrix and its numbers, and the refusals."""

import json

import pytest
import torch
from rich.console import Console

from tunesmith.config import build_config
from tunesmith.continual.matrix import summarise
from tunesmith.errors import UserError
from tunesmith.training import train
from tunesmith.training.callbacks import AnchorDecay
from tunesmith.training.run import prepare


def cell(value, scores=None, base=0.0):
    return {"metric": "accuracy", "tuned": value, "base": base, "scale": "fraction", "higher_is_better": True,
            "scores": scores}


def test_the_matrix_gives_backward_and_forward_transfer_and_each_tasks_change():
    matrix = [[cell(0.9, [1, 1, 0, 1]), cell(0.3)],
              [cell(0.5, [1, 0, 0, 0]), cell(0.8)]]
    base = [cell(0.0, base=0.25), cell(0.0, base=0.5)]
    s = summarise(matrix, base, ["a", "b"])
    assert s["backward_transfer"] == pytest.approx(0.5 - 0.9)
    assert s["forward_transfer"] == pytest.approx(0.3 - 0.5)
    assert s["final_average"] == pytest.approx((0.5 + 0.8) / 2)
    a = s["tasks"]["a"]
    assert a["delta"] == pytest.approx(-0.4) and a["forgetting"] == pytest.approx(0.4)
    low, high = a["delta_ci95"]  # rows 1 and 3 went from right to wrong: the change is negative, never positive
    assert -1 <= low <= high <= 0 and low < 0


def test_the_anchor_moves_trained_weights_back_by_its_share_at_the_peak_rate():
    model = torch.nn.Linear(3, 2)
    frozen = model.bias
    frozen.requires_grad_(False)
    start = model.weight.detach().clone()
    anchor = AnchorDecay(model, 0.25)
    with torch.no_grad():
        model.weight.add_(1.0)
        frozen.add_(1.0)

    class Args:
        learning_rate = 1e-3

    class Schedule:
        def get_last_lr(self):
            return [5e-4]  # half the peak: half the share

    anchor.on_optimizer_step(Args(), None, None, lr_scheduler=Schedule())
    assert torch.allclose(model.weight, start + 1.0 - 0.125)
    assert len(anchor.pairs) == 1  # frozen weights are left alone


# Two stages of intents a tiny random encoder learns in a few steps: each intent has its own words.
STAGES = [{"billing": "charge invoice", "shipping": "parcel courier", "returns": "refund label"},
          {"account_access": "password login", "technical_issue": "crash error"}]
FILLER = ["hello", "please help", "thanks", "my order", "today", "again", "urgent", "quick question"]


def easy_stage(stage: int, count: int, seed: int) -> list[dict]:
    import random

    rng, labels = random.Random(seed), list(STAGES[stage])
    rows = []
    for i in range(count):
        label = labels[i % len(labels)]
        words = STAGES[stage][label].split() + rng.sample(FILLER, 3)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def intent_files(folder, stages=(0, 1), train_rows=36, test_rows=12):
    paths = {}
    for stage in stages:
        for split, count, seed in (("train", train_rows, 1), ("test", test_rows, 2)):
            path = folder / f"stage{stage}_{split}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in easy_stage(stage, count, seed + 10 * stage)))
            paths[stage, split] = str(path)
    return paths


@pytest.fixture(scope="module")
def intent_bert(tmp_path_factory):
    from tests.conftest import build_tiny_bert

    corpus = [" ".join([*words.split(), *FILLER]) for stage in STAGES for words in stage.values()]
    return build_tiny_bert(tmp_path_factory.mktemp("intent-bert"), corpus)


def sequence_raw(intent_bert, folder, **continual):
    files = intent_files(folder)
    return {
        "model": {"name": str(intent_bert)}, "objective": {"name": "classification"},
        "data": {"max_length": 64, "validation_size": 0, "rehearsal": {"rows": 12}, "clean": {"dedup_near": False}},
        "method": {"name": "full"},
        "training": {"max_steps": 24, "batch_size": 12, "learning_rate": 2e-3, "warmup_ratio": 0.0,
                     "lr_scheduler": "constant", "logging_steps": 4, "save_steps": 100, "anchor_decay": 0.05},
        "eval": {"bias": False, "steps": 100},
        "continual": {"tasks": [{"name": "orders", "train": files[0, "train"], "test": files[0, "test"]},
                                {"name": "accounts", "train": files[1, "train"], "test": files[1, "test"]}],
                      **continual},
        "output": {"dir": str(folder / "out"), "name": "seq"},
    }


def test_continual_runs_each_mitigation_and_writes_the_matrix(intent_bert, tmp_path, cli):
    import yaml

    raw = sequence_raw(intent_bert, tmp_path, mitigations=["none", "replay", "replay+anchor"])
    (tmp_path / "seq.yaml").write_text(yaml.safe_dump(raw))
    code, out, err = cli("continual", str(tmp_path / "seq.yaml"))
    assert code == 0, err
    folder = tmp_path / "out" / "seq"
    result = json.loads((folder / "continual.json").read_text())
    assert list(result["sequences"]) == ["none", "replay", "replay+anchor"]
    none, replay = result["sequences"]["none"], result["sequences"]["replay"]
    assert [len(row) for row in none["matrix"]] == [2, 2]
    # plain sequential training of new intents only: the old intents are no longer predicted
    assert none["matrix"][1][0]["tuned"] <= 0.2 < none["matrix"][0][0]["tuned"]
    assert replay["summary"]["tasks"]["orders"]["final"] > none["summary"]["tasks"]["orders"]["final"]
    second = folder / "replay" / "2-accounts"
    manifest = json.loads((second / "manifest.json").read_text())
    rehearsed = manifest["data_report"]["rehearsal"]
    assert rehearsed["rows"] == 12 and rehearsed["runs"][0]["run"].endswith("1-orders")
    config = yaml.safe_load((second / "config.yaml").read_text())
    assert config["data"]["labels"] == ["billing", "returns", "shipping", "account_access", "technical_issue"]
    assert config["training"]["anchor_decay"] == 0.0  # the replay sequence has the anchor off
    evaluation = json.loads((second / "eval.json").read_text())  # a continued run scores its lineage's tasks
    assert evaluation["earlier_tasks"]["1-orders"]["when_trained"] == pytest.approx(replay["matrix"][0][0]["tuned"])
    assert "What each mitigation kept" in (folder / "continual.html").read_text()
    assert "Earlier tasks: what continuing kept" in (second / "report.html").read_text()
    assert "continual: what each mitigation kept" in out


def test_rehearsal_takes_earlier_rows_from_the_parents_training_split_only(intent_bert, tmp_path):
    files = intent_files(tmp_path)
    raw = sequence_raw(intent_bert, tmp_path)
    raw.pop("continual")
    labels = [label for stage in STAGES for label in stage]
    parent_raw = {**raw, "data": {**raw["data"], "train": files[0, "train"], "test_size": 0.25, "labels": labels}}
    parent = train(build_config({**parent_raw, "output": {"dir": str(tmp_path / "runs"), "name": "p"}}),
                   Console(quiet=True))
    child = build_config({**raw, "model": {"from_run": str(parent)},
                          "data": {**raw["data"], "train": files[1, "train"], "test": files[1, "test"],
                                   "rehearsal": {"lineage": True, "rows": 500},
                                   "labels": None},
                          "output": {"dir": str(tmp_path / "runs"), "name": "c"}})
    stage = prepare(child, Console(quiet=True), None, ())
    report = stage.data.data_report["rehearsal"]
    parent_test = json.loads((parent / "manifest.json").read_text())["data_report"]["rows"]["test"]
    assert report["runs"][0]["available"] == 36 - parent_test  # its test rows are never rehearsed
    assert stage.data.labels == labels  # the parent's head, not the new data's labels


def test_a_continued_classifier_keeps_its_parents_labels(classification_run, tmp_path):
    import yaml

    train_file = yaml.safe_load((classification_run / "config.yaml").read_text())["data"]["train"]
    raw = {"model": {"from_run": str(classification_run)}, "objective": {"name": "classification"},
           "data": {"train": train_file, "max_length": 128}, "output": {"dir": str(tmp_path)}}
    stage = prepare(build_config(raw), Console(quiet=True), None, ())
    assert stage.data.labels == ["negative", "positive"]
    raw["data"]["labels"] = ["positive", "negative", "neutral"]
    with pytest.raises(UserError, match="differ from the labels of .*head"):
        prepare(build_config(raw), Console(quiet=True), None, ())


@pytest.mark.parametrize("change, message", [
    ({"continual": {"tasks": []}}, "a sequence needs at least two"),
    ({"continual": {"mitigations": ["none", "rehearse"]}}, "unknown mitigation 'rehearse'"),
    ({"continual": {"mitigations": ["anchor"]}, "training": {"anchor_decay": 0.0}}, "training.anchor_decay is 0"),
    ({"continual": {"mitigations": ["general"]}}, "data.replay.source is not set"),
])
def test_sequences_that_cannot_run_are_refused_before_training(intent_bert, tmp_path, cli, change, message):
    import yaml

    raw = sequence_raw(intent_bert, tmp_path)
    for section, values in change.items():
        raw[section] = {**raw[section], **values}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    code, _, err = cli("continual", str(tmp_path / "bad.yaml"))
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "seq").exists()


def test_a_missing_task_file_is_named(intent_bert, tmp_path, cli):
    import yaml

    raw = sequence_raw(intent_bert, tmp_path)
    raw["continual"]["tasks"][1]["test"] = str(tmp_path / "gone.jsonl")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    code, _, err = cli("continual", str(tmp_path / "bad.yaml"))
    assert code == 2 and "continual.tasks[accounts].test" in err and "gone.jsonl" in err
