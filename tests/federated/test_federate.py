"""tunesmith federate: partitions, refusals, and whole federations on Flower's simulation engine (tiny BERT, three
clients, two rounds): a client failing mid-round, the comparison systems, resume after a kill, privacy's epsilon."""

from __future__ import annotations

import json
import random
import shutil

import pytest
import yaml

from tests.training.test_continual_sequence import FILLER, STAGES, easy_stage
from tunesmith.config import build_config
from tunesmith.errors import UserError
from tunesmith.federated import partition as parts
from tunesmith.federated.run import check
from tunesmith.federated.server import make_strategy


class Data:
    def __init__(self, rows):
        self.splits = {"train": rows}


def labelled(n: int, labels: int = 4) -> Data:
    return Data([{"_source": f"f.jsonl:{i + 1}", "label": f"l{i % labels}", "text": "x"} for i in range(n)])


def test_iid_parts_are_disjoint_near_equal_and_cover_every_row():
    split = parts.partition(labelled(50), "iid", 4, seed=1, train_file="unused")
    assert sorted(i for p in split for i in p) == list(range(50))
    assert {len(p) for p in split} <= {12, 13}


def test_a_small_dirichlet_alpha_gives_each_client_fewer_labels_than_iid():
    data = labelled(400, labels=8)
    skewed = parts.partition(data, "dirichlet:0.1", 5, seed=1, train_file="unused")
    even = parts.partition(data, "iid", 5, seed=1, train_file="unused")
    assert sorted(i for p in skewed for i in p) == list(range(400)) and all(skewed)

    def labels_per_client(split):
        return sum(len(c["labels"]) for c in parts.describe(data, split)) / len(split)

    assert labels_per_client(skewed) < 5 < labels_per_client(even) == 8


def test_by_field_groups_rows_by_a_field_of_the_training_file(tmp_path):
    train = tmp_path / "train.jsonl"
    sites = ["a", "a", "b", "c", "c", "c"]
    train.write_text("".join(json.dumps({"text": "t", "label": "x", "site": s}) + "\n" for s in sites))
    data = Data([{"_source": f"{train}:{i + 1}", "label": "x"} for i in range(6)])
    split = parts.partition(data, "by:site", 2, seed=0, train_file=str(train))
    assert sorted(map(sorted, split)) == [[0, 1, 2], [3, 4, 5]]  # c alone; a and b together
    with pytest.raises(UserError, match="3 value\\(s\\) of 'site', fewer than federated.clients=4"):
        parts.partition(data, "by:site", 4, seed=0, train_file=str(train))
    with pytest.raises(UserError, match="no row of .* has a field 'hospital'.*"):
        parts.partition(data, "by:hospital", 2, seed=0, train_file=str(train))


def test_impossible_partitions_are_refused_with_the_reason():
    with pytest.raises(UserError, match="federated.clients=9 is more than the 8 training rows"):
        parts.partition(labelled(8), "iid", 9, seed=0, train_file="unused")
    chat = Data([type("Example", (), {"source": "f:1", "messages": []})() for _ in range(10)])
    with pytest.raises(UserError, match="deals rows by label"):
        parts.partition(chat, "dirichlet:0.5", 2, seed=0, train_file="unused")


def test_federation_refusals_and_strategies():
    with pytest.raises(UserError, match="sends only adapter weights"):
        check(build_config({"method": {"name": "full"}}, "t"))
    with pytest.raises(UserError, match="fedadam"):
        check(build_config({"federated": {"strategy": "fedadam", "privacy": {"clip": 1.0}}}, "t"))
    with pytest.raises(UserError, match="partition"):
        build_config({"federated": {"partition": "by-site"}}, "t")
    fed = build_config({"federated": {"clients": 4, "fraction": 0.5, "strategy": "fedprox",
                                      "proximal_mu": 0.05}}, "t").federated
    prox = make_strategy(fed)
    assert type(prox).__name__ == "FedProx" and prox.proximal_mu == 0.05 and prox.min_train_nodes == 2
    private = make_strategy(fed.model_copy(update={"privacy": fed.privacy.model_copy(update={"clip": 0.5})}))
    assert type(private).__name__ == "DifferentialPrivacyServerSideFixedClipping"
    assert private.clipping_norm == 0.5 and private.accountant is not None


@pytest.fixture(scope="module")
def intent_bert(tmp_path_factory):
    from tests.conftest import build_tiny_bert

    corpus = [" ".join([*words.split(), *FILLER]) for words in STAGES[0].values()]
    return build_tiny_bert(tmp_path_factory.mktemp("fed-bert"), corpus)


def federation_config(bert, folder, **federated) -> dict:
    rows = easy_stage(0, 60, seed=3)
    random.Random(0).shuffle(rows)
    for i, row in enumerate(rows):
        row["site"] = f"s{i % 3}"
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in easy_stage(0, 15, seed=4)))
    return {"model": {"name": str(bert)}, "objective": {"name": "classification"},
            "data": {"train": str(folder / "train.jsonl"), "test": str(folder / "test.jsonl"), "max_length": 64,
                     "validation_size": 0.2, "clean": {"dedup_near": False}},
            "method": {"name": "lora"},
            "training": {"batch_size": 8, "learning_rate": 5e-3, "warmup_ratio": 0.0, "logging_steps": 2},
            "eval": {"bias": False},
            "federated": {"clients": 3, "rounds": 2, **federated},
            "output": {"dir": str(folder / "out"), "name": "fed"}}


def test_a_federation_goes_on_without_a_failed_client_and_compares_every_system(intent_bert, tmp_path, cli,
                                                                               monkeypatch):
    monkeypatch.setenv("TUNESMITH_FAIL_CLIENT", "1:2")
    (tmp_path / "fed.yaml").write_text(yaml.safe_dump(federation_config(intent_bert, tmp_path)))
    code, out, err = cli("federate", str(tmp_path / "fed.yaml"), "--partition", "by:site")
    assert code == 0, err
    run = tmp_path / "out" / "fed"
    rounds = json.loads((run / "federation" / "rounds.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [1, 2]
    assert rounds[0]["failed"] == {} and sorted(rounds[0]["clients"]) == ["0", "1", "2"]
    assert list(rounds[1]["failed"]) == ["1"] and sorted(rounds[1]["clients"]) == ["0", "2"]
    assert rounds[1]["bytes_up"] == 2 * rounds[1]["bytes_down"] / 3 > 0  # only adapter weights, both ways
    assert "round 2: client 1 failed" in out and "goes on with the 2 that answered" in out
    described = json.loads((run / "federation" / "partition.json").read_text())["described"]
    assert sum(c["rows"] for c in described) == 48  # the 60 rows less the validation split
    result = json.loads((run / "federated.json").read_text())
    names = [s["system"] for s in result["systems"]]
    assert names == ["centralised", "federated by:site", "federated iid",
                     "client 0 alone", "client 1 alone", "client 2 alone"]
    central, federated = result["systems"][0], result["systems"][1]
    assert central["metric"] == "accuracy" and 0 <= central["ci95"][0] <= central["tuned"] <= central["ci95"][1]
    assert federated["bytes_per_round"] > 0 and federated["vs_centralised_delta"] == pytest.approx(
        federated["tuned"] - central["tuned"])
    assert (run / "adapter" / "adapter_config.json").is_file() and (run / "federated.html").is_file()
    assert json.loads((run / "manifest.json").read_text())["status"] == "finished"
    assert "every system on the same test split" in out


def test_a_killed_federation_resumes_after_its_last_round_with_privacy_accounted(intent_bert, tmp_path, cli):
    raw = federation_config(intent_bert, tmp_path, partition="iid", compare=False,
                            privacy={"clip": 1.0, "noise": 0.8})
    (tmp_path / "fed.yaml").write_text(yaml.safe_dump(raw))
    code, out, err = cli("federate", str(tmp_path / "fed.yaml"))
    assert code == 0, err
    run = tmp_path / "out" / "fed"
    record = run / "federation" / "rounds.json"
    first = json.loads(record.read_text())["rounds"]
    assert 0 < first[0]["epsilon"] < first[1]["epsilon"]  # privacy spent grows with every round
    # a kill during round 2: its checkpoint and record were never written, the run never finished
    shutil.rmtree(run / "checkpoints" / "checkpoint-2")
    record.write_text(json.dumps({"rounds": first[:1] + [{"round": 2, "partial": True}]}))
    for name in ("adapter", "eval.json", "summary.json"):
        shutil.rmtree(run / name) if (run / name).is_dir() else (run / name).unlink()
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    code, out, err = cli("federate", "--resume", str(run))
    assert code == 0, err
    assert "resuming after round 1" in out and "round 2/2" in out and "round 1/2" not in out
    again = json.loads(record.read_text())["rounds"]
    assert again[0] == first[0] and again[1]["round"] == 2 and "partial" not in again[1]
    assert json.loads((run / "summary.json").read_text())["federated"]["rounds"] == 2
    code, out, err = cli("federate", "--resume", str(run))
    assert code == 2 and "already finished" in err


def test_more_clients_than_rows_exits_2_and_leaves_no_run(intent_bert, tmp_path, cli):
    (tmp_path / "fed.yaml").write_text(yaml.safe_dump(federation_config(intent_bert, tmp_path, partition="iid")))
    code, out, err = cli("federate", str(tmp_path / "fed.yaml"), "--clients", "100")
    assert code == 2 and "federated.clients=100 is more than the 48 training rows" in err
    assert not (tmp_path / "out" / "fed").exists()
