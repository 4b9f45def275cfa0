"""`export onnx`: the pose and the ReID network (K+H+MT: every named input and output) as ONNX files with a
dynamic batch axis, equal to PyTorch within 1e-4 under onnxruntime on random and real inputs; bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

pytest.importorskip("onnxruntime")  # the optional `onnx` extra (in the dev extra, so CI has it)
import onnxruntime  # noqa: E402

from cli import main  # noqa: E402
from tests.helpers.toy import make_toy_dataset  # noqa: E402
from train.export_onnx import PARITY_TOLERANCE, export_onnx  # noqa: E402
from train.reid.config import ReidConfig  # noqa: E402
from train.reid.data import write_label_pose_sidecars  # noqa: E402
from train.reid.extract import load_reid_model  # noqa: E402
from train.reid.train import train_reid  # noqa: E402

TINY = dict(backbone="densenet_tiny", pretrained=False, image_size=(64, 64), workers=0, milestones=[100])


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = make_toy_dataset(tmp_path_factory.mktemp("onnx") / "toy", num_models=2, colors_per_model=2,
                            images_per_identity=4, size=64, seed=0)
    write_label_pose_sidecars(root)
    return root


def test_reid_export_has_named_inputs_and_matches_pytorch(toy, tmp_path):
    torch.manual_seed(0)
    config = ReidConfig(**TINY, inputs="heatmaps", keypoints=True, multitask=True, epochs=1, max_steps_per_epoch=1,
                        p=2, k=2, val_every=0)
    train_reid(config, [toy], tmp_path / "reid", progress=False)
    report = export_onnx(tmp_path / "reid", tmp_path / "reid.onnx")  # real inputs: the run's own training data
    assert report.kind == "reid" and report.real_images == 8
    assert set(report.max_abs_diff) == {"random", "real"}
    for name, diff in report.max_abs_diff.items():
        assert diff <= PARITY_TOLERANCE * max(1.0, report.output_scale[name]), (name, diff, report.output_scale)
    session = onnxruntime.InferenceSession(str(tmp_path / "reid.onnx"), providers=["CPUExecutionProvider"])
    inputs = {i.name: i.shape for i in session.get_inputs()}
    assert inputs == {"image": ["batch", 3, 64, 64], "channels": ["batch", 36, 64, 64], "keypoints": ["batch", 108]}
    assert [o.name for o in session.get_outputs()] == ["feature", "color_logits", "type_logits"]
    # the feature of one real item, batch of 1 (another batch size than the export's), against the network
    from train.reid.data import ReidDataset

    model, run_config, _ = load_reid_model(tmp_path / "reid")
    item = ReidDataset([toy], None, run_config)[5]
    feeds = {"image": item["image"][None].numpy(), "channels": item["channels"][None].float().numpy(),
             "keypoints": item["keypoints"][None].numpy()}
    feature = session.run(["feature"], feeds)[0]
    with torch.no_grad():
        expected = model(item["image"][None], item["keypoints"][None], item["channels"][None])["feature"].numpy()
    assert feature.shape == (1, 1024) and np.abs(feature - expected).max() <= PARITY_TOLERANCE
    assert json.loads((tmp_path / "reid.onnx.json").read_text())["max_abs_diff"]["real"] <= PARITY_TOLERANCE


def test_pose_export_through_the_cli_and_bad_input(toy, tmp_path):
    from train.pose.config import PoseConfig
    from train.pose.train import train_pose

    torch.manual_seed(0)
    train_pose(PoseConfig.tiny(epochs=1, data=[str(toy)]), tmp_path / "pose", max_steps=1, say=lambda *a: None)
    runner = CliRunner()
    result = runner.invoke(main, ["export", "onnx", "--model", str(tmp_path / "pose"), "--out", str(tmp_path / "p.onnx"),
                                  "--data", str(toy)])
    assert result.exit_code == 0, result.output
    assert "pose network" in result.output and "real inputs: max abs difference" in result.output
    session = onnxruntime.InferenceSession(str(tmp_path / "p.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "image" and session.get_outputs()[0].shape == ["batch", 36, 16, 16]
    heatmaps = session.run(None, {"image": np.zeros((5, 3, 64, 64), np.float32)})[0]
    assert heatmaps.shape == (5, 36, 16, 16)

    result = runner.invoke(main, ["export", "onnx", "--model", str(tmp_path / "pose"), "--out", str(tmp_path / "p.pt")])
    assert result.exit_code == 2 and "use a .onnx file name" in result.output
    result = runner.invoke(main, ["export", "onnx", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "x.onnx")])
    assert result.exit_code == 2 and "nope: no such run" in result.output
    assert not (tmp_path / "x.onnx").exists()
