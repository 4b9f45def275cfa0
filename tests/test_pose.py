"""Pose network: targets, decoding, mixing, learning on toy vehicles, predict-pose sidecars, bad input.

Everything runs the real code path with the tiny configuration (hrnet_w18_small, 64 px input) on toy
vehicles from tests.helpers.toy (exact keypoint labels, no rendering).
"""
import shutil

import cv2

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from eval.pose_metrics import pck
from synth import vocabulary as vocab
from synth.datasets import DatasetError, Sample, write_samples
from train.data import ShardDataset
from tests.helpers.toy import make_toy_dataset
from train.engine import CheckpointError, save_checkpoint
from train.pose.config import PoseAugmentConfig, PoseConfig
from train.pose.data import (MixedSampler, PoseDataset, check_visibility_source, heatmap_targets, read_keypoints,
                             visibility_fields)
from train.pose.model import PoseHRNet
from train.pose.predict import decode_heatmaps, flip_back, load_pose_model, predict_pose
from train.pose.train import predict_loader, train_pose

# Flips only (so that flip-test averaging has learned mirrored views); the rest would slow memorising down.
FLIP_ONLY = PoseAugmentConfig(scale=0, rotation=0, shift=0, flip=0.5, color=0, hue=0, occlusion=0)


def _tiny(data, **changes):
    # 80 steps of a 9-image batch, the learning rate cut after 72, four steps an epoch: every epoch is validated
    # and checkpointed (~0.3 s here, more than a training step), which took half the time at one step an epoch
    settings = dict(augment=FLIP_ONLY, lr=2e-3, epochs=20, milestones=(18,), batch_size=9, samples_per_epoch=36,
                    flip_test=True)
    return PoseConfig.tiny(data=[str(d) for d in data], **{**settings, **changes})


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """9 training images (3 identities x 3) and a val split."""
    root = tmp_path_factory.mktemp("pose") / "toy"
    return make_toy_dataset(root, num_models=2, colors_per_model=2, images_per_identity=3, size=96, seed=3,
                            splits={"train": 0.75, "val": 0.25})


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("pose") / "run"
    history = train_pose(_tiny([toy]), run, say=lambda *_: None)
    # best.pt is picked on the val split (other identities); the memorised weights are the last ones.
    return run / "checkpoints" / "last.pt", history


def _train_pck(model, config, toy):
    base = ShardDataset(toy, splits="train", fields=("image", "keypoints"))
    loader = torch.utils.data.DataLoader(PoseDataset(base, np.arange(len(base)), config, train=False), batch_size=16)
    pred, gt = predict_loader(model, loader, torch.device("cpu"), config.model.input_size, config.flip_test)
    return pck(pred, gt), pred, gt


# --- pieces ------------------------------------------------------------------------------------------------


def test_model_gives_36_quarter_resolution_heatmaps():
    model = PoseHRNet("hrnet_w18_small")
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 36, 16, 16)
    with pytest.raises(ValueError, match="HRNet"):
        PoseHRNet("resnet18")


def test_targets_peak_at_keypoints_and_weight_by_visibility():
    kps = np.full((36, 3), np.nan, np.float32)
    kps[0] = (10.3, 20.7, 2)
    kps[1] = (40.0, 30.0, 1)
    kps[2] = (50.0, 50.0, 0)
    maps, weights = heatmap_targets(kps, 64, 2.0, train_occluded=False)
    assert maps.shape == (36, 16, 16)
    assert weights.tolist()[:3] == [1, 0, 0] and weights[3:].sum() == 0
    assert maps[1:].max() == 0
    coords, peak = decode_heatmaps(maps[None, :1])
    np.testing.assert_allclose(vocab.heatmap_to_image_coords(coords[0], (64, 64), (16, 16)), [[10.3, 20.7]], atol=0.05)
    assert peak[0, 0] > 0.9
    _, with_occluded = heatmap_targets(kps, 64, 2.0, train_occluded=True)
    assert with_occluded.tolist()[:3] == [1, 1, 0]


def test_decode_is_sub_pixel_and_flip_back_is_exact():
    rng = np.random.default_rng(0)
    kps = np.c_[rng.uniform(3, 60, (36, 2)), np.full(36, 2)]
    maps = vocab.render_heatmaps(kps, (64, 64), (64, 64), sigma=2.0)
    coords, _ = decode_heatmaps(maps[None])
    assert np.abs(coords[0] - kps[:, :2]).max() < 0.02
    flipped = vocab.render_heatmaps(vocab.flip_keypoints(kps, 64), (64, 64), (64, 64), sigma=2.0)
    torch.testing.assert_close(flip_back(torch.from_numpy(flipped)[None])[0], torch.from_numpy(maps))


def test_loss_weights_follow_the_chosen_visibility_codes(tmp_path):
    """visibility="annotator" weights a rendered sample's keypoints by its annotator-model codes and a real
    sample's by its own codes (annotators' marks already); "geometric" uses the stored codes of both."""
    rng = np.random.default_rng(0)
    keypoints = np.c_[rng.uniform(4, 28, (36, 2)), rng.choice([vocab.VIS_OCCLUDED, vocab.VIS_VISIBLE], 36)]
    annotator = keypoints[:, 2].astype(np.int8)
    annotator[np.flatnonzero(annotator == vocab.VIS_OCCLUDED)[:5]] = vocab.VIS_VISIBLE
    image = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    write_samples(tmp_path / "rendered", "train", "synthetic", [Sample(
        image=image, image_name="r.png", vehicle_id=1, keypoints=keypoints,
        extra={"annotator_visibility": annotator})], image_format="png")
    write_samples(tmp_path / "real", "train", "veri", [Sample(
        image=image, image_name="v.png", vehicle_id=1, keypoints=keypoints)], image_format="png")
    base = ShardDataset([tmp_path / "rendered", tmp_path / "real"], fields=("image", "keypoints"),
                        optional_fields=visibility_fields("annotator"))
    geometric = (keypoints[:, 2] == vocab.VIS_VISIBLE).astype(np.float32)
    for visibility, rendered in (("geometric", geometric), ("annotator", (annotator == vocab.VIS_VISIBLE) * 1.0)):
        data = PoseDataset(base, np.arange(2), PoseConfig.tiny(visibility=visibility), train=False)
        np.testing.assert_array_equal(data[0]["weight"].numpy(), rendered)
        np.testing.assert_array_equal(data[1]["weight"].numpy(), geometric)
        assert data[0]["keypoints"][:, 2].sum() == rendered.sum() * vocab.VIS_VISIBLE + (36 - rendered.sum())
    with pytest.raises(ValueError, match="visibility must be one of"):
        visibility_fields("seen")
    # A render without annotator codes (older, or the model off) is named rather than read with its geometric codes.
    write_samples(tmp_path / "old_render", "train", "synthetic", [Sample(
        image=image, image_name="o.png", vehicle_id=1, keypoints=keypoints)], image_format="png")
    mixed = ShardDataset([tmp_path / "real", tmp_path / "old_render"], fields=("image", "keypoints"))
    check_visibility_source(mixed, "geometric")
    with pytest.raises(DatasetError, match="old_render/train-00000.h5.*without annotator codes"):
        check_visibility_source(mixed, "annotator")


def test_mixed_sampler_follows_weights_and_splits_ranks():
    sources = np.r_[np.zeros(900, int), np.ones(100, int)]
    draws = np.array(list(MixedSampler(sources, [1.0, 1.0], num_samples=4000, seed=1)))
    assert abs((sources[draws] == 1).mean() - 0.5) < 0.03  # the small dataset gets half of each epoch
    plain = np.array(list(MixedSampler(sources, None, seed=1)))
    assert sorted(plain.tolist()) == list(range(1000))
    ranks = [MixedSampler(sources, [3.0, 1.0], 1000, seed=2, rank=r, world_size=2) for r in range(2)]
    for r in ranks:
        r.set_epoch(5)
    a, b = (list(r) for r in ranks)
    whole = MixedSampler(sources, [3.0, 1.0], 1000, seed=2)
    whole.set_epoch(5)
    assert len(a) == len(b) == 500 and sorted(a + b) == sorted(list(whole))
    with pytest.raises(ValueError, match="weights"):
        MixedSampler(sources, [1.0], 10)


def test_augmented_crops_keep_targets_on_the_keypoints(toy):
    base = ShardDataset(toy, splits="train", fields=("image", "keypoints"))
    config = PoseConfig.tiny(augment=PoseAugmentConfig(flip=1.0, occlusion=0.0))
    item = PoseDataset(base, np.arange(len(base)), config, train=True)[0]
    weight, target = item["weight"].numpy(), item["target"].numpy()
    assert weight.sum() > 5
    for k in np.flatnonzero(weight):
        assert target[k].max() > 0.5
    assert target[weight == 0].max() == 0


# --- learning and prediction -------------------------------------------------------------------------------


def test_tiny_network_learns_the_training_images(trained, toy):
    run, history = trained
    assert history[-1]["loss"] < history[0]["loss"] / 5
    model, config, _ = load_pose_model(run)
    result, pred, gt = _train_pck(model, config, toy)
    assert result.mean > 0.9, result.per_part
    untrained = PoseHRNet(config.model.backbone).eval()
    assert _train_pck(untrained, config, toy)[0].mean < 0.5
    visible = gt[..., 2] == 2
    assert np.median(np.hypot(*(pred[..., :2] - gt[..., :2]).transpose(2, 0, 1))[visible]) < 3.0


def test_predict_pose_sidecars_round_trip(trained, toy, tmp_path):
    run, _ = trained
    data = tmp_path / "data"
    shutil.copytree(toy, data)
    written = predict_pose(run, [data], batch_size=4, workers=0, say=lambda *_: None)
    config = load_pose_model(run)[1]
    assert len(written) == 2  # train and val shards
    dataset = ShardDataset(data, with_pose=True)
    for i in range(len(dataset)):
        item = dataset[i]
        h, w = item["image"].shape[:2]
        kps, maps, segs = item["pose_keypoints"], item["pose_heatmaps"], item["pose_segments"]
        assert kps.shape == (36, 3) and maps.shape == (36, 64, 64) and segs.shape == (13, 64, 64)
        assert maps.dtype == np.uint8 and segs.dtype == np.uint8
        # Keypoints land where the (image-registered) heatmaps peak. Bilinear resampling moves a peak onto a
        # node of the network's own grid, so the tolerance is half a network heatmap cell (in image pixels:
        # 1.25 x 96 / 16 = 7.5 here) plus half a stored cell.
        network_cell = config.padding * max(h, w) / (config.model.input_size // 4)
        tolerance = 0.5 * network_cell + 0.5 * np.array([w, h]) / 64
        # A map with two similar modes (left/right confusion) may peak on the other one after resampling, so
        # positions are checked for nearly all keypoints, and the map's value at every keypoint must be near
        # its maximum (a misregistered map fails both).
        confident = kps[:, 2] > 0.3
        assert confident.sum() > 10
        near = []
        for k in np.flatnonzero(confident):
            py, px = np.unravel_index(np.argmax(maps[k]), maps[k].shape)
            peak_xy = vocab.heatmap_to_image_coords(np.array([px, py]), (h, w), (64, 64))
            near.append(np.all(np.abs(peak_xy - kps[k, :2]) <= tolerance))
            hx, hy = vocab.image_to_heatmap_coords(kps[k, :2], (h, w), (64, 64))
            value = cv2.getRectSubPix(maps[k].astype(np.float32), (1, 1), (float(hx), float(hy)))[0, 0]
            assert value >= 0.75 * maps[k].max(), (k, value, maps[k].max())
        assert np.mean(near) >= 0.9
        # Confidence is the heatmap peak (flip-averaged; stored x 255, clipped to 1, resampled).
        stored_peak = maps[confident].reshape(confident.sum(), -1).max(1) / 255
        np.testing.assert_allclose(stored_peak, np.minimum(kps[confident, 2], 1.0), atol=0.05)
        np.testing.assert_array_equal(segs, vocab.rasterise_segments(kps, (64, 64), (h, w)))
    assert any(dataset[i]["pose_segments"].any() for i in range(len(dataset)))
    # A re-run skips complete sidecars; the published code's stretched heatmaps differ from registered ones.
    assert predict_pose(run, [data], workers=0, say=lambda *_: None) == []
    stretched = tmp_path / "stretched"
    shutil.copytree(toy, stretched)
    predict_pose(run, [stretched], workers=0, stretched_crop=True, say=lambda *_: None)
    with h5py.File(written[0]) as a, h5py.File(stretched / written[0].name) as b:
        np.testing.assert_allclose(a["keypoints"][:], b["keypoints"][:], atol=1e-3)
        assert np.abs(a["heatmaps"][:].astype(int) - b["heatmaps"][:]).max() > 50


# --- bad input ---------------------------------------------------------------------------------------------


def test_dataset_without_keypoints_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    samples = [Sample(image=rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), image_name=f"{i}.png", vehicle_id=i,
                      keypoints=np.c_[np.full((36, 2), np.nan), np.zeros(36)]) for i in range(4)]
    write_samples(tmp_path / "nokp", "train", "veri", samples, image_format="png")
    with pytest.raises(DatasetError, match="nokp.*no keypoint labels"):
        train_pose(_tiny([tmp_path / "nokp"], epochs=1), tmp_path / "run", say=lambda *_: None)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_bad_checkpoints_are_refused_and_nothing_is_overwritten(trained, toy, tmp_path):
    run, _ = trained
    data = tmp_path / "data"
    shutil.copytree(toy, data)
    sidecar = predict_pose(run, [data], workers=0, say=lambda *_: None)[0]
    before = sidecar.read_bytes()
    # Another architecture: same family name, different backbone.
    model, config, path = load_pose_model(run)
    state = torch.load(path, weights_only=False)
    state["config"]["model"]["backbone"] = "hrnet_w18_small_v2"
    save_checkpoint(tmp_path / "other.pt", {k: v for k, v in state.items() if k != "format"})
    with pytest.raises(CheckpointError, match="other.pt"):
        predict_pose(tmp_path / "other.pt", [data], workers=0, overwrite=True, say=lambda *_: None)
    # A ReID (or any non-pose) checkpoint.
    state["signature"] = {**state["signature"], "name": "reid_densenet"}
    save_checkpoint(tmp_path / "reid.pt", {k: v for k, v in state.items() if k != "format"})
    with pytest.raises(CheckpointError, match="not a pose network"):
        predict_pose(tmp_path / "reid.pt", [data], workers=0, overwrite=True, say=lambda *_: None)
    # A corrupt file.
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(path.read_bytes()[:5000])
    result = CliRunner().invoke(__import__("cli").main, ["predict-pose", "--model", str(corrupt), "--data", str(data),
                                                         "--overwrite", "--workers", "0"])
    assert result.exit_code == 2 and "corrupt.pt" in result.output and "corrupt" in result.output
    assert sidecar.read_bytes() == before


def test_cli_train_pose_resumes_a_killed_run(toy, tmp_path):
    import cli

    args = ["train-pose", "--tiny", "--data", str(toy), "--out", str(tmp_path / "run"), "--workers", "0",
            "--batch-size", "4", "--epochs", "1"]
    first = CliRunner().invoke(cli.main, args)
    assert first.exit_code == 0, first.output
    assert "training from scratch" in first.output
    second = CliRunner().invoke(cli.main, args[:-1] + ["2"])
    assert second.exit_code == 0, second.output
    assert "resuming" in second.output and "after epoch 1" in second.output
    lines = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert PoseConfig.from_yaml(tmp_path / "run" / "config.yaml").epochs == 2
    # Continuing with another configuration is refused before the run's record is touched.
    third = CliRunner().invoke(cli.main, args[:-1] + ["3", "--lr", "0.5"])
    assert third.exit_code == 2 and "lr: run has 0.001" in third.output and "last.pt" in third.output, third.output
    fourth = CliRunner().invoke(cli.main, args[:-1] + ["3", "--visibility", "annotator"])
    assert fourth.exit_code == 2 and "visibility: run has 'geometric', asked 'annotator'" in fourth.output, fourth.output
    kept = PoseConfig.from_yaml(tmp_path / "run" / "config.yaml")
    assert kept.lr == PoseConfig.tiny().lr and kept.epochs == 2
    assert read_keypoints(ShardDataset(toy, splits="train")).shape[1:] == (36, 3)


@pytest.mark.slow  # two processes each importing torch: 15 s of the 5-minute default run (make test-all runs it)
def test_train_pose_under_torchrun_with_two_processes(tmp_path):
    """DDP on CPU (gloo): HRNet's features_only backbone has heads the pose network never reads, which DDP must
    tolerate for a second epoch to run; only rank 0 writes the run."""
    import json
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    root = make_toy_dataset(tmp_path / "toy", num_models=2, colors_per_model=2, images_per_identity=8, size=64)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           str(repo / "cli.py"), "train-pose", "--data", str(root), "--out", str(tmp_path / "run"), "--tiny",
           "--epochs", "2", "--workers", "0"]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=repo)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("done: 2 epochs") == 1
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2]
