"""Keypoint accuracy (PCK) per body part and overall (docs/EVALUATION.md). numpy only: arrays in, numbers out.

Definition (mode "correct", the default): a ground-truth keypoint with visibility code 2 (visible) is correct
when the predicted position lies within `alpha * box_fraction * size` pixels of it (0.5 x 0.25 x size by
default), where size is the square root of the area (`box_size="sqrt_area"`, default) or the diagonal
(`"diagonal"`) of the vehicle box: the tight box of all ground-truth keypoints with known coordinates (any
visibility code, so a truncated or self-occluded vehicle keeps its full size), unless `boxes` are given.
Per body part and the mean pool all visible keypoints of the part / of the image set.

Mode "published" reproduces the PAMTRI code's evaluation (PoseEstNet/lib/dataset/veri.py) with its bugs, for
comparing with numbers produced by that code only:
- its box corners are one aliased list, so every per-image "sqrt(area)" is sqrt(1 x 1) = 1, and it then takes
  the vector norm of those over the N images: the threshold becomes 0.5 x 0.25 x sqrt(N) pixels for every
  keypoint of every image (about 4 px for its 1,059 test images), whatever the vehicle size;
- the error also includes the third column: (confidence - visible flag), when predictions carry one;
- per part is the unweighted mean of per-keypoint PCK, the mean is weighted by visible counts. A keypoint never
  visible in the set (the published code divides 0 by 0 there and its NaN spreads to the part and the mean) is
  left out of its part's mean and has weight 0 in the overall mean; a part never visible at all is NaN.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.vocabulary import BODY_PARTS, NUM_KEYPOINTS, VIS_VISIBLE

MODES = ("correct", "published")
BOX_SIZES = ("sqrt_area", "diagonal")
# The paper's Table 5 column order (names as the published code prints them: Wheel, Fender, Back, Front,
# WindshieldBack, WindshieldFront, Mean).
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("wheel", "Wheel"),
    ("fender", "Fender"),
    ("rear", "Back"),
    ("front", "Front"),
    ("rear_window", "Rear window"),
    ("front_window", "Windshield"),
)


@dataclass
class PoseResult:
    mode: str
    definition: str
    mean: float  # fraction of visible keypoints correct
    per_part: dict[str, float]  # body part (synth.vocabulary.BODY_PARTS) -> fraction
    per_keypoint: np.ndarray  # (36,) fraction, NaN where never visible
    counts: np.ndarray  # (36,) visible ground-truth keypoints
    errors: np.ndarray  # (N, 36) pixel error (with the extra term in "published" mode); inf for missing predictions
    thresholds: np.ndarray  # (N,) pixels
    visible: np.ndarray  # (N, 36) bool: scored
    correct: np.ndarray  # (N, 36) bool

    @property
    def per_image(self) -> np.ndarray:
        """Fraction of each image's visible keypoints that are correct; NaN for images with none."""
        n = self.visible.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, (self.correct & self.visible).sum(axis=1) / np.maximum(n, 1), np.nan)

    def summary(self) -> dict:
        def num(v):
            return None if not np.isfinite(v) else float(v)

        return {
            "mode": self.mode,
            "definition": self.definition,
            "mean": num(self.mean),
            "per_part": {k: num(v) for k, v in self.per_part.items()},
            "per_keypoint": [num(v) for v in self.per_keypoint],
            "visible_counts": self.counts.tolist(),
            "num_images": int(len(self.thresholds)),
            "median_threshold_px": float(np.median(self.thresholds)),
        }


def _check(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if gt.ndim != 3 or gt.shape[1:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"ground truth must be (N, {NUM_KEYPOINTS}, 3) x, y, visibility code; got {gt.shape}")
    if pred.ndim != 3 or pred.shape[1] != NUM_KEYPOINTS or pred.shape[2] not in (2, 3):
        raise ValueError(f"predictions must be (N, {NUM_KEYPOINTS}, 2 or 3); got {pred.shape}")
    if len(pred) != len(gt):
        raise ValueError(f"{len(pred)} predictions but {len(gt)} ground-truth images")
    if len(gt) == 0:
        raise ValueError("no images to evaluate")
    return pred, gt


def keypoint_box_sizes(gt: np.ndarray, box_size: str = "sqrt_area", boxes=None) -> np.ndarray:
    """Per-image vehicle size in pixels: from `boxes` (N, 4: x0, y0, x1, y1) when given, else from the tight
    box of the ground-truth keypoints with finite coordinates. NaN when no keypoint is known."""
    if box_size not in BOX_SIZES:
        raise ValueError(f"box_size must be one of {BOX_SIZES}, got {box_size!r}")
    if boxes is not None:
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.shape != (len(gt), 4):
            raise ValueError(f"boxes must be ({len(gt)}, 4), got {boxes.shape}")
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    else:
        xy = gt[:, :, :2]
        known = np.isfinite(xy).all(axis=2)
        lo = np.where(known[..., None], xy, np.inf).min(axis=1)
        hi = np.where(known[..., None], xy, -np.inf).max(axis=1)
        w, h = hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1]
        none = ~known.any(axis=1)
        w, h = np.where(none, np.nan, w), np.where(none, np.nan, h)
    return np.sqrt(w * h) if box_size == "sqrt_area" else np.hypot(w, h)


def pck(
    pred,
    gt,
    alpha: float = 0.5,
    box_fraction: float = 0.25,
    box_size: str = "sqrt_area",
    boxes=None,
    mode: str = "correct",
) -> PoseResult:
    """PCK of predictions (N, 36, 2 or 3: x, y[, confidence]) against ground truth (N, 36, 3: x, y,
    visibility code), see the module docstring for both modes."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    pred, gt = _check(pred, gt)
    visible = (gt[:, :, 2] == VIS_VISIBLE) & np.isfinite(gt[:, :, :2]).all(axis=2)
    diff = pred[:, :, :2] - gt[:, :, :2]
    if mode == "published" and pred.shape[2] == 3:
        diff = np.concatenate([diff, pred[:, :, 2:3] - visible[..., None]], axis=2)
    with np.errstate(invalid="ignore"):
        errors = np.sqrt(np.sum(diff**2, axis=2))
    errors = np.where(np.isfinite(errors), errors, np.inf)
    if mode == "correct":
        thresholds = alpha * box_fraction * keypoint_box_sizes(gt, box_size, boxes)
        definition = (
            f"visible (code 2) keypoint correct when error <= {alpha} x {box_fraction} x box size; box size = "
            f"{'sqrt(area)' if box_size == 'sqrt_area' else 'diagonal'} of "
            f"{'the given boxes' if boxes is not None else 'the tight box of the ground-truth keypoints'}"
        )
    else:
        thresholds = np.full(len(gt), alpha * box_fraction * np.sqrt(len(gt)))
        definition = (
            f"PUBLISHED-CODE COMPATIBILITY (buggy): constant threshold {alpha} x {box_fraction} x sqrt(N images) = "
            f"{thresholds[0]:.2f} px; error includes (confidence - visible flag)"
        )
    with np.errstate(invalid="ignore"):
        correct = (errors <= thresholds[:, None]) & visible
    counts = visible.sum(axis=0)
    hits = correct.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_keypoint = hits / counts
    per_part = {}
    for part, idx in BODY_PARTS.items():
        idx = list(idx)
        if mode == "published":
            seen = [i for i in idx if counts[i] > 0]
            per_part[part] = float(np.mean(per_keypoint[seen])) if seen else float("nan")
        else:
            total = counts[idx].sum()
            per_part[part] = float(hits[idx].sum() / total) if total else float("nan")
    if mode == "published":
        seen = counts > 0
        mean = float(np.sum(per_keypoint[seen] * counts[seen] / counts.sum())) if counts.sum() else float("nan")
    else:
        mean = float(hits.sum() / counts.sum()) if counts.sum() else float("nan")
    return PoseResult(mode, definition, mean, per_part, per_keypoint, counts, errors, thresholds, visible, correct)


def format_pck_table(rows: dict[str, PoseResult | dict]) -> str:
    """A Markdown table in the paper's Table 5 layout (PCK in %), one row per method; accepts PoseResult or
    its `summary()` dict."""
    header = "| Method | " + " | ".join(label for _, label in TABLE_COLUMNS) + " | Mean |"
    lines = [header, "|---" * (len(TABLE_COLUMNS) + 2) + "|"]

    def pct(v):
        return "–" if v is None or not np.isfinite(v) else f"{100 * v:.2f}"

    for name, result in rows.items():
        per_part = result.per_part if isinstance(result, PoseResult) else result["per_part"]
        mean = result.mean if isinstance(result, PoseResult) else result["mean"]
        cells = [pct(per_part.get(part)) for part, _ in TABLE_COLUMNS] + [pct(mean)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pose_examples(result: PoseResult, count: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the `count` best and `count` worst images by per-image PCK (images with visible keypoints;
    ties broken by the mean error relative to the threshold)."""
    score = result.per_image
    valid = np.flatnonzero(np.isfinite(score))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(result.visible, result.errors / np.maximum(result.thresholds[:, None], 1e-9), 0.0)
        rel = rel.sum(axis=1) / np.maximum(result.visible.sum(axis=1), 1)
    order = valid[np.lexsort((rel[valid], -score[valid]))]
    return order[:count], order[::-1][:count]
