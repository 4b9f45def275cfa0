"""The YAML configs shipped in configs/ load into their typed classes and say what their names say."""
from pathlib import Path

import pytest

from synth.config import ConfigError
from synth.scene import RenderConfig
from train.demo import DemoConfig
from train.pose.config import PoseConfig
from train.reid.config import ReidConfig, run_name

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_demo_yaml_is_the_built_in_demo():
    assert DemoConfig.from_yaml(CONFIGS / "demo.yaml") == DemoConfig()


def test_paper_render_and_pose_configs_follow_the_paper():
    assert RenderConfig.from_yaml(CONFIGS / "paper" / "render.yaml").image.size == 256
    pose = PoseConfig.from_yaml(CONFIGS / "paper" / "pose_hrnet_w32.yaml")
    assert (pose.model.backbone, pose.model.input_size, pose.epochs, tuple(pose.milestones), pose.lr) == \
        ("hrnet_w32", 256, 210, (170, 200), 1e-3)


@pytest.mark.parametrize("row", ["RS", "RS+MT", "RS+MT+K", "RS+MT+K+H", "RS+MT+K+S"])
def test_each_table_2_row_has_a_config_named_for_it(row):
    config = ReidConfig.from_yaml(CONFIGS / "paper" / f"reid_{row.lower().replace('+', '_')}.yaml")
    assert run_name(config, "RS") == f"{row}_xent+htri"
    assert (config.backbone, config.image_size, config.p * config.k, config.lr, config.epochs) == \
        ("densenet121", (256, 256), 32, 3e-4, 60)


def test_a_typo_in_a_config_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("num_images: 10\nrender: {imgae: {size: 64}}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*imgae"):
        DemoConfig.from_yaml(path)
