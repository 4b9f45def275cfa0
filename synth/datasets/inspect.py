"""What `cli.py inspect` shows: a text summary of a validated dataset and a preview grid of labelled samples."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from synth import vocabulary as vocab
from synth.datasets.reader import ShardReader
from synth.datasets.validate import ValidationReport, merge_identities, visibility_rates

# Drawing colours (RGB): visible keypoints green, occluded orange; left side segments warm, right cool.
_VIS_COLORS = {vocab.VIS_VISIBLE: (40, 220, 60), vocab.VIS_OCCLUDED: (255, 150, 0)}
_SEGMENT_COLORS = np.array([
    (230, 60, 60), (230, 130, 40), (220, 200, 40), (60, 90, 230), (60, 170, 230), (80, 220, 200),
    (170, 80, 200), (200, 100, 160), (120, 120, 255), (150, 150, 150), (100, 200, 255), (140, 220, 100),
    (255, 120, 200),
], dtype=np.float32)


def _histogram(counter, names) -> str:
    parts = [f"{names[k] if 0 <= k < len(names) else k}:{v}" for k, v in sorted(counter.items())]
    return " ".join(parts) if parts else "-"


def format_summary(report: ValidationReport) -> str:
    lines = [f"dataset {report.root}"]
    if report.manifest:
        m = report.manifest
        lines.append(f"  schema {m.get('schema_version')}  source {m.get('source', '?')}  tool {m.get('tool_version', '?')}")
    for name, stats in sorted(report.splits.items()):
        lines.append(f"  split {name}: {stats.num_samples} samples, {len(stats.identities)} identities, "
                     f"{len(stats.cameras)} cameras")
        lines.append(f"    colours: {_histogram(stats.color_hist, vocab.COLOR_NAMES)}")
        lines.append(f"    types:   {_histogram(stats.type_hist, vocab.TYPE_NAMES)}")
        rates = visibility_rates(stats.visibility_counts)
        lines.append("    visible / occluded rate per keypoint (left | right):")
        for i in range(vocab.NUM_SIDE):
            left, right = rates[i], rates[i + vocab.NUM_SIDE]
            lines.append(f"      {i:2d} {vocab.KEYPOINT_NAMES[i][5:]:<24} {left[0]:.2f} / {left[1]:.2f}   |"
                         f" {i + 18:2d} {right[0]:.2f} / {right[1]:.2f}")
    overlap = merge_identities(report)
    for a, others in overlap.items():
        for b, n in others.items():
            lines.append(f"  identities shared by {a} and {b}: {n}")
    lines.append(f"  images decoded: {report.images_decoded}")
    for warning in report.warnings:
        lines.append(f"  warning: {warning}")
    lines.append("  OK" if report.ok else f"  {len(report.errors)} error(s)")
    return "\n".join(lines)


def letterbox(image: np.ndarray, side: int, fill=32) -> tuple[np.ndarray, float, tuple[int, int]]:
    """`image` (H, W, 3 uint8) scaled to fit a side x side square, centred on a canvas of colour `fill`.
    Returns the canvas, the scale and the image's (x, y) offset on it (a pixel centre u maps to
    (u + 0.5) * scale - 0.5 + offset). Every picture of samples tiles images this way: since the detector-crop
    framing, images are vehicle boxes at their own aspect."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    ox, oy = (side - new_w) // 2, (side - new_h) // 2
    canvas = np.empty((side, side, 3), np.uint8)
    canvas[:] = fill
    canvas[oy:oy + new_h, ox:ox + new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return canvas, scale, (ox, oy)


def draw_sample(image: np.ndarray, keypoints: np.ndarray, bbox: np.ndarray | None, tile: int) -> np.ndarray:
    """One preview tile: image letterboxed to tile x tile with segments, box and keypoints drawn."""
    canvas, scale, (ox, oy) = letterbox(image, tile)
    xy = (keypoints[:, :2] + 0.5) * scale - 0.5 + np.array([ox, oy])
    # Segments over visible keypoints only: what a confident pose prediction would give the ReID network.
    visible = (keypoints[:, 2] == vocab.VIS_VISIBLE).astype(np.float32)
    segments = vocab.rasterise_segments(np.concatenate([xy, visible[:, None]], axis=1), (tile, tile))
    if segments.any():
        overlay = np.tensordot(segments.astype(np.float32).transpose(1, 2, 0), _SEGMENT_COLORS, axes=1)
        covered = segments.any(axis=0)
        canvas[covered] = (0.55 * canvas[covered] + 0.45 * np.clip(overlay[covered], 0, 255)).astype(np.uint8)
    if bbox is not None and np.all(np.isfinite(bbox)):
        p0 = tuple(int(round(v)) for v in (bbox[:2] + 0.5) * scale - 0.5 + [ox, oy])
        p1 = tuple(int(round(v)) for v in (bbox[2:] + 0.5) * scale - 0.5 + [ox, oy])
        cv2.rectangle(canvas, p0, p1, (0, 255, 255), 1, cv2.LINE_AA)
    radius = max(3, tile // 64)
    for k in np.argsort(keypoints[:, 2], kind="stable"):  # visible ones drawn last, on top
        code = int(keypoints[k, 2])
        if code in _VIS_COLORS:
            centre = tuple(int(round(v)) for v in xy[k])
            cv2.circle(canvas, centre, radius + 1, (0, 0, 0), -1, cv2.LINE_AA)
            cv2.circle(canvas, centre, radius, _VIS_COLORS[code], -1, cv2.LINE_AA)
    return canvas


def _caption(tile: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((16, tile.shape[1], 3), 0, np.uint8)
    cv2.putText(bar, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([tile, bar], axis=0)


def draw_preview(root: str | Path, out: str | Path, count: int = 24, seed: int = 0, tile: int = 192,
                 columns: int = 6) -> Path:
    """A PNG grid of random samples with keypoints (green visible, orange occluded), segments and amodal boxes."""
    dataset = ShardReader(root)
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(dataset), min(count, len(dataset)), replace=False))
    tiles = []
    for index in picks:
        item = dataset[int(index)]
        drawn = draw_sample(item["image"], item["keypoints"], item.get("bbox"), tile)
        color = vocab.COLOR_NAMES[int(item["color_id"])] if 0 <= item["color_id"] < len(vocab.COLOR_NAMES) else "?"
        kind = vocab.TYPE_NAMES[int(item["type_id"])] if 0 <= item["type_id"] < len(vocab.TYPE_NAMES) else "?"
        tiles.append(_caption(drawn, f"id {int(item['vehicle_id'])} {color} {kind}"))
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    legend = np.zeros((22, rows[0].shape[1], 3), np.uint8)
    cv2.putText(legend, "keypoints: green visible, orange occluded | segments (visible keypoints) coloured | cyan: amodal box",
                (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    grid = np.concatenate([legend, *rows], axis=0)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.{os.getpid()}.png")
    if not cv2.imwrite(str(tmp), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"{out}: could not write PNG")
    os.replace(tmp, out)
    dataset.close()
    return out


def draw_crop_sheet(root: str | Path, out: str | Path, count: int = 24, seed: int = 0, sizes=(95, 260),
                    tile: int = 260, columns: int = 6) -> Path:
    """A PNG sheet of unlabelled vehicle crops at the sizes a traffic camera sees vehicles: each sample cut to
    its amodal box (plus a 6% margin, as real ReID crops are cut), downsampled so its longer side is a random
    size in `sizes`, then shown at that size on a neutral tile. The way to judge realism by eye, next to real
    crops: labels hide the pixels, and full-resolution renders flatter them."""
    dataset = ShardReader(root)
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(dataset), min(count, len(dataset)), replace=False))
    tiles = []
    for index in picks:
        item = dataset[int(index)]
        image = item["image"]
        h, w = image.shape[:2]
        box = np.asarray(item.get("bbox", [np.nan] * 4), float)
        if not np.all(np.isfinite(box)):
            box = np.array([0, 0, w, h], float)
        margin = 0.06 * np.array([-(box[2] - box[0]), -(box[3] - box[1]), box[2] - box[0], box[3] - box[1]])
        x0, y0, x1, y1 = np.round(box + margin).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        crop = image[y0:y1, x0:x1] if x1 > x0 + 4 and y1 > y0 + 4 else image
        side = int(rng.integers(sizes[0], sizes[1] + 1))
        scale = min(side / max(crop.shape[:2]), 1.0)
        small = cv2.resize(crop, (max(int(crop.shape[1] * scale), 1), max(int(crop.shape[0] * scale), 1)),
                           interpolation=cv2.INTER_AREA)
        canvas = np.full((tile, tile, 3), 128, np.uint8)
        sh, sw = min(small.shape[0], tile), min(small.shape[1], tile)
        oy, ox = (tile - sh) // 2, (tile - sw) // 2
        canvas[oy:oy + sh, ox:ox + sw] = small[:sh, :sw]
        tiles.append(canvas)
    while len(tiles) % columns:
        tiles.append(np.full_like(tiles[0], 128))
    grid = np.concatenate([np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.{os.getpid()}{out.suffix}")
    if not cv2.imwrite(str(tmp), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"{out}: could not write the image")
    os.replace(tmp, out)
    dataset.close()
    return out
