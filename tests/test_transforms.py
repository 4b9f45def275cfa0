"""Joint image/keypoint/channel augmentation: keypoints move exactly with the pixels they label."""
import numpy as np
import pytest

from synth import vocabulary as vocab
from train import transforms as T


def _dotted_view(rng, hw=(90, 120)):
    """An image with one bright dot per keypoint (distinct positions), plus heatmaps and segment masks."""
    h, w = hw
    xy = np.stack([rng.uniform(15, w - 15, 36), rng.uniform(15, h - 15, 36)], axis=1)
    kps = np.concatenate([xy, np.full((36, 1), 2.0)], axis=1).astype(np.float32)
    image = np.zeros((h, w, 3), np.uint8)
    return {
        "image": image,
        "keypoints": kps,
        "heatmaps": vocab.render_heatmaps(kps, (h // 2, w // 2), hw, sigma=1.5),
        "segments": vocab.rasterise_segments(np.c_[kps[:, :2], np.ones(36)], (h // 2, w // 2), hw),
    }


def _blob(hw, x, y, sigma=3.0):
    """A Gaussian blob: wide enough that its centroid survives bilinear resampling at any zoom used here."""
    gy, gx = np.mgrid[: hw[0], : hw[1]]
    blob = 255 * np.exp(-((gx - x) ** 2 + (gy - y) ** 2) / (2 * sigma**2))
    return np.repeat(blob[..., None], 3, axis=2).astype(np.uint8)


@pytest.mark.parametrize("rotation,scale", [(0.0, 1.0), (30.0, 0.8), (-45.0, 1.3)])
def test_warp_moves_keypoints_with_pixels(rotation, scale):
    rng = np.random.default_rng(0)
    hw = (90, 120)
    for k in range(5):
        x, y = rng.uniform(25, 95), rng.uniform(25, 65)
        view = {"image": _blob(hw, x, y), "keypoints": np.tile([[x, y, 2.0]], (36, 1)).astype(np.float32)}
        m = T.crop_matrix((10, 10, 110, 80), (64, 64), scale=scale, rotation=rotation, shift=(0.05, -0.05))
        out = T.warp(view, m, (64, 64))
        brightness = out["image"][..., 0].astype(float)
        gy, gx = np.mgrid[:64, :64]
        cx, cy = (brightness * gx).sum() / brightness.sum(), (brightness * gy).sum() / brightness.sum()
        assert np.hypot(cx - out["keypoints"][0, 0], cy - out["keypoints"][0, 1]) < 0.15


def test_rotation_is_counter_clockwise_on_screen():
    m = T.crop_matrix((0, 0, 100, 100), (100, 100), rotation=90.0, padding=1.0)
    # The box centre (50, 50) lands on the output centre (49.5, 49.5); a point 30 px to its right goes up.
    np.testing.assert_allclose(T.apply_affine(m, np.array([[80.0, 50.0]]))[0], [49.5, 19.5], atol=1e-9)


def test_warped_channels_stay_registered_to_keypoints():
    rng = np.random.default_rng(1)
    view = _dotted_view(rng)
    m = T.crop_matrix((5, 5, 115, 85), (128, 128), rotation=20.0, scale=1.1)
    out = T.warp(view, m, (128, 128), channel_hw=(64, 64))
    expected = vocab.render_heatmaps(out["keypoints"], (64, 64), (128, 128), sigma=1.5 * 64 / 60 * 1.0)
    inside = out["keypoints"][:, 2] > 0
    assert inside.sum() > 20
    for k in np.flatnonzero(inside):
        peak = np.unravel_index(np.argmax(out["heatmaps"][k]), (64, 64))
        want = np.unravel_index(np.argmax(expected[k]), (64, 64))
        assert abs(peak[0] - want[0]) <= 1 and abs(peak[1] - want[1]) <= 1
    assert out["segments"].dtype == np.uint8 and set(np.unique(out["segments"])) <= {0, 1}


def test_keypoints_outside_the_output_are_marked():
    view = {"image": np.zeros((100, 100, 3), np.uint8),
            "keypoints": np.array([[50, 50, 2], [2, 2, 2]] * 18, np.float32)}
    out = T.warp(view, T.crop_matrix((40, 40, 60, 60), (32, 32), padding=1.0), (32, 32))
    assert out["keypoints"][0, 2] == 2 and out["keypoints"][1, 2] == 0
    kept = T.warp(view, T.crop_matrix((40, 40, 60, 60), (32, 32), padding=1.0), (32, 32), outside=None)
    assert kept["keypoints"][1, 2] == 2


def test_stretch_matrix_maps_image_edges_to_output_edges():
    m = T.stretch_matrix((0, 0, 200, 100), (64, 64))
    corners = T.apply_affine(m, np.array([[-0.5, -0.5], [199.5, 99.5]]))
    np.testing.assert_allclose(corners, [[-0.5, -0.5], [63.5, 63.5]], atol=1e-9)


def test_hflip_swaps_sides_and_is_an_involution():
    rng = np.random.default_rng(2)
    view = _dotted_view(rng)
    flipped = T.hflip(view)
    w = view["image"].shape[1]
    np.testing.assert_allclose(flipped["keypoints"][18, 0], w - 1 - view["keypoints"][0, 0])
    # The flipped heatmap of keypoint 18 peaks where the mirrored keypoint 0 is.
    hm_w = view["heatmaps"].shape[-1]
    peak_x = np.unravel_index(np.argmax(flipped["heatmaps"][18]), flipped["heatmaps"].shape[1:])[1]
    want_x = vocab.image_to_heatmap_coords(flipped["keypoints"][18:19, :2], view["image"].shape[:2], (45, hm_w))[0, 0]
    assert abs(peak_x - want_x) <= 1
    # Segments from flipped keypoints equal flipped segments.
    seg = vocab.rasterise_segments(np.c_[flipped["keypoints"][:, :2], np.ones(36)], (45, 60), (90, 120))
    assert (seg != flipped["segments"]).mean() < 0.01
    again = T.hflip(flipped)
    for key in ("image", "heatmaps", "segments"):
        np.testing.assert_array_equal(again[key], view[key])
    np.testing.assert_allclose(again["keypoints"], view["keypoints"], atol=1e-4)


def test_random_erase_marks_covered_visible_keypoints_only_when_asked():
    rng = np.random.default_rng(3)
    view = _dotted_view(rng)
    view["image"][:] = 128
    plain = T.random_erase(view, np.random.default_rng(4), area=(0.3, 0.4))
    marked = T.random_erase(view, np.random.default_rng(4), area=(0.3, 0.4), mark_occluded=True)
    changed = np.any(plain["image"] != 128, axis=2)
    assert changed.any()
    np.testing.assert_array_equal(plain["keypoints"], view["keypoints"])
    ys, xs = np.round(view["keypoints"][:, 1]).astype(int), np.round(view["keypoints"][:, 0]).astype(int)
    covered = changed[ys, xs]
    assert covered.any()
    assert np.all(marked["keypoints"][covered, 2] == vocab.VIS_OCCLUDED)
    assert np.all(marked["keypoints"][~covered, 2] == vocab.VIS_VISIBLE)


def test_color_jitter_changes_colour_not_geometry():
    rng = np.random.default_rng(5)
    view = _dotted_view(rng)
    view["image"] = rng.integers(0, 256, view["image"].shape, dtype=np.uint8)
    out = T.color_jitter(view, np.random.default_rng(6), 0.4, 0.4, 0.4, 0.05)
    assert out["image"].shape == view["image"].shape and out["image"].dtype == np.uint8
    assert np.abs(out["image"].astype(int) - view["image"]).mean() > 1
    np.testing.assert_array_equal(out["keypoints"], view["keypoints"])
