"""ONNX exports of classifiers (float32 and int8), checked on probes and scored on the run's test split."""

import json

import pytest

from tunesmith.export import EXPORT_INFO, export_run

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def onnx_classifier(classification_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx-cls") / "float32"
    return export_run(classification_run, folder, fmt="onnx", log=lambda line: None)


def test_float32_onnx_classifier_matches_the_run_and_is_scored_on_its_test_split(onnx_classifier):
    info = json.loads((onnx_classifier.folder / EXPORT_INFO).read_text())
    assert info["model_kind"] == "seq_cls" and info["check"]["max_abs_diff"] < 1e-3
    task = info["check"]["task"]
    assert task["kind"] == "classification" and task["examples"] == 12
    result = task["exports"]["onnx"]
    assert result["same_output"] == 1.0
    assert result["metrics"]["accuracy"]["delta"] == 0.0 and result["speed"]["seconds_per_request"] > 0
    assert "| onnx | accuracy |" in (onnx_classifier.folder / "README.md").read_text()


def test_int8_onnx_classifier_is_smaller_and_judged_by_agreement_and_accuracy(classification_run, onnx_classifier,
                                                                             tmp_path):
    result = export_run(classification_run, tmp_path / "int8", fmt="onnx", quantize="int8", log=lambda line: None)
    size = lambda folder: sum(p.stat().st_size for p in folder.rglob("*.onnx*"))  # noqa: E731
    assert size(result.folder) < 0.8 * size(onnx_classifier.folder)  # the tiny embedding table stays float32
    assert not (result.folder / "float32").exists()
    info = json.loads((result.folder / EXPORT_INFO).read_text())
    assert info["format"] == "onnx_int8" and info["check"]["lossy"]
    assert result.agreement.top1_agreement >= 0.9
    accuracy = info["check"]["task"]["exports"]["onnx"]["metrics"]["accuracy"]
    assert accuracy["run"] - 0.25 <= accuracy["export"] <= accuracy["run"] + 0.25


def test_onnx_decoder_export_says_its_task_check_was_skipped(lora_run, tmp_path):
    run, _ = lora_run
    result = export_run(run, tmp_path / "dec", fmt="onnx", log=lambda line: None)
    assert "not scored" in result.check["task"]["skipped"]
