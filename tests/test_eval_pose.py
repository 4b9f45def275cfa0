"""Pose PCK against slow references: the stated definition, and the published code's behaviour."""
import math
from pathlib import Path

import numpy as np
import pytest

from eval.pose_metrics import TABLE_COLUMNS, format_pck_table, pck, pose_examples
from eval.reports import draw_pose_predictions
from synth.vocabulary import BODY_PARTS, VIS_OCCLUDED, VIS_OUTSIDE, VIS_VISIBLE

REAL_LABELS = Path("/work/shared/data/veri_keypoints/label_train.csv")


def random_pose_case(rng, n=30):
    gt = np.zeros((n, 36, 3))
    centre = rng.uniform(80, 200, size=(n, 1, 2))
    scale = rng.uniform(20, 90, size=(n, 1, 1))
    gt[:, :, :2] = centre + scale * rng.uniform(-1, 1, size=(n, 36, 2))
    gt[:, :, 2] = rng.choice([VIS_OUTSIDE, VIS_OCCLUDED, VIS_VISIBLE], p=[0.2, 0.3, 0.5], size=(n, 36))
    gt[rng.random((n, 36)) < 0.05, :2] = np.nan  # unknown coordinates
    gt[np.isnan(gt[:, :, 0]), 2] = VIS_OUTSIDE
    pred = np.empty((n, 36, 3))
    pred[:, :, :2] = np.nan_to_num(gt[:, :, :2], nan=100.0) + rng.normal(scale=rng.uniform(1, 12, size=(n, 1, 1)), size=(n, 36, 2))
    pred[:, :, 2] = rng.uniform(0, 1, size=(n, 36))
    pred[0, 5, :2] = np.nan  # a missing prediction counts as wrong
    return pred, gt


def reference_correct(pred, gt, box_size="sqrt_area"):
    """The definition, one keypoint at a time."""
    hits = {k: 0 for k in range(36)}
    seen = {k: 0 for k in range(36)}
    for i in range(len(gt)):
        known = [(x, y) for x, y, _ in gt[i] if not (math.isnan(x) or math.isnan(y))]
        xs, ys = [p[0] for p in known], [p[1] for p in known]
        w, h = max(xs) - min(xs), max(ys) - min(ys)
        size = math.sqrt(w * h) if box_size == "sqrt_area" else math.hypot(w, h)
        for k in range(36):
            if gt[i, k, 2] != VIS_VISIBLE:
                continue
            seen[k] += 1
            err = math.hypot(pred[i, k, 0] - gt[i, k, 0], pred[i, k, 1] - gt[i, k, 1])
            if err <= 0.5 * 0.25 * size:  # NaN error compares False: wrong
                hits[k] += 1
    parts = {p: sum(hits[k] for k in idx) / sum(seen[k] for k in idx) for p, idx in BODY_PARTS.items()}
    return parts, sum(hits.values()) / sum(seen.values())


def reference_published(pred, gt):
    """What PAMTRI's PoseEstNet evaluation computes, re-expressed step by step with its bugs."""
    n = len(gt)
    rows = []
    for i in range(n):
        v = [1 if gt[i, k, 2] == VIS_VISIBLE else 0 for k in range(36)]
        rows.append([(gt[i, k, 0], gt[i, k, 1], v[k]) for k in range(36)])
    area_sqrts = []
    for row in rows:
        corner = [row[0][0], row[0][1]]  # top-left and bottom-right are the same list object in that code
        for x, y, _ in row:
            if x < corner[0]:
                corner[0] = x
            if y < corner[1]:
                corner[1] = y
            if x > corner[0]:
                corner[0] = x
            if y > corner[1]:
                corner[1] = y
        area_sqrts.append(math.sqrt((corner[0] - corner[0] + 1) * (corner[1] - corner[1] + 1)))
    scale = 0.25 * math.sqrt(sum(a * a for a in area_sqrts))  # np.linalg.norm over the images
    pck_k, count_k = [], []
    for k in range(36):
        hit = seen = 0
        for i in range(n):
            x, y, v = rows[i][k]
            if not v:
                continue
            seen += 1
            err = math.sqrt((pred[i, k, 0] - x) ** 2 + (pred[i, k, 1] - y) ** 2 + (pred[i, k, 2] - v) ** 2)
            if err / scale <= 0.5:
                hit += 1
        pck_k.append(hit / seen if seen else float("nan"))
        count_k.append(seen)
    parts = {p: sum(pck_k[k] for k in idx) / len(idx) for p, idx in BODY_PARTS.items()}
    mean = sum(p * c for p, c in zip(pck_k, count_k)) / sum(count_k)
    return parts, mean, 0.5 * scale


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("box_size", ["sqrt_area", "diagonal"])
def test_pck_matches_definition(seed, box_size):
    pred, gt = random_pose_case(np.random.default_rng(seed))
    result = pck(pred, gt, box_size=box_size)
    parts, mean = reference_correct(pred, gt, box_size)
    assert result.mean == pytest.approx(mean, abs=1e-12)
    for part, value in parts.items():
        assert result.per_part[part] == pytest.approx(value, abs=1e-12)
    assert 0.05 < mean < 0.95, "the case should mix right and wrong keypoints"
    assert not result.correct[0, 5]


@pytest.mark.parametrize("seed", range(3))
def test_published_mode_matches_the_published_code(seed):
    pred, gt = random_pose_case(np.random.default_rng(seed + 10), n=40)
    gt[:, :, :2] = np.round(np.nan_to_num(gt[:, :, :2], nan=0.0))  # that code read integer CSV fields
    pred[0, 5, :2] = gt[0, 5, :2] + 3
    result = pck(pred, gt, mode="published")
    parts, mean, threshold = reference_published(pred, gt)
    assert result.thresholds[0] == pytest.approx(threshold) == pytest.approx(0.125 * math.sqrt(40))
    assert result.mean == pytest.approx(mean, abs=1e-12)
    for part, value in parts.items():
        assert result.per_part[part] == pytest.approx(value, abs=1e-12)
    assert "PUBLISHED-CODE COMPATIBILITY" in result.definition


def test_threshold_scales_with_the_vehicle_box():
    # One visible keypoint 5 px off. Box 100 x 36 px (sqrt area 60): threshold 0.125 * 60 = 7.5 px, correct.
    gt = np.full((1, 36, 3), np.nan)
    gt[0, :, 2] = VIS_OUTSIDE
    gt[0, 0] = (10, 10, VIS_VISIBLE)
    gt[0, 1] = (110, 46, VIS_OCCLUDED)  # occluded keypoints still span the vehicle box
    pred = np.nan_to_num(gt[:, :, :2])
    pred[0, 0] += (3, 4)
    result = pck(pred, gt)
    assert result.thresholds[0] == pytest.approx(7.5) and result.mean == 1.0
    # The same 5 px error on a vehicle half as big (threshold 3.75 px) is wrong.
    gt[0, 1, :2] = (60, 28)
    assert pck(pred, gt).mean == 0.0
    assert pck(pred, gt, box_size="diagonal").thresholds[0] == pytest.approx(0.125 * math.hypot(50, 18))
    assert pck(pred, gt, boxes=[[0, 0, 100, 100]]).mean == 1.0  # a given box: 12.5 px threshold


def test_table_in_paper_layout():
    pred, gt = random_pose_case(np.random.default_rng(0))
    result = pck(pred, gt)
    table = format_pck_table({"ours": result, "published-compat": pck(pred, gt, mode="published").summary()})
    lines = table.splitlines()
    assert lines[0] == "| Method | Wheel | Fender | Back | Front | Rear window | Windshield | Mean |"
    assert f"{100 * result.per_part['wheel']:.2f}" in lines[2] and f"{100 * result.mean:.2f}" in lines[2]
    assert len(TABLE_COLUMNS) == len(BODY_PARTS)


def test_bad_pose_input():
    gt = np.zeros((2, 36, 3))
    with pytest.raises(ValueError, match="predictions"):
        pck(np.zeros((2, 35, 2)), gt)
    with pytest.raises(ValueError, match="2 ground-truth"):
        pck(np.zeros((3, 36, 2)), gt)
    with pytest.raises(ValueError, match="mode"):
        pck(np.zeros((2, 36, 2)), gt, mode="paper")


def test_pose_picture(tmp_path):
    rng = np.random.default_rng(1)
    pred, gt = random_pose_case(rng, n=12)
    result = pck(pred, gt)
    good, bad = pose_examples(result, 2)
    assert np.nanmin(result.per_image[good]) >= np.nanmax(result.per_image[bad])
    picks = np.concatenate([good, bad])
    images = [np.full((280, 300, 3), 90, np.uint8) for _ in picks]
    path = draw_pose_predictions(tmp_path / "pose.png", images, pred[picks], gt[picks], result.correct[picks],
                                 titles=[f"PCK {100 * result.per_image[i]:.0f}%" for i in picks], columns=2)
    assert path.stat().st_size > 5000


@pytest.mark.skipif(not REAL_LABELS.exists(), reason="real VeRi keypoint labels not available")
def test_published_threshold_on_real_labels_is_a_few_pixels():
    # On real VeRi labels the published threshold is a constant 0.125 sqrt(N) px while the correct one follows
    # the vehicle size: for typical VeRi crops (a few hundred px) it is several times larger.
    rows = np.loadtxt(REAL_LABELS, delimiter=",", usecols=range(3, 111), max_rows=1059)
    gt = rows.reshape(-1, 36, 3)
    gt[:, :, 2] = np.where(gt[:, :, 2] > 0, VIS_VISIBLE, VIS_OUTSIDE)
    pred = gt[:, :, :2] + 3.0  # 4.24 px off everywhere
    published = pck(pred, gt, mode="published")
    assert published.thresholds[0] == pytest.approx(0.125 * math.sqrt(1059))  # ~4.07 px: all wrong
    assert published.mean == 0.0
    correct = pck(pred, gt)
    assert np.median(correct.thresholds) > 3 * published.thresholds[0]
    assert correct.mean > 0.9
