import numpy as np
import pytest

from synth import vocabulary as vocab


def test_keypoint_tables_match_spec_layout():
    assert len(vocab.KEYPOINT_NAMES) == vocab.NUM_KEYPOINTS == 36
    assert len(set(vocab.KEYPOINT_NAMES)) == 36
    for left, right in vocab.FLIP_PAIRS:
        assert right == left + 18
        assert vocab.KEYPOINT_NAMES[left].replace("left_", "") == vocab.KEYPOINT_NAMES[right].replace("right_", "")
    parts = sorted(k for ks in vocab.BODY_PARTS.values() for k in ks)
    assert parts == list(range(36)), "the six body parts partition the 36 keypoints"
    assert vocab.SEGMENT_POLYGONS[10] == (14, 15, 33, 32)  # windshield (docs/ASSETS.md)
    assert vocab.COLOR_NAMES[5] == "red" and vocab.TYPE_NAMES[9] == "estate"


def test_flip_index_is_an_involution_and_pairs_sides():
    assert np.array_equal(vocab.FLIP_INDEX[vocab.FLIP_INDEX], np.arange(36))
    assert np.array_equal(vocab.SEGMENT_FLIP_INDEX[vocab.SEGMENT_FLIP_INDEX], np.arange(13))
    assert list(vocab.SEGMENT_FLIP_INDEX[:6]) == [3, 4, 5, 0, 1, 2]
    assert all(vocab.SEGMENT_FLIP_INDEX[s] == s for s in range(6, 13))


def test_flip_keypoints_twice_is_identity_and_mirrors_x():
    rng = np.random.default_rng(0)
    kps = np.concatenate([rng.uniform(0, 100, (36, 2)), rng.integers(0, 3, (36, 1))], axis=1)
    once = vocab.flip_keypoints(kps, width=101)
    assert np.allclose(vocab.flip_keypoints(once, width=101), kps)
    # keypoint 18 (right rear wheel) of the flipped image is the mirrored left rear wheel, visibility kept
    assert once[18, 0] == pytest.approx(100 - kps[0, 0])
    assert once[18, 1] == kps[0, 1] and once[18, 2] == kps[0, 2]


def test_flipping_keypoints_and_their_heatmaps_agrees():
    rng = np.random.default_rng(1)
    kps = np.concatenate([rng.uniform(5, 59, (36, 2)), np.full((36, 1), 2.0)], axis=1)
    maps = vocab.render_heatmaps(kps, (64, 64), (64, 64))
    flipped_maps = vocab.flip_keypoint_channels(maps)
    expected = vocab.render_heatmaps(vocab.flip_keypoints(kps, 64), (64, 64), (64, 64))
    assert np.allclose(flipped_maps, expected, atol=1e-6)


def test_heatmap_peak_lands_on_keypoint():
    kps = np.zeros((36, 3))
    kps[:, 0] = np.linspace(10, 240, 36)
    kps[:, 1] = np.linspace(200, 20, 36)
    maps = vocab.render_heatmaps(kps, (64, 64), (256, 256), sigma=2)
    assert maps.shape == (36, 64, 64) and maps.dtype == np.float32
    for k in range(36):
        peak = np.unravel_index(np.argmax(maps[k]), maps[k].shape)
        expected = vocab.image_to_heatmap_coords(kps[k, :2], (256, 256), (64, 64))
        assert abs(peak[1] - expected[0]) <= 0.5 and abs(peak[0] - expected[1]) <= 0.5
        assert maps[k].max() <= 1.0


def test_heatmap_of_masked_or_unknown_keypoint_is_blank():
    kps = np.full((36, 3), 30.0)
    kps[3, :2] = np.nan
    mask = np.ones(36, bool)
    mask[7] = False
    maps = vocab.render_heatmaps(kps, (16, 16), (64, 64), mask=mask)
    assert maps[3].max() == 0 and maps[7].max() == 0 and maps[0].max() > 0.5


def test_heatmap_coordinate_mapping_round_trips():
    xy = np.array([[0.0, 0.0], [255.0, 127.5], [13.25, 99.0]])
    there = vocab.image_to_heatmap_coords(xy, (256, 256), (64, 64))
    assert np.allclose(vocab.heatmap_to_image_coords(there, (256, 256), (64, 64)), xy)
    # the centre of the first image pixel block (pixels 0..3) maps to heatmap pixel 0's centre
    assert np.allclose(vocab.image_to_heatmap_coords([[1.5, 1.5]], (256, 256), (64, 64)), [[0.0, 0.0]])


def _keypoints_with_quad(segment: int, quad: list[tuple[float, float]], confidence: float = 1.0) -> np.ndarray:
    kps = np.zeros((36, 3))
    kps[:, 2] = 0.0  # every other segment gated off
    for k, (x, y) in zip(vocab.SEGMENT_POLYGONS[segment], quad):
        kps[k] = (x, y, confidence)
    return kps


def test_segment_rasterisation_fills_a_convex_quad():
    # roof (segment 9) as an axis-aligned square from (2,2) to (7,5): pixels with centres inside are set
    kps = _keypoints_with_quad(9, [(2, 2), (7, 2), (7, 5), (2, 5)])
    masks = vocab.rasterise_segments(kps, (10, 10))
    assert masks.shape == (13, 10, 10) and masks.dtype == np.uint8
    expected = np.zeros((10, 10), np.uint8)
    expected[2:6, 2:8] = 1
    assert np.array_equal(masks[9], expected)
    assert masks[np.arange(13) != 9].sum() == 0


def test_segment_with_crossed_vertex_order_is_blank():
    bowtie = [(2, 2), (7, 5), (7, 2), (2, 5)]  # the listed order self-intersects
    assert vocab.rasterise_segments(_keypoints_with_quad(9, bowtie), (10, 10)).sum() == 0
    reflex = [(2, 2), (8, 2), (4, 4), (2, 8)]  # a dart: one reflex corner
    assert vocab.rasterise_segments(_keypoints_with_quad(9, reflex), (10, 10)).sum() == 0


def test_segment_confidence_gate():
    quad = [(1, 1), (8, 1), (8, 8), (1, 8)]
    assert vocab.rasterise_segments(_keypoints_with_quad(9, quad, confidence=0.49), (10, 10)).sum() == 0
    assert vocab.rasterise_segments(_keypoints_with_quad(9, quad, confidence=0.5), (10, 10)).sum() > 0


def test_segment_scaling_to_heatmap_grid():
    # a quad covering the right half of a 256x256 image covers the right half of the 64x64 grid
    kps = _keypoints_with_quad(12, [(127.5, -0.5), (255.5, -0.5), (255.5, 255.5), (127.5, 255.5)])
    masks = vocab.rasterise_segments(kps, (64, 64), image_hw=(256, 256))
    assert masks[12][:, 33:].all() and not masks[12][:, :31].any()


def test_convexity_accepts_both_windings():
    square = np.array([(0, 0), (1, 0), (1, 1), (0, 1)], float)
    assert vocab.is_convex_polygon(square) and vocab.is_convex_polygon(square[::-1])
    assert not vocab.is_convex_polygon(np.array([(0, 0), (1, 0), (2, 0), (0, 1)], float))  # collinear
    assert not vocab.is_convex_polygon(np.array([(0, 0), (1, 0), (np.nan, 1), (0, 1)], float))


def test_segment_channels_flip_with_the_image():
    kps = _keypoints_with_quad(0, [(5, 5), (20, 4), (22, 20), (6, 18)])  # left front quarter
    masks = vocab.rasterise_segments(kps, (32, 32))
    flipped = vocab.flip_segment_channels(masks)
    expected = vocab.rasterise_segments(vocab.flip_keypoints(kps, 32), (32, 32))
    # the mask moves to the right front quarter; scan-conversion may differ on edge pixels only
    assert flipped[np.arange(13) != 3].sum() == 0 and expected[np.arange(13) != 3].sum() == 0
    intersection = np.logical_and(flipped[3], expected[3]).sum()
    union = np.logical_or(flipped[3], expected[3]).sum()
    assert intersection / union > 0.9
