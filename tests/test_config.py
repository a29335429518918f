from pathlib import Path

import pytest
import yaml

from tunesmith.config import RunConfig, build_config, explain, load_config, parse_override
from tunesmith.errors import UserError

ROOT = Path(__file__).parent.parent


def test_defaults_are_a_valid_config():
    config = RunConfig()
    assert config.model.name == "smollm2-135m"
    assert config.method.name == "lora" and config.objective.name == "sft"


def test_unknown_key_names_the_closest_valid_one():
    with pytest.raises(UserError) as err:
        build_config({"training": {"learning_rat": 1e-4}}, "run.yaml")
    assert "run.yaml: unknown key 'training.learning_rat'" in err.value.message
    assert "did you mean 'training.learning_rate'" in err.value.message


def test_unknown_section_is_an_error():
    with pytest.raises(UserError, match="unknown key 'trainng'.*did you mean 'training'"):
        build_config({"trainng": {}})


def test_wrong_type_names_field_and_value():
    with pytest.raises(UserError, match=r"training.batch_size: .* \(got 'eight'\)"):
        build_config({"training": {"batch_size": "eight"}})


def test_overrides_parse_yaml_values(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("training:\n  epochs: 2\n")
    config = load_config(path, ["training.learning_rate=1e-4", "method.target_modules=[q_proj, v_proj]"])
    assert config.training.learning_rate == 1e-4 and config.training.epochs == 2
    assert config.method.target_modules == ["q_proj", "v_proj"]
    assert parse_override("data.system_prompt=be brief: always")[1] == "be brief: always"


def test_override_needs_key_value():
    with pytest.raises(UserError, match="section.key=value"):
        load_config(None, ["training.epochs"])


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  name: x\n training: [\n")
    with pytest.raises(UserError, match=r"bad.yaml:\d+: not valid YAML"):
        load_config(path)


def test_explain_lists_every_leaf_with_a_description():
    rows = explain()
    keys = {key for key, _, _ in rows}
    assert {"training.learning_rate", "method.r", "model.name", "data.train"} <= keys
    assert all(description for _, _, description in rows)
    assert "data.clean.scrub_pii" in keys

    def leaves(model) -> int:
        return sum(leaves(value) if hasattr(value, "model_fields") else 1 for value in model.__dict__.values())

    assert len(keys) == leaves(RunConfig())


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")) + [ROOT / "src/tunesmith/quickstart/quickstart.yaml"],
                         ids=lambda p: p.name)
def test_every_example_config_loads(path):
    build_config(yaml.safe_load(path.read_text()), str(path))
