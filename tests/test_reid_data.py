"""ReID inputs: image, pose channels and keypoints transformed together (resize, resize-crop, flip)."""
import numpy as np
import pytest

from synth import vocabulary as vocab
from tests.helpers.toy import draw_toy_vehicle
from train.reid.config import ReidConfig
import torch

from train.reid.data import make_view, normalise_keypoints, view_to_tensors
from train.reid.model import CHANNEL_MEAN, CHANNEL_STD, stack_channels


def _item(seed=3, hw=(96, 128)):
    """A toy vehicle (non-square image) with pose from its labels: keypoints, heatmaps, segments (64x64)."""
    rng = np.random.default_rng(seed)
    image, kps, *_ = draw_toy_vehicle(rng, (1.0, 1.0, 1.0), 5, 128)
    image = image[16:112]  # 96 x 128: the stretch to the square input must move everything alike
    kps = kps.copy()
    kps[:, 1] -= 16
    conf = (kps[:, 2] == vocab.VIS_VISIBLE).astype(np.float32)
    pose = np.concatenate([kps[:, :2], conf[:, None]], axis=1)
    heatmaps = vocab.render_heatmaps(pose, (64, 64), hw, sigma=2.0, mask=conf > 0)
    return {
        "image": image, "pose_keypoints": pose,
        "pose_heatmaps": np.round(heatmaps * 255).astype(np.uint8),
        "pose_segments": vocab.rasterise_segments(pose, (64, 64), hw),
    }


def _peaks(maps):
    flat = maps.reshape(len(maps), -1).argmax(1)
    return np.stack([flat % maps.shape[-1], flat // maps.shape[-1]], axis=1).astype(np.float64)


@pytest.mark.parametrize("crop", [False, True])
def test_heatmap_peaks_follow_keypoints_through_resize_crop_and_flip(crop):
    item = _item()
    config = ReidConfig(image_size=(64, 64), channel_size=(64, 64), inputs="heatmaps", keypoints=True, crop_scale=1.4,
                        crop_prob=1.0 if crop else 0.0, flip_prob=1.0, erase_prob=0.0)
    view = make_view(item, config, np.random.default_rng(0))
    visible = item["pose_keypoints"][:, 2] > 0
    moved_visible = visible[vocab.FLIP_INDEX]  # after the flip, channel j holds keypoint FLIP_INDEX[j]
    kp = view["keypoints"]
    inside = moved_visible & (kp[:, 0] > 2) & (kp[:, 0] < 61) & (kp[:, 1] > 2) & (kp[:, 1] < 61)
    assert inside.sum() >= 8
    err = np.linalg.norm(_peaks(view["heatmaps"])[inside] - kp[inside, :2], axis=1)
    assert err.max() < 1.5, err
    # Confidence travels with its keypoint through the left/right swap.
    assert np.array_equal(kp[:, 2], item["pose_keypoints"][vocab.FLIP_INDEX, 2])


def test_flip_swaps_channel_pairs_and_keypoint_pairs_consistently():
    item = _item()
    plain_cfg = ReidConfig(image_size=(64, 64), channel_size=(64, 64), inputs="segments", keypoints=True, crop_prob=0.0, flip_prob=0.0, erase_prob=0.0)
    flip_cfg = plain_cfg.replace(flip_prob=1.0)
    plain = make_view(item, plain_cfg, np.random.default_rng(0))
    flipped = make_view(item, flip_cfg, np.random.default_rng(0))
    assert np.array_equal(flipped["image"], plain["image"][:, ::-1])
    for s in range(vocab.NUM_SEGMENTS):
        assert np.array_equal(flipped["segments"][s], plain["segments"][vocab.SEGMENT_FLIP_INDEX[s]][:, ::-1])
    for i in range(vocab.NUM_KEYPOINTS):
        j = vocab.FLIP_INDEX[i]
        assert flipped["keypoints"][j, 0] == pytest.approx(63 - plain["keypoints"][i, 0], abs=1e-4)
        assert flipped["keypoints"][j, 1] == pytest.approx(plain["keypoints"][i, 1], abs=1e-4)
    # The swapped masks are the ones the swapped keypoints draw: left-side masks stay on the left side.
    redrawn = vocab.rasterise_segments(flipped["keypoints"], (64, 64))
    drawn = [s for s in range(vocab.NUM_SEGMENTS) if redrawn[s].sum() > 20]
    assert drawn
    for s in drawn:
        inter = np.logical_and(redrawn[s], flipped["segments"][s] > 0.5).sum()
        union = np.logical_or(redrawn[s], flipped["segments"][s] > 0.5).sum()
        assert inter / union > 0.6, (s, inter / union)


def test_tensors_are_normalised_as_spec():
    item = _item()
    config = ReidConfig(image_size=(64, 64), inputs="heatmaps", keypoints=True, channel_size=(16, 16))
    out = view_to_tensors(make_view(item, config, None), config)
    assert out["image"].shape == (3, 64, 64) and out["channels"].shape == (36, 16, 16)
    stacked = stack_channels(out["channels"][None], (64, 64))[0]
    assert stacked.shape == (36, 64, 64)
    assert float(stacked.min()) == pytest.approx((0 - CHANNEL_MEAN) / CHANNEL_STD, abs=1e-4)
    kp = out["keypoints"].reshape(36, 3).numpy()
    assert np.all(np.abs(kp[:, :2]) <= 0.5 + 1e-6) and set(np.round(kp[:, 2], 3)) <= {-0.5, 0.5}
    # x / W - 0.5 in the input's pixels: the image centre maps to ~0.
    assert normalise_keypoints(np.array([[32.0, 16.0, 1.0]] * 36), (64, 64))[:3] == pytest.approx([0.0, -0.25, 0.5])
    rgb = ReidConfig(image_size=(32, 48))
    assert set(view_to_tensors(make_view(item, rgb, np.random.default_rng(1)), rgb)) == {"image"}


def test_channels_shipped_small_are_upsampled_in_register():
    """Heatmaps on a 16 x 16 grid, upsampled by the network to 64 x 64, still peak at the keypoints."""
    item = _item()
    config = ReidConfig(image_size=(64, 64), inputs="heatmaps", keypoints=True, channel_size=(16, 16))
    view = make_view(item, config, None)
    up = stack_channels(torch.from_numpy(view["heatmaps"])[None], (64, 64))[0].numpy()
    kp = view["keypoints"]
    inside = (item["pose_keypoints"][:, 2] > 0) & (kp[:, 0] > 3) & (kp[:, 0] < 60) & (kp[:, 1] > 3) & (kp[:, 1] < 60)
    err = np.linalg.norm(_peaks(up)[inside] - kp[inside, :2], axis=1)
    assert inside.sum() >= 8 and np.median(err) < 1.5 and err.max() < 3.0, err
