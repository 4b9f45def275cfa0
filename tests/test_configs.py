"""The YAML configs shipped in configs/ load into their typed classes and say what their names say."""
from pathlib import Path

import pytest
import yaml

from synth.config import ConfigError, config_changes
from synth.scene import RenderConfig
from pipelines.demo import DemoConfig
from train.pose.config import PoseConfig
from train.reid.config import ReidConfig, run_name

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_demo_yaml_is_exactly_what_the_demo_changes_from_the_toolkits_defaults():
    plain = DemoConfig(render=RenderConfig(), pose=PoseConfig(), reid=ReidConfig())
    text = (CONFIGS / "demo.yaml").read_text()
    # on the plain defaults the file makes the built-in demo, and it says nothing more than that takes
    assert DemoConfig.load(CONFIGS / "demo.yaml", base=plain) == DemoConfig()
    assert yaml.safe_load(text) == config_changes(DemoConfig(), plain)
    assert DemoConfig.from_yaml(CONFIGS / "demo.yaml") == DemoConfig()


def test_paper_render_and_pose_configs_follow_the_paper():
    assert RenderConfig.from_yaml(CONFIGS / "paper" / "render.yaml").image.size == 256
    pose = PoseConfig.from_yaml(CONFIGS / "paper" / "pose_hrnet_w32.yaml")
    assert (pose.model.backbone, pose.model.input_size, pose.epochs, tuple(pose.milestones), pose.lr) == \
        ("hrnet_w32", 256, 210, (170, 200), 1e-3)
    assert pose == PoseConfig()  # the paper's settings are the defaults, pinned in the file


@pytest.mark.parametrize("row", ["RS", "RS+MT", "RS+MT+K", "RS+MT+K+H", "RS+MT+K+S"])
def test_each_table_2_row_has_a_config_named_for_it(row):
    config = ReidConfig.from_yaml(CONFIGS / "paper" / f"reid_{row.lower().replace('+', '_')}.yaml")
    assert run_name(config, "RS") == f"{row}_xent+htri"
    assert (config.backbone, config.image_size, config.p * config.k, config.lr, config.epochs) == \
        ("densenet121", (256, 256), 32, 3e-4, 60)


def test_the_table_2_rows_are_one_base_plus_their_switches():
    switches = {"rs": {}, "rs_mt": {"multitask": True}, "rs_mt_k": {"multitask": True, "keypoints": True},
                "rs_mt_k_h": {"multitask": True, "keypoints": True, "inputs": "heatmaps"},
                "rs_mt_k_s": {"multitask": True, "keypoints": True, "inputs": "segments"}}
    base = ReidConfig.from_yaml(CONFIGS / "paper" / "reid_base.yaml")
    assert base == ReidConfig()  # the paper's settings are the defaults, pinned in the base file
    for row, changes in switches.items():
        path = CONFIGS / "paper" / f"reid_{row}.yaml"
        own = yaml.safe_load(path.read_text())
        assert own.pop("_base_") == "reid_base.yaml" and own == changes, row
        assert ReidConfig.from_yaml(path) == ReidConfig(**changes), row


def test_a_typo_in_a_config_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("num_images: 10\nrender: {imgae: {size: 64}}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*imgae"):
        DemoConfig.from_yaml(path)
