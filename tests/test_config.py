from __future__ import annotations  # field types are strings here; the loader must resolve them

import argparse
import json
from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from sparsevl.config import (
    ConfigError,
    config_with_overrides,
    from_dict,
    load_config,
    save_config,
    to_dict,
)


@dataclass
class ModelConfig:
    backbone: str = "tiny_cnn"
    hidden_size: int = 128
    dropout: float = 0.1
    fusion: Literal["temporal", "mean"] = "temporal"


@dataclass
class RunConfig:
    txt_db: str = ""
    output_dir: str = ""
    num_frm: int = 4
    lr: float = 1e-3
    score_agg_func: Literal["mean", "max", "lse"] = "mean"
    model: ModelConfig = field(default_factory=ModelConfig)
    amp: str | None = None
    seed: Optional[int] = 42
    fp16: bool = False
    milestones: list[int] = field(default_factory=list)
    frame_size: tuple[int, ...] = (224, 224)
    loss_weights: dict[str, float] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


@dataclass
class Required:
    name: str
    size: int = 1


@dataclass
class Checked:
    num_frm: int = 4
    train_n_clips: int = 2

    def validate(self) -> None:
        if self.train_n_clips > self.num_frm:
            raise ValueError(f"train_n_clips ({self.train_n_clips}) > num_frm ({self.num_frm})")


def write_json(path, data) -> str:
    path.write_text(json.dumps(data))
    return str(path)


# ---- building from dicts ---------------------------------------------------------------------


def test_defaults_and_nested_dict():
    cfg = from_dict(RunConfig, {"lr": 2, "model": {"hidden_size": 64}, "frame_size": [112, 96]})
    assert cfg.lr == 2.0 and isinstance(cfg.lr, float)
    assert cfg.model == ModelConfig(hidden_size=64)
    assert cfg.frame_size == (112, 96)
    assert cfg.num_frm == 4 and cfg.milestones == []


def test_unknown_key_in_dict_names_it_and_suggests():
    with pytest.raises(ConfigError, match=r"model\.hiden_size.*did you mean 'model\.hidden_size'"):
        from_dict(RunConfig, {"model": {"hiden_size": 3}}, source="run.json")


def test_unknown_top_level_key_suggests_nested_field():
    with pytest.raises(ConfigError, match=r"hidden_size.*'model\.hidden_size'"):
        from_dict(RunConfig, {"hidden_size": 3})


def test_unknown_key_without_close_match_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"zzzz.*valid keys: .*num_frm"):
        from_dict(RunConfig, {"zzzz": 1})


def test_wrong_type_names_key_expected_type_and_value():
    with pytest.raises(ConfigError, match=r"^run\.json: model\.hidden_size: expected int, got '256' \(str\)"):
        from_dict(RunConfig, {"model": {"hidden_size": "256"}}, source="run.json")


def test_wrong_type_inside_list_names_the_index():
    with pytest.raises(ConfigError, match=r"milestones\[1\]: expected int, got 'x'"):
        from_dict(RunConfig, {"milestones": [1, "x"]})


def test_wrong_type_in_dict_values():
    with pytest.raises(ConfigError, match=r"loss_weights\.qa: expected float, got 'big'"):
        from_dict(RunConfig, {"loss_weights": {"qa": "big"}})


def test_bool_is_not_int_and_int_is_not_bool():
    with pytest.raises(ConfigError, match=r"num_frm: expected int, got True \(bool\)"):
        from_dict(RunConfig, {"num_frm": True})
    with pytest.raises(ConfigError, match=r"fp16: expected bool, got 1 \(int\)"):
        from_dict(RunConfig, {"fp16": 1})
    with pytest.raises(ConfigError, match=r"lr: expected float, got False"):
        from_dict(RunConfig, {"lr": False})


def test_literal_violation():
    with pytest.raises(ConfigError, match=r"score_agg_func: expected one of 'mean', 'max', 'lse', got 'sum'"):
        from_dict(RunConfig, {"score_agg_func": "sum"})


def test_optional_accepts_none_and_rejects_other_types():
    assert from_dict(RunConfig, {"seed": None, "amp": None}).seed is None
    with pytest.raises(ConfigError, match=r"seed: expected int \| None, got 1\.5"):
        from_dict(RunConfig, {"seed": 1.5})


def test_nested_config_must_be_an_object():
    with pytest.raises(ConfigError, match=r"model: expected an object \(ModelConfig\), got 'big'"):
        from_dict(RunConfig, {"model": "big"})


def test_missing_required_key_is_named():
    with pytest.raises(ConfigError, match=r"missing required key\(s\): name"):
        from_dict(Required, {"size": 2})
    assert from_dict(Required, {"name": "x"}) == Required(name="x")


# ---- files and overrides ---------------------------------------------------------------------


def test_load_config_file_then_overrides_of_every_type(tmp_path):
    path = write_json(tmp_path / "run.json", {"lr": 0.1, "amp": "O1", "model": {"hidden_size": 64}})
    cfg = load_config(RunConfig, path, [
        "--lr", "3e-4",
        "--model.hidden_size", "256",
        "--model.dropout=0",
        "--model.backbone", "123",            # str field: the raw string, not a number
        "--milestones", "[1,2]",
        "--amp", "null",
        "--seed", "None",                      # Python-style None
        "--fp16", "True",                      # Python-style bool
        "--frame_size", "[112, 112]",
        "--loss_weights", '{"qa": 1, "mlm": 0.5}',
        "--tags", "['a', 'b']",                # Python-style list
        "--score-agg-func", "lse",             # dashes read as underscores
        "--num_frm", "-8",
    ])
    assert cfg.lr == 3e-4
    assert cfg.model == ModelConfig(backbone="123", hidden_size=256, dropout=0.0)
    assert cfg.milestones == [1, 2]
    assert cfg.amp is None and cfg.seed is None
    assert cfg.fp16 is True
    assert cfg.frame_size == (112, 112)
    assert cfg.loss_weights == {"qa": 1.0, "mlm": 0.5}
    assert cfg.tags == ["a", "b"]
    assert cfg.score_agg_func == "lse"
    assert cfg.num_frm == -8


def test_override_optional_str_keeps_raw_string_and_json_bool():
    cfg = load_config(RunConfig, None, ["--amp", "O2", "--fp16", "true"])
    assert cfg.amp == "O2" and cfg.fp16 is True


def test_override_whole_nested_config_with_json_object():
    cfg = load_config(RunConfig, None, ["--model", '{"hidden_size": 32}'])
    assert cfg.model == ModelConfig(hidden_size=32)


def test_no_file_gives_defaults():
    assert load_config(RunConfig, None, []) == RunConfig()


def test_unknown_key_on_command_line_names_it_and_suggests():
    with pytest.raises(ConfigError, match=r"^command line: model\.hiden_size: unknown key .*'model\.hidden_size'"):
        load_config(RunConfig, None, ["--model.hiden_size", "3"])
    with pytest.raises(ConfigError, match=r"hidden_size: unknown key .*'model\.hidden_size'"):
        load_config(RunConfig, None, ["--hidden_size", "3"])


def test_unknown_key_in_file_names_file_and_key(tmp_path):
    path = write_json(tmp_path / "run.json", {"lrr": 0.1})
    with pytest.raises(ConfigError, match=r"run\.json: lrr: unknown key \(did you mean 'lr'\?\)"):
        load_config(RunConfig, path, [])


def test_wrong_type_on_command_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^command line: model\.hidden_size: expected int, got 'big' \(str\)"):
        load_config(RunConfig, None, ["--model.hidden_size", "big"])
    with pytest.raises(ConfigError, match=r"num_frm: expected int, got 2\.5"):
        load_config(RunConfig, None, ["--num_frm", "2.5"])
    with pytest.raises(ConfigError, match=r"fp16: expected bool, got 1 \(int\)"):
        load_config(RunConfig, None, ["--fp16", "1"])
    with pytest.raises(ConfigError, match=r"num_frm: expected int, got True \(bool\)"):
        load_config(RunConfig, None, ["--num_frm", "true"])
    with pytest.raises(ConfigError, match=r"score_agg_func: expected one of 'mean', 'max', 'lse', got 'sum'"):
        load_config(RunConfig, None, ["--score_agg_func", "sum"])


def test_wrong_type_in_file_names_the_file(tmp_path):
    path = write_json(tmp_path / "run.json", {"model": {"hidden_size": "big"}})
    with pytest.raises(ConfigError, match=r"run\.json: model\.hidden_size: expected int, got 'big'") as e:
        load_config(RunConfig, path, [])
    assert e.value.key == "model.hidden_size" and e.value.source == path


def test_override_fixes_a_bad_file_value_is_still_an_error(tmp_path):
    # the file is checked on its own, so its mistakes are reported against the file
    path = write_json(tmp_path / "run.json", {"num_frm": "4"})
    with pytest.raises(ConfigError, match=r"run\.json: num_frm: expected int"):
        load_config(RunConfig, path, ["--num_frm", "4"])


def test_malformed_tokens():
    with pytest.raises(ConfigError, match=r"command line: lr: no value given"):
        load_config(RunConfig, None, ["--lr"])
    with pytest.raises(ConfigError, match=r"command line: lr: no value given"):
        load_config(RunConfig, None, ["--lr", "--num_frm", "3"])
    with pytest.raises(ConfigError, match=r"expected --key value, got 'lr'"):
        load_config(RunConfig, None, ["lr", "0.1"])
    with pytest.raises(ConfigError, match=r"expected --key value, got '-x'"):
        load_config(RunConfig, None, ["-x", "0.1"])


def test_value_starting_with_dashes_via_equals():
    assert load_config(RunConfig, None, ["--txt_db=--weird"]).txt_db == "--weird"


def test_malformed_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "lr": 0.1,\n  "num_frm": ,\n}\n')
    with pytest.raises(ConfigError, match=r"bad\.json: invalid JSON at line 3, column 14"):
        load_config(RunConfig, str(path), [])


def test_duplicate_key_in_file(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{"lr": 0.1, "lr": 0.2}')
    with pytest.raises(ConfigError, match=r"dup\.json: lr: key given twice"):
        load_config(RunConfig, str(path), [])


def test_missing_file_and_non_object_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.json: cannot read config file"):
        load_config(RunConfig, str(tmp_path / "nope.json"), [])
    path = write_json(tmp_path / "list.json", [1, 2])
    with pytest.raises(ConfigError, match=r"list\.json: expected a JSON object, got list"):
        load_config(RunConfig, path, [])


# ---- validate() hook -------------------------------------------------------------------------


def test_validate_hook_runs_and_is_wrapped():
    with pytest.raises(ConfigError, match=r"train_n_clips \(5\) > num_frm \(4\)"):
        from_dict(Checked, {"train_n_clips": 5})
    with pytest.raises(ConfigError, match=r"command-line overrides: train_n_clips \(5\) > num_frm \(4\)"):
        load_config(Checked, None, ["--train_n_clips", "5"])


def test_validate_runs_after_overrides(tmp_path):
    # the file alone breaks the rule; the override mends it, so the resolved config is fine
    path = write_json(tmp_path / "run.json", {"train_n_clips": 8})
    assert load_config(Checked, path, ["--num_frm", "8"]) == Checked(num_frm=8, train_n_clips=8)


# ---- round trip and saving -------------------------------------------------------------------


def test_round_trip():
    cfg = RunConfig(lr=3e-4, model=ModelConfig(hidden_size=7, fusion="mean"), amp="O1",
                      milestones=[3, 5], frame_size=(64, 48), loss_weights={"qa": 2.0}, seed=None)
    data = to_dict(cfg)
    assert data["frame_size"] == [64, 48] and data["model"]["hidden_size"] == 7
    assert json.loads(json.dumps(data)) == data
    assert from_dict(RunConfig, data) == cfg


def test_save_config_writes_valid_json_and_loads_back(tmp_path):
    cfg = load_config(RunConfig, None, ["--model.hidden_size", "32", "--milestones", "[2]"])
    path = tmp_path / "run" / "config.json"
    save_config(cfg, path)
    text = path.read_text()
    assert text.startswith("{\n  ")  # indented
    assert json.loads(text)["model"]["hidden_size"] == 32
    assert load_config(RunConfig, str(path), []) == cfg
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temp file left behind


def test_overrides_left_over_by_parse_known_args(tmp_path):
    path = write_json(tmp_path / "run.json", {"num_frm": 2})
    parser = argparse.ArgumentParser(allow_abbrev=False)
    parser.add_argument("--config")
    args, rest = parser.parse_known_args(["--config", path, "--lr", "-1e-3", "--model.hidden_size=8"])
    cfg = load_config(RunConfig, args.config, rest)
    assert (cfg.num_frm, cfg.lr, cfg.model.hidden_size) == (2, -1e-3, 8)


def test_overrides_on_data_already_read():
    saved = to_dict(from_dict(RunConfig, {"num_frm": 2, "model": {"hidden_size": 16}}))
    cfg = config_with_overrides(RunConfig, saved, "ckpt.pt", ["--model.hidden_size", "8"])
    assert (cfg.num_frm, cfg.model.hidden_size) == (2, 8)
    with pytest.raises(ConfigError, match=r"command line: num_frm: expected int"):
        config_with_overrides(RunConfig, saved, "ckpt.pt", ["--lr", "1", "--num_frm", "x"])


def test_dotted_override_into_a_plain_dict_field_is_explained():
    with pytest.raises(ConfigError, match=r"loss_weights\.qa: loss_weights is not a nested config"):
        load_config(RunConfig, None, ["--loss_weights.qa", "1"])
